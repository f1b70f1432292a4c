"""Deleting and waiting on EC2 without AWS: a fake client stands for boto3's.

EC2 is eventually consistent: an instance that RunInstances just started may be missing from
DescribeInstances for a while; the provisioner must still terminate it. A step that does not
answer within its limit is a ProvisionError naming the step, not a bare TimeoutError.
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_scyllabench.provision import aws_ec2
from pytest_scyllabench.provision.aws_ec2 import Ec2, Instance, Resources


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
