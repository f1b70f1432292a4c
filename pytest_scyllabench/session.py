"""One benchmark session: the event loop, the cluster, the loaders, monitoring and teardown.

Nothing here imports pytest: fixtures call these objects and translate outcomes.

With ``monitoring.enabled`` in the profile, the session resolves the JMX exporter agent for a
database that needs one (before ``install``), has the database export its metrics, and starts
:class:`~pytest_scyllabench.monitor.stack.Monitoring` once the cluster is ready (its stop on
the teardown stack first). In optional mode (``required: false``) every monitoring failure
becomes a line of :attr:`Cluster.monitoring_warnings` and the benchmarks go on.

Lifetime: an interrupt (Ctrl-C, or SIGTERM turned into one) or any error that leaves
:meth:`BenchSession.run` cancels the coroutine it was running and waits for it to unwind, so
teardown never races a half-finished setup. That unwinding (a step stopping its loader
processes) and teardown itself each absorb the next two interrupts (announced; the third
abandons it). The database is stopped and wiped at the end
unless ``--scyllabench-keep-cluster`` is given, a reused cluster too; a kept cluster whose
setup failed is stopped all the same. Reusing a kept cluster is checked against the
profile's provisioner before anything is provisioned (:func:`check_options`).

When the servers are other machines (a deployment with a workdir: static, aws), their CPUs,
memory and kernel are read once the cluster is ready (:func:`pytest_scyllabench.machine.
read_hosts`: in parallel, bounded, ``unknown`` for a host that does not answer) and kept in
:attr:`Cluster.host_facts`, for the report and the baseline's environment.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import shutil
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

from pytest_scyllabench import backends, machine
from pytest_scyllabench.db.base import Database
from pytest_scyllabench.errors import ConfigError, MonitoringError, ScyllaBenchError
from pytest_scyllabench.monitor.exporters import JmxAgent, resolve_jmx_agent
from pytest_scyllabench.monitor.plan import monitor_options, prometheus_place, watched_hosts
from pytest_scyllabench.monitor.stack import Monitoring
from pytest_scyllabench.paths import cache_dir, cluster_dir
from pytest_scyllabench.profile import Profile
from pytest_scyllabench.provision.base import Deployment, with_loader_processes
from pytest_scyllabench.settings import Settings
from pytest_scyllabench.stress.base import StressTool
from pytest_scyllabench.teardown import (
    ABSORBED_INTERRUPTS,
    TeardownStack,
    interrupts_deferred,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
#: Provisioners whose clusters can be kept by one session and reused by the next.
REUSABLE_PROVISIONERS = ("local",)
#: Seconds an interrupted coroutine gets to unwind before teardown runs anyway.
CANCEL_TIMEOUT = 120.0


def check_options(settings: Settings, profile: Profile) -> None:
    """Refuse option combinations the profile cannot honour (before anything is provisioned)."""
    if settings.reuse_cluster and profile.provisioner not in REUSABLE_PROVISIONERS:
        raise ConfigError(
            f"--scyllabench-reuse-cluster: profile {profile.name!r} uses provisioner "
            f"{profile.provisioner!r}, which cannot reuse a kept cluster (only "
            + ", ".join(repr(name) for name in REUSABLE_PROVISIONERS)
            + " can); run without --scyllabench-reuse-cluster")


def announce_to_stderr(text: str) -> None:
    """Show a progress line on the process's own stderr (outside pytest's ``sys.stderr``)."""
    stream = sys.__stderr__
    if stream is not None:
        print(text, file=stream, flush=True)


@runtime_checkable
class Announcing(Protocol):
    """A backend that shows progress lines a person waits for (a cost estimate, deletions)."""

    announce: Callable[[str], None]


@runtime_checkable
class TimedRelease(Protocol):
    """A provisioner whose ``release`` needs longer than teardown's default limit."""

    release_timeout: float


@runtime_checkable
class RemoteLogs(Protocol):
    """A database whose logs live on other hosts and are copied here before collection."""

    async def fetch_logs(self) -> None: ...


