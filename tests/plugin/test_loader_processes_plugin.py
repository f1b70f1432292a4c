"""``loaders.processes``: several processes of the stress tool per loader host, in a whole
session with the fake backends (the local provisioner, its loaders on this machine)."""

from __future__ import annotations

import json

import pytest

from tests.plugin.test_session import CONFTEST

pytest_plugins = ["pytester"]

PROFILE = """
name: fake
database: {{nodes: 1, replication_factor: 1}}
loaders: {{count: {count}, processes: 2}}
warmup: {{workload: write, rate: 40, seconds: 1}}
workloads:
  write: {{mix: {{write: 1}}}}
"""

BENCH = """
def test_write(scyllabench_step, scyllabench_loaders):
    result = scyllabench_step("write", rate=400, duration="2s", warmup=0)
    assert [run.name for run in result.loaders] == {names!r}
    assert [run.target_rate for run in result.loaders] == {shares!r}
    assert all(run.ops > 0 for run in result.loaders)
    # The merged histograms hold every process's operations.
    assert result.ops == sum(run.ops for run in result.loaders) == 800
    assert result.latency().count == 800
    assert [host.name for host in scyllabench_loaders] == {names!r}

def test_again(scyllabench_step):
    assert len(scyllabench_step("write", rate=100, duration=1, warmup=0).loaders) == {total}
"""


def session(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, count: int,
            names: list[str]) -> list[str]:
    """Run the bench with ``count`` loader hosts of 2 processes; the tool's installs. The
    report's environment line says how the loaders are made up."""
    total = len(names)
    pytester.makeconftest(CONFTEST)
    pytester.makefile(".yaml", fake=PROFILE.format(count=count))
    pytester.makepyfile(test_bench=BENCH.format(
        names=names, shares=[400 / total] * total, total=total))
    monkeypatch.setenv("FAKE_TOOL_JOURNAL", str(pytester.path / "tool-journal"))
    monkeypatch.setenv("SCYLLABENCH_CACHE", str(pytester.path / "cache"))
    result = pytester.runpytest("--scyllabench-profile=fake.yaml", "-p", "no:cacheprovider",
                                "--html=report.html", "--self-contained-html")
    result.assert_outcomes(passed=2)
    report = (pytester.path / "report.html").read_text()
    assert f"{count} x 2 processes of builtin (concurrency 128)" in report
    trial = (pytester.path / "trials" / "fake" / "latest").resolve()
    step = json.loads(next(trial.glob("*test_write*/*/result.json")).read_text())
    assert [loader["name"] for loader in step["loaders"]] == names
    for name in names:  # each process wrote its own files, merged into the step's result
        assert next(trial.glob(f"*test_write*/*/{name}.hlog")).stat().st_size > 0
    return (pytester.path / "tool-journal").read_text().splitlines()


def test_two_processes_on_one_host_are_two_loaders_merged_installed_once(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    installs = session(pytester, monkeypatch, 1, ["loader-1-p1", "loader-1-p2"])
    # Once for the host, not once per process, nor again for the warm-up or a later step.
    assert installs == ["install local"]


def test_two_hosts_of_two_processes_are_four_loaders_installed_twice(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    installs = session(pytester, monkeypatch, 2,
                       ["loader-1-p1", "loader-1-p2", "loader-2-p1", "loader-2-p2"])
    assert installs == ["install local", "install local"]
