"""The database interface: install, configure, start, watch and stop a cluster.

The session drives a ``Database`` in this order for a fresh cluster::

    port = db.export_metrics(agent)   # monitoring on: where Prometheus scrapes each node
    version = await db.install()      # find the runtime, download binaries (cached)
    await db.configure()              # write per-node configuration (clears stale data)
    await db.start()                  # launch every node; returns without waiting
    await db.wait_ready(timeout)      # every node serves CQL and sees the whole ring
    ...
    await db.stop()                   # idempotent; nothing of ours is left running
    await db.wipe()                   # data directories removed, logs kept

or, to reuse a cluster kept running by an earlier session, ``export_metrics`` then
``await db.adopt()``. Constructors have no side effects.
"""

from __future__ import annotations

import asyncio
import posixpath
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from pytest_scyllabench.errors import DatabaseError, ScyllaBenchError

if TYPE_CHECKING:
    from pytest_scyllabench.monitor.exporters import JmxAgent
    from pytest_scyllabench.provision.base import Host

T = TypeVar("T")

#: The ``database.settings`` keys that take several directories (the others take one).
LIST_DIRS = ("data_file_directories",)


def setting_dirs(key: str, value: Any) -> list[str]:
    """The directories of data-directory setting ``key``, without a trailing ``/``.

    ``ValueError`` (its message without the key) for anything but absolute paths other than
    ``/``, or an empty list: these directories are removed with ``rm -rf``.
    """
    paths = value if isinstance(value, list) and key in LIST_DIRS else [value]
    if not paths:
        raise ValueError("must name at least one directory")
    for path in paths:
        if not isinstance(path, str) or not path.startswith("/") or \
                not posixpath.normpath(path).strip("/"):
            raise ValueError(f"must be absolute paths other than /, got {path!r}")
    return [path.rstrip("/") for path in paths]


def resolve_data_dirs(defaults: Mapping[str, str], settings: Mapping[str, Any],
                      optional: Sequence[str] = ()) -> list[str]:
    """A node's data directories (created by ``configure``, removed by ``wipe``): for each
    setting of ``defaults`` (key -> our directory), the directories the profile's ``settings``
    name instead (data moved to another disk), else ours; then those of the ``optional``
    settings the profile gives (by default inside one of the others, e.g. the system
    keyspaces in the first data directory). ``ValueError`` ``"<key>: ..."``."""
    dirs: list[str] = []
    chosen = {**defaults, **{key: settings[key] for key in optional if key in settings}}
    for key, default in chosen.items():
        try:
            dirs += setting_dirs(key, settings.get(key, default))
        except ValueError as exc:
            raise ValueError(f"{key}: {exc}") from None
    return dirs


async def on_every_host(what: str, items: Sequence[T], host: Callable[[T], Host],
                        action: Callable[[T], Awaitable[None]]) -> None:
    """Run ``action(item)`` for every item (one per host, ``host(item)``) at once, to the end
    on each of them.

    Raises one ``DatabaseError`` naming every host where it failed, in the order of
    ``items``, and why (``what`` says what was being done), never an ``ExceptionGroup``.
    A host that dropped its connection (``ProvisionError``, ``OSError``) is one more failure.
    """
    failures: dict[int, ScyllaBenchError | OSError] = {}

    async def attempt(index: int, item: T) -> None:
        try:
            await action(item)
        except (ScyllaBenchError, OSError) as exc:
            failures[index] = exc

    async with asyncio.TaskGroup() as group:
        for index, item in enumerate(items):
            group.create_task(attempt(index, item))
    if failures:
        order = sorted(failures)
        lines = "\n".join(f"  {host(items[i]).name} ({host(items[i]).address}): {failures[i]}"
                          for i in order)
        raise DatabaseError(f"could not {what} on {len(failures)} of {len(items)} host(s):\n"
                            f"{lines}") from failures[order[0]]


class Database(Protocol):
    """A database cluster managed by the plugin."""

    @property
    def contact_points(self) -> tuple[str, ...]:
        """Addresses the CQL clients connect to (one per node)."""

    @property
    def port(self) -> int:
        """The CQL (native protocol) port of every node."""

    @property
    def version(self) -> str:
        """The database version (from ``install`` or the adopted cluster's state)."""

    @property
    def needs_jmx_agent(self) -> bool:
        """Whether its metrics need the JMX exporter agent in each JVM (Cassandra), which
        the session then resolves and passes to ``export_metrics``."""

    def export_metrics(self, agent: JmxAgent | None) -> int | None:
        """Serve metrics for Prometheus on every node's address; the port, ``None`` for none.

        Called before ``configure`` (or ``adopt``), without side effects: the nodes are given
        ``agent`` (copied to their hosts first, if those are other machines) when they are
        configured and started. A database that serves its own metrics ignores ``agent``.
        """

    async def install(self) -> str:
        """Make the binaries and runtime available; return the version. Idempotent, cached."""

    async def configure(self) -> None:
        """Write every node's configuration (and remove data a crashed session left behind)."""

    async def start(self) -> None:
        """Launch every node; does not wait for readiness."""

    async def wait_ready(self, timeout: float) -> None:
        """Wait until every node serves CQL and sees all nodes up and normal.

        Raises ``DatabaseError`` at once if a node process exits, and ``ClusterNotReady``
        with the last problem seen when ``timeout`` seconds pass.
        """

    async def stop(self) -> None:
        """Stop every node (SIGTERM, then SIGKILL); idempotent."""

    async def wipe(self) -> None:
        """Remove the data directories of every node; idempotent."""

    async def adopt(self) -> bool:
        """Reuse a cluster kept running by an earlier session; ``False`` if there is none."""

    @property
    def adopt_problem(self) -> str | None:
        """Why the last ``adopt`` returned ``False``, for the error message."""

    def logs(self) -> list[Path]:
        """Log files of the nodes, for the report (some may not exist yet)."""


@runtime_checkable
class NodeWatch(Protocol):
    """A database that can tell, after a step, which of its nodes are no longer running.

    A node that crashed, was killed by the OOM killer or stopped during a step leaves a
    result measured on a smaller cluster than the one named: the step then fails with these
    lines, and its result is kept but not used as a baseline.
    """

    async def down_nodes(self) -> list[str]:
        """One line per node whose process is gone, naming it and where its log is."""