@dataclass
class Cluster:
    """A ready cluster and the loaders that drive it."""

    deployment: Deployment
    database: Database
    version: str
    #: Seconds from the start of provisioning until the cluster was ready.
    start_seconds: float
    reused: bool
    #: (tool, keyspace, table) -> rows populated so far in this session.
    populated: dict[tuple[str, str, str], int] = field(default_factory=dict)
    schemas: set[tuple[str, str, str]] = field(default_factory=set)
    #: Stress tools by name, created on first use, and the (tool, loader machine) installed.
    tools: dict[str, StressTool] = field(default_factory=dict)
    installed: set[tuple[str, str]] = field(default_factory=set)
    #: Prometheus and the exporters (``None`` when the profile's monitoring is off). Step code
    #: calls ``await cluster.monitoring.vitals(start, end)`` and ``wait_quiet()``; both
    #: return ``None`` when monitoring is not up.
    monitoring: Monitoring | None = None
    #: Each database server's ``cpus``, ``memory`` and ``kernel`` by host name, read when
    #: the servers are other machines (``{}`` when they are this one, see ``machine``).
    host_facts: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def monitoring_warnings(self) -> list[str]:
        """Monitoring failures tolerated so far (optional mode), one line each."""
        return list(self.monitoring.warnings) if self.monitoring is not None else []


