"""Monitoring in whole sessions with fake backends: optional monitoring that fails warns and
the benchmarks go on; required monitoring that fails stops the session, and teardown runs; the
quiet-cluster fixture waits within the profile's limit, or warns when it cannot ask."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.ports import free_port

pytest_plugins = ["pytester"]

HERE = Path(__file__).parent

CONFTEST = f"""
import json, os, sys
sys.path.insert(0, {str(HERE)!r})
from pytest_scyllabench import backends
from pytest_scyllabench.state import STATE_KEY
backends.DATABASES["cassandra"] = "fakes:FakeDatabase"
backends.STRESS_TOOLS["builtin"] = "fakes:create_tool"

def pytest_sessionfinish(session):
    state = session.config.stash.get(STATE_KEY, None)
    cluster = state.bench.current_cluster if state is not None else None
    with open(os.environ["MONITORING_DUMP"], "w") as out:
        json.dump({{"started": cluster is not None,
                   "monitoring": cluster is not None and cluster.monitoring is not None,
                   "warnings": cluster.monitoring_warnings if cluster is not None else [],
                   "snapshots": {{k: str(v) for k, v in state.bench.snapshots.items()}}}}, out)
"""

PROFILE = """
name: fake
database: {{nodes: 2, replication_factor: 2}}
workloads:
  write: {{mix: {{write: 1}}}}
monitoring:
  enabled: {enabled}
  required: {required}
  prometheus_binary: {missing}/prometheus
  node_exporter_binary: {missing}/prometheus-node-exporter
  prometheus_port: {prometheus_port}
  node_exporter_port: {node_exporter_port}
{extra}"""

BENCH = """
def test_write(scyllabench_step):
    result = scyllabench_step("write", rate=100, duration=1, warmup=0)
    assert result.ops == 100
"""


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_bench=BENCH)
    monkeypatch.setenv("FAKE_DB_JOURNAL", str(pytester.path / "journal"))
    monkeypatch.setenv("SCYLLABENCH_CACHE", str(pytester.path / "cache"))
    monkeypatch.setenv("MONITORING_DUMP", str(pytester.path / "monitoring.json"))
    return pytester.path


QUIET_BENCH = """
from pathlib import Path

def test_quiet(scyllabench_quiet):
    Path("quiet.txt").write_text(repr(scyllabench_quiet))
"""


def run(pytester: pytest.Pytester, *, required: bool, enabled: bool = True,
        extra: str = "") -> pytest.RunResult:
    pytester.makefile(".yaml", fake=PROFILE.format(
        required=str(required).lower(), enabled=str(enabled).lower(),
        missing=pytester.path / "missing", prometheus_port=free_port(),
        node_exporter_port=free_port(), extra=extra))
    return pytester.runpytest("--scyllabench-profile=fake.yaml", "-p", "no:cacheprovider")


def dump(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((path / "monitoring.json").read_text())
    return data


def journal(path: Path) -> list[str]:
    return (path / "journal").read_text().split()


def monitoring_warnings(result: pytest.RunResult) -> list[str]:
    """The MonitoringWarning lines of the warnings summary (the in-process pytester may add
    unrelated warnings of its own)."""
    return [line for line in result.stdout.lines if "MonitoringWarning: " in line]


def test_optional_monitoring_that_fails_warns_and_benchmarks_go_on(
        pytester: pytest.Pytester, project: Path) -> None:
    result = run(pytester, required=False)
    result.assert_outcomes(passed=1)
    assert len(monitoring_warnings(result)) == 1
    result.stdout.fnmatch_lines([
        "*MonitoringWarning: monitoring start failed (benchmarks go on without it): *"
        "the node exporter is not installed: */missing/prometheus-node-exporter*"])
    state = dump(project)
    assert state["monitoring"] and len(state["warnings"]) == 1
    assert "the node exporter is not installed" in state["warnings"][0]
    assert state["snapshots"] == {}
    # The database was asked for its metrics before anything else, and torn down at the end.
    assert journal(project) == ["export_metrics", "install", "configure", "start", "ready",
                                "stop", "wipe"]
    trial = (project / "trials" / "fake" / "latest").resolve()
    assert len(list(trial.glob("*/*/result.json"))) == 1
    assert not list(trial.rglob("prometheus.tar.gz"))


def test_required_monitoring_that_fails_stops_the_session_and_tears_down(
        pytester: pytest.Pytester, project: Path) -> None:
    result = run(pytester, required=True)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([
        "*MonitoringError: *the node exporter is not installed: */missing/"
        "prometheus-node-exporter*`prometheus-node-exporter` package*"])
    assert "MonitoringWarning" not in result.stdout.str()
    assert not dump(project)["started"]
    assert journal(project) == ["export_metrics", "install", "configure", "start", "ready",
                                "stop", "wipe"]


# -- the quiet-cluster fixture ------------------------------------------------------------------


@pytest.fixture
def up(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Monitoring that starts and stays up without processes (the session runs in this
    process); each wait for quiet records its limit and took 1.5 s."""
    from pytest_scyllabench.monitor import prometheus, stack
    from pytest_scyllabench.teardown import TeardownStack

    limits: list[float] = []

    async def start(self: stack.Monitoring, teardown: TeardownStack) -> bool:
        teardown.push("monitoring", self.stop)
        self._up = True
        self.database = "cassandra"  # scraped (the fake database exports no metrics port)
        return True

    async def wait_quiet(client: Any, timeout: float, *, poll: float) -> float:
        limits.append(timeout)
        return 1.5

    monkeypatch.setattr(stack.Monitoring, "start", start)
    monkeypatch.setattr(prometheus.Prometheus, "running", property(lambda self: True))
    monkeypatch.setattr(stack, "wait_quiet", wait_quiet)
    return limits


@pytest.mark.parametrize(("extra", "limit"), [("", 120.0), ("  quiet_timeout: 7\n", 7.0)])
def test_quiet_waits_within_the_profile_limit(pytester: pytest.Pytester, project: Path,
                                              up: list[float], extra: str,
                                              limit: float) -> None:
    pytester.makepyfile(test_bench=QUIET_BENCH)
    result = run(pytester, required=False, extra=extra)
    result.assert_outcomes(passed=1)
    assert up == [limit]
    assert (project / "quiet.txt").read_text() == "1.5"
    assert monitoring_warnings(result) == []


def test_quiet_without_monitoring_warns_and_does_not_wait(pytester: pytest.Pytester,
                                                          project: Path) -> None:
    pytester.makepyfile(test_bench=QUIET_BENCH)
    result = run(pytester, required=False, enabled=False)
    result.assert_outcomes(passed=1)
    assert (project / "quiet.txt").read_text() == "None"
    (line,) = monitoring_warnings(result)
    assert line.endswith("MonitoringWarning: scyllabench_quiet: monitoring is off "
                         "(monitoring.enabled: false in the profile); not waiting for "
                         "compactions to settle")


def test_quiet_with_monitoring_down_warns_and_does_not_wait(pytester: pytest.Pytester,
                                                            project: Path) -> None:
    pytester.makepyfile(test_bench=QUIET_BENCH)
    result = run(pytester, required=False)
    result.assert_outcomes(passed=1)
    assert (project / "quiet.txt").read_text() == "None"
    started, down = monitoring_warnings(result)
    assert "monitoring start failed" in started
    assert down.endswith("MonitoringWarning: scyllabench_quiet: monitoring is down; not "
                         "waiting for compactions to settle")
