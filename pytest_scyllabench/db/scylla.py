"""ScyllaDB on the servers of a deployment, driven through each server's executor.

Three ways to run a node, one ``NodeControl`` each, chosen by :func:`create`:

* ``packages`` (remote hosts, root or passwordless ``sudo -n``): the ScyllaDB apt or yum
  repository of the version's series, ``scylla-server`` run by systemd; configuration in
  ``/etc/scylla`` (``scylla.yaml`` is the packaged one, kept as ``scylla.yaml.scyllabench-orig``,
  merged with our defaults and the profile's settings), our SCYLLA_ARGS in
  ``/etc/scylla.d/scyllabench.conf``, I/O set up by ``scylla_io_setup`` once, or written from the
  profile's ``io_properties``, or skipped in developer mode; logs from ``journalctl``.
* ``tarball`` (remote hosts, no root): the unified relocatable package installed with
  ``./install.sh --nonroot --prefix <workdir>/scylla/<version>/install`` once per host, and one
  ``scylla`` process per node that we start and kill ourselves, laid out like the Cassandra
  backend's nodes::

      <workdir>/clusters/<profile>/<address>/conf/       scylla.yaml, cassandra-rackdc.properties,
                                                         io_properties.yaml
      <workdir>/clusters/<profile>/<address>/{data,commitlog,hints,view_hints}/   wiped
      <workdir>/clusters/<profile>/<address>/logs/scylla.log

* ``container`` (the docker provisioner): the image's entrypoint configured and started the
  node; supervisord's ``scylla`` program is stopped and started, and the profile's
  settings, if any, are merged into the image's ``scylla.yaml`` (then every node starts afresh).

Scylla bootstraps one node at a time, so ``start`` launches the seed (node 1) only and
``wait_ready`` starts every other node in order once the previous one is up and normal (UN) in
its own ``nodetool status``, all within ``wait_ready``'s deadline; the cluster is ready when every
node lists all nodes UN and answers a CQL ``OPTIONS`` request with ``SUPPORTED``. Install,
configure, stop and wipe run on all hosts at once and are tried on each of them: one error names
every host where they failed, and why.

What was exercised: the orchestration and every node command against recording fake
executors only (``tests/unit/test_scylla_backend.py`` asserts the exact commands and files);
the nodetool parser against the ScyllaDB documentation's sample output (``tests/unit/data/
scylla``); :func:`cql_ping` against small asyncio servers and, once by hand, against a real
Cassandra 5.0.9 node (answered SUPPORTED; refused before start and after stop). No ScyllaDB
ran: it cannot be obtained on the machine this was written on, so no package or tarball install,
systemd unit, supervisord, ``nodetool`` or CQL answer of a real Scylla node was seen. Targets
ScyllaDB 6.0 and later (the native ``nodetool``, which takes ``-h <api address>``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from pytest_scyllabench.db import scylla_config as cfg
from pytest_scyllabench.db.base import on_every_host
from pytest_scyllabench.db.scylla_nodes import (
    PROBE_TIMEOUT,
    ContainerControl,
    ContainerLogs,
    Node,
    NodeControl,
    PackageControl,
    TarballControl,
)
from pytest_scyllabench.errors import (
    ClusterNotReady,
    CommandTimeout,
    ConfigError,
    DatabaseError,
    ScyllaBenchError,
)
from pytest_scyllabench.execute.base import Executor
from pytest_scyllabench.profile import Profile
from pytest_scyllabench.provision.base import Deployment, Host

log = logging.getLogger(__name__)

COMMAND_TIMEOUT = 1800.0
POLL_INTERVAL = 1.0
#: The CQL v4 OPTIONS request (stream 0, empty body); a server answers SUPPORTED (0x06).
OPTIONS_FRAME = bytes([0x04, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00])
CqlPing = Callable[[str, int], Awaitable["str | None"]]


def scylla_spec(profile: Profile) -> cfg.ScyllaSpec:
    """The profile's ``scylla`` section (defaults while the profile model has none)."""
    spec = getattr(profile, "scylla", None)
    return spec if isinstance(spec, cfg.ScyllaSpec) else cfg.ScyllaSpec()


