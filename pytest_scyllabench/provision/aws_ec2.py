"""The boto3 boundary of the AWS backend: blocking EC2 calls, run in worker threads by
:mod:`pytest_scyllabench.provision.aws` (never on the event loop).

boto3 is imported here, on first use, and its absence fails with the extra to install. Every
error of boto3 and botocore becomes a :class:`ProvisionError` naming the resource and the
call (``raise ... from exc``). Private key material is never logged: botocore's debug log of
response bodies is redacted when a body holds a private key.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pytest_scyllabench.errors import MissingDependencyError, ProvisionError

log = logging.getLogger(__name__)

AWS_EXTRA_HINT = ("the aws provisioner needs boto3: pip install 'pytest-scyllabench[aws]'")

TAG_PREFIX = "pytest-scyllabench:"
TAG_RUN = TAG_PREFIX + "run-id"
TAG_OWNER = TAG_PREFIX + "owner"
TAG_EXPIRY = TAG_PREFIX + "expiry"
TAG_ROLE = TAG_PREFIX + "role"
#: The host name of an instance in the deployment (node1, loader-1, monitor-1).
TAG_HOST = TAG_PREFIX + "host"
#: Role tag of the resources a whole run shares (its security group and key pair).
SHARED_ROLE = "shared"

_LIVE_STATES = ["pending", "running", "stopping", "stopped", "shutting-down"]
#: Seconds an instance id may stay missing from DescribeInstances (EC2's eventual consistency
#: after RunInstances) before teardown stops looking for it.
VISIBILITY_GRACE = 60.0


def import_boto3() -> Any:
    """The boto3 module, or a :class:`MissingDependencyError` naming the extra."""
    try:
        import boto3
    except ImportError as exc:
        raise MissingDependencyError(AWS_EXTRA_HINT) from exc
    return boto3


class _RedactPrivateKeys(logging.Filter):
    """Blanks botocore debug records that carry a private key (the CreateKeyPair response)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "PRIVATE KEY" in record.getMessage():
            record.msg, record.args = "response body redacted: it holds a private key", ()
        return True


def _protect_logs() -> None:
    parsers = logging.getLogger("botocore.parsers")
    if not any(isinstance(f, _RedactPrivateKeys) for f in parsers.filters):
        parsers.addFilter(_RedactPrivateKeys())


def iso(moment: datetime) -> str:
    """``2026-11-23T20:38:39Z``: the format of the expiry tag."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime | None:
    """The time of an expiry tag, or ``None`` when it is not one."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def tags_of(resource: Mapping[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


def tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


@dataclass(frozen=True)
class Instance:
    """What we need to know of one EC2 instance."""

    id: str
    state: str
    instance_type: str
    lifecycle: str
    public_ip: str
    private_ip: str
    launch_index: int
    tags: Mapping[str, str]

    @property
    def role(self) -> str:
        return self.tags.get(TAG_ROLE, "")

    @property
    def name(self) -> str:
        return self.tags.get("Name", "")

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Instance:
        return cls(id=data["InstanceId"], state=data["State"]["Name"],
                   instance_type=data.get("InstanceType", ""),
                   lifecycle=data.get("InstanceLifecycle", "on-demand"),
                   public_ip=data.get("PublicIpAddress", ""),
                   private_ip=data.get("PrivateIpAddress", ""),
                   launch_index=int(data.get("AmiLaunchIndex", 0)), tags=tags_of(data))


@dataclass
class Resources:
    """Resources of one or more runs: instance ids, security group ids, key pair names."""

    instances: list[Instance] = field(default_factory=list)
    group_ids: list[str] = field(default_factory=list)
    key_names: list[str] = field(default_factory=list)
    #: ``resource id -> tags``, for listing.
    tags: dict[str, dict[str, str]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.instances or self.group_ids or self.key_names)

    def ids(self) -> list[str]:
        return [i.id for i in self.instances] + self.group_ids + self.key_names


