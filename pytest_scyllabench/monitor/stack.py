"""The monitoring of a session: node exporters, Prometheus, snapshots and vitals in one object.

:class:`Monitoring` is what the session fixture holds. It starts a node exporter on every
watched host and Prometheus scraping them and the database, and registers their stop on the
session's :class:`~pytest_scyllabench.teardown.TeardownStack` *before* starting anything.
Prometheus runs through ``prometheus_executor`` (this machine or a monitor host, reached
through a port forward that its stop closes).

Optional or required: with ``required=False`` (the default) a failure to start, snapshot or
query becomes a line in :attr:`Monitoring.warnings` for the report, the partly started stack
is stopped, and benchmarks go on; with ``required=True`` it raises :class:`MonitoringError`.
A Prometheus that ends during the session takes the same path, once, with the last lines of
its stderr; monitoring is then down for the rest of the session.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pytest_scyllabench.errors import MonitoringError
from pytest_scyllabench.execute.base import Executor
from pytest_scyllabench.monitor.exporters import (
    NODE_EXPORTER_BINARY,
    NODE_EXPORTER_PORT,
    NodeExporter,
)
from pytest_scyllabench.monitor.prometheus import (
    DEFAULT_RETENTION,
    PROMETHEUS_BINARY,
    PROMETHEUS_PORT,
    START_TIMEOUT,
    MonitoredHost,
    Prometheus,
    prometheus_config,
    scrape_targets,
)
from pytest_scyllabench.monitor.snapshot import Snapshot, delete_series, take_snapshot
from pytest_scyllabench.monitor.vitals import VitalSeries, collect_vitals, wait_quiet
from pytest_scyllabench.profile import DatabaseKind
from pytest_scyllabench.teardown import TeardownStack

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Seconds the ``scyllabench_quiet`` fixture waits for compactions when the profile's
#: ``monitoring.quiet_timeout`` is 0.
QUIET_TIMEOUT = 120.0


@dataclass(frozen=True)
class MonitorOptions:
    """How the session monitors its hosts (from the profile and the command line)."""

    #: Fail the session when monitoring fails; otherwise warn in the report and go on.
    required: bool = False
    scrape_interval: float = 2.0
    prometheus_port: int = PROMETHEUS_PORT
    node_exporter_port: int = NODE_EXPORTER_PORT
    #: The database's metrics port (ScyllaDB's 9180 or the JMX exporter's by default).
    database_port: int | None = None
    retention: str = DEFAULT_RETENTION
    start_timeout: float = START_TIMEOUT
    #: Delete every series after each test's snapshot, so each snapshot holds one test.
    reset_after_snapshot: bool = False
    #: Seconds ``wait_quiet()`` waits for pending compactions by default; 0: no wait.
    quiet_timeout: float = 0.0
    prometheus_binary: str = PROMETHEUS_BINARY
    node_exporter_binary: str = NODE_EXPORTER_BINARY


@dataclass(frozen=True)
class WatchedHost:
    """A host to watch and the executor that runs its node exporter (if it has one)."""

    host: MonitoredHost
    executor: Executor


class Monitoring:
    """Node exporters and a Prometheus for one session; no side effect before ``start``."""

    def __init__(self, options: MonitorOptions, *, hosts: Sequence[WatchedHost],
                 database: DatabaseKind | None, prometheus_executor: Executor,
                 workdir: str, prometheus_address: str = "127.0.0.1",
                 install_prometheus: bool = False, install_exporters: bool = False) -> None:
        self.options = options
        self.hosts = tuple(hosts)
        self.database = database
        self.prometheus = Prometheus(prometheus_executor, workdir, address=prometheus_address,
                                     port=options.prometheus_port,
                                     binary=options.prometheus_binary,
                                     retention=options.retention, install=install_prometheus)
        self.exporters = tuple(NodeExporter(watched.executor, watched.host.address,
                                            options.node_exporter_port,
                                            binary=options.node_exporter_binary,
                                            install=install_exporters)
                               for watched in self.hosts if watched.host.node_exporter)
        #: One line per failure tolerated in optional mode, for the report.
        self.warnings: list[str] = []
        #: Seconds from Prometheus's readiness until every target had been scraped.
        self.first_scrape_seconds: float | None = None
        self._up = False
        self._unwatched_compactions = False

    @property
    def up(self) -> bool:
        """Whether Prometheus was started and has not failed or been stopped since."""
        return self._up and self.prometheus.running

    @property
    def url(self) -> str:
        return self.prometheus.url

    async def start(self, teardown: TeardownStack) -> bool:
        """Start exporters and Prometheus (their stop registered first), then wait until every
        target was scraped once, so that the first step has data; ``True`` when up.

        A target still down after ``start_timeout`` is a warning in optional mode (the others
        are scraped on), a ``MonitoringError`` in required mode.
        """
        teardown.push("monitoring", self.stop)
        if await self._guard("start", self._start()) is None:
            return False
        began = time.monotonic()
        await self._guard("first scrape", self.prometheus.wait_targets_up(
            self.options.start_timeout))
        self.first_scrape_seconds = time.monotonic() - began
        return True

    async def _start(self) -> bool:
        targets = scrape_targets([watched.host for watched in self.hosts], self.database,
                                 node_exporter_port=self.options.node_exporter_port,
                                 database_port=self.options.database_port)
        config = prometheus_config(targets, self.options.scrape_interval)
        try:
            async with asyncio.TaskGroup() as group:
                for exporter in self.exporters:
                    group.create_task(exporter.start(self.options.start_timeout))
        except* MonitoringError as failures:
            raise MonitoringError("\n".join(str(exc) for exc in failures.exceptions)) from None
        await self.prometheus.start(config, self.options.start_timeout)
        self._up = True
        return True

    async def _guard(self, action: str, work: Awaitable[T]) -> T | None:
        """Run ``work``; in optional mode turn its ``MonitoringError`` into a warning.

        A failure once Prometheus is up is reported as its end when it has ended (the failed
        query is how its death was noticed).
        """
        try:
            return await work
        except MonitoringError as exc:
            if action != "start" and self._up:
                ended = await self.prometheus.ended()
                if ended is not None:
                    self._report_end(ended)
                    return None
            if action == "start":
                await self.stop()
            if self.options.required:
                raise
            self.warnings.append(f"monitoring {action} failed (benchmarks go on without it): "
                                 f"{exc}")
            log.warning("%s", self.warnings[-1])
            return None

    async def _alive(self) -> bool:
        """Whether Prometheus is up; when it has ended since it started, report that (once)
        and say no."""
        if not self._up:
            return False
        if self.prometheus.running:
            return True
        self._report_end(await self.prometheus.ended() or "is no longer running")
        return False

    def _report_end(self, ended: str) -> None:
        """Prometheus ended under us: monitoring is down from now on; a warning naming how,
        with the last lines of its stderr, or ``MonitoringError`` in required mode."""
        self._up = False
        tail = self.prometheus.stderr_tail(20).strip()
        error = MonitoringError(f"{self.prometheus.what} {ended} during the session"
                                + (f"; last lines of its stderr:\n{tail}" if tail else
                                   " (it wrote nothing to stderr)"))
        if self.options.required:
            raise error
        self.warnings.append(f"monitoring stopped (benchmarks go on without it): {error}")
        log.warning("%s", self.warnings[-1])

    async def snapshot(self, trials_dir: Path, name: str = "prometheus") -> Snapshot | None:
        """A TSDB snapshot into ``<trials_dir>/<name>.tar.gz``; ``None`` when not up."""
        if not await self._alive():
            return None
        taken = await self._guard("snapshot", take_snapshot(self.prometheus, trials_dir, name))
        if taken is not None and self.options.reset_after_snapshot:
            await self._guard("reset", delete_series(self.prometheus))
        return taken

    async def vitals(self, start: float, end: float) -> VitalSeries | None:
        """Vital signs of ``[start, end]`` (epoch seconds); ``None`` when not up or failed."""
        if not await self._alive():
            return None
        return await self._guard("queries", collect_vitals(
            self.prometheus.client, start, end, database=self.database,
            scrape_interval=self.options.scrape_interval))

    async def wait_quiet(self, timeout: float | None = None) -> float | None:
        """Wait until no compaction is pending; the seconds waited.

        ``timeout`` defaults to the profile's ``monitoring.quiet_timeout``; ``None`` when it
        is 0, when monitoring is not up, when the database is not scraped (a warning, once),
        or (optional mode) when the wait failed.
        """
        timeout = self.options.quiet_timeout if timeout is None else timeout
        if timeout <= 0 or not await self._alive():
            return None
        if self.database is None:
            # Nothing exports pending compactions (the JMX exporter could not be had): a
            # wait would last the whole limit before every step, for nothing.
            if not self._unwatched_compactions:
                self._unwatched_compactions = True
                self.warnings.append("monitoring: the database is not scraped, so pending "
                                     "compactions cannot be watched; not waiting for them "
                                     "to settle")
                log.warning("%s", self.warnings[-1])
            return None
        return await self._guard("wait for quiet", wait_quiet(
            self.prometheus.client, timeout, poll=self.options.scrape_interval))

    async def stop(self) -> None:
        """Stop Prometheus, then every exporter; idempotent."""
        self._up = False
        try:
            await self.prometheus.stop()
        finally:
            await asyncio.gather(*(exporter.stop() for exporter in self.exporters))