def docker_spec(profile: Profile) -> cfg.DockerSpec:
    """The profile's ``docker`` section (defaults while the profile model has none)."""
    spec = getattr(profile, "docker", None)
    return spec if isinstance(spec, cfg.DockerSpec) else cfg.DockerSpec()


def create(profile: Profile, deployment: Deployment, local_dir: Path, cache: Path,
           keep: bool) -> ScyllaCluster:
    """The ScyllaDB cluster on a deployment's servers: containers, or remote hosts."""
    db, servers = profile.database, deployment.servers
    timeout = COMMAND_TIMEOUT
    for hosts in (profile.static, profile.aws):
        if hosts is not None:
            timeout = hosts.command_timeout
    try:
        cfg.data_dirs(db.settings, "/")
    except ValueError as exc:
        raise ConfigError(f"database.settings.{exc}") from None
    control: NodeControl
    if servers and all(isinstance(host.executor, ContainerLogs) for host in servers):
        wanted = None if docker_spec(profile).tag else db.version
        control = ContainerControl(wanted, db.settings, timeout)
    else:
        if deployment.workdir is None:
            raise ConfigError("a ScyllaDB cluster runs on remote hosts (provisioner static or "
                              "aws) or in containers (provisioner docker)")
        spec = scylla_spec(profile)
        problems = cfg.spec_problems(spec, db.version)
        if problems:
            raise ConfigError("; ".join(f"scylla.{name}: {problem}" for name, problem in problems))
        root = f"{deployment.workdir}/clusters/{profile.name}"
        if spec.method == "tarball":
            control = TarballControl(spec, db.version, db.settings, deployment.workdir, root,
                                     timeout)
        else:
            control = PackageControl(spec, db.version, db.settings, root, timeout)
    return ScyllaCluster(control, servers, local_dir)


async def cql_ping(address: str, port: int, timeout: float = 5.0) -> str | None:
    """``None`` when ``address:port`` answers a CQL OPTIONS request, else what went wrong."""
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(address, port)
            try:
                writer.write(OPTIONS_FRAME)
                await writer.drain()
                header = await reader.readexactly(9)
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
    except TimeoutError:
        return f"CQL port {port} gave no answer within {timeout:g} s"
    except asyncio.IncompleteReadError:
        return f"CQL port {port} closed the connection"
    except OSError as exc:
        return f"CQL port {port}: {os.strerror(exc.errno) if exc.errno else exc}"
    if header[0] != 0x84 or header[4] != 0x06:
        return f"CQL port {port} answered an unexpected frame ({header.hex()})"
    return None


async def nodetool_problem(executor: Executor, command: Sequence[str],
                           expected: Sequence[str], others: Sequence[str] = ()) -> str | None:
    """Why ``nodetool status`` run through ``executor`` does not list ``expected``, all UN
    (``others`` may be listed too, in any state)."""
    try:
        result = await executor.run(command, timeout=PROBE_TIMEOUT, check=False)
    except CommandTimeout:
        return f"nodetool status gave no answer within {PROBE_TIMEOUT:g} s"
    if result.exit_code != 0:
        last = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:]
        return f"nodetool status failed (exit code {result.exit_code}): {' '.join(last)}"
    return cfg.ring_problem(cfg.parse_nodetool_status(result.stdout), expected, others)


async def wait_joined(executor: Executor, command: Sequence[str], expected: Sequence[str], *,
                      node: str, timeout: float, dead: Callable[[], Awaitable[str | None]],
                      others: Sequence[str] = (), interval: float = POLL_INTERVAL,
                      budget: float | None = None) -> None:
    """Poll ``nodetool status`` on one node until it lists ``expected``, every one UN
    (``others``, nodes of the cluster started later, may be listed in any state).

    Raises ``DatabaseError`` as soon as ``dead()`` reports the node gone, and
    ``ClusterNotReady`` naming the node and the last problem seen after ``timeout`` seconds
    (the message names ``budget``, the whole wait this one is part of, when given).
    """
    last = "not checked yet"
    try:
        async with asyncio.timeout(timeout):
            while (problem := await nodetool_problem(executor, command, expected,
                                                     others)) is not None:
                last = problem
                gone = await dead()
                if gone is not None:
                    raise DatabaseError(f"ScyllaDB {node} is not running: {gone}")
                await asyncio.sleep(interval)
    except TimeoutError:
        raise ClusterNotReady(f"ScyllaDB {node} did not join within "
                              f"{budget if budget is not None else timeout:g} s; its "
                              f"nodetool status: {last}") from None


