"""``scyllabench aws``: what the command prints and exits with, on moto in-process (mock_aws)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_aws_support import fake_aws_environment

from pytest_scyllabench import cli

moto = pytest.importorskip("moto")


@pytest.fixture(autouse=True)
def fake_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """Fake credentials only, no profile or config file of this machine, an empty moto."""
    fake_aws_environment(monkeypatch, tmp_path)
    with moto.mock_aws():
        yield


@pytest.mark.parametrize("url", ["ec2.example.com", "http://bad host"])
def test_an_endpoint_botocore_refuses_is_one_error_line(
        url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["aws", "list", "--run-id", "20261123-193839-a1b2c3",
                     "--endpoint-url", url]) == 1
    err = capsys.readouterr().err
    assert err.startswith("scyllabench: error: ") and err.count("\n") == 1
    assert url in err


def test_sweep_does_not_say_deleted_of_what_it_could_not_delete(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from pytest_scyllabench.errors import ProvisionError
    from pytest_scyllabench.provision.aws_ec2 import TAG_EXPIRY, TAG_RUN, Ec2, tag_list

    boto3 = pytest.importorskip("boto3")
    ec2 = boto3.client("ec2", region_name="us-east-1")
    tags = tag_list({TAG_RUN: "20261123-100000-aaaaaa", TAG_EXPIRY: "2020-01-01T00:00:00Z"})
    group = ec2.create_security_group(GroupName="scyllabench-x", Description="run",
                                      TagSpecifications=[{"ResourceType": "security-group",
                                                          "Tags": tags}])["GroupId"]
    ec2.create_key_pair(KeyName="scyllabench-x",
                        TagSpecifications=[{"ResourceType": "key-pair", "Tags": tags}])

    def refuse(self: Ec2, group_id: str, deadline: float, delay: float) -> None:
        raise ProvisionError(f"security group {group_id}: delete_security_group failed: "
                             "UnauthorizedOperation: no")

    monkeypatch.setattr(Ec2, "_delete_group", refuse)
    assert cli.main(["aws", "sweep"]) == 1
    shown = capsys.readouterr()
    lines = shown.out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"not deleted: security-group  {group}  ")
    assert lines[1].startswith("deleted: key-pair        scyllabench-x  ")
    assert f"error: security group {group}: delete_security_group failed" in shown.err
