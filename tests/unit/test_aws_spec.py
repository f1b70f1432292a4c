"""The aws settings without AWS: validation names the field path of each problem, the cost
estimate is labelled and says "unknown" for types it does not know, and the missing-boto3
hint names the extra."""

from __future__ import annotations

import builtins
import dataclasses
import sys
from typing import Any

import pytest

from pytest_scyllabench.errors import ConfigError, MissingDependencyError
from pytest_scyllabench.provision.aws import AwsProvisioner
from pytest_scyllabench.provision.aws_ec2 import Ec2, iso, parse_iso
from pytest_scyllabench.provision.aws_spec import (
    GP3_USD_PER_GB_MONTH,
    ON_DEMAND_USD_PER_HOUR,
    AwsSpec,
    RoleSpec,
    estimate_cost,
    validate,
)

AMI = "ami-0123456789abcdef0"


def good(**changes: Any) -> AwsSpec:
    spec = AwsSpec(servers=RoleSpec("i4i.large", 3, ami=AMI),
                   loaders=RoleSpec("c6i.2xlarge", 1, ami=AMI, market="spot"),
                   operator_cidr="203.0.113.5/32", owner="alice")
    return dataclasses.replace(spec, **changes)


def paths(spec: AwsSpec) -> dict[str, str]:
    return {problem.path: problem.message for problem in validate(spec)}


def test_a_complete_spec_is_valid() -> None:
    assert validate(good()) == []
    assert good().availability_zone == "us-east-1a"
    assert [name for name, _ in good().roles()] == ["servers", "loaders"]


def test_defaults_put_loaders_on_spot_and_keep_nothing() -> None:
    spec = AwsSpec()
    assert spec.loaders.market == "spot" and spec.servers.market == "on-demand"
    assert spec.keep is False and spec.monitor.count == 0


def test_the_defaults_alone_name_every_required_field() -> None:
    problems = paths(AwsSpec())
    assert set(problems) == {"servers.ami", "loaders.ami", "operator_cidr", "owner"}
    assert "required" in problems["operator_cidr"] and "CIDR" in problems["operator_cidr"]


@pytest.mark.parametrize(("changes", "path", "words"), [
    ({"region": "Mars"}, "region", "not a region"),
    ({"zone": "eu-west-1a"}, "zone", "not a zone of region"),
    ({"servers": RoleSpec("i4i.large", 0, ami=AMI)}, "servers.count", "at least one"),
    ({"servers": RoleSpec("i4i.large", 3, ami="ubuntu")}, "servers.ami", "not an image id"),
    ({"loaders": RoleSpec("c6i 2xlarge", 1, ami=AMI)}, "loaders.instance_type",
     "not an instance type"),
    ({"loaders": RoleSpec("c6i.2xlarge", 1, ami=AMI, disk_gb=4)}, "loaders.disk_gb", "8"),
    ({"loaders": RoleSpec("c6i.2xlarge", 1, ami=AMI, market="cheap")},  # type: ignore[arg-type]
     "loaders.market", "on-demand or spot"),
    ({"monitor": RoleSpec("t3.large", 2, ami=AMI)}, "monitor.count", "0 or 1"),
    ({"monitor": RoleSpec("t3.large", 1)}, "monitor.ami", "required"),
    ({"operator_cidr": "0.0.0.0/0"}, "operator_cidr", "too much of the internet"),
    ({"operator_cidr": "203.0.113.5/24"}, "operator_cidr", "host bits"),
    ({"operator_cidr": "somewhere"}, "operator_cidr", "not a CIDR"),
    ({"operator_cidr": "2001:db8::/64"}, "operator_cidr", "IPv4"),
    ({"owner": " "}, "owner", "required"),
    ({"expiry_hours": 0.0}, "expiry_hours", "more than 0"),
    ({"expiry_hours": float("nan")}, "expiry_hours", "more than 0"),
    ({"run_id": "Not An Id"}, "run_id", "not a run id"),
    ({"key_file": "/tmp/key.pem"}, "key_file", "run_id"),
    ({"endpoint_url": "127.0.0.1:5000"}, "endpoint_url", "http"),
    ({"boot_timeout": -1.0}, "boot_timeout", "positive"),
    ({"ssh_user": ""}, "ssh_user", "not a user name"),
    ({"ssh_user": "ubuntu root"}, "ssh_user", "not a user name"),
    ({"ssh_user": "-oProxyCommand=x"}, "ssh_user", "not a user name"),
])
def test_each_problem_names_its_field(changes: dict[str, Any], path: str, words: str) -> None:
    problems = paths(good(**changes))
    assert list(problems) == [path]
    assert words in problems[path]


