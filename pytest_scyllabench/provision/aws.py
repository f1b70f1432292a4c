"""The AWS backend: EC2 instances for servers, loaders and a monitor, reached over SSH.

Before anything is created the spec is validated, then checked with AWS (the zone, the AMIs,
the instance types offered in the zone, the default VPC), and the estimated cost per hour is
announced. A run then gets an id, and everything it creates is tagged with it, its owner, its
expiry (ISO time) and its role: an EC2-generated key pair (the private key goes to a 0600 file
in a 0700 directory of the cache, ``<cache>/aws/<run id>/key.pem``, and nowhere else: no
trials file holds it), a security group open to the operator's CIDR on ports 22 and 9042
(``OPERATOR_PORTS``) and to its own members, and the instances of each role (spot for the
roles that ask). An OpenSSH config and an inventory, both pointing at the key, are written to
``<trials>/aws-<run id>/``. The cost estimate and the creating/deleting lines go to
:attr:`AwsProvisioner.announce` (the session points it at pytest's terminal) and to the log.

Teardown: the caller registers :meth:`AwsProvisioner.release` before calling
:meth:`~AwsProvisioner.provision` (the ``Provisioner`` contract). The provisioner records each
resource id the moment AWS answers, and ``release`` deletes those and whatever else carries
the run's tag: instances (terminated, and waited for), the security group, the key pair,
then the private key file. It first closes the SSH connections it opened. It is idempotent
and runs after a failure or Ctrl-C as after success; it may take up to ``release_timeout``
seconds. A completed run is kept (its key file too) only when ``spec.keep`` says so; a later
session reuses it with ``spec.run_id``, finding the key in the cache by the run id.

boto3 runs only in worker threads (``asyncio.to_thread``), from this module.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import sys
import threading
from collections.abc import Callable, Coroutine, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pytest_scyllabench.errors import ConfigError, ProvisionError, ScyllaBenchError
from pytest_scyllabench.execute.base import Executor
from pytest_scyllabench.paths import cache_dir
from pytest_scyllabench.provision.aws_create import (
    Ledger,
    create_key_pair,
    create_security_group,
    describe,
    launch,
    name_instances,
    preflight,
    retag,
)
from pytest_scyllabench.provision.aws_ec2 import (
    TAG_EXPIRY,
    TAG_HOST,
    TAG_OWNER,
    TAG_RUN,
    Ec2,
    Instance,
    Resources,
    iso,
)
from pytest_scyllabench.provision.aws_files import (
    KEY_FILE,
    KNOWN_HOSTS_FILE,
    Inventory,
    InventoryHost,
    key_dir,
    remove_private_key,
    run_dir,
    write_inventory,
    write_private_key,
    write_ssh_config,
)
from pytest_scyllabench.provision.aws_spec import ROLES, AwsSpec, estimate_cost, validate
from pytest_scyllabench.provision.base import Deployment, Host

if TYPE_CHECKING:
    from pytest_scyllabench.profile import Profile

log = logging.getLogger(__name__)

T = TypeVar("T")
#: Turns an instance's address into the one to connect to (tests map moto's onto test beds).
AddressMap = Callable[[str], str]
#: Waits until a host answers (or raises ``ProvisionError``); gets the host and a timeout.
ReachabilityCheck = Callable[[Host, float], Coroutine[Any, Any, None]]

#: Seconds allowed for one EC2 call (botocore retries included).
API_TIMEOUT = 120.0
#: Seconds allowed for the whole release (terminating and waiting included).
RELEASE_TIMEOUT = 900.0
#: Teardown's limit for ``release``: the deletions, the EC2 calls around them, the SSH closes.
RELEASE_LIMIT = RELEASE_TIMEOUT + 3 * API_TIMEOUT + 60.0
#: Host names by role: node1.., loader-1.., monitor-1.
_HOST_NAMES = {"servers": "node{}", "loaders": "loader-{}", "monitor": "monitor-{}"}


def new_run_id(now: datetime) -> str:
    """``20261123-193839-a1b2c3``: sortable, unique, valid in every EC2 name."""
    return f"{now.astimezone(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


async def wait_for_ssh(host: Host, timeout: float) -> None:
    """Poll ``true`` over SSH until it succeeds; a fresh instance refuses keys for a while."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last = "no attempt could be made"
    while loop.time() < deadline:
        try:
            await host.executor.run(["true"], timeout=min(30.0, timeout))
            return
        except ScyllaBenchError as exc:
            last = str(exc)
        await asyncio.sleep(min(5.0, max(deadline - loop.time(), 0)))
    raise ProvisionError(f"{host.name} ({host.address}): no SSH within {timeout:g} s; "
                         f"last error: {last}")


