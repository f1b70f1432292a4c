"""Bad profiles and steps a stress tool cannot run fail before anything is provisioned or
populated (fake database and loader)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tests.plugin.test_session import CONFTEST, journal

pytest_plugins = ["pytester"]

BENCH = """
def test_write(scyllabench_step):
    scyllabench_step("write", rate=100, duration=1, warmup=0)
"""


@pytest.fixture
def session_dir(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    pytester.makeconftest(CONFTEST)
    monkeypatch.setenv("FAKE_DB_JOURNAL", str(pytester.path / "journal"))
    monkeypatch.setenv("SCYLLABENCH_CACHE", str(pytester.path / "cache"))
    return pytester.path


def run(pytester: pytest.Pytester, profile: str) -> pytest.RunResult:
    pytester.makefile(".yaml", fake=profile)
    pytester.makepyfile(test_bench=BENCH)
    return pytester.runpytest("--scyllabench-profile=fake.yaml", "-p", "no:cacheprovider")


@pytest.mark.parametrize(("loaders", "workload", "problem"), [
    ("{tool: latte}", "{mix: {write: 1}}",
     "fake.yaml: loaders.allow_service_time: latte 0.29.0 measures service time only"),
    ("{tool: cassandra-stress}", "{mix: {write: 1}, distribution: zipfian}",
     "fake.yaml: workloads.write.distribution: cassandra-stress cannot draw keys with "
     "distribution 'zipfian'"),
    ("{tool: scylla-bench}", "{mix: {write: 0.7, read: 0.3}}",
     "fake.yaml: workloads.write.mix: scylla-bench cannot run mix"),
    ("{tool_paths: {scylla-bench: /nonexistent/scylla-bench}}", "{mix: {write: 1}}",
     "fake.yaml: loaders.tool_paths.scylla-bench: no such file: /nonexistent/scylla-bench"),
])
def test_refused_before_the_cluster_exists(pytester: pytest.Pytester, session_dir: Path,
                                           loaders: str, workload: str, problem: str) -> None:
    result = run(pytester, f"database: {{nodes: 1, replication_factor: 1}}\n"
                           f"loaders: {loaders}\nworkloads:\n  write: {workload}\n")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert problem in result.stderr.str()
    assert journal(session_dir) == []  # no install, no start


def test_a_good_profile_does_provision(pytester: pytest.Pytester, session_dir: Path) -> None:
    """The control of the tests above: the same session, valid, installs and starts."""
    result = run(pytester, "database: {nodes: 1, replication_factor: 1}\n"
                           "workloads:\n  write: {mix: {write: 1}}\n")
    result.assert_outcomes(passed=1)
    assert journal(session_dir)[:3] == ["install", "configure", "start"]


def test_a_bad_database_version(pytester: pytest.Pytester, session_dir: Path) -> None:
    result = run(pytester, "database: {nodes: 1, replication_factor: 1, version: ../../x}\n"
                           "workloads:\n  write: {mix: {write: 1}}\n")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "fake.yaml: database.version: not a cassandra version" in result.stderr.str()
    assert journal(session_dir) == []


def test_a_steps_own_tool_is_checked_before_schema_and_populate(
        pytester: pytest.Pytester, session_dir: Path) -> None:
    marker = session_dir / "ran"
    binary = session_dir / "scylla-bench"
    binary.write_text(f"#!/bin/sh\necho \"$@\" >> {marker}\n")
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    pytester.makefile(".yaml", fake=f"database: {{nodes: 1, replication_factor: 1}}\n"
                                    f"loaders: {{tool_paths: {{scylla-bench: {binary}}}}}\n"
                                    f"workloads:\n  write: {{mix: {{write: 1}}}}\n"
                                    f"  mixed: {{mix: {{write: 0.7, read: 0.3}}, "
                                    f"populate: 100}}\n")
    pytester.makepyfile(test_bench="""
def test_mixed(scyllabench_step):
    scyllabench_step("mixed", rate=100, duration=1, warmup=0, tool="scylla-bench")

def test_write(scyllabench_step):
    scyllabench_step("write", rate=100, duration=1, warmup=0)
""")
    result = pytester.runpytest("--scyllabench-profile=fake.yaml", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*ConfigError: workloads.mixed.mix: scylla-bench cannot run "
                                 "mix {'write': 0.7, 'read': 0.3}*"])
    assert not marker.exists()  # neither its schema nor its populate command ran


def test_a_steps_own_tool_is_checked_before_it_is_installed(
        pytester: pytest.Pytester, session_dir: Path) -> None:
    pytester.makefile(".yaml", fake="database: {nodes: 1, replication_factor: 1}\n"
                                    "workloads:\n  hot: {mix: {write: 1}, distribution: zipfian}\n")
    pytester.makepyfile(test_bench="""
def test_hot(scyllabench_step):
    scyllabench_step("hot", rate=100, duration=1, warmup=0, tool="cassandra-stress")
""")
    result = pytester.runpytest("--scyllabench-profile=fake.yaml", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*ConfigError: workloads.hot.distribution: cassandra-stress "
                                 "cannot draw keys with distribution 'zipfian'*"])
    cache = session_dir / "cache"
    assert not any(cache.rglob("*cassandra*")), "cassandra-stress was fetched before the check"
