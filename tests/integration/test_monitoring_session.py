"""Monitoring in whole sessions: real Prometheus and node exporter, the JMX exporter in a real
Cassandra node, a snapshot per test (or per session) served again and queried.

Needs Debian's ``prometheus`` and ``prometheus-node-exporter``, and for the Cassandra session
Java 17 and Maven. No process may outlive its test: Prometheus, node exporter, Cassandra and
the ``serve-snapshot`` command are looked for by their ports and directories afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from procs import interruptible, processes_matching

from pytest_scyllabench.monitor.client import PrometheusClient
from pytest_scyllabench.monitor.exporters import NODE_EXPORTER_BINARY
from pytest_scyllabench.monitor.prometheus import PROMETHEUS_BINARY
from pytest_scyllabench.monitor.snapshot import serve_snapshot
from pytest_scyllabench.paths import cache_dir
from tests.ports import free_port

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not (Path(PROMETHEUS_BINARY).is_file()
                            and Path(NODE_EXPORTER_BINARY).is_file()),
                       reason="needs Debian's prometheus and prometheus-node-exporter "
                              "(scripts/ensure-system-deps.sh installs them)"),
]

HERE = Path(__file__).parent
#: A loopback address no other integration test uses (JMX on 7100 + 35).
ADDRESS = "127.0.0.35"

PROFILE = """
name: {name}
provisioner: local
local: {{first_address: {address}}}
database: {{nodes: 1, replication_factor: 1, heap: 1G}}
loaders: {{count: 1, concurrency: 32}}
# This test is about monitoring: a warmed-up JVM, and room for a busy machine.
rate_tolerance: 0.25
warmup: {{workload: write, rate: 200, seconds: 10}}
workloads:
  write: {{mix: {{write: 1}}, partitions: 10000, row_size: 100, consistency: ONE}}
monitoring:
  enabled: true
  required: true
  scrape_interval: 1
  snapshots: {snapshots}
  prometheus_port: {prometheus_port}
  node_exporter_port: {node_exporter_port}
  jmx_exporter_port: {jmx_port}
"""

BENCH = """
import time

import pytest

@pytest.mark.parametrize("rate", [200, 300])
def test_write(scyllabench_step, rate):
    result = scyllabench_step("write", rate=rate, duration="3s", warmup="1s")
    assert result.errors == 0

def test_vitals_of_a_step(scyllabench_step, scyllabench_cluster, scyllabench_session):
    began = time.time()
    scyllabench_step("write", rate=200, duration="4s", warmup="1s")
    time.sleep(2)  # two scrapes after the step
    monitoring = scyllabench_cluster.monitoring
    vitals = scyllabench_session.run(monitoring.vitals(began, time.time()))
    assert max(v for _, v in vitals["writes/s"]["node1"]) > 0, vitals
    assert vitals["cpu busy %"]["local"]
    assert scyllabench_session.run(monitoring.wait_quiet(60)) >= 0
"""

#: Records what the session kept for the report, for the checks below.
CONFTEST = """
import json, os
from pytest_scyllabench.state import STATE_KEY

def pytest_sessionfinish(session):
    state = session.config.stash.get(STATE_KEY, None)
    if state is None:
        return
    cluster = state.bench.current_cluster
    monitoring = cluster.monitoring if cluster else None
    with open(os.environ["MONITORING_DUMP"], "w") as out:
        json.dump({"snapshots": {k: str(v) for k, v in state.bench.snapshots.items()},
                   "session_snapshot": str(state.bench.session_snapshot or ""),
                   "warnings": cluster.monitoring_warnings if cluster else [],
                   "prometheus": monitoring.prometheus.what if monitoring else "",
                   "url": monitoring.url if monitoring else ""}, out)
