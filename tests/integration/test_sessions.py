"""Whole benchmark sessions against real Cassandra nodes and the real built-in loader."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from procs import interruptible, processes_matching

pytestmark = pytest.mark.integration

PROFILE = """
name: {name}
provisioner: local
local: {{first_address: 127.0.0.1}}
database: {{nodes: 1, replication_factor: 1, heap: 1G}}
loaders: {{count: 2, concurrency: 64}}
rate_tolerance: 0.1
workloads:
  write: {{mix: {{write: 1}}, partitions: 10000, row_size: 100, consistency: ONE}}
  read: {{mix: {{read: 1}}, partitions: 2000, row_size: 100, consistency: ONE,
          populate: 2000}}
"""

BENCH = """
import pytest

@pytest.mark.parametrize("rate", [200, 400])
def test_write(scyllabench_step, rate):
    result = scyllabench_step("write", rate=rate, duration="4s", warmup="1s")
    assert result.errors == 0

@pytest.mark.parametrize("rate", [300])
def test_read(scyllabench_step, rate):
    result = scyllabench_step("read", rate=rate, duration="4s", warmup="1s")
    assert result.latency("read").count > 0

@pytest.mark.scyllabench_thresholds(p50="1us")
def test_read_impossible_limit(scyllabench_step):
    scyllabench_step("read", rate=200, duration="3s", warmup="1s")
"""


def cluster_processes(profile: str) -> list[tuple[int, str]]:
    return processes_matching("CassandraDaemon", f"/clusters/{profile}/")


def loader_processes(trials: Path) -> list[tuple[int, str]]:
    return processes_matching("pytest_scyllabench.loader", str(trials))


def write_project(root: Path, profile: str, bench: str) -> None:
    (root / f"{profile}.yaml").write_text(PROFILE.format(name=profile))
    (root / "test_bench.py").write_text(bench)


def pytest_command(root: Path, profile: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA",
            f"--scyllabench-profile={root / (profile + '.yaml')}",
            f"--scyllabench-output={root / 'trials'}", *args]


def test_session_with_k_thresholds_and_report(tmp_path: Path) -> None:
    profile = "it-session"
    write_project(tmp_path, profile, BENCH)
    completed = subprocess.run(
        pytest_command(tmp_path, profile, "-k", "read", "--scyllabench-html",
                       f"--junitxml={tmp_path / 'junit.xml'}", str(tmp_path / "test_bench.py")),
        cwd=tmp_path, capture_output=True, text=True, timeout=900)
    out = completed.stdout + completed.stderr
    assert completed.returncode == 1, out
    assert "1 failed, 1 passed, 2 deselected" in out, out
    assert "p50 of read@200: observed" in out and "> limit 0.001 ms" in out, out
    assert not cluster_processes(profile), "a Cassandra node outlived the session"
    assert not loader_processes(tmp_path)

    trial = (tmp_path / "trials" / profile / "latest").resolve()
    results = [json.loads(p.read_text()) for p in sorted(trial.glob("*/*/result.json"))]
    assert {r["step"] for r in results} == {"read@300", "read@200"}
    for result in results:
        assert result["latency_ms"]["read-rt"]["count"] > 0
        assert result["latency_ms"]["read-st"]["p50"] <= result["latency_ms"]["read-rt"]["p99"]
        assert len(result["loaders"]) == 2
        assert result["achieved_rate"] == pytest.approx(result["target_rate"], rel=0.1)
    assert len(list(trial.glob("*/*/loader-*.hlog"))) == 4
    assert list(trial.glob("logs/*system.log")), "node logs were not collected"
    report = (trial / "report.html").read_text()
    assert "read@300" in report
    session = json.loads((trial / "session.json").read_text())
    assert session["versions"]["cassandra"].startswith("5.0")


SLOW_BENCH = """
def test_first(scyllabench_step):
    scyllabench_step("write", rate=200, duration="2s", warmup="1s")

def test_second(scyllabench_step):
    scyllabench_step("write", rate=200, duration="120s", warmup="1s")
"""


def test_sigint_during_a_step_leaves_nothing_running(tmp_path: Path) -> None:
    profile = "it-sigint"
    write_project(tmp_path, profile, SLOW_BENCH)
    process = subprocess.Popen(pytest_command(tmp_path, profile, str(tmp_path / "test_bench.py")),
                               preexec_fn=interruptible,
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    trials = tmp_path / "trials" / profile
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and process.poll() is None:
            if list(trials.glob("latest/*test_second*/*/loader-1.hlog")):
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"the second step never started:\n{process.communicate()[0]}")
        time.sleep(3)  # well inside the 120 s step
        assert loader_processes(tmp_path), "the step's loaders should be running now"
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=180)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == pytest.ExitCode.INTERRUPTED, out
    assert not cluster_processes(profile), f"Cassandra outlived Ctrl-C:\n{out}"
    assert not loader_processes(tmp_path), f"a loader outlived Ctrl-C:\n{out}"
    first = list(trials.glob("latest/*test_first*/*/result.json"))
    assert len(first) == 1, out
    assert json.loads(first[0].read_text())["ops"] > 0