class ScyllaCluster:
    """ScyllaDB nodes on a deployment's servers (implements ``Database``); no side effects."""

    def __init__(self, control: NodeControl, servers: Sequence[Host], local_dir: Path, *,
                 cql: CqlPing = cql_ping, interval: float = POLL_INTERVAL) -> None:
        if not servers:
            raise DatabaseError("a ScyllaDB cluster needs at least one server")
        self._control = control
        self._nodes = tuple(Node(i, host, control.root(host))
                            for i, host in enumerate(servers, start=1))
        self._local_dir = local_dir
        self._cql = cql
        self._interval = interval
        self._version = ""
        self._installed = self._configured = False
        self._started: set[str] = set()
        self.adopt_problem: str | None = None

    @property
    def contact_points(self) -> tuple[str, ...]:
        return tuple(node.address for node in self._nodes)

    #: ScyllaDB serves its own Prometheus metrics: no JMX agent.
    needs_jmx_agent = False

    def export_metrics(self, agent: object | None) -> int | None:
        """Every node's own metrics endpoint (``prometheus_port`` in scylla.yaml)."""
        return cfg.PROMETHEUS_PORT

    @property
    def port(self) -> int:
        return cfg.NATIVE_PORT

    @property
    def version(self) -> str:
        return self._version

    @property
    def datacenter(self) -> str:
        """The data center of every node, for NetworkTopologyStrategy."""
        return cfg.DATACENTER

    @property
    def nodes(self) -> tuple[Node, ...]:
        return self._nodes

    @property
    def seeds(self) -> tuple[str, ...]:
        return (self._nodes[0].address,)

    def logs(self) -> list[Path]:
        """Local copies of the nodes' logs (made by ``fetch_logs``)."""
        return [self._local_dir / node.name / "logs" / "scylla.log" for node in self._nodes]

    async def _each(self, what: str, action: Callable[[Node], Coroutine[Any, Any, None]]
                    ) -> None:
        """Run ``action(node)`` on every server at once, to the end on each of them
        (:func:`~pytest_scyllabench.db.base.on_every_host`: one ``DatabaseError`` naming
        every host where it failed, and why)."""
        await on_every_host(what, self._nodes, lambda node: node.host, action)

    async def install(self) -> str:
        """Install ScyllaDB on every server (skipped where it is there already)."""
        found: dict[str, str] = {}

        async def install(node: Node) -> None:
            found[node.name] = await self._control.install(node)

        await self._each("install ScyllaDB", install)
        versions = [found[node.name] for node in self._nodes]
        if len(set(versions)) > 1:
            detail = ", ".join(f"{node} {version}" for node, version in zip(self._nodes, versions,
                                                                             strict=True))
            raise DatabaseError(f"the nodes run different ScyllaDB versions: {detail}")
        self._version, self._installed = versions[0], True
        return self._version

    async def configure(self) -> None:
        """Stop and wipe what an earlier session left (where needed), then configure each node."""
        if not self._installed:
            raise DatabaseError("ScyllaCluster.configure() needs install() first")
        if self._control.fresh_start:
            await self.stop()
            await self.wipe()
        await self._each("configure ScyllaDB",
                         lambda node: self._control.configure(node, self.seeds))
        self._configured = True

    async def start(self) -> None:
        """Start the seed; ``wait_ready`` brings the other nodes in one at a time."""
        if not self._configured:
            raise DatabaseError("ScyllaCluster.start() needs install() and configure() first")
        seed = self._nodes[0]
        await self._control.start(seed)
        self._started.add(seed.name)
        log.info("started ScyllaDB %s on %s", seed, seed.host.name)

    async def wait_ready(self, timeout: float) -> None:
        """Start the nodes in order, each once the previous is UN, then wait for all of them."""
        if not self._started:
            raise DatabaseError("ScyllaCluster.wait_ready() needs start() first")
        began = time.monotonic()
        for index, node in enumerate(self._nodes):
            if node.name not in self._started:
                await self._control.start(node)
                self._started.add(node.name)
                log.info("started ScyllaDB %s on %s", node, node.host.name)
            expected = [n.address for n in self._nodes[:index + 1]]
            await wait_joined(node.host.executor, self._control.nodetool(node), expected,
                              others=self.contact_points[index + 1:],
                              node=f"{node} on {node.host.name}", interval=self._interval,
                              timeout=max(0.0, timeout - (time.monotonic() - began)),
                              budget=timeout, dead=functools.partial(self._control.dead, node))
        await self._wait_serving(max(0.0, timeout - (time.monotonic() - began)), timeout)
        log.info("ScyllaDB cluster ready (%d nodes) in %.1f s", len(self._nodes),
                 time.monotonic() - began)

    async def _wait_serving(self, remaining: float, timeout: float) -> None:
        """Every node lists all nodes UN and answers CQL."""
        everyone = self.contact_points
        problems: dict[str, str] = {node.name: "not checked yet" for node in self._nodes}

        async def check(node: Node) -> None:
            problem = await nodetool_problem(node.host.executor, self._control.nodetool(node),
                                             everyone)
            problem = problem or await self._cql(node.host.address, cfg.NATIVE_PORT)
            if problem is None:
                problems.pop(node.name, None)
                return
            problems[node.name] = problem
            gone = await self._control.dead(node)
            if gone is not None:
                raise DatabaseError(f"ScyllaDB {node} on {node.host.name} is not running: {gone}")

        try:
            async with asyncio.timeout(remaining):
                while problems:
                    await asyncio.gather(*(check(node) for node in self._nodes
                                           if node.name in problems))
                    if problems:
                        await asyncio.sleep(self._interval)
        except TimeoutError:
            detail = "\n".join(f"  {node}: {problems[node.name]}" for node in self._nodes
                               if node.name in problems)
            raise ClusterNotReady(f"ScyllaDB cluster of {len(self._nodes)} node(s) not ready "
                                  f"after {timeout:g} s; last problems seen:\n{detail}") from None

    async def down_nodes(self) -> list[str]:
        """Nodes that are no longer running (``NodeWatch``), one line each, in node order."""
        down: dict[int, str] = {}

        async def check(node: Node) -> None:
            gone = await self._control.dead(node)
            if gone is not None:
                # The report's first clause (the service state), without the log tail.
                state = gone.splitlines()[0].split("; ")[0].removesuffix(":")
                down[node.index] = f"ScyllaDB {node} on {node.host.name} is down: {state}"

        await self._each("check the ScyllaDB nodes", check)
        return [down[index] for index in sorted(down)]

    async def stop(self) -> None:
        """Stop every node; idempotent.

        Every host is tried; one ``DatabaseError`` names each host where it failed.
        """

        async def stop(node: Node) -> None:
            try:
                await self._control.stop(node)
            finally:
                self._started.discard(node.name)

        await self._each("stop ScyllaDB", stop)

    async def wipe(self) -> None:
        """Remove every node's data, commit log and hints (configuration and logs stay).

        Every host is tried; one ``DatabaseError`` names each host where it failed.
        """
        await self._each("wipe the ScyllaDB data", self._control.wipe)

    async def fetch_logs(self) -> None:
        """Copy every node's log here (see ``logs``); a missing log is skipped."""

        async def fetch(node: Node, local: Path) -> None:
            with contextlib.suppress(ScyllaBenchError):
                await self._control.fetch_log(node, local)

        async with asyncio.TaskGroup() as group:
            for node, local in zip(self._nodes, self.logs(), strict=True):
                group.create_task(fetch(node, local))

    async def adopt(self) -> bool:
        self.adopt_problem = "reusing a kept ScyllaDB cluster is not supported yet"
        return False