"""


def leftovers(*ports: int) -> list[tuple[int, str]]:
    """Prometheus, node exporter or serve-snapshot processes still alive on ``ports``."""
    return [found for port in ports for found in processes_matching(f":{port}")
            if "prometheus" in found[1] or "serve-snapshot" in found[1]]


def write_project(root: Path, name: str, snapshots: str, ports: dict[str, int],
                  bench: str = BENCH) -> Path:
    profile = root / f"{name}.yaml"
    profile.write_text(PROFILE.format(name=name, address=ADDRESS, snapshots=snapshots, **ports))
    (root / "test_bench.py").write_text(bench)
    (root / "conftest.py").write_text(CONFTEST)
    return profile


def run_session(root: Path, profile: Path, timeout: float = 900) -> tuple[int, str, int]:
    """Run pytest on the project in a subprocess: (exit code, output, its pid)."""
    env = {**os.environ, "MONITORING_DUMP": str(root / "monitoring.json")}
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", "-W",
         "error::pytest_scyllabench.errors.MonitoringWarning",
         f"--scyllabench-profile={profile}", f"--scyllabench-output={root / 'trials'}",
         "--scyllabench-html", str(root / "test_bench.py")],
        cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        out, _ = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return process.returncode, out, process.pid


async def value_of(client: PrometheusClient, promql: str, at: float) -> float:
    result = await client.query(promql, at)
    return float(result[0]["value"][1]) if result else 0.0


def query_archive(archive: Path, port: int, queries: dict[str, str],
                  at: dict[str, float] | None = None) -> dict[str, float]:
    """Serve ``archive`` and answer each query at its time in ``at`` (default: when the
    archive was written)."""
    written = archive.stat().st_mtime
    times = at or {}

    async def scenario() -> dict[str, float]:
        async with await serve_snapshot(archive, port) as served:
            return {name: await value_of(served.client, promql, times.get(name, written))
                    for name, promql in queries.items()}

    return asyncio.run(scenario())


def test_cassandra_session_snapshots_every_test(tmp_path: Path) -> None:
    name = "it-monitoring"
    ports = {"prometheus_port": free_port(), "node_exporter_port": free_port(),
             "jmx_port": free_port(ADDRESS)}
    profile = write_project(tmp_path, name, "per-test", ports)
    began = time.monotonic()
    code, out, pid = run_session(tmp_path, profile)
    session_seconds = time.monotonic() - began
    assert code == 0, out
    assert "3 passed" in out, out
    # Nothing outlived the session: Prometheus, node exporter, Cassandra, the TSDB.
    assert leftovers(*ports.values()) == []
    assert processes_matching("CassandraDaemon", f"/clusters/{name}/") == []
    assert not list((cache_dir() / "prometheus").glob(f"{pid}-*"))

    trial = (tmp_path / "trials" / name / "latest").resolve()
    archives = sorted(trial.glob("*/prometheus.tar.gz"))
    assert len(archives) == 3, sorted(p.name for p in trial.iterdir())
    state: dict[str, Any] = json.loads((tmp_path / "monitoring.json").read_text())
    assert state["warnings"] == []
    assert sorted(Path(path) for path in state["snapshots"].values()) == archives
    assert {nodeid.split("::")[1] for nodeid in state["snapshots"]} == {
        "test_write[200]", "test_write[300]", "test_vitals_of_a_step"}

    last = Path(state["snapshots"][next(k for k in state["snapshots"] if "vitals" in k)])
    found = query_archive(last, free_port(), {
        "cpus": 'count(node_cpu_seconds_total{job="node",host="local",mode="idle"})',
        "writes": 'sum(cassandra_client_requests_total{job="cassandra",host="node1",'
                  'operation="Write"})',
        "load": 'sum(cassandra_storage_load_bytes{host="node1"})',
    })
    # Each step's vital signs (range queries over its measured window) are charted.
    report = (trial / "report.html").read_text()
    assert report.count(": vital signs") >= 2, "no vital-sign chart for the steps"
    for archive in archives:  # each test's snapshot is linked from the summary
        assert f'href="{quote(archive.relative_to(trial).as_posix())}"' in report, archive
    assert found["cpus"] >= 1, found
    # The warm-up and three steps of 200-300 ops/s for 4-5 s each.
    assert found["writes"] >= 3000, found
    print(f"\nmonitored session: {session_seconds:.0f} s; snapshots "
          f"{', '.join(str(p.stat().st_size) for p in archives)} bytes; {found}")


def test_serve_snapshot_command_stops_on_ctrl_c(tmp_path: Path) -> None:
    """``scyllabench serve-snapshot``: serves, answers queries, Ctrl-C removes the copy."""
    archive = _small_archive(tmp_path)
    port = free_port()
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest_scyllabench.cli", "serve-snapshot", str(archive),
         "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "TMPDIR": str(scratch), "PYTHONUNBUFFERED": "1"},
        preexec_fn=interruptible)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith(f"serving {archive} at http://127.0.0.1:{port} "), line
        assert len(list(scratch.iterdir())) == 1  # the unpacked copy
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=10) as answer:
            assert answer.status == 200
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, rest
    assert "stopped; the unpacked copy was removed" in rest
    assert list(scratch.iterdir()) == []
    assert leftovers(port) == []


FAKE_CONFTEST = f"""
import sys
sys.path.insert(0, {str(HERE.parent / "plugin")!r})
from pytest_scyllabench import backends
backends.DATABASES["cassandra"] = "fakes:FakeDatabase"
backends.STRESS_TOOLS["builtin"] = "fakes:create_tool"
""" + CONFTEST

FAKE_PROFILE = """
name: fake
database: {{nodes: 1, replication_factor: 1}}
workloads:
  write: {{mix: {{write: 1}}}}
