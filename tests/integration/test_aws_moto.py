"""The aws provisioner and ``scyllabench aws`` against moto in server mode (no real AWS).

One ``moto_server`` per module, on 127.0.0.1 and a free port, reset before each test; fake
credentials. Every instance address is mapped onto 127.0.0.1 and the SSH reachability check is
replaced by a recorder (the instances do not exist). Each test ends by proving that no
instance (not terminated), security group (but the default) or key pair is left in moto.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shlex
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from moto_server import ec2_leftovers as leftovers

from pytest_scyllabench import cli
from pytest_scyllabench.errors import ProvisionError
from pytest_scyllabench.execute.ssh import SshExecutor
from pytest_scyllabench.provision.aws import AwsProvisioner
from pytest_scyllabench.provision.aws_ec2 import (
    TAG_EXPIRY,
    TAG_OWNER,
    TAG_ROLE,
    TAG_RUN,
    iso,
    parse_iso,
)
from pytest_scyllabench.provision.aws_files import read_inventory
from pytest_scyllabench.provision.aws_spec import AwsSpec, RoleSpec
from pytest_scyllabench.provision.base import Host
from pytest_scyllabench.teardown import TeardownStack

boto3 = pytest.importorskip("boto3")
from botocore.exceptions import ClientError  # noqa: E402

pytestmark = pytest.mark.integration

UBUNTU_AMI = "ami-785db401"  # one of moto's built-in us-east-1 images
OPERATOR = "203.0.113.5/32"




@pytest.fixture(autouse=True)
def fake_aws(moto_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials only, no profile or config file of this machine, a fresh moto."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("SCYLLABENCH_CACHE", str(tmp_path / "cache"))  # the private keys
    request = urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass


@pytest.fixture
def ec2(moto_url: str) -> Any:
    """A plain boto3 client on moto, to look behind the provisioner's back."""
    return boto3.client("ec2", region_name="us-east-1", endpoint_url=moto_url)


NOTHING: dict[str, list[str]] = {"instances": [], "security_groups": [], "key_pairs": []}


def spec(moto_url: str, **changes: Any) -> AwsSpec:
    base = AwsSpec(region="us-east-1", zone="us-east-1a",
                   servers=RoleSpec("i4i.large", 3, ami=UBUNTU_AMI, disk_gb=50),
                   loaders=RoleSpec("c6i.2xlarge", 1, ami=UBUNTU_AMI, market="spot"),
                   operator_cidr=OPERATOR, owner="ci-bot", expiry_hours=2.0,
                   endpoint_url=moto_url, boot_timeout=60.0)
    return replace(base, **changes)


@dataclass
class Checked:
    hosts: list[Host]

    async def __call__(self, host: Host, timeout: float) -> None:
        self.hosts.append(host)


def provisioner(aws_spec: AwsSpec, trials: Path, **kwargs: Any) -> AwsProvisioner:
    kwargs.setdefault("address_map", lambda address: "127.0.0.1")
    kwargs.setdefault("check", Checked([]))
    kwargs.setdefault("announce", lambda text: print(text))
    return AwsProvisioner(aws_spec, trials, poll_interval=0.2, **kwargs)


@pytest.fixture
def ec2_hooks(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Callable[..., Any]]]:
    """botocore event handlers registered on every EC2 client made from now on."""
    hooks: list[tuple[str, Callable[..., Any]]] = []
    make_client = boto3.session.Session.client

    def client(self: Any, *args: Any, **kwargs: Any) -> Any:
        made = make_client(self, *args, **kwargs)
        for event, handler in hooks:
            made.meta.events.register(event, handler)
        return made

    monkeypatch.setattr(boto3.session.Session, "client", client)
    return hooks


# --- the whole flow -----------------------------------------------------------------------


