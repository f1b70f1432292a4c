"""What a step saves and fails on, in sessions of fakes: every run of a repeated step counts,
each latency limit gets its own verdict, and a failure after the load (required monitoring)
never loses the measured result."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.plugin import test_session
from tests.plugin.test_session import CONFTEST, run

pytest_plugins = ["pytester"]

#: The session tests' project (their conftest, profile and environment).
session_dir = test_session.session_dir

#: The fake loader's latency comes from FAKE_LATENCY_MS when it starts: after the first run
#: of a step, this hook makes the next runs fast.
FAST_AFTER_FIRST_RUN = CONFTEST + """
import os

def pytest_scyllabench_step_result(item, result, breaches, result_json):
    os.environ["FAKE_LATENCY_MS"] = "2"
"""

MONITORING_FAILS = CONFTEST + """
from pytest_scyllabench.errors import MonitoringError

class BrokenMonitoring:
    warnings = []

    async def wait_quiet(self, timeout=None):
        return None

    async def vitals(self, start, end):
        raise MonitoringError("prometheus at 127.0.0.1:9090: query_range: connection refused")

    async def snapshot(self, directory, name="prometheus"):
        return None

def pytest_scyllabench_cluster_ready(cluster, trial_dir, config):
    cluster.monitoring = BrokenMonitoring()
"""


def results(trial: Path) -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in sorted(trial.rglob("result.json"))]


@pytest.fixture
def project(session_dir: Path) -> Path:
    """The session tests' project; each test writes its own conftest."""
    return session_dir


def test_a_breach_in_any_repetition_fails_the_test(pytester: pytest.Pytester, project: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makeconftest(FAST_AFTER_FIRST_RUN)
    pytester.makepyfile(test_bench="""
import pytest

@pytest.mark.scyllabench_thresholds(p99="10ms", write_max="1s")
def test_write(scyllabench_step):
    scyllabench_step("write", rate=100, duration=1, warmup=0)
""")
    monkeypatch.setenv("FAKE_LATENCY_MS", "50")
    result = run(pytester, "--scyllabench-repeat=2", "--html=report.html",
                 "--self-contained-html")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "write@100 run 1 of 2: p99 of write@100: observed 50.0* ms > limit 10 ms"])
    assert "run 2 of 2: p99" not in result.stdout.str()

    first, second = results(project / "trials" / "fake" / "latest")
    assert first["verdict"]["thresholds"] == [
        {"name": "p99", "limit_ms": 10.0, "observed_ms": pytest.approx(50.0, rel=0.01),
         "passed": False},
        {"name": "write max", "limit_ms": 1000.0, "observed_ms": pytest.approx(50.0, rel=0.01),
         "passed": True}]
    assert second["verdict"]["thresholds"][0]["passed"] is True
    assert second["verdict"]["thresholds"][0]["observed_ms"] == pytest.approx(2.0, rel=0.01)

    report = (project / "report.html").read_text()
    assert "Step write@100 run 1 of 2" in report and "Step write@100 run 2 of 2" in report


def test_required_monitoring_that_fails_after_the_load_keeps_the_result(
        pytester: pytest.Pytester, project: Path) -> None:
    pytester.makeconftest(MONITORING_FAILS)
    pytester.makepyfile(test_bench="""
def test_write(scyllabench_step):
    scyllabench_step("write", rate=100, duration=1, warmup=0)
""")
    result = run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*monitoring (required) failed: prometheus at *"
                                 "connection refused*"])
    (saved,) = results(project / "trials" / "fake" / "latest")
    assert saved["ops"] == 100
    assert saved["verdict"]["passed"] is False
    assert saved["verdict"]["breaches"] == [
        "monitoring (required) failed: prometheus at 127.0.0.1:9090: query_range: "
        "connection refused"]


def test_monitoring_warnings_are_in_the_html_report(pytester: pytest.Pytester,
                                                    project: Path) -> None:
    pytester.makeconftest(CONFTEST + """
class ToleratedFailure:
    warnings = ["monitoring start failed (benchmarks go on without it): port 9090 is taken"]

    async def wait_quiet(self, timeout=None):
        return None

    async def vitals(self, start, end):
        return None

    async def snapshot(self, directory, name="prometheus"):
        return None

def pytest_scyllabench_cluster_ready(cluster, trial_dir, config):
    cluster.monitoring = ToleratedFailure()
""")
    pytester.makepyfile(test_bench="""
def test_write(scyllabench_step):
    scyllabench_step("write", rate=100, duration=1, warmup=0)
""")
    result = run(pytester, "--html=report.html", "--self-contained-html")
    result.assert_outcomes(passed=1)
    report = (project / "report.html").read_text()
    assert "<h4>Warnings</h4>" in report
    assert "monitoring start failed (benchmarks go on without it): port 9090 is taken" in report