monitoring:
  enabled: true
  required: true
  scrape_interval: 0.5
  snapshots: {snapshots}
  reset_between_tests: {reset}
  prometheus_port: {prometheus_port}
  node_exporter_port: {node_exporter_port}
"""

FAKE_BENCH = """
def test_one(scyllabench_step):
    scyllabench_step("write", rate=100, duration=1, warmup=0)

def test_two(scyllabench_step):
    scyllabench_step("write", rate=100, duration=1, warmup=0)

def test_no_step():
    pass
"""


def _small_archive(tmp_path: Path) -> Path:
    """A real snapshot of a session with a fake database (about 5 s)."""
    root = tmp_path / "small"
    root.mkdir()
    ports = {"prometheus_port": free_port(), "node_exporter_port": free_port()}
    (root / "fake.yaml").write_text(FAKE_PROFILE.format(snapshots="per-session", reset="false",
                                                         **ports))
    (root / "conftest.py").write_text(FAKE_CONFTEST)
    (root / "test_bench.py").write_text(FAKE_BENCH)
    code, out, _ = run_session(root, root / "fake.yaml", timeout=300)
    assert code == 0, out
    (archive,) = (root / "trials" / "fake" / "latest").resolve().glob("prometheus.tar.gz")
    return archive


@pytest.mark.parametrize(("snapshots", "reset"), [("per-test", False), ("per-test", True),
                                                  ("per-session", False), ("off", False)])
def test_snapshot_modes(tmp_path: Path, snapshots: str, reset: bool) -> None:
    ports = {"prometheus_port": free_port(), "node_exporter_port": free_port()}
    (tmp_path / "fake.yaml").write_text(FAKE_PROFILE.format(
        snapshots=snapshots, reset=str(reset).lower(), **ports))
    (tmp_path / "conftest.py").write_text(FAKE_CONFTEST)
    (tmp_path / "test_bench.py").write_text(FAKE_BENCH)
    code, out, pid = run_session(tmp_path, tmp_path / "fake.yaml", timeout=300)
    assert code == 0, out
    assert leftovers(*ports.values()) == []
    assert not list((cache_dir() / "prometheus").glob(f"{pid}-*"))
    trial = (tmp_path / "trials" / "fake" / "latest").resolve()
    state = json.loads((tmp_path / "monitoring.json").read_text())
    per_test = sorted(trial.glob("*/prometheus.tar.gz"))
    session = trial / "prometheus.tar.gz"
    if snapshots == "per-test":
        # Only tests that ran steps are snapshotted.
        assert [p.parent.name for p in per_test] == ["test_bench.py__test_one",
                                                     "test_bench.py__test_two"]
        assert sorted(Path(p) for p in state["snapshots"].values()) == per_test
        assert not session.exists()
    elif snapshots == "per-session":
        assert per_test == [] and state["snapshots"] == {}
        assert state["session_snapshot"] == str(session) and session.stat().st_size > 1000
    else:
        assert per_test == [] and not session.exists() and state["session_snapshot"] == ""
    if reset:
        # The second test's snapshot holds no sample from before the first one was taken.
        first, second = per_test
        cut = first.stat().st_mtime - 0.5
        query = 'count(count_over_time(node_load1{host="local"}[1h]))'
        found = query_archive(second, free_port(), {"before": query, "after": query},
                              at={"before": cut})
        assert found["before"] == 0 and found["after"] == 1, found


# -- static hosts: a node exporter on every machine, the agent copied to the server, ---------
# -- Prometheus on the monitor host (reached through an SSH port forward) ------------------

STATIC_PROFILE = """
name: it-static-monitoring
provisioner: static
static:
  ssh: {{key: {key}, known_hosts: off, connect_timeout: 15}}
  servers: [{server}]
  loaders: [{loader}]
  monitor: {{name: monitor1, address: {monitor}}}
  workdir: /tmp/pytest-scyllabench
  loader_python: {python}