class Ec2:
    """One region's EC2 client, created on first use; every call translates its errors."""

    def __init__(self, region: str | None, endpoint_url: str = "") -> None:
        self.region = region
        self.endpoint_url = endpoint_url
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            boto3 = import_boto3()
            from botocore.config import Config

            _protect_logs()
            session = boto3.session.Session(region_name=self.region)
            try:
                self._client = session.client(
                    "ec2", endpoint_url=self.endpoint_url or None,
                    config=Config(retries={"mode": "standard", "max_attempts": 5},
                                  connect_timeout=10, read_timeout=60))
            except ValueError as exc:  # "Invalid endpoint: ..." (a bare ValueError), a region
                raise ProvisionError(f"cannot make an EC2 client: {exc}") from exc
        return self._client

    def call(self, operation: str, what: str, *, missing_ok: Sequence[str] = (),
             **kwargs: Any) -> dict[str, Any] | None:
        """``client.<operation>(**kwargs)``; ``None`` when AWS answers an error code of
        ``missing_ok``, a :class:`ProvisionError` naming ``what`` for any other error."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            result: dict[str, Any] = getattr(self.client, operation)(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in missing_ok:
                return None
            message = exc.response.get("Error", {}).get("Message", "")
            raise ProvisionError(f"{what}: {operation} failed: {code}: {message}") from exc
        except BotoCoreError as exc:
            raise ProvisionError(f"{what}: {operation} failed: {exc}") from exc
        return result

    def pages(self, operation: str, what: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Every page of a paginated call, errors translated."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield from self.client.get_paginator(operation).paginate(**kwargs)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise ProvisionError(f"{what}: {operation} failed: {error.get('Code', '')}: "
                                 f"{error.get('Message', '')}") from exc
        except BotoCoreError as exc:
            raise ProvisionError(f"{what}: {operation} failed: {exc}") from exc

    def wait(self, waiter: str, what: str, timeout: float, delay: float, **kwargs: Any) -> None:
        """Run a boto3 waiter for at most about ``timeout`` seconds."""
        from botocore.exceptions import BotoCoreError, ClientError, WaiterError

        attempts = max(1, math.ceil(timeout / delay))
        try:
            self.client.get_waiter(waiter).wait(
                **kwargs, WaiterConfig={"Delay": delay, "MaxAttempts": attempts})
        except WaiterError as exc:
            raise ProvisionError(f"{what}: not {waiter.removeprefix('instance_')} within "
                                 f"{timeout:g} s: {exc.last_response.get('Error', '') or exc}"
                                 ) from exc
        except (ClientError, BotoCoreError) as exc:
            raise ProvisionError(f"{what}: waiting ({waiter}) failed: {exc}") from exc

    # --- finding ------------------------------------------------------------------------------

    def instances(self, filters: list[dict[str, Any]], what: str, *,
                  live: bool = True) -> list[Instance]:
        """Instances that match ``filters``: those not terminated, or with ``live=False`` all
        that EC2 still shows."""
        if live:
            filters = [*filters, {"Name": "instance-state-name", "Values": _LIVE_STATES}]
        return [Instance.from_api(data)
                for page in self.pages("describe_instances", what, Filters=filters)
                for reservation in page["Reservations"] for data in reservation["Instances"]]

    def tagged(self, filters: list[dict[str, Any]], what: str) -> Resources:
        """Every instance, security group and key pair matching tag ``filters``."""
        found = Resources(instances=self.instances(filters, what))
        for instance in found.instances:
            found.tags[instance.id] = dict(instance.tags)
        for page in self.pages("describe_security_groups", what, Filters=filters):
            for group in page["SecurityGroups"]:
                found.group_ids.append(group["GroupId"])
                found.tags[group["GroupId"]] = tags_of(group)
        keys = self.call("describe_key_pairs", what, Filters=filters) or {}
        for key in keys.get("KeyPairs", []):
            found.key_names.append(key["KeyName"])
            found.tags[key["KeyName"]] = tags_of(key)
        return found

    def run(self, run_id: str) -> Resources:
        """Every resource of run ``run_id`` (found by its tag)."""
        return self.tagged([{"Name": f"tag:{TAG_RUN}", "Values": [run_id]}], f"run {run_id}")

    def expired(self, now: datetime) -> tuple[Resources, list[str]]:
        """Resources whose expiry tag has passed, and a warning per unreadable expiry tag and
        per group or key pair left to a run's instance that stays."""
        every = self.tagged([{"Name": "tag-key", "Values": [TAG_EXPIRY]}], "expired resources")
        warnings: list[str] = []

        def due(resource_id: str) -> bool:
            text = every.tags.get(resource_id, {}).get(TAG_EXPIRY, "")
            moment = parse_iso(text)
            if moment is None:
                warnings.append(f"{resource_id}: unreadable expiry tag {text!r}; left alone")
                return False
            return moment <= now

        instances = [i for i in every.instances if due(i.id)]
        # A run's group and key pair stay while an instance of it stays (the group could not
        # be deleted under it anyway, and its key is that instance's).
        doomed = {i.id for i in instances}
        staying = {i.tags.get(TAG_RUN, ""): i.id for i in every.instances if i.id not in doomed}

        def shared_due(resource_id: str) -> bool:
            if not due(resource_id):
                return False
            run = every.tags.get(resource_id, {}).get(TAG_RUN, "")
            if run and run in staying:
                warnings.append(f"{resource_id}: left alone while instance {staying[run]} of "
                                f"run {run} stays")
                return False
            return True

        expired = Resources(instances=instances,
                            group_ids=[g for g in every.group_ids if shared_due(g)],
                            key_names=[k for k in every.key_names if shared_due(k)])
        expired.tags = {rid: every.tags[rid] for rid in expired.ids()}
        return expired, warnings

    # --- deleting -----------------------------------------------------------------------------

    def delete(self, doomed: Resources, timeout: float, delay: float,
               on_error: Callable[[str], None] | None = None) -> None:
        """Terminate the instances (and wait), then delete the security groups and key pairs.

        Idempotent: what is already gone is skipped. With ``on_error``, a resource that cannot
        be deleted is reported there and the others are still tried; without, the first error
        is raised.
        """
        deadline = time.monotonic() + timeout

        def attempt(action: Callable[[], None]) -> None:
            try:
                action()
            except ProvisionError as exc:
                if on_error is None:
                    raise
                on_error(str(exc))

        ids = [i.id for i in doomed.instances]
        if ids:
            attempt(lambda: self._terminate(ids, deadline, delay))
        for group_id in doomed.group_ids:
            attempt(functools.partial(self._delete_group, group_id, deadline, delay))
        for key_name in doomed.key_names:
            attempt(functools.partial(self._delete_key, key_name))

    def _terminate(self, ids: list[str], deadline: float, delay: float) -> None:
        """Terminate instances ``ids`` and wait until they are. EC2 is eventually consistent:
        an instance RunInstances has just started may be missing from DescribeInstances for a
        while, so an id it does not show is looked for again (``VISIBILITY_GRACE``), then
        terminated blindly (an id EC2 does not know is taken for long gone)."""
        what = f"instances {', '.join(ids)}"
        grace = min(deadline, time.monotonic() + VISIBILITY_GRACE)
        while True:
            states = {i.id: i.state for i in self.instances(
                [{"Name": "instance-id", "Values": ids}], what, live=False)}
            unseen = [i for i in ids if i not in states]
            if not unseen or time.monotonic() + delay > grace:
                break
            time.sleep(delay)
        live = [i for i in ids if states.get(i, "terminated") != "terminated"]
        if live:
            log.info("terminating instances %s", ", ".join(live))
            self.call("terminate_instances", what, missing_ok=("InvalidInstanceID.NotFound",),
                      InstanceIds=live)
        for instance_id in unseen:  # one by one: an unknown id fails the whole call
            if self.call("terminate_instances", f"instance {instance_id}",
                         missing_ok=("InvalidInstanceID.NotFound",),
                         InstanceIds=[instance_id]) is not None:
                live.append(instance_id)
        if live:
            self.wait("instance_terminated", f"instances {', '.join(live)}",
                      max(deadline - time.monotonic(), delay), delay, InstanceIds=live)

    def _delete_group(self, group_id: str, deadline: float, delay: float) -> None:
        """Delete a security group, retrying while terminated instances still hold it."""
        what = f"security group {group_id}"
        while True:
            try:
                self.call("delete_security_group", what, missing_ok=("InvalidGroup.NotFound",),
                          GroupId=group_id)
            except ProvisionError as exc:
                if "DependencyViolation" not in str(exc) or time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay)
                continue
            log.info("deleted security group %s", group_id)
            return

    def _delete_key(self, key_name: str) -> None:
        self.call("delete_key_pair", f"key pair {key_name}",
                  missing_ok=("InvalidKeyPair.NotFound",), KeyName=key_name)
        log.info("deleted key pair %s", key_name)