def test_a_role_without_instances_needs_no_image() -> None:
    assert validate(good(monitor=RoleSpec("t3.large", 0))) == []


def test_a_plain_address_is_a_host_network() -> None:
    assert validate(good(operator_cidr="198.51.100.7")) == []


def test_the_cost_estimate_adds_instances_and_volumes() -> None:
    spec = good(servers=RoleSpec("i4i.large", 3, ami=AMI, disk_gb=100),
                loaders=RoleSpec("c6i.2xlarge", 2, ami=AMI, disk_gb=50, market="spot"))
    cost = estimate_cost(spec)
    server_each = ON_DEMAND_USD_PER_HOUR["i4i.large"] + 100 * GP3_USD_PER_GB_MONTH / 730
    loader_each = ON_DEMAND_USD_PER_HOUR["c6i.2xlarge"] + 50 * GP3_USD_PER_GB_MONTH / 730
    assert cost.lines[0].each == pytest.approx(server_each)
    assert cost.total == pytest.approx(3 * server_each + 2 * loader_each)
    text = cost.text()
    assert "estimate" in text and "not a quote" in text
    assert "3 x i4i.large" in text and f"${3 * server_each:.3f}/h" in text
    assert "at most" in text  # spot prices vary: the table is their bound


def test_an_unknown_instance_type_costs_unknown() -> None:
    spec = good(loaders=RoleSpec("x9z.mega", 1, ami=AMI))
    cost = estimate_cost(spec)
    assert cost.lines[1].each is None and cost.total is None
    text = cost.text()
    assert "unknown (instance type not in the table)" in text
    known = ON_DEMAND_USD_PER_HOUR["i4i.large"] + 100 * GP3_USD_PER_GB_MONTH / 730
    assert text.splitlines()[-1] == f"  total    unknown (${3 * known:.3f}/h without loaders)"


def test_expiry_tags_round_trip() -> None:
    moment = parse_iso("2026-11-23T20:38:39Z")
    assert moment is not None and iso(moment) == "2026-11-23T20:38:39Z"
    assert parse_iso("next tuesday") is None


def test_release_before_provision_does_nothing(tmp_path: Any) -> None:
    import asyncio

    asyncio.run(AwsProvisioner(good(), tmp_path).release())  # no boto3 call, no error


def test_teardown_gives_release_more_time_than_its_own_limits(tmp_path: Any) -> None:
    from pytest_scyllabench.provision.aws import API_TIMEOUT, RELEASE_TIMEOUT
    from pytest_scyllabench.session import Announcing, TimedRelease
    from pytest_scyllabench.teardown import DEFAULT_TIMEOUT

    provisioner = AwsProvisioner(good(), tmp_path, key_root=tmp_path / "keys")
    assert isinstance(provisioner, TimedRelease) and isinstance(provisioner, Announcing)
    # waiting for EC2 calls in flight, finding the run, deleting it (each with its API limit)
    assert provisioner.release_timeout > RELEASE_TIMEOUT + 3 * API_TIMEOUT > DEFAULT_TIMEOUT


def test_invalid_settings_fail_before_aws_is_asked(tmp_path: Any) -> None:
    import asyncio

    provisioner = AwsProvisioner(good(owner=""), tmp_path)
    with pytest.raises(ConfigError, match=r"aws\.owner: required"):
        asyncio.run(provisioner.provision())
    assert provisioner.run_id is None and not any(tmp_path.iterdir())


def test_missing_boto3_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_boto3(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "boto3" or name.startswith("boto3."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "boto3", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_boto3)
    with pytest.raises(MissingDependencyError, match=r"pip install 'pytest-scyllabench\[aws\]'"):
        Ec2("us-east-1").call("describe_vpcs", "default VPC")