class BenchSession:
    """Owns the single event loop of the session and everything that must be torn down."""

    def __init__(self, settings: Settings, profile: Profile) -> None:
        self.settings = settings
        self.profile = profile
        self.teardown = TeardownStack()
        #: Where progress lines of the backends go (the plugin sets pytest's terminal).
        self.announce: Callable[[str], None] = announce_to_stderr
        self._runner: asyncio.Runner | None = None
        self._setup_complete = False
        self._cluster: Cluster | None = None
        self._closed = False
        self._tearing_down = False
        #: Prometheus snapshot archives by test node id (``monitoring.snapshots: per-test``).
        self.snapshots: dict[str, Path] = {}
        #: The archive of ``monitoring.snapshots: per-session``, taken during teardown.
        self.session_snapshot: Path | None = None
        self._warned = 0

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the session's event loop."""
        if self._closed:
            coroutine.close()
            raise RuntimeError("the benchmark session is closed")
        if self._runner is None:
            self._runner = asyncio.Runner()
        runner = self._runner
        tasks: list[asyncio.Task[Any]] = []

        async def main() -> T:
            task = asyncio.current_task()
            if task is not None:
                tasks.append(task)
            return await coroutine

        try:
            return runner.run(main())
        except BaseException:
            # A signal handler raised out of the loop (SIGTERM as KeyboardInterrupt, a second
            # Ctrl-C) and left the task pending: it must not wake up later and create more
            # during teardown. Its unwinding stops what it started (a step's loader
            # processes), so it absorbs interrupts as teardown does.
            for task in tasks:
                if task.done():
                    continue
                if self._tearing_down:  # teardown's own shield is up
                    self._unwind(runner, task)
                    continue
                what, absorb = "the processes of the interrupted call", ABSORBED_INTERRUPTS
                if task.cancelling():  # asyncio took the first Ctrl-C, and raised at this one
                    absorb -= 1
                    self._announce(f"scyllabench: interrupted again: still stopping {what}, "
                                   f"so that nothing is left running; interrupt {absorb + 1} "
                                   f"more time{'s' * (absorb > 0)} to abandon it")
                with interrupts_deferred(what, self._announce, absorb):
                    self._unwind(runner, task)
            raise

    @staticmethod
    def _unwind(runner: asyncio.Runner, task: asyncio.Task[Any]) -> None:
        """Cancel ``task`` and run the loop until it has finished (or ``CANCEL_TIMEOUT``).

        A task already cancelled (by the first Ctrl-C) is not cancelled again: that would
        interrupt its clean-up, e.g. the wait for its loader processes to exit."""
        if not task.done():
            if not task.cancelling():
                task.cancel()
            runner.get_loop().run_until_complete(asyncio.wait({task}, timeout=CANCEL_TIMEOUT))
        if not task.done():
            log.warning("the interrupted setup did not finish within %g s of its "
                        "cancellation; tearing down anyway", CANCEL_TIMEOUT)
        elif not task.cancelled():
            task.exception()  # retrieved: it is the error being raised, or one it caused

    def cluster(self, trial_dir: Path) -> Cluster:
        """Provision and start the cluster once; later calls return the same one.

        Host files (an inventory, keys) and the nodes' logs go under ``trial_dir``.
        """
        if self._cluster is None:
            self._cluster = self.run(self._start_cluster(trial_dir))
        return self._cluster

    @property
    def current_cluster(self) -> Cluster | None:
        """The cluster once started, else ``None`` (never starts one)."""
        return self._cluster

    def new_monitoring_warnings(self) -> list[str]:
        """Monitoring warnings not returned by an earlier call (to show each once)."""
        if self._cluster is None:
            return []
        every = self._cluster.monitoring_warnings
        fresh, self._warned = every[self._warned:], len(every)
        return fresh

    def snapshot_test(self, nodeid: str, test_dir: Path) -> Path | None:
        """Snapshot Prometheus into ``<test_dir>/prometheus.tar.gz`` after a test (per-test
        mode); the archive, also kept in :attr:`snapshots`. ``None`` when there is none."""
        cluster = self._cluster
        if (cluster is None or cluster.monitoring is None or self._closed
                or self.profile.monitoring.snapshots != "per-test"):
            return None
        taken = self.run(cluster.monitoring.snapshot(test_dir, "prometheus"))
        if taken is None:
            return None
        self.snapshots[nodeid] = taken.archive
        return taken.archive

    async def _start_cluster(self, trial_dir: Path) -> Cluster:
        began = time.monotonic()
        settings, profile = self.settings, self.profile
        check_options(settings, profile)
        logs_dir = trial_dir / "logs"
        tool = backends.stress_tool(profile.loaders.tool, profile.loaders)
        provisioner = backends.provisioner(profile, trial_dir)
        if isinstance(provisioner, Announcing):
            provisioner.announce = self._announce
        self.teardown.push("hosts", provisioner.release,
                           timeout=(provisioner.release_timeout
                                    if isinstance(provisioner, TimedRelease) else None))
        deployment = with_loader_processes(await provisioner.provision(),
                                           profile.loaders.processes)
        database = backends.database(profile, deployment, cluster_dir(profile.name), cache_dir(),
                                     keep=settings.keep_cluster)
        monitoring_warnings: list[str] = []
        metrics_port: int | None = None
        if profile.monitoring.enabled:
            agent = (await self._jmx_agent(monitoring_warnings) if database.needs_jmx_agent
                     else None)
            metrics_port = database.export_metrics(agent)
        if settings.reuse_cluster:
            if not await database.adopt():
                why = database.adopt_problem
                raise ConfigError(
                    f"--scyllabench-reuse-cluster: no running cluster of profile {profile.name!r} "
                    f"was found in {cluster_dir(profile.name)}"
                    + (f" ({why})" if why else "")
                    + "; run once with --scyllabench-keep-cluster to leave one running")
            version, reused = database.version, True
            if not settings.keep_cluster:
                self.teardown.push("database", self._stop_and_wipe(database, self._kept))
        else:
            self.teardown.push("database", self._stop_and_wipe(database, self._kept))
            self.teardown.push("database logs", self._collect_logs(database, logs_dir))
            version = await database.install()
            await database.configure()
            await database.start()
            await database.wait_ready(profile.database.start_timeout)
            reused = False
        host_facts: dict[str, dict[str, str]] = {}
        if deployment.workdir is not None:  # the servers are other machines
            host_facts = await machine.read_hosts(deployment.servers)
            log.info("servers: %s", machine.summarize(host_facts))
        cluster = Cluster(deployment=deployment, database=database, version=version,
                          start_seconds=time.monotonic() - began, reused=reused,
                          tools={profile.loaders.tool: tool}, host_facts=host_facts)
        if profile.monitoring.enabled:
            cluster.monitoring = await self._start_monitoring(deployment, metrics_port,
                                                              monitoring_warnings, trial_dir)
        self._setup_complete = True
        return cluster

    def _announce(self, text: str) -> None:
        self.announce(text)

    def _kept(self) -> bool:
        """Whether the database stays up: kept by option, and only once setup completed."""
        return self.settings.keep_cluster and self._setup_complete

    async def _jmx_agent(self, warnings: list[str]) -> JmxAgent | None:
        """The JMX exporter agent (downloaded once per cache); in optional mode a failure
        leaves the database without metrics and adds a warning."""
        spec = self.profile.monitoring
        try:
            jar, rules = await resolve_jmx_agent(cache_dir())
        except MonitoringError as exc:
            if spec.required:
                raise
            warnings.append(f"monitoring: the database exports no metrics (benchmarks go on "
                            f"without them): {exc}")
            log.warning("%s", warnings[-1])
            return None
        return JmxAgent(jar, rules, spec.jmx_exporter_port)

    async def _start_monitoring(self, deployment: Deployment, database_port: int | None,
                                warnings: list[str], trial_dir: Path) -> Monitoring:
        """Node exporters and Prometheus (on the monitor host of a remote deployment that has
        one, else on this machine); its work directory is removed at teardown, after
        Prometheus stopped and, per session, after the snapshot."""
        spec = self.profile.monitoring
        place = prometheus_place(deployment, f"{os.getpid()}-{secrets.token_hex(4)}",
                                 cache_dir())
        monitoring = Monitoring(
            monitor_options(spec, database_port), hosts=watched_hosts(deployment),
            database=self.profile.database.kind if database_port is not None else None,
            prometheus_executor=place.executor, workdir=place.workdir,
            prometheus_address=place.address, install_prometheus=place.install,
            # Remote hosts are the session's: a missing node exporter is installed there.
            install_exporters=deployment.workdir is not None)
        self.teardown.push("prometheus data", monitoring.prometheus.remove_data)
        monitoring.warnings.extend(warnings)
        await monitoring.start(self.teardown)
        if spec.snapshots == "per-session":
            # Pushed after Monitoring's stop, so it runs first (the stack is LIFO).
            self.teardown.push("session snapshot", self._snapshot_session(monitoring,
                                                                          trial_dir))
        return monitoring

    def _snapshot_session(self, monitoring: Monitoring, trial_dir: Path) -> Any:
        async def snapshot() -> None:
            taken = await monitoring.snapshot(trial_dir, "prometheus")
            if taken is not None:
                self.session_snapshot = taken.archive

        return snapshot

    @staticmethod
    def _stop_and_wipe(database: Database, kept: Callable[[], bool]) -> Any:
        async def stop_and_wipe() -> None:
            if kept():
                log.info("keeping the cluster running (--scyllabench-keep-cluster)")
                return
            try:
                await database.stop()
            # The data is wiped whatever stop raised; when wiping fails too, both are reported.
            except Exception as stop_failed:
                try:
                    await database.wipe()
                except (ScyllaBenchError, OSError) as wipe_failed:
                    raise ExceptionGroup("stop and wipe failed",
                                         [stop_failed, wipe_failed]) from None
                raise
            except BaseException:  # interrupted: wiped all the same
                await database.wipe()
                raise
            await database.wipe()

        return stop_and_wipe

    @staticmethod
    def _collect_logs(database: Database, logs_dir: Path) -> Any:
        async def collect() -> None:
            if isinstance(database, RemoteLogs):
                await database.fetch_logs()
            for path in database.logs():
                if path.is_file():
                    target = logs_dir / f"{path.parent.parent.name}-{path.name}"
                    logs_dir.mkdir(parents=True, exist_ok=True)
                    await asyncio.to_thread(shutil.copyfile, path, target)

        return collect

    def close(self) -> list[str]:
        """Tear everything down (idempotent) and close the loop; returns failure messages."""
        if self._closed:
            return []
        failures: list[str] = []
        self._tearing_down = True
        try:
            if len(self.teardown):
                with interrupts_deferred(", ".join(self.teardown.names), announce_to_stderr):
                    failures = self.run(self.teardown.run())
        finally:
            self._closed = True
            if self._runner is not None:
                self._runner.close()
        return failures