def _to_stderr(text: str) -> None:
    """The process's own stderr, not a ``sys.stderr`` that pytest captures."""
    if sys.__stderr__ is not None:
        print(text, file=sys.__stderr__, flush=True)


class _InFlight:
    """Counts EC2 calls running in worker threads, so release can wait for them to land."""

    def __init__(self) -> None:
        self._idle = threading.Condition()
        self._count = 0

    def enter(self) -> None:
        with self._idle:
            self._count += 1

    def leave(self) -> None:
        with self._idle:
            self._count -= 1
            self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._count == 0, timeout)


class AwsProvisioner:
    """Creates (or reuses) an EC2 run and gives it back (implements ``Provisioner``).

    ``address_map`` rewrites each instance's address before SSH uses it; ``check`` waits
    until a host is reachable (``None``: no check); ``announce`` shows the cost estimate and
    progress (default: the process's stderr; every line is logged too); ``key_root`` holds
    the private keys, one directory per run (default: ``<cache>/aws``); ``poll_interval`` is
    the pause of the EC2 waiters.
    """

    #: Seconds teardown allows :meth:`release` (above its own limits).
    release_timeout = RELEASE_LIMIT

    def __init__(self, spec: AwsSpec, trials_dir: Path, *,
                 address_map: AddressMap | None = None,
                 check: ReachabilityCheck | None = wait_for_ssh,
                 announce: Callable[[str], None] | None = None,
                 key_root: Path | None = None,
                 poll_interval: float = 5.0) -> None:
        self._spec = spec
        self._trials_dir = trials_dir
        self._key_root = key_root if key_root is not None else cache_dir() / "aws"
        self._address_map = address_map
        self._check = check
        self.announce: Callable[[str], None] = announce or _to_stderr
        self._poll = poll_interval
        self._executors: list[Executor] = []
        self._ec2 = Ec2(spec.region, spec.endpoint_url)
        self._ledger = Ledger()
        self._inflight = _InFlight()
        self._run_id: str | None = None
        self._reused = False
        self._completed = False
        self._released = False
        self.inventory: Inventory | None = None
        self.monitor: tuple[Host, ...] = ()

    @property
    def run_id(self) -> str | None:
        """The id of the run, once provisioning has chosen or found it."""
        return self._run_id

    @property
    def directory(self) -> Path | None:
        """``<trials>/aws-<run id>``: the ssh config, known hosts and inventory."""
        return None if self._run_id is None else run_dir(self._trials_dir, self._run_id)

    @property
    def key_file(self) -> Path | None:
        """The run's private key: ``aws.key_file`` of a reuse, else ``<key root>/<run id>/
        key.pem``."""
        if self._run_id is None:
            return None
        if self._reused and self._spec.key_file:
            return Path(self._spec.key_file).expanduser()
        return key_dir(self._key_root, self._run_id) / KEY_FILE

    def _announce(self, text: str) -> None:
        log.info("%s", text)
        self.announce(text)

    async def _thread(self, fn: Callable[..., T], *args: Any, timeout: float | None = None,
                      **kwargs: Any) -> T:
        """Run a blocking EC2 step in a worker thread, within ``timeout`` seconds (default:
        ``API_TIMEOUT``); a ``ProvisionError`` naming the step when it does not finish."""
        limit = API_TIMEOUT if timeout is None else timeout

        def job() -> T:
            self._inflight.enter()
            try:
                return fn(*args, **kwargs)
            finally:
                self._inflight.leave()

        try:
            async with asyncio.timeout(limit):
                return await asyncio.to_thread(job)
        except TimeoutError:
            step = getattr(fn, "__name__", "call").lstrip("_")
            raise ProvisionError(f"EC2 step {step} did not finish within {limit:g} s (is "
                                 f"{self._spec.endpoint_url or 'EC2'} reachable?)") from None

    # --- provisioning -------------------------------------------------------------------------

    async def provision(self) -> Deployment:
        spec = self._spec
        problems = validate(spec)
        if problems:
            raise ConfigError("invalid aws settings:\n" + "\n".join(f"  aws.{p}"
                                                                    for p in problems))
        if spec.run_id:
            return await self._reuse(spec.run_id)
        checked = await self._thread(preflight, self._ec2, spec)
        if checked.problems:
            raise ProvisionError(f"AWS refused the aws settings ({spec.region}); nothing was "
                                 "created:\n" + "\n".join(f"  aws.{p}" for p in checked.problems))
        self._announce(estimate_cost(spec).text())
        now = datetime.now(UTC)
        run_id = self._run_id = new_run_id(now)
        directory = run_dir(self._trials_dir, run_id)
        tags = {TAG_RUN: run_id, TAG_OWNER: spec.owner,
                TAG_EXPIRY: iso(now + timedelta(hours=spec.expiry_hours))}
        self._announce(f"creating EC2 run {run_id} in {spec.availability_zone} (files in "
                       f"{directory})")
        name = f"scyllabench-{run_id}"
        key = key_dir(self._key_root, run_id) / KEY_FILE
        await self._thread(self._make_key, name, tags, key)
        assert self._ledger.key_name is not None
        group_id = await self._thread(create_security_group, self._ec2, self._ledger, name,
                                      checked.vpc_id, spec.operator_cidr.strip(), tags)
        by_role: dict[str, list[Instance]] = {}
        for role_name, role in spec.roles():
            by_role[role_name] = await self._thread(
                launch, self._ec2, self._ledger, run_id=run_id, role_name=role_name, role=role,
                spec=spec, key_name=self._ledger.key_name, group_id=group_id,
                root_device=checked.root_devices.get(role.ami, ""), tags=tags)
        named = {instance.id: _HOST_NAMES[role_name].format(index + 1)
                 for role_name, instances in by_role.items()
                 for index, instance in enumerate(instances)}
        ids = list(named)
        what = f"instances of run {run_id}"
        await self._thread(self._ec2.wait, "instance_running", what, spec.boot_timeout,
                           self._poll, InstanceIds=ids, timeout=spec.boot_timeout + API_TIMEOUT)
        await self._thread(name_instances, self._ec2, {
            instance_id: {"Name": f"{name}-{host}", TAG_HOST: host}
            for instance_id, host in named.items()})
        running = await self._thread(describe, self._ec2, ids, what)
        inventory = self._inventory(run_id, tags[TAG_EXPIRY], key, group_id,
                                    self._ledger.key_name, running)
        deployment = await self._finish(inventory, directory)
        self._completed = True
        return deployment

    def _make_key(self, name: str, tags: Mapping[str, str], path: Path) -> None:
        """Create the key pair and write its private key, in one worker-thread step."""
        material = create_key_pair(self._ec2, self._ledger, name, tags)
        try:
            write_private_key(path, material)
        except OSError as exc:
            raise ProvisionError(f"key pair {name}: cannot write its private key to {path}: "
                                 f"{exc.strerror}") from exc

    async def _reuse(self, run_id: str) -> Deployment:
        spec = self._spec
        found = await self._thread(self._ec2.run, run_id)
        if not found.instances:
            raise ProvisionError(f"run {run_id}: no instances left in {spec.region} (terminated "
                                 "or swept?); clear aws.run_id to create a new run")
        for role_name in ROLES:
            have = sum(1 for i in found.instances if i.role == role_name)
            wanted = getattr(spec, role_name).count
            if have != wanted:
                raise ProvisionError(f"run {run_id} has {have} {role_name}, the profile asks "
                                     f"for {wanted}")
        stopped = [f"{i.id} ({i.state})" for i in found.instances if i.state != "running"]
        if stopped:
            raise ProvisionError(f"run {run_id}: instances not running: {', '.join(stopped)}")
        directory = run_dir(self._trials_dir, run_id)
        key = (Path(spec.key_file).expanduser() if spec.key_file
               else key_dir(self._key_root, run_id) / KEY_FILE)
        if not key.is_file():
            raise ProvisionError(f"run {run_id}: its private key is not at {key}; set "
                                 "aws.key_file to the key.pem the run's first session wrote")
        expiry = iso(datetime.now(UTC) + timedelta(hours=spec.expiry_hours))
        await self._thread(retag, self._ec2, found, {TAG_EXPIRY: expiry})
        self._run_id, self._reused = run_id, True
        self._announce(f"reusing EC2 run {run_id} ({len(found.instances)} instances); "
                       f"expiry moved to {expiry}")
        group = found.group_ids[0] if found.group_ids else ""
        key_pair = found.key_names[0] if found.key_names else ""
        inventory = self._inventory(run_id, expiry, key, group, key_pair, found.instances)
        deployment = await self._finish(inventory, directory)
        self._completed = True
        return deployment

    def _inventory(self, run_id: str, expiry: str, key: Path, group_id: str, key_pair: str,
                   instances: list[Instance]) -> Inventory:
        hosts = []
        for instance in instances:
            raw = instance.public_ip if self._spec.address == "public" else instance.private_ip
            if not raw:
                raise ProvisionError(f"instance {instance.id} ({instance.role}) has no "
                                     f"{self._spec.address} address; try aws.address: "
                                     + ("private" if self._spec.address == "public" else "public"))
            address = self._address_map(raw) if self._address_map else raw
            hosts.append(InventoryHost(
                name=instance.tags.get(TAG_HOST, instance.id), role=instance.role,
                instance_id=instance.id, instance_type=instance.instance_type,
                market="spot" if instance.lifecycle == "spot" else "on-demand",
                public_ip=instance.public_ip, private_ip=instance.private_ip, address=address))
        order = {role: index for index, role in enumerate(_HOST_NAMES)}
        hosts.sort(key=lambda h: (order.get(h.role, 9), len(h.name), h.name))
        directory = run_dir(self._trials_dir, run_id)
        return Inventory(run_id=run_id, region=self._spec.region,
                         zone=self._spec.availability_zone, endpoint_url=self._spec.endpoint_url,
                         owner=self._spec.owner, expiry=expiry, ssh_user=self._spec.ssh_user,
                         key_file=str(key.resolve()),
                         known_hosts=str((directory / KNOWN_HOSTS_FILE).resolve()),
                         security_group=group_id, key_pair=key_pair, hosts=tuple(hosts))

    async def _finish(self, inventory: Inventory, directory: Path) -> Deployment:
        """Write the ssh config and inventory, make the hosts, and check they answer."""
        from pytest_scyllabench.execute.ssh import SshExecutor
        from pytest_scyllabench.execute.ssh_options import KnownHostsPolicy, SshOptions

        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_ssh_config(directory, inventory)
        write_inventory(directory, inventory)
        self.inventory = inventory
        options = SshOptions(key_path=Path(inventory.key_file), user=inventory.ssh_user,
                             known_hosts=KnownHostsPolicy("accept-new",
                                                          Path(inventory.known_hosts)))
        hosts: dict[str, tuple[Host, ...]] = {}
        for role in _HOST_NAMES:
            made = []
            for h in (h for h in inventory.hosts if h.role == role):
                executor = SshExecutor(h.address, options, name=h.name)
                self._executors.append(executor)  # closed by release
                made.append(Host(h.name, h.address, executor,
                                 private_address=self._private_address(h)))
            hosts[role] = tuple(made)
        if self._check is not None:
            await self._check_all([h for role in hosts.values() for h in role], self._check)
        self.monitor = hosts["monitor"]
        self._announce(f"EC2 run {inventory.run_id}: {len(inventory.hosts)} hosts ready; "
                       f"ssh -F {directory / 'ssh_config'} node1")
        return Deployment(servers=hosts["servers"], loaders=hosts["loaders"],
                          workdir=self._spec.workdir,
                          monitor=self.monitor[0] if self.monitor else None)

    def _private_address(self, host: InventoryHost) -> str:
        """The instance's private address when the executors connect to its public one (an
        ``address_map`` stands for the network: its address is the private one then)."""
        if self._spec.address == "public" and self._address_map is None:
            return host.private_ip
        return ""

    async def _check_all(self, hosts: list[Host], check: ReachabilityCheck) -> None:
        """Check every host at once; one error names every host that did not answer."""
        timeout = self._spec.boot_timeout
        try:
            async with asyncio.timeout(timeout + API_TIMEOUT), asyncio.TaskGroup() as group:
                for host in hosts:
                    group.create_task(check(host, timeout))
        except* ProvisionError as failures:
            raise ProvisionError("hosts not reachable:\n  " + "\n  ".join(
                str(exc) for exc in failures.exceptions)) from None
        except* TimeoutError:
            raise ProvisionError(f"the hosts were not all reachable within {timeout:g} s"
                                 ) from None

    # --- release ------------------------------------------------------------------------------

    async def release(self) -> None:
        """Delete everything the run holds (unless it is kept); idempotent.

        A run is kept only when ``spec.keep`` is set and provisioning completed: a run that
        failed half-way is always deleted. A reused run is deleted only when its reuse
        succeeded and ``spec.keep`` is not set. The SSH connections are closed in every case.
        """
        executors, self._executors = self._executors, []
        for executor in executors:
            await executor.close()
        run_id = self._run_id
        if self._released or run_id is None:
            return
        if self._spec.keep and self._completed:
            self._announce(f"keeping EC2 run {run_id} (aws.keep); reuse it with aws.run_id: "
                           f"{run_id}, delete it with `scyllabench aws sweep` after its expiry")
            self._released = True
            return
        if self._reused and not self._completed:
            self._released = True
            return
        if not await asyncio.to_thread(self._inflight.wait_idle, API_TIMEOUT):
            log.warning("run %s: EC2 calls still running after %g s; releasing anyway",
                        run_id, API_TIMEOUT)
        errors: list[str] = []
        doomed = self._ledger.resources()
        try:
            tagged = await self._thread(self._ec2.run, run_id)
        except ProvisionError as exc:
            errors.append(f"finding the resources of run {run_id}: {exc}")
        else:
            _merge(doomed, tagged)
        if doomed:
            self._announce(f"deleting EC2 run {run_id}: {', '.join(doomed.ids())}")
            try:
                await self._thread(self._ec2.delete, doomed, RELEASE_TIMEOUT, self._poll,
                                   errors.append, timeout=RELEASE_TIMEOUT + API_TIMEOUT)
            except ProvisionError as exc:
                errors.append(str(exc))
        if errors:
            raise ProvisionError(f"run {run_id} was not wholly deleted (`scyllabench aws list "
                                 f"--run-id {run_id}` shows what is left):\n  "
                                 + "\n  ".join(errors))
        if not (self._reused and self._spec.key_file):  # the operator's own file stays
            # The key pair is gone: its private half is useless.
            remove_private_key(key_dir(self._key_root, run_id))
        self._released = True


def _merge(into: Resources, more: Resources) -> None:
    known = {i.id for i in into.instances}
    into.instances += [i for i in more.instances if i.id not in known]
    into.group_ids += [g for g in more.group_ids if g not in into.group_ids]
    into.key_names += [k for k in more.key_names if k not in into.key_names]


def create(profile: Profile, trial_dir: Path) -> AwsProvisioner:
    """The provisioner of a profile's ``aws`` section; files go under ``trial_dir``."""
    if profile.aws is None:
        raise ConfigError("provisioner: aws needs an aws section")
    return AwsProvisioner(profile.aws, trial_dir)
