"""CQL driver adapters behind one small protocol, chosen by name (``--driver``).

The hot path is callback based so that no task is created per operation where the driver
does not need one: ``write``/``read`` start a request and arrange for ``done(end_ns, error)``
to be called **on the event loop thread**, with ``end_ns`` the ``time.monotonic_ns()`` at
which the response arrived (taken on the driver's own thread when it has one) and ``error``
``None`` or the driver's exception.

- ``scylla-driver`` (import ``cassandra``): prepared statements, TokenAware(DCAwareRoundRobin),
  the libev reactor when compiled in, protocol negotiated from v5 down (Cassandra 5.0 speaks
  v5), no compression (v5 segment compression runs in Python and costs more than the rest
  of a request). ``execute_async`` completes on the driver's IO thread; completions are queued there
  and handed to the loop in batches, with one ``call_soon_threadsafe`` per batch rather
  than per operation. With protocol v3+ the driver keeps one connection per host:
  ``--connections`` does not apply to it.
- ``acsylla`` (the C++ driver): native asyncio, one task per operation, token-aware routing,
  ``--connections`` per host.
- ``fake``: no database; completes every operation after ``--fake-latency-ms``. It exists to
  test the loader process end to end and to measure the loader's own overhead.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from pytest_scyllabench.errors import ConfigError, MissingDependencyError, StressError
from pytest_scyllabench.loader import workload as cql
from pytest_scyllabench.stress.step import Workload

#: ``done(end_ns, error)``: called on the loop thread when an operation finishes.
Done = Callable[[int, BaseException | None], None]

DRIVERS = ("auto", "scylla-driver", "acsylla", "fake")
#: Seconds allowed for a DDL statement (schema agreement included).
DDL_TIMEOUT = 60.0


@dataclass(frozen=True)
class DriverOptions:
    hosts: tuple[str, ...]
    port: int
    workload: Workload
    connections: int = 1
    request_timeout: float = 12.0
    connect_timeout: float = 10.0
    datacenter: str | None = None
    fake_latency_ms: float = 1.0
    #: CQL protocol version; ``None``: the driver's default (see each driver).
    protocol_version: int | None = None

    @property
    def where(self) -> str:
        return ", ".join(f"{host}:{self.port}" for host in self.hosts)


class Driver(Protocol):
    name: str

    def version(self) -> str:
        """``<driver> <version>``."""

    def details(self) -> dict[str, Any]:
        """Facts for the summary (negotiated protocol version, reactor...)."""

    async def connect(self) -> None:
        """Connect; ``StressError`` naming the hosts when no host can be reached."""

    async def execute_ddl(self, statement: str) -> None:
        """Run a schema statement and wait for schema agreement."""

    async def prepare(self) -> None:
        """Prepare the workload's insert and select."""

    def write(self, key: int, value: bytes, done: Done) -> None: ...

    def read(self, key: int, done: Done) -> None: ...

    async def close(self) -> None: ...


def resolve_driver(name: str) -> str:
    """``auto``: acsylla when installed (it sustains about twice the rate per loader CPU,
    see perf/loader_rate.py), else scylla-driver, a core dependency."""
    if name != "auto":
        return name
    try:
        import acsylla  # noqa: F401
    except ImportError:
        return "scylla-driver"
    return "acsylla"


def make_driver(name: str, options: DriverOptions) -> Driver:
    name = resolve_driver(name)
    if name == "scylla-driver":
        return ScyllaDriver(options)
    if name == "acsylla":
        return AcsyllaDriver(options)
    if name == "fake":
        return FakeDriver(options)
    raise ConfigError(f"unknown driver {name!r} (known: {', '.join(DRIVERS)})")


