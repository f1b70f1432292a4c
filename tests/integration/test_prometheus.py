"""Real Prometheus, node exporter and JMX exporter on loopback: scrape, snapshot, serve, query.

Needs Debian's ``prometheus`` and ``prometheus-node-exporter`` (scripts/ensure-system-deps.sh),
and for the Cassandra test Java 17 and Maven. Every process started is stopped, and checked
gone, at the end of its test.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from procs import processes_matching

from pytest_scyllabench.errors import MonitoringError
from pytest_scyllabench.execute.local import LocalExecutor
from pytest_scyllabench.monitor.client import PrometheusClient
from pytest_scyllabench.monitor.exporters import (
    NODE_EXPORTER_BINARY,
    NodeExporter,
    jmx_agent_jvm_option,
    resolve_jmx_agent,
)
from pytest_scyllabench.monitor.prometheus import (
    PROMETHEUS_BINARY,
    MonitoredHost,
    Prometheus,
    prometheus_config,
    scrape_targets,
)
from pytest_scyllabench.monitor.snapshot import (
    ServedSnapshot,
    delete_series,
    serve_snapshot,
    take_snapshot,
)
from pytest_scyllabench.monitor.stack import Monitoring, MonitorOptions, WatchedHost
from pytest_scyllabench.monitor.vitals import collect_vitals, wait_quiet
from pytest_scyllabench.teardown import TeardownStack
from tests.ports import free_port

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not (Path(PROMETHEUS_BINARY).is_file()
                            and Path(NODE_EXPORTER_BINARY).is_file()),
                       reason="needs Debian's prometheus and prometheus-node-exporter "
                              "(scripts/ensure-system-deps.sh installs them)"),
]

LOCAL = MonitoredHost("local", "127.0.0.1", ("db", "loader", "monitor"))
CASSANDRA_ADDRESS = "127.0.0.24"


def leftovers(*ports: int) -> list[tuple[int, str]]:
    """Our Prometheus / node exporter processes still alive (found by their ports)."""
    return [found for port in ports
            for found in processes_matching("prometheus", f":{port}")]


@pytest.fixture
def runner() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as loop_runner:
        yield loop_runner


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float, what: str) -> Any:
    """``check()``'s first truthy answer, polled against a deadline."""
    last: Any = None
    try:
        async with asyncio.timeout(timeout):
            while True:
                last = await check()
                if last:
                    return last
                await asyncio.sleep(0.5)
    except TimeoutError:
        raise AssertionError(f"{what}: not seen within {timeout:g} s (last: {last!r})") from None


async def value_of(client: PrometheusClient, promql: str, at: float | None = None) -> float:
    """The first value of an instant query, 0.0 when it is empty."""
    result = await client.query(promql, at)
    return float(result[0]["value"][1]) if result else 0.0


def test_scrape_snapshot_and_serve(tmp_path: Path, runner: asyncio.Runner) -> None:
    exporter = NodeExporter(LocalExecutor(), "127.0.0.1", free_port())
    prometheus = Prometheus(LocalExecutor(), str(tmp_path / "prometheus"), port=free_port())
    serve_port = free_port()
    served: ServedSnapshot | None = None
    timings: dict[str, float] = {}

    async def scenario() -> None:
        nonlocal served
        try:
            await exporter.start()
            targets = scrape_targets([LOCAL], None, node_exporter_port=exporter.port)
            timings["ready"] = await prometheus.start(prometheus_config(targets, 1.0))
            assert prometheus.version and "2." in prometheus.version
            await prometheus.wait_targets_up(30)
            began = time.time()
            await eventually(lambda: value_of(prometheus.client, "count(rate("
                                              'node_cpu_seconds_total{host="local"}[4s]))'),
                             30, "a CPU rate from the node exporter")
            end = time.time()
            live = await collect_vitals(prometheus.client, began - 10, end, database=None,
                                        scrape_interval=1.0)
            assert 0.0 <= live["cpu busy %"]["local"][-1][1] <= 100.0
            snapshot = await take_snapshot(prometheus, tmp_path / "trials", "test-one")
            timings["snapshot"], timings["size"] = snapshot.seconds, snapshot.size
            assert snapshot.archive == tmp_path / "trials" / "test-one.tar.gz"
            assert snapshot.size > 1000
            assert not list((tmp_path / "prometheus" / "data" / "snapshots").iterdir())
            await prometheus.stop()

            served = await serve_snapshot(snapshot.archive, serve_port)
            cpus = await value_of(served.client, 'count(node_cpu_seconds_total{host="local",'
                                                 'mode="idle",job="node"})', at=end)
            assert cpus >= 1
            vitals = await collect_vitals(served.client, began - 10, end, database=None,
                                          scrape_interval=1.0)
            assert {"cpu busy %", "net rx MB/s", "net tx MB/s"} <= vitals.keys()
            assert all(host == "local" for series in vitals.values() for host in series)
            assert vitals["cpu busy %"]["local"]
        finally:
            await prometheus.stop()
            await exporter.stop()
            if served is not None:
                await served.stop()

    runner.run(scenario())
    print(f"\nPrometheus ready in {timings['ready']:.2f} s; snapshot {timings['size']} bytes "
          f"in {timings['snapshot']:.2f} s")
    assert served is not None and not served.directory.exists()
    assert leftovers(exporter.port, prometheus.port, serve_port) == []