def test_provision_check_and_release(moto_url: str, ec2: Any, tmp_path: Path,
                                     caplog: pytest.LogCaptureFixture,
                                     capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    caplog.set_level(logging.DEBUG)  # botocore's debug log holds response bodies
    closed: list[str] = []
    close = SshExecutor.close

    async def recording_close(self: SshExecutor) -> None:
        closed.append(self.host)
        await close(self)

    monkeypatch.setattr(SshExecutor, "close", recording_close)
    trials = tmp_path / "trials"
    checked = Checked([])
    mapped: list[str] = []

    def to_loopback(address: str) -> str:
        mapped.append(address)
        return "127.0.0.1"

    aws = provisioner(spec(moto_url), trials, address_map=to_loopback, check=checked)
    teardown = TeardownStack()
    observed: dict[str, Any] = {}

    async def session() -> list[str]:
        teardown.push("aws run", aws.release)  # before anything exists
        try:
            began = time.monotonic()
            deployment = await aws.provision()
            observed["provision_s"] = time.monotonic() - began
            observed["deployment"] = deployment
            observed["moto"] = _inspect(ec2, aws)
        finally:
            began = time.monotonic()
            failures = await teardown.run()
            observed["release_s"] = time.monotonic() - began
        return failures

    began = time.monotonic()
    assert asyncio.run(session()) == []
    whole = time.monotonic() - began
    deployment = observed["deployment"]
    assert [h.name for h in deployment.servers] == ["node1", "node2", "node3"]
    assert [h.name for h in deployment.loaders] == ["loader-1"]
    assert {h.address for h in (*deployment.servers, *deployment.loaders)} == {"127.0.0.1"}
    assert all(isinstance(h.executor, SshExecutor) for h in deployment.servers)
    assert sorted(h.name for h in checked.hosts) == ["loader-1", "node1", "node2", "node3"]
    assert len(mapped) == 4 and all(address.count(".") == 3 for address in mapped)

    moto = observed["moto"]
    run_id = aws.run_id
    assert run_id is not None
    # instances: roles, types, market, zone, volumes, tags
    instances = moto["instances"]
    assert sorted(i["Tags"][TAG_ROLE] for i in instances) == ["loaders", "servers", "servers",
                                                              "servers"]
    for instance in instances:
        tags = instance["Tags"]
        assert tags[TAG_RUN] == run_id and tags[TAG_OWNER] == "ci-bot"
        expiry = parse_iso(tags[TAG_EXPIRY])
        assert expiry is not None
        assert timedelta(hours=1.9) < expiry - datetime.now(UTC) <= timedelta(hours=2)
        assert instance["Placement"]["AvailabilityZone"] == "us-east-1a"
        spot = instance.get("InstanceLifecycle") == "spot"
        assert spot == (tags[TAG_ROLE] == "loaders")
        assert instance["InstanceType"] == ("c6i.2xlarge" if spot else "i4i.large")
        assert instance["KeyName"] == f"scyllabench-{run_id}"
        assert tags["Name"].startswith(f"scyllabench-{run_id}-")
    assert sorted(moto["volume_sizes"]) == [50, 50, 50, 100]  # disk_gb per role
    # security group: operator CIDR on 22 and 9042; the group itself on everything
    group = moto["group"]
    assert group["Tags"][TAG_RUN] == run_id
    rules = {(r["IpProtocol"], r.get("FromPort"), tuple(x["CidrIp"] for x in r["IpRanges"]),
              tuple(x["GroupId"] for x in r["UserIdGroupPairs"])) for r in group["IpPermissions"]}
    assert rules == {("tcp", 22, (OPERATOR,), ()), ("tcp", 9042, (OPERATOR,), ()),
                     ("-1", None, (), (group["GroupId"],))}
    assert moto["key_tags"][TAG_RUN] == run_id
    # files: the key (0600 in a 0700 directory of the cache, not in the trials), ssh config,
    # inventory (in the trials, 0700)
    key = moto["key_file"]
    assert key == (tmp_path / "cache" / "aws" / run_id / "key.pem").resolve()
    assert stat.S_IMODE(moto["key_mode"]) == 0o600
    assert stat.S_IMODE(moto["key_dir_mode"]) == 0o700
    assert stat.S_IMODE(moto["dir_mode"]) == 0o700
    assert not key.is_relative_to(trials.resolve())
    assert "Host node1\n    HostName 127.0.0.1\n    User ubuntu" in moto["ssh_config"]
    assert f'IdentityFile "{key}"' in moto["ssh_config"]
    inventory = moto["inventory"]
    assert inventory.run_id == run_id and inventory.key_file == str(key)
    assert {h.instance_id for h in inventory.hosts} == {i["InstanceId"] for i in instances}
    assert {h.public_ip for h in inventory.hosts} == {i["PublicIpAddress"] for i in instances}
    # the planted secret: the private key is in key.pem and in no file under the trials
    secret_lines = moto["secret_lines"]
    assert len(secret_lines) >= 2
    out = capsys.readouterr()
    assert "estimated cost per hour" in out.out and "creating EC2 run" in out.out
    assert "estimated cost per hour" in caplog.text and "deleting EC2 run" in caplog.text
    assert {"inventory.json", "ssh_config"} <= {Path(p).name for p in moto["trials_files"]}
    for line in secret_lines:
        assert line not in caplog.text
        assert line not in out.out + out.err
        for path, text in moto["trials_files"].items():
            assert line not in text, f"the private key leaked into {path}"
    assert "response body redacted" in caplog.text  # botocore tried to log it
    # after release: the connections closed, nothing left in moto, the key file and its
    # directory gone, release again is harmless
    assert sorted(closed) == ["loader-1", "node1", "node2", "node3"]
    assert leftovers(ec2) == NOTHING
    assert not key.exists() and not key.parent.exists()
    asyncio.run(aws.release())
    sys.stderr.write(f"\nmoto flow: provision {observed['provision_s']:.2f} s, release "
                     f"{observed['release_s']:.2f} s, whole {whole:.2f} s\n")


def _inspect(ec2: Any, aws: AwsProvisioner) -> dict[str, Any]:
    """Everything the flow test checks while the run exists."""
    run_filter = [{"Name": f"tag:{TAG_RUN}", "Values": [aws.run_id]}]
    instances = [dict(i, Tags={t["Key"]: t["Value"] for t in i["Tags"]})
                 for r in ec2.describe_instances(Filters=run_filter)["Reservations"]
                 for i in r["Instances"]]
    volume_ids = [m["Ebs"]["VolumeId"] for i in instances for m in i["BlockDeviceMappings"]]
    volumes = ec2.describe_volumes(VolumeIds=volume_ids)["Volumes"]
    group = ec2.describe_security_groups(Filters=run_filter)["SecurityGroups"][0]
    group["Tags"] = {t["Key"]: t["Value"] for t in group["Tags"]}
    key_pair = ec2.describe_key_pairs(Filters=run_filter)["KeyPairs"][0]
    directory, key_file = aws.directory, aws.key_file
    assert directory is not None and key_file is not None
    material = key_file.read_text()
    secret = [line for line in material.splitlines() if len(line) >= 16 and "-----" not in line]
    # Every file under the trials directory, with no exception.
    trials_files = {str(p): p.read_text(errors="replace")
                    for p in directory.parent.rglob("*") if p.is_file()}
    return {"instances": instances, "volume_sizes": [v["Size"] for v in volumes],
            "group": group, "key_tags": {t["Key"]: t["Value"] for t in key_pair["Tags"]},
            "key_file": key_file.resolve(), "key_mode": key_file.stat().st_mode,
            "key_dir_mode": key_file.parent.stat().st_mode,
            "dir_mode": directory.stat().st_mode,
            "ssh_config": (directory / "ssh_config").read_text(),
            "inventory": read_inventory(directory / "inventory.json"),
            "secret_lines": secret, "trials_files": trials_files}


# --- validation against AWS: nothing is created ---------------------------------------------


def test_a_missing_image_fails_before_anything_is_created(moto_url: str, ec2: Any,
                                                          tmp_path: Path) -> None:
    bad = spec(moto_url, zone="us-east-1e",  # c6i.2xlarge is not offered in us-east-1e
               servers=RoleSpec("i4i.large", 3, ami="ami-0123456789abcdef0"))
    aws = provisioner(bad, tmp_path / "trials")
    with pytest.raises(ProvisionError) as failure:
        asyncio.run(aws.provision())
    message = str(failure.value)
    assert "nothing was created" in message
    assert "aws.servers.ami: image ami-0123456789abcdef0 does not exist in us-east-1" in message
    assert "aws.loaders.instance_type: c6i.2xlarge is not offered in us-east-1e" in message
    assert "servers.instance_type" not in message
    assert aws.run_id is None and not (tmp_path / "trials").exists()
    asyncio.run(aws.release())
    assert leftovers(ec2) == NOTHING


def test_an_unknown_zone_is_named(moto_url: str, ec2: Any, tmp_path: Path) -> None:
    aws = provisioner(spec(moto_url, zone="us-east-1q"), tmp_path)
    with pytest.raises(ProvisionError, match=r"aws\.zone: no availability zone us-east-1q"):
        asyncio.run(aws.provision())
    assert leftovers(ec2) == NOTHING


# --- faults: each ends with nothing left ----------------------------------------------------


@pytest.mark.parametrize("keep", [False, True])  # a half-made run is never kept
def test_a_failure_while_provisioning_leaves_nothing(
        moto_url: str, ec2: Any, tmp_path: Path,
        ec2_hooks: list[tuple[str, Callable[..., Any]]], keep: bool) -> None:
    launched: list[int] = []

    def second_launch_fails(**kwargs: Any) -> None:
        launched.append(1)
        if len(launched) == 2:  # the loaders, after the servers started
            raise ClientError({"Error": {"Code": "InsufficientInstanceCapacity", "Message":
                                         "no c6i.2xlarge spot capacity in us-east-1a"}},
                              "RunInstances")

    ec2_hooks.append(("before-call.ec2.RunInstances", second_launch_fails))
    aws = provisioner(spec(moto_url, keep=keep), tmp_path)
    teardown = TeardownStack()
    seen: dict[str, Any] = {}

    async def session() -> list[str]:
        teardown.push("aws run", aws.release)
        try:
            await aws.provision()
        except ProvisionError as exc:
            seen["error"] = str(exc)
            seen["during"] = leftovers(ec2)
        finally:
            failures = await teardown.run()
        return failures

    assert asyncio.run(session()) == []
    assert "instance(s) of loaders" in seen["error"]
    assert "InsufficientInstanceCapacity" in seen["error"]
    assert len(seen["during"]["instances"]) == 3  # the servers did start
    assert leftovers(ec2) == NOTHING


def test_a_failure_after_provisioning_leaves_nothing(moto_url: str, ec2: Any,
                                                     tmp_path: Path) -> None:
    aws = provisioner(spec(moto_url, keep=False), tmp_path)
    teardown = TeardownStack()

    async def configure(hosts: int) -> None:
        raise RuntimeError(f"configuring {hosts} hosts failed")

    async def session() -> None:
        teardown.push("aws run", aws.release)
        try:
            deployment = await aws.provision()
            await configure(len(deployment.servers))
        finally:
            assert await teardown.run() == []

    with pytest.raises(RuntimeError, match="configuring 3 hosts failed"):
        asyncio.run(session())
    assert leftovers(ec2) == NOTHING


def test_an_unreachable_host_fails_provisioning_and_leaves_nothing(
        moto_url: str, ec2: Any, tmp_path: Path) -> None:
    async def node2_is_silent(host: Host, timeout: float) -> None:
        if host.name == "node2":
            raise ProvisionError(f"{host.name} ({host.address}): no SSH within {timeout:g} s")

    aws = provisioner(spec(moto_url), tmp_path, check=node2_is_silent)
    teardown = TeardownStack()

    async def session() -> None:
        teardown.push("aws run", aws.release)
        try:
            await aws.provision()
        finally:
            assert await teardown.run() == []

    with pytest.raises(ProvisionError, match=r"hosts not reachable:\n  node2 \(127.0.0.1\)"):
        asyncio.run(session())
    assert leftovers(ec2) == NOTHING


@pytest.mark.parametrize(("event", "nth", "started"), [
    ("before-call.ec2.RunInstances", 2, 4),  # while the loaders are being launched
    ("before-call.ec2.DescribeInstances", 1, 4),  # while waiting for the instances to run
])
def test_ctrl_c_while_provisioning_leaves_nothing(
        moto_url: str, ec2: Any, tmp_path: Path,
        ec2_hooks: list[tuple[str, Callable[..., Any]]], event: str, nth: int,
        started: int) -> None:
    """Ctrl-C lands on the event loop while a worker thread is inside an EC2 call; teardown
    then runs on another loop (as pytest's finalizers do after an interrupt)."""
    aws = provisioner(spec(moto_url), tmp_path)
    teardown = TeardownStack()
    teardown.push("aws run", aws.release)
    calls: list[str] = []

    async def provision() -> None:
        loop = asyncio.get_running_loop()

        def interrupt() -> None:
            raise KeyboardInterrupt

        def on_call(**kwargs: Any) -> None:
            calls.append(event)
            if len(calls) == nth:
                loop.call_soon_threadsafe(interrupt)
                time.sleep(0.5)  # the call is still under way when the interrupt lands

        ec2_hooks.append((event, on_call))
        await aws.provision()

    with pytest.raises(KeyboardInterrupt):
        asyncio.run(provision())
    assert len(calls) == nth
    assert len(leftovers(ec2)["instances"]) == started
    assert asyncio.run(teardown.run()) == []
    assert leftovers(ec2) == NOTHING


def test_a_kept_run_is_reused_by_its_id_then_released(moto_url: str, ec2: Any,
                                                       tmp_path: Path) -> None:
    first = provisioner(spec(moto_url, keep=True), tmp_path / "first")
    asyncio.run(first.provision())
    asyncio.run(first.release())  # kept: nothing deleted, the key file neither
    run_id = first.run_id
    assert run_id is not None and len(leftovers(ec2)["instances"]) == 4
    key = first.key_file
    assert key is not None and key.is_file()
    old_expiry = first.inventory.expiry if first.inventory else ""

    # Another session, another trials directory: the key is found in the cache by run id.
    again = provisioner(spec(moto_url, run_id=run_id, expiry_hours=5.0), tmp_path / "again")
    deployment = asyncio.run(again.provision())
    assert again.inventory is not None and again.inventory.key_file == str(key.resolve())
    assert [h.name for h in deployment.servers] == ["node1", "node2", "node3"]
    assert again.inventory is not None and again.inventory.expiry > old_expiry
    tags = {t["Key"]: t["Value"] for r in ec2.describe_instances()["Reservations"]
            for i in r["Instances"] for t in i["Tags"]}
    assert tags[TAG_EXPIRY] == again.inventory.expiry
    wrong = provisioner(spec(moto_url, run_id=run_id,
                             servers=RoleSpec("i4i.large", 5, ami=UBUNTU_AMI)), tmp_path)
    with pytest.raises(ProvisionError, match="has 3 servers, the profile asks for 5"):
        asyncio.run(wrong.provision())
    asyncio.run(wrong.release())  # a failed reuse deletes nothing
    assert len(leftovers(ec2)["instances"]) == 4
    asyncio.run(again.release())  # not kept this time
    assert leftovers(ec2) == NOTHING
    assert not key.exists()


# --- the companion command ------------------------------------------------------------------


def test_cli_aws_list(moto_url: str, ec2: Any, tmp_path: Path,
                      capsys: pytest.CaptureFixture[str]) -> None:
    aws = provisioner(spec(moto_url, keep=True), tmp_path)
    asyncio.run(aws.provision())
    capsys.readouterr()
    assert aws.run_id is not None
    where = ["--region", "us-east-1", "--endpoint-url", moto_url]
    assert cli.main(["aws", "list", "--run-id", aws.run_id, *where]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["instance"] * 4 + ["security-group",
                                                                     "key-pair"]
    assert all(f"run {aws.run_id}" in line and "owner ci-bot" in line for line in lines)
    assert sum("spot" in line for line in lines) == 1
    assert cli.main(["aws", "list", "--run-id", "19990101-000000-000000", *where]) == 0
    assert "no live resources" in capsys.readouterr().out
    # the ssh subcommand, as the installed console script, on this run's inventory
    directory = aws.directory
    assert directory is not None
    script = Path(sys.executable).parent / "scyllabench"
    shown = subprocess.run([str(script), "ssh", "--print", str(directory / "inventory.json"),
                            "loader-1"], capture_output=True, text=True, check=True, timeout=60)
    assert aws.key_file is not None
    argv = shlex.split(shown.stdout)
    assert argv[:3] == ["ssh", "-o", f'IdentityFile="{aws.key_file.resolve()}"']
    assert argv[-2:] == ["--", "ubuntu@127.0.0.1"]


def test_cli_aws_sweep_deletes_only_expired_resources(
        moto_url: str, ec2: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    expired = provisioner(spec(moto_url, keep=True), tmp_path / "a")
    fresh = provisioner(spec(moto_url, keep=True), tmp_path / "b")
    for aws in (expired, fresh):
        asyncio.run(aws.provision())
    # The first run's expiry passed an hour ago; a stranger's group has a broken expiry tag;
    # an untagged group is not ours at all.
    past = iso(datetime.now(UTC) - timedelta(hours=1))
    found = ec2.describe_instances(Filters=[{"Name": f"tag:{TAG_RUN}",
                                             "Values": [expired.run_id]}])
    ids = [i["InstanceId"] for r in found["Reservations"] for i in r["Instances"]]
    group = ec2.describe_security_groups(Filters=[{"Name": f"tag:{TAG_RUN}",
                                                   "Values": [expired.run_id]}])
    key = ec2.describe_key_pairs(Filters=[{"Name": f"tag:{TAG_RUN}", "Values": [expired.run_id]}])
    ec2.create_tags(Resources=[*ids, group["SecurityGroups"][0]["GroupId"],
                               key["KeyPairs"][0]["KeyPairId"]],
                    Tags=[{"Key": TAG_EXPIRY, "Value": past}])
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    ec2.create_security_group(GroupName="broken-tag", Description="x", VpcId=vpc,
                              TagSpecifications=[{"ResourceType": "security-group", "Tags": [
                                  {"Key": TAG_EXPIRY, "Value": "soon"}]}])
    ec2.create_security_group(GroupName="not-ours", Description="x", VpcId=vpc)
    before = leftovers(ec2)
    capsys.readouterr()
    where = ["--region", "us-east-1", "--endpoint-url", moto_url]

    assert cli.main(["aws", "sweep", "--dry-run", *where]) == 0
    shown = capsys.readouterr()
    assert shown.out.count("would delete: ") == 6  # 4 instances, 1 group, 1 key pair
    assert "unreadable expiry tag 'soon'" in shown.err
    assert leftovers(ec2) == before

    assert cli.main(["aws", "sweep", *where]) == 0
    assert capsys.readouterr().out.count("deleted: ") == 6
    after = leftovers(ec2)
    assert len(after["instances"]) == 4 and len(after["key_pairs"]) == 1
    assert len(after["security_groups"]) == 3  # the fresh run's, the broken one, not-ours
    for instance in (i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]
                     if i["State"]["Name"] == "running"):
        assert {t["Key"]: t["Value"] for t in instance["Tags"]}[TAG_RUN] == fresh.run_id

    assert cli.main(["aws", "sweep", *where]) == 0  # idempotent
    assert "nothing has expired" in capsys.readouterr().out
    cleanup = provisioner(spec(moto_url, run_id=fresh.run_id), tmp_path / "b")
    asyncio.run(cleanup.provision())
    asyncio.run(cleanup.release())
    after = leftovers(ec2)
    assert after["instances"] == [] and after["key_pairs"] == []


def test_the_inventory_is_json(moto_url: str, tmp_path: Path) -> None:
    aws = provisioner(spec(moto_url, servers=RoleSpec("i4i.large", 1, ami=UBUNTU_AMI)), tmp_path)
    try:
        asyncio.run(aws.provision())
        assert aws.directory is not None
        data = json.loads((aws.directory / "inventory.json").read_text())
        assert [h["name"] for h in data["hosts"]] == ["node1", "loader-1"]
        assert os.path.isabs(data["key_file"])
    finally:
        asyncio.run(aws.release())


def test_the_monitor_host_is_in_the_deployment_at_its_private_address(
        moto_url: str, ec2: Any, tmp_path: Path) -> None:
    """Executors connect to the public addresses; services listen on the private ones."""
    aws = provisioner(spec(moto_url, servers=RoleSpec("i4i.large", 1, ami=UBUNTU_AMI),
                           monitor=RoleSpec("t3.large", 1, ami=UBUNTU_AMI)),
                      tmp_path, address_map=None)
    try:
        deployment = asyncio.run(aws.provision())
        assert aws.inventory is not None
        by_name = {h.name: h for h in aws.inventory.hosts}
        monitor = deployment.monitor
        assert monitor is not None and monitor.name == "monitor-1"
        assert isinstance(monitor.executor, SshExecutor)
        assert monitor.address == by_name["monitor-1"].public_ip
        assert monitor.listen_address == by_name["monitor-1"].private_ip != monitor.address
        assert [h.listen_address for h in deployment.servers] == [by_name["node1"].private_ip]
        assert "monitor-1" not in {h.name for h in (*deployment.servers, *deployment.loaders)}
    finally:
        asyncio.run(aws.release())
    assert leftovers(ec2) == NOTHING