def test_a_comparison_that_breaks_still_saves_the_step(pytester: pytest.Pytester,
                                                       project: Path) -> None:
    pytester.makeconftest(CONFTEST + """
from pytest_scyllabench.baseline.gate import BaselineGate

import pytest

def broken(self, record, layers):
    raise ValueError("bug in the comparison")

@pytest.fixture(autouse=True)
def _broken_comparison(monkeypatch):  # undone after the test: pytester runs in this process
    monkeypatch.setattr(BaselineGate, "check", broken)
""")
    pytester.makepyfile(test_bench="""
def test_write(scyllabench_step):
    scyllabench_step("write", rate=100, duration=1, warmup=0)
""")
    result = run(pytester, "--scyllabench-save=main")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*ValueError: bug in the comparison*"])
    (saved,) = results(project / "trials" / "fake" / "latest")
    assert saved["ops"] == 100


NODE_DIES_AFTER_FIRST_STEP = CONFTEST + """
import os

DOWN = "Cassandra node2 (127.0.0.2) is down (exited with code -9); its log: node2/system.log"

async def down_nodes():
    return [DOWN] if os.environ.get("FAKE_NODE_DOWN") else []

def pytest_scyllabench_cluster_ready(cluster, trial_dir, config):
    cluster.database.down_nodes = down_nodes

def pytest_scyllabench_step_result(item, result, breaches, result_json):
    os.environ["FAKE_NODE_DOWN"] = "1"
"""


def test_a_node_down_after_a_step_fails_it_and_keeps_it_out_of_the_baseline(
        pytester: pytest.Pytester, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FAKE_NODE_DOWN", raising=False)
    pytester.makeconftest(NODE_DIES_AFTER_FIRST_STEP)
    pytester.makepyfile(test_bench="""
def test_before(scyllabench_step):
    scyllabench_step("write", rate=100, duration=1, warmup=0)

def test_after(scyllabench_step):
    scyllabench_step("write", rate=100, duration=1, warmup=0)
""")
    result = run(pytester, "--scyllabench-save=main")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["after write@100: Cassandra node2 (127.0.0.2) is down (exited "
                                 "with code -9); its log: node2/system.log"])
    after, before = results(project / "trials" / "fake" / "latest")  # sorted by test name
    assert (before["test"], before["verdict"]["passed"]) == ("test_bench.py::test_before", True)
    assert after["verdict"]["passed"] is False
    assert any("node2 (127.0.0.2) is down" in line for line in after["verdict"]["breaches"])
    saved = sorted(path.name for path in (project / "baselines" / "main").glob("*.json"))
    assert len(saved) == 1 and "test_before" in saved[0]


NODE_CHECKS = CONFTEST + """
import os
from pytest_scyllabench.errors import DatabaseError

async def down_nodes():
    if os.environ.get("FAKE_NODE_CHECK") == "fails":
        raise DatabaseError("could not check the Cassandra processes on 1 of 1 host(s)")
    return ["Cassandra node1 (127.0.0.1) is down (exited with code -9)"]

def pytest_scyllabench_cluster_ready(cluster, trial_dir, config):
    cluster.database.down_nodes = down_nodes
"""


@pytest.mark.parametrize("case", ["fails", "loader-fails"])
def test_a_node_check_is_a_problem_of_the_step_whatever_happened(
        pytester: pytest.Pytester, project: Path, monkeypatch: pytest.MonkeyPatch,
        case: str) -> None:
    """A node check that cannot reach the nodes fails the step without losing its result; a
    node found down is named even when no loader left a result."""
    monkeypatch.setenv("FAKE_NODE_CHECK", case)
    monkeypatch.setenv("FAKE_LOADER_FAIL", "")  # restored after the test
    pytester.makeconftest(NODE_CHECKS)
    pytester.makepyfile(test_bench=f"""
import os

def test_write(scyllabench_step):
    if {case == "loader-fails"}:  # after the profile's warm-up
        os.environ["FAKE_LOADER_FAIL"] = "loader-1"  # in its second second
    scyllabench_step("write", rate=100, duration=2, warmup=0)
""")
    result = run(pytester)
    result.assert_outcomes(failed=1)
    if case == "fails":
        result.stdout.fnmatch_lines(["after write@100: could not check the database nodes: "
                                     "could not check the Cassandra processes on 1 of 1*"])
        (saved,) = results(project / "trials" / "fake" / "latest")
        assert saved["verdict"]["passed"] is False
    else:
        result.stdout.fnmatch_lines(["*loader-1: *",
                                     "after write@100: Cassandra node1 (127.0.0.1) is down*"])
