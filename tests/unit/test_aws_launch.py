"""The RunInstances request of one role, without AWS: a fake client records it.

Everything a launch creates carries the run's tags from its first moment, so that the expiry
sweep finds it; EC2 refuses a launch whose tag specification names a kind of resource the launch
does not create (a spot request for an on-demand instance).
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_scyllabench.provision.aws_create import Ledger, launch
from pytest_scyllabench.provision.aws_ec2 import TAG_ROLE, TAG_RUN, Ec2
from pytest_scyllabench.provision.aws_spec import AwsSpec, RoleSpec

AMI = "ami-0123456789abcdef0"


class RecordingClient:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    def run_instances(self, **kwargs: Any) -> dict[str, Any]:
        self.requests.append(kwargs)
        return {"Instances": [{"InstanceId": f"i-{n:04d}", "State": {"Name": "pending"},
                               "AmiLaunchIndex": n} for n in range(kwargs["MaxCount"])]}


def _launch(market: str) -> tuple[dict[str, Any], Ledger]:
    ec2 = Ec2("us-east-1")
    client = RecordingClient()
    ec2._client = client
    ledger = Ledger()
    role = RoleSpec("c6i.2xlarge", 2, ami=AMI, market=market)
    spec = AwsSpec(region="us-east-1", zone="us-east-1a", servers=role, loaders=role)
    launch(ec2, ledger, run_id="r1", role_name="loaders", role=role, spec=spec,
           key_name="scyllabench-r1", group_id="sg-1", root_device="/dev/sda1",
           tags={TAG_RUN: "r1"})
    [request] = client.requests
    return request, ledger


@pytest.mark.parametrize(("market", "kinds"), [
    ("spot", {"instance", "volume", "network-interface", "spot-instances-request"}),
    ("on-demand", {"instance", "volume", "network-interface"}),
])
def test_everything_the_launch_creates_is_tagged_with_the_run_and_role(
        market: str, kinds: set[str]) -> None:
    request, ledger = _launch(market)
    specs = request["TagSpecifications"]
    assert {s["ResourceType"] for s in specs} == kinds and len(specs) == len(kinds)
    for spec in specs:
        tags = {t["Key"]: t["Value"] for t in spec["Tags"]}
        assert tags[TAG_RUN] == "r1" and tags[TAG_ROLE] == "loaders"
    assert ("InstanceMarketOptions" in request) == (market == "spot")
    assert [i.id for i in ledger.instances] == ["i-0000", "i-0001"]