database: {{replication_factor: 1, heap: 512M}}
loaders: {{concurrency: 32}}
rate_tolerance: 0.25
warmup: {{workload: write, rate: 200, seconds: 10}}
workloads:
  write: {{mix: {{write: 1}}, partitions: 10000, row_size: 100, consistency: ONE}}
monitoring:
  enabled: true
  required: true
  scrape_interval: 1
  prometheus_port: {prometheus_port}
"""

STATIC_BENCH = """
def test_write(scyllabench_step):
    assert scyllabench_step("write", rate=200, duration="3s", warmup="1s").errors == 0
"""


def test_static_hosts_are_monitored(tmp_path: Path) -> None:
    import testbed

    if testbed.skip_reason() is not None:
        pytest.skip(testbed.skip_reason() or "")
    system_python = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
    if not system_python.is_file():
        pytest.skip(f"needs {system_python} (the virtualenv's Python lives under /root)")
    repo = HERE.parents[1]
    site = (repo / ".venv" / "lib" / f"python{sys.version_info.major}."
            f"{sys.version_info.minor}" / "site-packages")
    # Outside /tmp, which each namespace host has of its own.
    shared = Path(tempfile.mkdtemp(prefix="sbtest-python-", dir="/var/tmp"))
    wrapper = shared / "python"
    wrapper.write_text(f"#!/bin/sh\nPYTHONPATH={repo}:{site} exec {system_python} \"$@\"\n")
    wrapper.chmod(0o755)
    prometheus_port = free_port()
    with contextlib.ExitStack() as cleanup, testbed.testbed(3) as bed:
        cleanup.callback(shutil.rmtree, shared, True)
        server, loader, monitor = bed.hosts
        profile = tmp_path / "static.yaml"
        profile.write_text(STATIC_PROFILE.format(
            key=bed.client_key, server=server.address, loader=loader.address,
            monitor=monitor.address, python=wrapper, prometheus_port=prometheus_port))
        (tmp_path / "test_bench.py").write_text(STATIC_BENCH)
        (tmp_path / "conftest.py").write_text(CONFTEST)
        began = time.monotonic()
        code, out, _ = run_session(tmp_path, profile)
        seconds = time.monotonic() - began
        assert code == 0, out
        left = [command for host in bed.hosts for _, command in bed.processes(host)
                if "CassandraDaemon" in command or "prometheus" in command]
        assert left == [], left
    # Prometheus ran on the monitor host, reached through a forward on this machine.
    dump = json.loads((tmp_path / "monitoring.json").read_text())
    assert dump["prometheus"] == (f"Prometheus on monitor1 ({monitor.address}:"
                                  f"{prometheus_port})"), dump
    assert dump["url"].startswith("http://127.0.0.1:"), dump
    assert leftovers(prometheus_port) == []
    trial = (tmp_path / "trials" / "it-static-monitoring" / "latest").resolve()
    (archive,) = trial.glob("*/prometheus.tar.gz")
    found = query_archive(archive, free_port(), {
        "node1 cpus": 'count(node_cpu_seconds_total{host="node1",role="db",mode="idle"})',
        "loader cpus": 'count(node_cpu_seconds_total{host="loader-1",role="loader",'
                       'mode="idle"})',
        "monitor cpus": 'count(node_cpu_seconds_total{host="monitor1",role="monitor",'
                        'mode="idle"})',
        "writes": 'sum(cassandra_client_requests_total{host="node1",operation="Write"})',
    })
    assert found["node1 cpus"] >= 1 and found["loader cpus"] >= 1, found
    assert found["monitor cpus"] >= 1, found
    assert found["writes"] >= 1000, found
    print(f"\nmonitored static session (1 server, 1 loader): {seconds:.0f} s; {found}")