def test_delete_series_empties_the_tsdb(tmp_path: Path, runner: asyncio.Runner) -> None:
    exporter = NodeExporter(LocalExecutor(), "127.0.0.1", free_port())
    prometheus = Prometheus(LocalExecutor(), str(tmp_path / "prometheus"), port=free_port())

    async def scenario() -> None:
        try:
            await exporter.start()
            targets = scrape_targets([LOCAL], None, node_exporter_port=exporter.port)
            await prometheus.start(prometheus_config(targets, 1.0))
            query = 'count(node_load1{host="local"})'
            await eventually(lambda: value_of(prometheus.client, query), 30, "node_load1")
            cut = time.time()
            await delete_series(prometheus, end=cut)
            assert await value_of(prometheus.client, query, at=cut - 0.5) == 0.0
        finally:
            await prometheus.stop()
            await exporter.stop()

    runner.run(scenario())
    assert leftovers(exporter.port, prometheus.port) == []


def test_taken_port_is_named(tmp_path: Path, runner: asyncio.Runner) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        prometheus = Prometheus(LocalExecutor(), str(tmp_path / "p1"), port=port)
        with pytest.raises(MonitoringError, match=rf"127\.0\.0\.1:{port} is already in use"):
            runner.run(prometheus.start(prometheus_config([], 1.0)))
    assert leftovers(port) == []


def test_port_lost_to_a_race_is_named(tmp_path: Path, runner: asyncio.Runner) -> None:
    """Bound but not listening: the pre-check passes, Prometheus's own bind fails."""
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        port = squatter.getsockname()[1]
        prometheus = Prometheus(LocalExecutor(), str(tmp_path / "p2"), port=port)
        with pytest.raises(MonitoringError) as caught:
            runner.run(prometheus.start(prometheus_config([], 1.0), timeout=30))
        runner.run(prometheus.stop())
    message = str(caught.value)
    assert "exited with code" in message
    assert "listen address is already in use" in message
    assert "last lines of stderr" in message


def test_missing_binary_is_named(tmp_path: Path, runner: asyncio.Runner) -> None:
    prometheus = Prometheus(LocalExecutor(), str(tmp_path / "p"), port=free_port(),
                            binary=str(tmp_path / "no-such-prometheus"))
    with pytest.raises(MonitoringError, match=r"Prometheus is not installed: .*no-such-prometheus"
                                              r".*`prometheus` package"):
        runner.run(prometheus.start(prometheus_config([], 1.0)))
    exporter = NodeExporter(LocalExecutor(), "127.0.0.1", free_port(),
                            binary=str(tmp_path / "no-such-exporter"))
    with pytest.raises(MonitoringError, match="`prometheus-node-exporter` package"):
        runner.run(exporter.start())


def _monitoring(tmp_path: Path, *, required: bool) -> Monitoring:
    options = MonitorOptions(required=required, scrape_interval=1.0,
                             prometheus_port=free_port(), node_exporter_port=free_port(),
                             prometheus_binary=str(tmp_path / "no-such-prometheus"))
    return Monitoring(options, hosts=[WatchedHost(LOCAL, LocalExecutor())], database=None,
                      prometheus_executor=LocalExecutor(), workdir=str(tmp_path / "prom"))