class ScyllaDriver:
    """scylla-driver, with IO-thread completions batched onto the event loop."""

    name = "scylla-driver"

    def __init__(self, options: DriverOptions) -> None:
        self._options = options
        self._cluster: Any = None
        self._session: Any = None
        self._insert: Any = None
        self._select: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._completed: collections.deque[tuple[Done, int, BaseException | None]] = (
            collections.deque())
        self._wakeup_pending = False
        self._reactor = "default"
        self._send_errors: tuple[type[BaseException], ...] = ()

    def version(self) -> str:
        import cassandra

        return f"scylla-driver {cassandra.__version__}"

    def details(self) -> dict[str, Any]:
        protocol = self._cluster.protocol_version if self._cluster is not None else None
        return {"protocol_version": protocol, "reactor": self._reactor}

    async def connect(self) -> None:
        from cassandra import ConsistencyLevel
        from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
        from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy

        self._loop = asyncio.get_running_loop()
        self._send_errors = _scylla_errors()
        opts = self._options
        profile = ExecutionProfile(
            load_balancing_policy=TokenAwarePolicy(
                DCAwareRoundRobinPolicy(local_dc=opts.datacenter or "")),
            consistency_level=ConsistencyLevel.name_to_value[opts.workload.consistency],
            request_timeout=opts.request_timeout,
        )
        kwargs: dict[str, Any] = {}
        connection_class = _libev_connection()
        if connection_class is not None:
            kwargs["connection_class"] = connection_class
            self._reactor = "libev"
        if opts.protocol_version is not None:
            kwargs["protocol_version"] = opts.protocol_version
        self._cluster = Cluster(
            contact_points=list(opts.hosts), port=opts.port,
            execution_profiles={EXEC_PROFILE_DEFAULT: profile},
            connect_timeout=opts.connect_timeout,
            control_connection_timeout=opts.connect_timeout,
            # Protocol v5 compresses each frame segment in Python on the sending thread:
            # profiled at ~300 us of CPU per request, it would cap the loader at ~3k ops/s.
            compression=False,
            **kwargs,
        )
        try:
            async with asyncio.timeout(opts.connect_timeout * (len(opts.hosts) + 1) + 5):
                self._session = await asyncio.to_thread(self._cluster.connect)
        except _scylla_errors() as exc:
            await self.close()
            raise StressError(f"cannot connect to {opts.where} with scylla-driver: "
                              f"{type(exc).__name__}: {exc}") from exc

    async def execute_ddl(self, statement: str) -> None:
        try:
            async with asyncio.timeout(DDL_TIMEOUT + 5):
                await asyncio.to_thread(self._session.execute, statement, timeout=DDL_TIMEOUT)
                agreed = await asyncio.to_thread(
                    self._cluster.control_connection.wait_for_schema_agreement,
                    wait_time=DDL_TIMEOUT)
        except _scylla_errors() as exc:
            raise StressError(f"{statement}: {type(exc).__name__}: {exc}") from exc
        if not agreed:
            raise StressError(f"{statement}: schema agreement not reached on "
                              f"{self._options.where} within {DDL_TIMEOUT:g} s")

    async def prepare(self) -> None:
        workload = self._options.workload
        try:
            async with asyncio.timeout(DDL_TIMEOUT):
                self._insert = await asyncio.to_thread(self._session.prepare,
                                                       cql.insert(workload))
                self._select = await asyncio.to_thread(self._session.prepare,
                                                       cql.select(workload))
        except _scylla_errors() as exc:
            raise StressError(f"cannot prepare statements on {self._options.where}: "
                              f"{type(exc).__name__}: {exc}") from exc

    # Hot path: runs on the loop thread; the callbacks run on the driver's IO thread.

    def write(self, key: int, value: bytes, done: Done) -> None:
        self._send(self._insert, (key, value), done)

    def read(self, key: int, done: Done) -> None:
        self._send(self._select, (key,), done)

    def _send(self, statement: Any, values: tuple[Any, ...], done: Done) -> None:
        try:
            future = self._session.execute_async(statement, values)
        except self._send_errors as exc:  # e.g. NoHostAvailable before any request is sent
            self._on_error(exc, done)
            return
        future.add_callbacks(self._on_result, self._on_error,
                             callback_args=(done,), errback_args=(done,))

    def _on_result(self, _rows: Any, done: Done) -> None:
        self._completed.append((done, time.monotonic_ns(), None))
        self._wake()

    def _on_error(self, error: BaseException, done: Done) -> None:
        self._completed.append((done, time.monotonic_ns(), error))
        self._wake()

    def _wake(self) -> None:
        # Append happens before this check, and _drain clears the flag before it drains:
        # an item is either seen by a running drain or schedules a new one.
        if not self._wakeup_pending:
            self._wakeup_pending = True
            assert self._loop is not None
            # RuntimeError: the loop is closed, nobody is waiting any more.
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        self._wakeup_pending = False
        popleft = self._completed.popleft
        while self._completed:
            done, end_ns, error = popleft()
            done(end_ns, error)

    async def close(self) -> None:
        if self._cluster is not None:
            cluster, self._cluster = self._cluster, None
            async with asyncio.timeout(30):
                await asyncio.to_thread(cluster.shutdown)


def _scylla_errors() -> tuple[type[BaseException], ...]:
    """What scylla-driver raises outside the hot path (NoHostAvailable is no DriverException)."""
    from cassandra import DriverException
    from cassandra.cluster import NoHostAvailable

    return (DriverException, NoHostAvailable, OSError, TimeoutError)


def _libev_connection() -> Any:
    try:
        from cassandra import DependencyException
    except ImportError:  # pragma: no cover - scylla-driver is a dependency
        return None
    try:
        from cassandra.io.libevreactor import LibevConnection
    except (ImportError, DependencyException):
        return None
    return LibevConnection


