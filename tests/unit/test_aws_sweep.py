"""What ``scyllabench aws sweep`` picks, on moto in-process (mock_aws): only what has expired,
and never the shared resources of a run that still has instances it leaves alone."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from test_aws_support import fake_aws_environment

from pytest_scyllabench.provision import aws_admin
from pytest_scyllabench.provision.aws_ec2 import TAG_EXPIRY, TAG_RUN, iso, tag_list
from pytest_scyllabench.provision.aws_files import KEY_FILE, key_dir, write_private_key

moto = pytest.importorskip("moto")
boto3 = pytest.importorskip("boto3")

AMI = "ami-785db401"  # one of moto's built-in us-east-1 images
NOW = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)
PAST, FUTURE = iso(NOW - timedelta(hours=1)), iso(NOW + timedelta(hours=1))


@pytest.fixture
def ec2(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """A boto3 client on an empty in-process moto, fake credentials only."""
    fake_aws_environment(monkeypatch, tmp_path)
    with moto.mock_aws():
        yield boto3.client("ec2", region_name="us-east-1")


def make_run(ec2: Any, run_id: str, *, instance_expiry: str, shared_expiry: str) -> dict[str, str]:
    """A run's security group, key pair and one instance, tagged as the provisioner does."""
    def tags(expiry: str, kind: str) -> list[dict[str, Any]]:
        return [{"ResourceType": kind, "Tags": tag_list({TAG_RUN: run_id, TAG_EXPIRY: expiry})}]

    group = ec2.create_security_group(GroupName=f"scyllabench-{run_id}", Description="run",
                                      TagSpecifications=tags(shared_expiry, "security-group"))
    key = f"scyllabench-{run_id}"
    ec2.create_key_pair(KeyName=key, TagSpecifications=tags(shared_expiry, "key-pair"))
    started = ec2.run_instances(ImageId=AMI, InstanceType="t3.large", MinCount=1, MaxCount=1,
                                KeyName=key, SecurityGroupIds=[group["GroupId"]],
                                TagSpecifications=tags(instance_expiry, "instance"))
    return {"instance": started["Instances"][0]["InstanceId"], "group": group["GroupId"],
            "key": key}


def dry_sweep() -> aws_admin.SweepReport:
    return asyncio.run(aws_admin.sweep("us-east-1", dry_run=True, now=NOW))


@pytest.mark.parametrize("instance_expiry", [FUTURE, "next tuesday"])
def test_a_runs_group_and_key_stay_while_an_instance_of_it_stays(
        ec2: Any, instance_expiry: str) -> None:
    """An instance that is not expired (or whose tag cannot be read) still holds its group:
    deleting the group would fail (DependencyViolation) after retrying for the whole sweep."""
    kept = make_run(ec2, "20261123-100000-aaaaaa", instance_expiry=instance_expiry,
                    shared_expiry=PAST)
    gone = make_run(ec2, "20261123-100000-bbbbbb", instance_expiry=PAST, shared_expiry=PAST)
    report = dry_sweep()
    assert sorted(report.expired.ids()) == sorted(gone.values())
    assert any(kept["group"] in warning and "20261123-100000-aaaaaa" in warning
               for warning in report.warnings)


def test_the_group_and_key_of_a_run_without_instances_are_swept(ec2: Any) -> None:
    leftover = make_run(ec2, "20261123-100000-cccccc", instance_expiry=FUTURE,
                        shared_expiry=PAST)
    ec2.terminate_instances(InstanceIds=[leftover["instance"]])
    report = dry_sweep()
    assert sorted(report.expired.ids()) == sorted([leftover["group"], leftover["key"]])
    assert report.warnings == []


def test_nothing_is_swept_before_its_expiry(ec2: Any) -> None:
    make_run(ec2, "20261123-100000-dddddd", instance_expiry=FUTURE, shared_expiry=FUTURE)
    report = dry_sweep()
    assert not report.expired and report.warnings == []


def test_a_swept_runs_private_key_is_removed_with_its_key_pair(ec2: Any, tmp_path: Path) -> None:
    """A kept run's key stayed in the cache for good once its key pair was swept; a run whose
    key pair stays keeps its key, and a run id tag that is not one touches no path."""
    gone = "20261123-100000-eeeeee"
    make_run(ec2, gone, instance_expiry=PAST, shared_expiry=PAST)
    kept = "20261123-100000-ffffff"
    make_run(ec2, kept, instance_expiry=FUTURE, shared_expiry=FUTURE)
    root = tmp_path / "keys"
    for run_id in (gone, kept):
        write_private_key(key_dir(root, run_id) / KEY_FILE, "-----BEGIN KEY-----")
    report = asyncio.run(aws_admin.sweep("us-east-1", now=NOW, poll_interval=0.01,
                                         key_root=root))
    assert report.errors == [] and f"scyllabench-{gone}" in report.expired.key_names
    assert not key_dir(root, gone).exists()
    assert (key_dir(root, kept) / KEY_FILE).exists()