def test_optional_monitoring_warns_and_stops_what_started(tmp_path: Path,
                                                          runner: asyncio.Runner) -> None:
    monitoring = _monitoring(tmp_path, required=False)
    teardown = TeardownStack()
    assert runner.run(monitoring.start(teardown)) is False
    assert not monitoring.up
    assert len(monitoring.warnings) == 1
    assert "monitoring start failed (benchmarks go on without it)" in monitoring.warnings[0]
    assert "Prometheus is not installed" in monitoring.warnings[0]
    assert runner.run(monitoring.snapshot(tmp_path / "trials")) is None
    assert runner.run(monitoring.vitals(0.0, 1.0)) is None
    # The node exporter had started: it is gone already, and teardown is harmless.
    assert leftovers(monitoring.options.node_exporter_port) == []
    assert runner.run(teardown.run()) == []


def test_required_monitoring_raises(tmp_path: Path, runner: asyncio.Runner) -> None:
    monitoring = _monitoring(tmp_path, required=True)
    teardown = TeardownStack()
    with pytest.raises(MonitoringError, match="Prometheus is not installed"):
        runner.run(monitoring.start(teardown))
    assert monitoring.warnings == []
    assert leftovers(monitoring.options.node_exporter_port) == []
    assert runner.run(teardown.run()) == []


def test_monitoring_stack_end_to_end(tmp_path: Path, runner: asyncio.Runner) -> None:
    options = MonitorOptions(required=True, scrape_interval=1.0, prometheus_port=free_port(),
                             node_exporter_port=free_port(), reset_after_snapshot=True)
    monitoring = Monitoring(options, hosts=[WatchedHost(LOCAL, LocalExecutor())],
                            database=None, prometheus_executor=LocalExecutor(),
                            workdir=str(tmp_path / "prom"))
    teardown = TeardownStack()

    async def scenario() -> None:
        try:
            assert await monitoring.start(teardown)
            began = time.time()
            await eventually(lambda: value_of(monitoring.prometheus.client,
                                              "count(node_load1)"), 30, "node_load1")
            await asyncio.sleep(3)
            vitals = await monitoring.vitals(began, time.time())
            assert vitals is not None and "cpu busy %" in vitals
            first = await monitoring.snapshot(tmp_path / "trials" / "t1")
            assert first is not None and first.archive.is_file()
        finally:
            assert await teardown.run() == []

    runner.run(scenario())
    assert not monitoring.up
    assert leftovers(options.node_exporter_port, options.prometheus_port) == []


def test_a_prometheus_killed_mid_session_is_reported_once(tmp_path: Path,
                                                          runner: asyncio.Runner) -> None:
    options = MonitorOptions(required=False, scrape_interval=1.0, prometheus_port=free_port(),
                             node_exporter_port=free_port())
    monitoring = Monitoring(options, hosts=[WatchedHost(LOCAL, LocalExecutor())],
                            database=None, prometheus_executor=LocalExecutor(),
                            workdir=str(tmp_path / "prom"))
    teardown = TeardownStack()

    async def scenario() -> None:
        try:
            assert await monitoring.start(teardown)
            (pid, _), = processes_matching("prometheus", f":{options.prometheus_port}")
            os.kill(pid, signal.SIGKILL)
            # Asked at once, before the event loop may have reaped it: the failed query is
            # reported as Prometheus's end, not as a query failure.
            assert await monitoring.vitals(time.time() - 5, time.time()) is None
            assert await monitoring.snapshot(tmp_path / "trials") is None
            assert await monitoring.wait_quiet(5) is None
        finally:
            assert await teardown.run() == []

    runner.run(scenario())
    (warning,) = monitoring.warnings
    assert warning.startswith(
        f"monitoring stopped (benchmarks go on without it): Prometheus on local "
        f"(127.0.0.1:{options.prometheus_port}) exited with code -9 during the session")
    assert not monitoring.up
    assert leftovers(options.node_exporter_port, options.prometheus_port) == []


# -- a real Cassandra node with the JMX exporter --------------------------------------------


