"""One benchmark session: the event loop, the cluster, the loaders and their teardown.

Nothing here imports pytest: fixtures call these objects and translate outcomes.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

from pytest_scyllabench import backends
from pytest_scyllabench.db.base import Database
from pytest_scyllabench.errors import ConfigError
from pytest_scyllabench.paths import cache_dir, cluster_dir
from pytest_scyllabench.profile import Profile
from pytest_scyllabench.provision.base import Deployment
from pytest_scyllabench.settings import Settings
from pytest_scyllabench.stress.base import StressTool
from pytest_scyllabench.teardown import TeardownStack

log = logging.getLogger(__name__)
T = TypeVar("T")


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
    #: Stress tools by name, created on first use, and the (tool, loader host) installed.
    tools: dict[str, StressTool] = field(default_factory=dict)
    installed: set[tuple[str, str]] = field(default_factory=set)


class BenchSession:
    """Owns the single event loop of the session and everything that must be torn down."""

    def __init__(self, settings: Settings, profile: Profile) -> None:
        self.settings = settings
        self.profile = profile
        self.teardown = TeardownStack()
        self._runner: asyncio.Runner | None = None
        self._cluster: Cluster | None = None
        self._closed = False

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the session's event loop."""
        if self._closed:
            coroutine.close()
            raise RuntimeError("the benchmark session is closed")
        if self._runner is None:
            self._runner = asyncio.Runner()
        return self._runner.run(coroutine)

    def cluster(self, trial_dir: Path) -> Cluster:
        """Provision and start the cluster once; later calls return the same one.

        Host files (an inventory, keys) and the nodes' logs go under ``trial_dir``.
        """
        if self._cluster is None:
            self._cluster = self.run(self._start_cluster(trial_dir))
        return self._cluster

    async def _start_cluster(self, trial_dir: Path) -> Cluster:
        began = time.monotonic()
        settings, profile = self.settings, self.profile
        logs_dir = trial_dir / "logs"
        tool = backends.stress_tool(profile.loaders.tool, profile.loaders)
        provisioner = backends.provisioner(profile, trial_dir)
        self.teardown.push("hosts", provisioner.release)
        deployment = await provisioner.provision()
        database = backends.database(profile, deployment, cluster_dir(profile.name), cache_dir(),
                                     keep=settings.keep_cluster)
        if settings.reuse_cluster:
            if not await database.adopt():
                why = database.adopt_problem
                raise ConfigError(
                    f"--scyllabench-reuse-cluster: no running cluster of profile {profile.name!r} "
                    f"was found in {cluster_dir(profile.name)}"
                    + (f" ({why})" if why else "")
                    + "; run once with --scyllabench-keep-cluster to leave one running")
            version, reused = database.version, True
        else:
            if not settings.keep_cluster:
                self.teardown.push("database", self._stop_and_wipe(database))
            self.teardown.push("database logs", self._collect_logs(database, logs_dir))
            version = await database.install()
            await database.configure()
            await database.start()
            await database.wait_ready(profile.database.start_timeout)
            reused = False
        return Cluster(deployment=deployment, database=database, version=version,
                       start_seconds=time.monotonic() - began, reused=reused,
                       tools={profile.loaders.tool: tool})

    @staticmethod
    def _stop_and_wipe(database: Database) -> Any:
        async def stop_and_wipe() -> None:
            try:
                await database.stop()
            finally:
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
        try:
            if len(self.teardown):
                failures = self.run(self.teardown.run())
        finally:
            self._closed = True
            if self._runner is not None:
                self._runner.close()
        return failures
