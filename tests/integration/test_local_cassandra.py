"""Real Cassandra 5.0 nodes on 127.0.0.1-5 (needs Java 17, Maven and about 1.5 GiB per node)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_scyllabench.db.cassandra import CassandraCluster
from pytest_scyllabench.db.cassandra_config import MAIN_CLASS
from pytest_scyllabench.errors import DatabaseError, MissingDependencyError
from pytest_scyllabench.paths import cache_dir
from pytest_scyllabench.profile import DatabaseSpec

pytestmark = pytest.mark.integration

READY_TIMEOUT = 240.0


def our_daemons(workdir: Path) -> list[int]:
    """Pids of Cassandra daemons whose command line mentions ``workdir``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace")
            state = (entry / "stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            continue
        if MAIN_CLASS in argv and str(workdir) in argv and state != "Z":
            pids.append(int(entry.name))
    return pids


@pytest.fixture
def runner() -> Iterator[asyncio.Runner]:
    """One event loop per test, as in a session: processes belong to the loop that made them."""
    with asyncio.Runner() as loop_runner:
        yield loop_runner


def make_cluster(tmp_path: Path, addresses: list[str], *, keep: bool = False,
                 heap: str = "768M", **settings: object) -> CassandraCluster:
    spec = DatabaseSpec(nodes=len(addresses), heap=heap, settings=settings)
    return CassandraCluster(spec, addresses, tmp_path / "cluster", cache_dir(), keep=keep)


async def start(cluster: CassandraCluster, timeout: float = READY_TIMEOUT) -> None:
    try:
        await cluster.install()
    except MissingDependencyError as exc:
        pytest.skip(str(exc))
    await cluster.configure()
    await cluster.start()
    await cluster.wait_ready(timeout)


def quorum_round_trip(contact_points: tuple[str, ...]) -> list[tuple[int, str]]:
    from cassandra import ConsistencyLevel
    from cassandra.cluster import Cluster
    from cassandra.query import SimpleStatement

    driver = Cluster(list(contact_points), connect_timeout=10)
    try:
        session = driver.connect()
        session.execute("CREATE KEYSPACE sbtest WITH replication = "
                        "{'class': 'NetworkTopologyStrategy', 'datacenter1': 3}")
        session.execute("CREATE TABLE sbtest.kv (k int PRIMARY KEY, v text)")
        rows = []
        for key in range(20):  # keys spread over every node's token ranges
            session.execute(SimpleStatement("INSERT INTO sbtest.kv (k, v) VALUES (%s, %s)",
                                            consistency_level=ConsistencyLevel.QUORUM),
                            (key, f"value-{key}"))
        for key in range(20):
            row = session.execute(SimpleStatement("SELECT k, v FROM sbtest.kv WHERE k = %s",
                                                  consistency_level=ConsistencyLevel.QUORUM),
                                  (key,)).one()
            rows.append((row.k, row.v))
        return rows
    finally:
        driver.shutdown()


def test_three_node_cluster_serves_quorum_and_stops_clean(tmp_path: Path,
                                                          runner: asyncio.Runner) -> None:
    cluster = make_cluster(tmp_path, ["127.0.0.1", "127.0.0.2", "127.0.0.3"])
    workdir = tmp_path / "cluster"
    try:
        began = time.monotonic()
        runner.run(start(cluster))
        print(f"3 nodes ready in {time.monotonic() - began:.1f} s")
        assert len(our_daemons(workdir)) == 3
        rows = quorum_round_trip(cluster.contact_points)
        assert rows == [(key, f"value-{key}") for key in range(20)]
        assert all(path.is_file() for path in cluster.logs() if path.name == "system.log")
        assert runner.run(cluster.down_nodes()) == []
        # A node killed under the cluster (the OOM killer, a crash) is named after a step.
        third = [pid for pid in our_daemons(workdir) if str(workdir / "node3") in
                 (Path("/proc") / str(pid) / "cmdline").read_bytes().decode(errors="replace")]
        assert len(third) == 1
        os.kill(third[0], signal.SIGKILL)
        deadline = time.monotonic() + 30
        while len(our_daemons(workdir)) == 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        down = runner.run(cluster.down_nodes())
        assert len(down) == 1 and down[0].startswith("Cassandra node3 (127.0.0.3) is down ("), down
        assert str(workdir / "node3" / "logs" / "system.log") in down[0]
    finally:
        runner.run(cluster.stop())
    assert our_daemons(workdir) == []
    assert not (workdir / "cluster.json").exists()
    runner.run(cluster.stop())  # idempotent
    runner.run(cluster.wipe())
    assert not (workdir / "node1" / "data").exists()
    assert (workdir / "node1" / "logs" / "system.log").is_file()


def test_a_node_that_fails_to_start_is_named_with_its_log(tmp_path: Path,
                                                          runner: asyncio.Runner) -> None:
    cluster = make_cluster(tmp_path, ["127.0.0.4"], bogus_setting_for_test=1)
    began = time.monotonic()
    try:
        with pytest.raises(DatabaseError) as info:
            runner.run(start(cluster))
    finally:
        runner.run(cluster.stop())
    message = str(info.value)
    assert "node1 (127.0.0.4) exited with code" in message
    assert "bogus_setting_for_test" in message  # from the tail of its system.log
    assert time.monotonic() - began < 60  # at once, not at the deadline
    assert our_daemons(tmp_path / "cluster") == []


def test_a_kept_cluster_is_adopted_by_a_later_session(tmp_path: Path,
                                                      runner: asyncio.Runner) -> None:
    workdir = tmp_path / "cluster"
    first = make_cluster(tmp_path, ["127.0.0.5"], keep=True)
    try:
        runner.run(start(first))
        pids = our_daemons(workdir)
        assert len(pids) == 1

        # A later session: a new object over the same directory starts nothing.
        later = make_cluster(tmp_path, ["127.0.0.5"], keep=True)
        began = time.monotonic()
        assert runner.run(later.adopt()) is True
        assert time.monotonic() - began < 30
        assert our_daemons(workdir) == pids
        assert later.version == "5.0.9"

        # A different configuration is not the same cluster.
        other = make_cluster(tmp_path, ["127.0.0.5"], keep=True, heap="512M")
        assert runner.run(other.adopt()) is False
        assert other.adopt_problem == "its configuration differs from this profile's"

        runner.run(later.stop())
        assert our_daemons(workdir) == []
        assert runner.run(make_cluster(tmp_path, ["127.0.0.5"], keep=True).adopt()) is False
    finally:
        runner.run(first.stop())
    assert our_daemons(workdir) == []


def test_an_unknown_version_fails_with_mavens_reason(tmp_path: Path) -> None:
    from pytest_scyllabench.db.maven import find_java, resolve_jars

    async def resolve() -> None:
        await resolve_jars("4.99.99", tmp_path, await find_java())

    with pytest.raises(DatabaseError) as info:
        asyncio.run(resolve())
    message = str(info.value)
    assert "[ERROR] Failed to execute goal" in message
    assert "org.apache.cassandra:cassandra-all:jar:4.99.99" in message
    assert "cached in the local repository" not in message  # -U: a failure is retried
    assert "\x1b[" not in message
    assert not (tmp_path / "cassandra" / "4.99.99" / "COMPLETE").exists()


def test_nodes_die_with_a_session_killed_without_teardown(tmp_path: Path) -> None:
    """SIGKILL of the Python process leaves no attached Cassandra node behind (PDEATHSIG)."""
    import subprocess
    import sys

    workdir = tmp_path / "cluster"
    script = (
        "import asyncio, os, signal, sys\n"
        "from pathlib import Path\n"
        "from pytest_scyllabench.db.cassandra import CassandraCluster\n"
        "from pytest_scyllabench.paths import cache_dir\n"
        "from pytest_scyllabench.profile import DatabaseSpec\n"
        "async def main():\n"
        "    cluster = CassandraCluster(DatabaseSpec(nodes=1, heap='512M'), ['127.0.0.4'],\n"
        f"                               Path({str(workdir)!r}), cache_dir())\n"
        "    await cluster.install(); await cluster.configure(); await cluster.start()\n"
        "    await cluster.wait_ready(180)\n"
        "    print('ready', flush=True)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "asyncio.run(main())\n"
    )
    try:
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                                timeout=240)
        assert result.stdout.strip() == "ready", result.stderr[-2000:]
        deadline = time.monotonic() + 10
        while our_daemons(workdir) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert our_daemons(workdir) == []
    finally:
        cleanup = CassandraCluster(DatabaseSpec(nodes=1), ["127.0.0.4"], workdir, cache_dir())
        asyncio.run(cleanup.stop())