def test_cassandra_metrics_through_the_jmx_exporter(tmp_path: Path,
                                                    runner: asyncio.Runner) -> None:
    from pytest_scyllabench.db.cassandra import CassandraCluster
    from pytest_scyllabench.errors import MissingDependencyError
    from pytest_scyllabench.paths import cache_dir
    from pytest_scyllabench.profile import DatabaseSpec

    jmx_port = free_port(CASSANDRA_ADDRESS)
    exporter = NodeExporter(LocalExecutor(), "127.0.0.1", free_port())
    prometheus = Prometheus(LocalExecutor(), str(tmp_path / "prometheus"), port=free_port())
    serve_port = free_port()
    workdir = tmp_path / "cluster"
    served: ServedSnapshot | None = None
    cluster: CassandraCluster | None = None

    async def scenario() -> None:
        nonlocal served, cluster
        try:
            jar, config = await resolve_jmx_agent(cache_dir())
            option = jmx_agent_jvm_option(jar, jmx_port, config, address=CASSANDRA_ADDRESS)
            spec = DatabaseSpec(nodes=1, replication_factor=1, heap="512M",
                                jvm_options=(option,))
            cluster = CassandraCluster(spec, [CASSANDRA_ADDRESS], workdir, cache_dir())
            try:
                await cluster.install()
            except MissingDependencyError as exc:
                pytest.skip(str(exc))
            await cluster.configure()
            await cluster.start()
            await exporter.start()
            # node1 runs on this machine, which the "local" node exporter watches.
            hosts = [MonitoredHost("node1", CASSANDRA_ADDRESS, ("db",), node_exporter=False),
                     MonitoredHost("local", "127.0.0.1", ("loader", "monitor"))]
            targets = scrape_targets(hosts, "cassandra", node_exporter_port=exporter.port,
                                     database_port=jmx_port)
            # 2 s as in a session: the JMX exporter's scrape may take a second on a busy machine.
            await prometheus.start(prometheus_config(targets, 2.0))
            await cluster.wait_ready(240)
            began = time.time()
            await asyncio.to_thread(_write_and_read, CASSANDRA_ADDRESS)
            writes = 'sum(cassandra_client_requests_total{operation="Write",host="node1"})'
            async def all_writes_scraped() -> bool:
                return await value_of(prometheus.client, writes) >= 200

            await eventually(all_writes_scraped, 60, "the 200 Cassandra writes scraped")
            # The vital signs of the live server first: on a busy machine a JMX scrape can miss
            # its 2 s timeout, so wait until the range query's windows hold two scrapes of the
            # writes. The served snapshot then answers the same query from the same start (the
            # same evaluation points), over a window that ends later.
            async def live_writes() -> bool:
                live = await collect_vitals(prometheus.client, began - 5, time.time(),
                                            database="cassandra", scrape_interval=2.0)
                return any(v > 0 for _, v in live.get("writes/s", {}).get("node1", []))

            await eventually(live_writes, 90, "a rate of Cassandra writes in the vital signs")
            assert await wait_quiet(prometheus.client, 120, poll=1.0) >= 0
            end = time.time()
            snapshot = await take_snapshot(prometheus, tmp_path / "trials", "cassandra")
            await prometheus.stop()

            served = await serve_snapshot(snapshot.archive, serve_port)
            assert await value_of(served.client, writes, at=end) >= 200
            load = await value_of(served.client, "cassandra_storage_load_bytes", at=end)
            assert load > 0
            vitals = await collect_vitals(served.client, began - 5, end, database="cassandra",
                                          scrape_interval=2.0)
            assert "node1" in vitals["writes/s"]
            assert max(v for _, v in vitals["writes/s"]["node1"]) > 0
            assert vitals["pending compactions"]["node1"]
            assert "local" in vitals["cpu busy %"]
            print(f"\nCassandra snapshot {snapshot.size} bytes in {snapshot.seconds:.2f} s; "
                  f"vitals: {', '.join(sorted(vitals))}")
        finally:
            await prometheus.stop()
            await exporter.stop()
            if served is not None:
                await served.stop()
            if cluster is not None:
                await cluster.stop()
                await cluster.wipe()

    runner.run(scenario())
    assert leftovers(exporter.port, prometheus.port, serve_port) == []
    assert processes_matching(str(workdir)) == []


def _write_and_read(address: str) -> None:
    from cassandra.cluster import Cluster

    driver = Cluster([address], connect_timeout=10)
    try:
        session = driver.connect()
        session.execute("CREATE KEYSPACE IF NOT EXISTS sbmon WITH replication = "
                        "{'class': 'SimpleStrategy', 'replication_factor': 1}")
        session.execute("CREATE TABLE IF NOT EXISTS sbmon.kv (k int PRIMARY KEY, v text)")
        insert = session.prepare("INSERT INTO sbmon.kv (k, v) VALUES (?, ?)")
        select = session.prepare("SELECT v FROM sbmon.kv WHERE k = ?")
        # Spread over about 12 s (six scrapes), so that the rate shows even if a scrape fails.
        for key in range(200):
            session.execute(insert, (key, f"value-{key}"))
            time.sleep(0.06)
        for key in range(200):
            assert session.execute(select, (key,)).one() is not None
    finally:
        driver.shutdown()
