"""The built-in loader process against a real one-node Cassandra at 127.0.0.21."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from procs import processes_matching

from pytest_scyllabench.db.cassandra import CassandraCluster
from pytest_scyllabench.errors import MissingDependencyError
from pytest_scyllabench.hdr.log import read_log
from pytest_scyllabench.hdr.merge import values_at_percentiles
from pytest_scyllabench.loader.workload import workload_to_json
from pytest_scyllabench.paths import cache_dir
from pytest_scyllabench.profile import DatabaseSpec
from pytest_scyllabench.stress.base import Invocation
from pytest_scyllabench.stress.builtin import BuiltinTool
from pytest_scyllabench.stress.step import Step, Workload

pytestmark = pytest.mark.integration

ADDRESS = "127.0.0.21"
ROWS = 2000
WORKLOAD = Workload("rw", {"read": 0.5, "write": 0.5}, partitions=ROWS, populate=ROWS,
                    consistency="ONE", keyspace="loader_it", table="kv")
DRIVERS = ["scylla-driver", pytest.param("acsylla", marks=pytest.mark.skipif(
    importlib.util.find_spec("acsylla") is None, reason="acsylla is not installed"))]


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CassandraCluster]:
    """One node for the module; one event loop owns its process from start to stop."""
    spec = DatabaseSpec(nodes=1, replication_factor=1, heap="1G")
    workdir = tmp_path_factory.mktemp("cassandra")
    cluster = CassandraCluster(spec, [ADDRESS], workdir, cache_dir())
    with asyncio.Runner() as runner:
        try:
            try:
                runner.run(cluster.install())
            except MissingDependencyError as exc:
                pytest.skip(str(exc))
            runner.run(cluster.configure())
            runner.run(cluster.start())
            runner.run(cluster.wait_ready(300))
            yield cluster
        finally:
            runner.run(cluster.stop())
    assert processes_matching("cassandra.config=file://" + str(workdir)) == []


def _invocation(tmp_path: Path, driver: str, rate: int = 0) -> Invocation:
    return Invocation(loader="loader-1", index=0, count=1, hosts=(ADDRESS,), port=9042,
                      rate=rate, start_at=time.time() + 2, hdr_log=str(tmp_path / "run.hlog"),
                      summary=str(tmp_path / "summary.json"), replication_factor=1,
                      driver=driver)


def _run(argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"{argv[3:6]} exited {done.returncode}: {done.stderr}"
    return done


def _count_rows() -> int:
    from cassandra.cluster import Cluster

    cluster = Cluster([ADDRESS], port=9042)
    try:
        session = cluster.connect()
        row = session.execute(f"SELECT count(*) FROM {WORKLOAD.keyspace}.{WORKLOAD.table}",
                              timeout=60).one()
        return int(row[0])
    finally:
        cluster.shutdown()


@pytest.mark.parametrize("driver", DRIVERS)
def test_schema_populate_run(node: CassandraCluster, tmp_path: Path, driver: str) -> None:
    tool = BuiltinTool()
    _run(tool.schema_command(WORKLOAD, _invocation(tmp_path, driver)), 180)
    _run(tool.schema_command(WORKLOAD, _invocation(tmp_path, driver)), 180)  # idempotent
    _run(tool.populate_command(WORKLOAD, _invocation(tmp_path / "p", driver)), 300)
    assert _count_rows() == ROWS

    step = Step(WORKLOAD, rate=300, duration=3, warmup=1, concurrency=32)
    invocation = _invocation(tmp_path, driver, rate=300)
    done = _run(tool.step_command(step, invocation), 120)
    progress = [p for p in (tool.parse_progress(line, "loader-1")
                            for line in done.stdout.splitlines()) if p]
    assert len(progress) >= 4
    summary = tool.read_summary(Path(invocation.summary), "loader-1")
    assert driver in summary.tool_version
    assert summary.errors == 0, summary.error_samples
    assert summary.ops >= 0.95 * 300 * 3
    log = read_log(invocation.hdr_log, "loader-1")
    assert log.tags == {"read-rt", "read-st", "write-rt", "write-st"}
    tags = {"read-rt", "write-rt"}
    counted = sum(i.decode().get_total_count()
                  for i in log.select(tags, summary.measure_start, summary.measure_end))
    assert abs(counted - summary.ops) <= 300
    rt = [i.decode() for i in log.select({"read-rt"})]
    assert all(h.get_max_value() < 5_000_000 for h in rt)  # microseconds: under 5 s


JAR = Path("/usr/share/java/hdrhistogram.jar")


@pytest.mark.skipif(shutil.which("java") is None or not JAR.is_file(),
                    reason="needs java and libhdrhistogram-java")
def test_java_histogram_log_processor_reads_the_loader_log(tmp_path: Path) -> None:
    """The loader's log (fake driver, no database) as Java's HistogramLogProcessor sees it."""
    start_at = round(time.time() + 1, 3)
    hlog, summary_path = tmp_path / "r.hlog", tmp_path / "r.json"
    _run([sys.executable, "-m", "pytest_scyllabench.loader", "--phase", "run",
          "--driver", "fake", "--fake-latency-ms", "3", "--hosts", ADDRESS,
          "--workload-json", workload_to_json(WORKLOAD), "--rate", "800", "--warmup", "1",
          "--duration", "3", "--start-at", str(start_at), "--hdr-log", str(hlog),
          "--summary", str(summary_path)], 60)
    summary = json.loads(summary_path.read_text())
    ours = read_log(hlog, "loader-1")
    for tag in ("read-rt", "write-st"):
        merged = None
        for interval in ours.select({tag}, summary["measure_start"], summary["measure_end"]):
            histogram = interval.decode()
            if merged is None:
                merged = histogram
            else:
                merged.add(histogram)
        assert merged is not None
        # Offsets from StartTime: the intervals starting at 1, 2 and 3 s (inclusive range).
        out = tmp_path / f"{tag}.txt"
        subprocess.run(["java", "-cp", str(JAR), "org.HdrHistogram.HistogramLogProcessor",
                        "-i", str(hlog), "-tag", tag, "-start", "1", "-end", "3.5",
                        "-outputValueUnitRatio", "1", "-csv", "-o", str(out)],
                       check=True, capture_output=True, timeout=60)
        rows = [r.split(",") for r in out.read_text().splitlines()
                if r and not r.startswith("#")]
        header = [name.strip('"') for name in rows[0]]
        last = dict(zip(header, rows[-1], strict=True))
        assert len(rows) - 1 == 3  # three intervals selected
        assert int(last["Total_Count"]) == merged.get_total_count() > 1000
        assert round(float(last["Total_99%"])) == values_at_percentiles(merged, [99.0])[0]
        assert round(float(last["Total_Max"])) == merged.get_max_value()
