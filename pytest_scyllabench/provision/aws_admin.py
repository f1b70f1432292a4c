"""Looking after EC2 runs from outside a session: list a run's resources, sweep expired ones.

Used by the ``scyllabench aws`` command. Only resources tagged by pytest-scyllabench are
touched: a sweep deletes the instances, security groups and key pairs whose expiry tag has
passed, and leaves alone those whose expiry tag cannot be read, and the security group and key
pair of a run while an instance of that run stays.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pytest_scyllabench.errors import ProvisionError
from pytest_scyllabench.paths import cache_dir
from pytest_scyllabench.provision.aws_ec2 import (
    TAG_EXPIRY,
    TAG_OWNER,
    TAG_ROLE,
    TAG_RUN,
    Ec2,
    Resources,
)
from pytest_scyllabench.provision.aws_files import key_dir, remove_private_key
from pytest_scyllabench.provision.aws_spec import is_run_id

#: Seconds allowed for deleting what a sweep found (terminating and waiting included).
SWEEP_TIMEOUT = 900.0
#: Seconds beyond ``SWEEP_TIMEOUT`` for the EC2 calls around the deletions.
SWEEP_MARGIN = 60.0


async def list_run(run_id: str, region: str | None, endpoint_url: str = "") -> Resources:
    """Every live resource of run ``run_id``."""
    ec2 = Ec2(region, endpoint_url)
    return await asyncio.to_thread(ec2.run, run_id)


def describe(resources: Resources) -> list[str]:
    """One line per resource: kind, id, role, run, owner, expiry (and state, type, addresses)."""
    lines = []
    for instance in resources.instances:
        tags = instance.tags
        lines.append(f"instance        {instance.id}  {tags.get(TAG_ROLE, '-'):<8} "
                     f"{instance.name or '-'}  {instance.state}  {instance.instance_type}  "
                     f"{instance.lifecycle}  public {instance.public_ip or '-'}  "
                     f"private {instance.private_ip or '-'}  "
                     f"run {tags.get(TAG_RUN, '-')}  owner {tags.get(TAG_OWNER, '-')}  "
                     f"expires {tags.get(TAG_EXPIRY, '-')}")
    for kind, ids in (("security-group", resources.group_ids), ("key-pair", resources.key_names)):
        for resource_id in ids:
            tags = resources.tags.get(resource_id, {})
            lines.append(f"{kind:<15} {resource_id}  run {tags.get(TAG_RUN, '-')}  "
                         f"owner {tags.get(TAG_OWNER, '-')}  expires {tags.get(TAG_EXPIRY, '-')}")
    return lines


@dataclass
class SweepReport:
    """What a sweep found expired, and what it could not read or delete."""

    expired: Resources
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: Ids of the expired resources still there after a sweep with errors.
    left: set[str] = field(default_factory=set)


async def sweep(region: str | None, endpoint_url: str = "", *, dry_run: bool = False,
                now: datetime | None = None, poll_interval: float = 5.0,
                key_root: Path | None = None) -> SweepReport:
    """Delete (or with ``dry_run``, only find) every tagged resource whose expiry has passed,
    and the private key of each key pair deleted (``<key_root>/<run id>/``, by default in the
    cache, where sessions keep them)."""
    ec2 = Ec2(region, endpoint_url)
    moment = now or datetime.now(UTC)
    expired, warnings = await asyncio.to_thread(ec2.expired, moment)
    report = SweepReport(expired, warnings)
    if dry_run or not expired:
        return report
    limit = SWEEP_TIMEOUT + SWEEP_MARGIN
    try:
        async with asyncio.timeout(limit):
            await asyncio.to_thread(ec2.delete, expired, SWEEP_TIMEOUT, poll_interval,
                                    report.errors.append)
    except TimeoutError:
        raise ProvisionError(f"sweep: deleting {', '.join(expired.ids())} did not finish "
                             f"within {limit:g} s; `scyllabench aws sweep --dry-run` shows "
                             "what is left") from None
    if report.errors:
        try:
            async with asyncio.timeout(SWEEP_MARGIN):
                still, _ = await asyncio.to_thread(ec2.expired, moment)
            report.left = set(still.ids()) & set(expired.ids())
        except (ProvisionError, TimeoutError):
            report.left = set(expired.ids())  # unknown: none is said to be deleted
    root = key_root if key_root is not None else cache_dir() / "aws"
    for name in expired.key_names:
        run_id = expired.tags.get(name, {}).get(TAG_RUN, "")
        if name not in report.left and is_run_id(run_id):
            remove_private_key(key_dir(root, run_id))
    return report
