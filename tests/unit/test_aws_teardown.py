"""Deleting and waiting on EC2 without AWS: a fake client stands for boto3's.

EC2 is eventually consistent: an instance that RunInstances just started may be missing from
DescribeInstances for a while; the provisioner must still terminate it. A step that does not
answer within its limit is a ProvisionError naming the step, not a bare TimeoutError.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from pytest_scyllabench.errors import ProvisionError
from pytest_scyllabench.provision import aws, aws_admin, aws_ec2
from pytest_scyllabench.provision.aws import AwsProvisioner
from pytest_scyllabench.provision.aws_ec2 import Ec2, Instance, Resources
from pytest_scyllabench.provision.aws_spec import AwsSpec, RoleSpec

AMI = "ami-0123456789abcdef0"


class FakeClient:
    """EC2 with one instance that DescribeInstances shows only from its ``visible_after``-th
    call (as after RunInstances), then as running until TerminateInstances."""

    def __init__(self, visible_after: int = 1) -> None:
        self.visible_after = visible_after
        self.describes = 0
        self.state = "running"
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def _instances(self, **kwargs: Any) -> dict[str, Any]:
        self.describes += 1
        if self.describes < self.visible_after:
            return {"Reservations": []}
        wanted = {v for f in kwargs.get("Filters", []) if f["Name"] == "instance-state-name"
                  for v in f["Values"]}
        if wanted and self.state not in wanted:
            return {"Reservations": []}
        return {"Reservations": [{"Instances": [
            {"InstanceId": "i-0abc", "State": {"Name": self.state}}]}]}

    def get_paginator(self, operation: str) -> Any:
        client = self

        class Paginator:
            def paginate(self, **kwargs: Any) -> list[dict[str, Any]]:
                client.calls.append((operation, kwargs))
                if operation == "describe_instances":
                    return [client._instances(**kwargs)]
                return [{"SecurityGroups": []}]

        return Paginator()

    def terminate_instances(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("terminate_instances", kwargs))
        self.state = "terminated"
        return {}

    def describe_key_pairs(self, **kwargs: Any) -> dict[str, Any]:
        return {"KeyPairs": []}

    def get_waiter(self, name: str) -> Any:
        client = self

        class Waiter:
            def wait(self, **kwargs: Any) -> None:
                client.calls.append((f"wait {name}", kwargs))

        return Waiter()


def fake_ec2(client: Any) -> Ec2:
    ec2 = Ec2("us-east-1")
    ec2._client = client
    return ec2


def test_an_instance_not_yet_visible_is_still_terminated() -> None:
    client = FakeClient(visible_after=3)
    doomed = Resources(instances=[_instance("i-0abc")])
    errors: list[str] = []
    fake_ec2(client).delete(doomed, 5.0, 0.01, errors.append)
    assert errors == []
    assert ("terminate_instances", {"InstanceIds": ["i-0abc"]}) in client.calls
    assert client.calls[-1][0] == "wait instance_terminated"


def test_an_instance_already_terminated_is_not_terminated_again() -> None:
    client = FakeClient()
    client.state = "terminated"
    fake_ec2(client).delete(Resources(instances=[_instance("i-0abc")]), 5.0, 0.01)
    assert [name for name, _ in client.calls] == ["describe_instances"]


def _instance(instance_id: str) -> Instance:
    return Instance(id=instance_id, state="pending", instance_type="c6i.2xlarge",
                    lifecycle="spot", public_ip="", private_ip="", launch_index=0, tags={})


def test_an_instance_ec2_never_shows_is_taken_for_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.exceptions import ClientError

    monkeypatch.setattr(aws_ec2, "VISIBILITY_GRACE", 0.05)
    client = FakeClient(visible_after=10**6)

    def unknown(**kwargs: Any) -> dict[str, Any]:
        client.calls.append(("terminate_instances", kwargs))
        raise ClientError({"Error": {"Code": "InvalidInstanceID.NotFound",
                                     "Message": "no such instance"}}, "TerminateInstances")

    client.terminate_instances = unknown  # type: ignore[method-assign]
    errors: list[str] = []
    fake_ec2(client).delete(Resources(instances=[_instance("i-0abc")]), 5.0, 0.01,
                            errors.append)
    assert errors == []
    assert client.describes > 1  # looked for again before giving up
    names = [name for name, _ in client.calls]
    assert names[-1] == "terminate_instances" and "wait instance_terminated" not in names


class Hanging:
    """A client whose every call blocks until released (an endpoint that stopped answering)."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def __getattr__(self, operation: str) -> Any:
        def call(**kwargs: Any) -> dict[str, Any]:
            self.release.wait(30)
            return {}

        return call


def _spec() -> AwsSpec:
    return AwsSpec(servers=RoleSpec("i4i.large", 1, ami=AMI),
                   loaders=RoleSpec("c6i.2xlarge", 1, ami=AMI, market="spot"),
                   operator_cidr="203.0.113.5/32", owner="alice")


def test_an_ec2_step_that_does_not_answer_is_a_provision_error(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(aws, "API_TIMEOUT", 0.2)
    provisioner = AwsProvisioner(_spec(), tmp_path, check=None, announce=lambda text: None,
                                 key_root=tmp_path / "keys")
    hanging = Hanging()
    provisioner._ec2._client = hanging

    async def provision() -> None:
        try:
            await provisioner.provision()
        finally:
            hanging.release.set()

    with pytest.raises(ProvisionError, match=r"^EC2 step preflight did not finish within "
                                             r"0.2 s \(is EC2 reachable\?\)$"):
        asyncio.run(provision())
    assert provisioner.run_id is None  # nothing was created


def test_a_release_that_does_not_finish_names_what_is_left(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(aws, "RELEASE_TIMEOUT", 0.0)
    monkeypatch.setattr(aws, "API_TIMEOUT", 0.2)
    provisioner = AwsProvisioner(_spec(), tmp_path, check=None, announce=lambda text: None,
                                 key_root=tmp_path / "keys")
    provisioner._run_id = "20261123-193839-a1b2c3"
    provisioner._ledger.group_id = "sg-0abc"
    hanging = threading.Event()

    def delete(self: Ec2, *args: Any) -> None:  # an endpoint that stopped answering
        hanging.wait(30)

    monkeypatch.setattr(Ec2, "run", lambda self, run_id: Resources())
    monkeypatch.setattr(Ec2, "delete", delete)

    async def release() -> None:
        try:
            await provisioner.release()
        finally:
            hanging.set()

    with pytest.raises(ProvisionError) as failure:
        asyncio.run(release())
    assert str(failure.value).startswith("run 20261123-193839-a1b2c3 was not wholly deleted")
    assert "EC2 step delete did not finish within 0.2 s" in str(failure.value)


def test_a_sweep_that_does_not_finish_is_a_provision_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aws_admin, "SWEEP_TIMEOUT", 0.1)
    monkeypatch.setattr(aws_admin, "SWEEP_MARGIN", 0.0)
    expired = Resources(instances=[_instance("i-0abc")], group_ids=["sg-0abc"])
    hanging = threading.Event()
    monkeypatch.setattr(Ec2, "expired", lambda self, now: (expired, []))
    monkeypatch.setattr(Ec2, "delete", lambda self, *args: hanging.wait(30))

    async def sweep() -> None:
        try:
            await aws_admin.sweep("us-east-1")
        finally:
            hanging.set()

    with pytest.raises(ProvisionError, match=r"^sweep: deleting i-0abc, sg-0abc did not "
                                             r"finish within 0.1 s"):
        asyncio.run(sweep())
