"""Checking and creating the EC2 resources of a run: blocking steps, run in worker threads.

Each creating step records the id of what it made in the :class:`Ledger` as soon as AWS
answers, in the worker thread itself, so that a step interrupted while it waits (Ctrl-C,
a cancelled task) still leaves the id for ``release``. Every resource carries the run's tags
from the moment it exists (``TagSpecifications``), so ``release`` also finds by tag what no
answer reported.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_scyllabench.errors import ProvisionError
from pytest_scyllabench.provision.aws_ec2 import (
    SHARED_ROLE,
    TAG_ROLE,
    Ec2,
    Instance,
    Resources,
    tag_list,
)
from pytest_scyllabench.provision.aws_spec import AwsSpec, Problem, RoleSpec

log = logging.getLogger(__name__)

#: Ports the operator's network may reach: SSH (Prometheus is reached through a forward over
#: it) and CQL (the readiness probe).
OPERATOR_PORTS = (22, 9042)


@dataclass
class Ledger:
    """What this provisioner created, recorded the moment AWS answered."""

    key_name: str | None = None
    group_id: str | None = None
    instances: list[Instance] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def resources(self) -> Resources:
        with self._lock:
            return Resources(instances=list(self.instances),
                             group_ids=[self.group_id] if self.group_id else [],
                             key_names=[self.key_name] if self.key_name else [])

    def add_instances(self, instances: list[Instance]) -> None:
        with self._lock:
            self.instances.extend(instances)


@dataclass(frozen=True)
class Preflight:
    """What AWS said about a spec before anything was created."""

    problems: tuple[Problem, ...]
    vpc_id: str = ""
    #: Root device name of each AMI (to size its volume).
    root_devices: Mapping[str, str] = field(default_factory=dict)


def preflight(ec2: Ec2, spec: AwsSpec) -> Preflight:
    """Check with AWS that the zone exists, the AMIs exist and the instance types are offered
    in the zone, and find the default VPC. Creates nothing."""
    problems: list[Problem] = []
    zone = spec.availability_zone
    roles = spec.roles()
    zones = ec2.call("describe_availability_zones", f"zone {zone}",
                     missing_ok=("InvalidParameterValue",), ZoneNames=[zone])
    if not zones or not zones.get("AvailabilityZones"):
        problems.append(Problem("zone", f"no availability zone {zone} in {spec.region}"))
        return Preflight(tuple(problems))
    root_devices: dict[str, str] = {}
    for name, role in roles:
        if role.ami in root_devices:
            continue
        images = ec2.call("describe_images", f"image {role.ami}",
                          missing_ok=("InvalidAMIID.NotFound", "InvalidAMIID.Malformed",
                                      "InvalidAMIID.Unavailable"), ImageIds=[role.ami])
        found = (images or {}).get("Images", [])
        if not found:
            problems.append(Problem(f"{name}.ami", f"image {role.ami} does not exist in "
                                                   f"{spec.region} (or is not visible to you)"))
            continue
        root_devices[role.ami] = found[0].get("RootDeviceName", "")
    types = sorted({role.instance_type for _, role in roles})
    offered = {offer["InstanceType"]
               for page in ec2.pages(
                   "describe_instance_type_offerings", f"instance types in {zone}",
                   LocationType="availability-zone",
                   Filters=[{"Name": "location", "Values": [zone]},
                            {"Name": "instance-type", "Values": types}])
               for offer in page["InstanceTypeOfferings"]}
    for name, role in roles:
        if role.instance_type not in offered:
            problems.append(Problem(f"{name}.instance_type",
                                    f"{role.instance_type} is not offered in {zone}"))
    vpcs = ec2.call("describe_vpcs", f"default VPC of {spec.region}",
                    Filters=[{"Name": "is-default", "Values": ["true"]}]) or {}
    vpc_id = next((vpc["VpcId"] for vpc in vpcs.get("Vpcs", [])), "")
    if not vpc_id:
        problems.append(Problem("region", f"{spec.region} has no default VPC (choosing a VPC "
                                          "or subnet is not supported yet)"))
    return Preflight(tuple(problems), vpc_id, root_devices)


def create_key_pair(ec2: Ec2, ledger: Ledger, name: str, tags: Mapping[str, str]) -> str:
    """Create an EC2-generated key pair; returns the private key (keep it out of logs)."""
    answer = ec2.call("create_key_pair", f"key pair {name}", KeyName=name, KeyType="ed25519",
                      KeyFormat="pem", TagSpecifications=[{
                          "ResourceType": "key-pair",
                          "Tags": tag_list({**tags, TAG_ROLE: SHARED_ROLE, "Name": name})}])
    assert answer is not None
    ledger.key_name = answer["KeyName"]
    material: str = answer.pop("KeyMaterial")
    log.info("created key pair %s (%s)", name, answer.get("KeyPairId", ""))
    return material


def create_security_group(ec2: Ec2, ledger: Ledger, name: str, vpc_id: str, cidr: str,
                          tags: Mapping[str, str]) -> str:
    """A group open to ``cidr`` on the operator ports, and to its own members on all ports."""
    answer = ec2.call("create_security_group", f"security group {name}", GroupName=name,
                      Description=f"pytest-scyllabench run {tags.get('Name', name)}",
                      VpcId=vpc_id, TagSpecifications=[{
                          "ResourceType": "security-group",
                          "Tags": tag_list({**tags, TAG_ROLE: SHARED_ROLE, "Name": name})}])
    assert answer is not None
    group_id: str = answer["GroupId"]
    ledger.group_id = group_id
    log.info("created security group %s (%s)", name, group_id)
    operator = [{"IpProtocol": "tcp", "FromPort": port, "ToPort": port,
                 "IpRanges": [{"CidrIp": cidr, "Description": "operator"}]}
                for port in OPERATOR_PORTS]
    members = {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": group_id,
                                                          "Description": "the run's hosts"}]}
    ec2.call("authorize_security_group_ingress", f"security group {group_id}",
             GroupId=group_id, IpPermissions=[*operator, members])
    return group_id


def launch_tag_kinds(market: str) -> tuple[str, ...]:
    """What ``run_instances`` creates, hence tags, for a role: every instance has volumes and a
    network interface; a spot one also has its spot request (EC2 refuses a launch that names a
    kind it does not create, so the request kind is only named for spot)."""
    kinds = ("instance", "volume", "network-interface")
    return (*kinds, "spot-instances-request") if market == "spot" else kinds


def launch(ec2: Ec2, ledger: Ledger, *, run_id: str, role_name: str, role: RoleSpec,
           spec: AwsSpec, key_name: str, group_id: str, root_device: str,
           tags: Mapping[str, str]) -> list[Instance]:
    """Start the instances of one role (not waiting for them to run)."""
    what = f"{role.count} {role.instance_type} instance(s) of {role_name}"
    role_tags = {**tags, TAG_ROLE: role_name}
    request: dict[str, Any] = {
        "ImageId": role.ami, "InstanceType": role.instance_type,
        "MinCount": role.count, "MaxCount": role.count,
        "KeyName": key_name, "SecurityGroupIds": [group_id],
        "Placement": {"AvailabilityZone": spec.availability_zone},
        # Retrying the same request (botocore retries, a lost answer) starts nothing twice.
        "ClientToken": f"{run_id}-{role_name}"[:64],
        "MetadataOptions": {"HttpTokens": "required"},
        "TagSpecifications": [{"ResourceType": kind, "Tags": tag_list(role_tags)}
                              for kind in launch_tag_kinds(role.market)],
    }
    if root_device:
        request["BlockDeviceMappings"] = [{"DeviceName": root_device, "Ebs": {
            "VolumeSize": role.disk_gb, "VolumeType": "gp3", "DeleteOnTermination": True}}]
    if role.market == "spot":
        request["InstanceMarketOptions"] = {"MarketType": "spot", "SpotOptions": {
            "SpotInstanceType": "one-time", "InstanceInterruptionBehavior": "terminate"}}
    answer = ec2.call("run_instances", what, **request)
    assert answer is not None
    started = sorted((Instance.from_api(data) for data in answer["Instances"]),
                     key=lambda instance: instance.launch_index)
    ledger.add_instances(started)
    log.info("started %s: %s", what, ", ".join(i.id for i in started))
    if len(started) != role.count:
        raise ProvisionError(f"{what}: EC2 started {len(started)} instead of {role.count}")
    return started


def name_instances(ec2: Ec2, named: Mapping[str, Mapping[str, str]]) -> None:
    """Add tags to each instance (``instance id -> tags``): its name and host name."""
    for instance_id, tags in named.items():
        ec2.call("create_tags", f"instance {instance_id}", Resources=[instance_id],
                 Tags=tag_list(tags))


def describe(ec2: Ec2, ids: list[str], what: str) -> list[Instance]:
    """The current state of instances ``ids`` (with their addresses, once running)."""
    return ec2.instances([{"Name": "instance-id", "Values": ids}], what)


def retag(ec2: Ec2, resources: Resources, tags: Mapping[str, str]) -> None:
    """Set ``tags`` on every resource of a run (to extend the expiry of a reused run)."""
    ids = [i.id for i in resources.instances] + resources.group_ids
    if ids:
        ec2.call("create_tags", "resources of the run", Resources=ids, Tags=tag_list(tags))
    keys = ec2.call("describe_key_pairs", "key pairs of the run",
                    missing_ok=("InvalidKeyPair.NotFound",), KeyNames=resources.key_names
                    ) if resources.key_names else None
    key_ids = [key["KeyPairId"] for key in (keys or {}).get("KeyPairs", []) if "KeyPairId" in key]
    if key_ids:
        ec2.call("create_tags", "key pair of the run", Resources=key_ids, Tags=tag_list(tags))