class AcsyllaDriver:
    """acsylla (C++ driver), native asyncio: one task per operation."""

    name = "acsylla"

    def __init__(self, options: DriverOptions) -> None:
        self._options = options
        self._session: Any = None
        self._insert: Any = None
        self._select: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._errors: tuple[type[BaseException], ...] = ()

    def version(self) -> str:
        acsylla = _import_acsylla()
        from importlib.metadata import PackageNotFoundError
        from importlib.metadata import version as dist_version

        try:
            return f"acsylla {dist_version('acsylla')}"
        except PackageNotFoundError:
            return f"acsylla {getattr(acsylla, '__version__', 'unknown')}"

    def details(self) -> dict[str, Any]:
        return {"connections_per_host": self._options.connections}

    async def connect(self) -> None:
        acsylla = _import_acsylla()
        self._errors = (acsylla.errors.CassException, TimeoutError)
        self._loop = asyncio.get_running_loop()
        opts = self._options
        kwargs: dict[str, Any] = {}
        if opts.datacenter:
            kwargs["load_balance_dc_aware"] = opts.datacenter
        if opts.protocol_version is not None:
            kwargs["protocol_version"] = opts.protocol_version
        cluster = acsylla.create_cluster(
            list(opts.hosts), port=opts.port, connect_timeout=opts.connect_timeout,
            request_timeout=opts.request_timeout, consistency=opts.workload.consistency,
            core_connections_per_host=opts.connections, token_aware_routing=True,
            log_level="critical", max_schema_wait_time_ms=int(DDL_TIMEOUT * 1000), **kwargs)
        try:
            async with asyncio.timeout(opts.connect_timeout * (len(opts.hosts) + 1) + 5):
                self._session = await cluster.create_session()
        except self._errors as exc:
            raise StressError(f"cannot connect to {opts.where} with acsylla: "
                              f"{type(exc).__name__}: {exc}") from exc

    async def execute_ddl(self, statement: str) -> None:
        # The C++ driver waits for schema agreement after a schema change by itself
        # (max_schema_wait_time_ms).
        acsylla = _import_acsylla()
        try:
            async with asyncio.timeout(DDL_TIMEOUT + 5):
                await self._session.execute(acsylla.create_statement(statement,
                                                                     timeout=DDL_TIMEOUT))
        except self._errors as exc:
            raise StressError(f"{statement}: {type(exc).__name__}: {exc}") from exc

    async def prepare(self) -> None:
        workload = self._options.workload
        try:
            async with asyncio.timeout(DDL_TIMEOUT):
                self._insert = await self._session.create_prepared(cql.insert(workload))
                self._select = await self._session.create_prepared(cql.select(workload))
        except self._errors as exc:
            raise StressError(f"cannot prepare statements on {self._options.where}: "
                              f"{type(exc).__name__}: {exc}") from exc

    def write(self, key: int, value: bytes, done: Done) -> None:
        self._start(self._insert.bind([key, value]), done)

    def read(self, key: int, done: Done) -> None:
        self._start(self._select.bind([key]), done)

    def _start(self, statement: Any, done: Done) -> None:
        assert self._loop is not None
        task = self._loop.create_task(self._execute(statement, done))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _execute(self, statement: Any, done: Done) -> None:
        try:
            await self._session.execute(statement)
        except self._errors as exc:
            done(time.monotonic_ns(), exc)
            return
        done(time.monotonic_ns(), None)

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            async with asyncio.timeout(30):
                await session.close()


def _import_acsylla() -> Any:
    try:
        import acsylla
        import acsylla.errors
    except ImportError as exc:
        raise MissingDependencyError(
            "the acsylla driver is not installed (a dependency of pytest-scyllabench): "
            "pip install acsylla, or use driver: scylla-driver"
        ) from exc
    return acsylla


class FakeDriver:
    """Completes every operation after a fixed latency, without any database."""

    name = "fake"

    def __init__(self, options: DriverOptions) -> None:
        self._latency = options.fake_latency_ms / 1000.0
        self._loop: asyncio.AbstractEventLoop | None = None

    def version(self) -> str:
        return "fake 1"

    def details(self) -> dict[str, Any]:
        return {"latency_ms": self._latency * 1000.0}

    async def connect(self) -> None:
        self._loop = asyncio.get_running_loop()

    async def execute_ddl(self, statement: str) -> None:
        return None

    async def prepare(self) -> None:
        return None

    def write(self, key: int, value: bytes, done: Done) -> None:
        assert self._loop is not None
        self._loop.call_later(self._latency, _finish, done)

    def read(self, key: int, done: Done) -> None:
        assert self._loop is not None
        self._loop.call_later(self._latency, _finish, done)

    async def close(self) -> None:
        return None


def _finish(done: Done) -> None:
    done(time.monotonic_ns(), None)
