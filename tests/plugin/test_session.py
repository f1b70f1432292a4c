"""Whole benchmark sessions with fake backends: lifecycle, artifacts, thresholds, reports."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

HERE = Path(__file__).parent

CONFTEST = f"""
import sys
sys.path.insert(0, {str(HERE)!r})
from pytest_scyllabench import backends
backends.DATABASES["cassandra"] = "fakes:FakeDatabase"
backends.STRESS_TOOLS["builtin"] = "fakes:create_tool"
"""

PROFILE = """
name: fake
database: {nodes: 2, replication_factor: 2}
warmup: {workload: write, rate: 50, seconds: 1}
workloads:
  write: {mix: {write: 1}}
  mixed: {mix: {read: 1, write: 1}, populate: 100}
"""

BENCH = """
import pytest

@pytest.mark.parametrize("rate", [100, 200])
def test_write(scyllabench_step, rate):
    result = scyllabench_step("write", rate=rate, duration="2s", warmup=1)
    assert result.ops == rate * 2
    assert result.latency()["p99"] == pytest.approx(2.0, rel=0.01)

@pytest.mark.scyllabench_thresholds(p99="1ms")
def test_too_strict(scyllabench_step):
    scyllabench_step("write", rate=100, duration=1, warmup=0)

@pytest.mark.scyllabench_thresholds(p99="1ms")
def test_call_overrides_marker(scyllabench_step):
    result = scyllabench_step("mixed", rate=100, duration=1, warmup=0,
                              thresholds={"p99": "50ms"})
    assert result.latency("read").count > 0

def test_unknown_workload(scyllabench_step):
    workload = "nope"  # a value known only at the call: the call refuses it
    scyllabench_step(workload, rate=100)

def test_unknown_tool(scyllabench_step):
    tool = "ycsb"
    scyllabench_step("write", rate=100, tool=tool)
"""


@pytest.fixture
def session_dir(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    pytester.makeconftest(CONFTEST)
    pytester.makefile(".yaml", fake=PROFILE)
    monkeypatch.setenv("FAKE_DB_JOURNAL", str(pytester.path / "journal"))
    monkeypatch.setenv("SCYLLABENCH_CACHE", str(pytester.path / "cache"))
    return pytester.path


def journal(path: Path) -> list[str]:
    file = path / "journal"
    return file.read_text().split() if file.exists() else []


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("--scyllabench-profile=fake.yaml", "-p", "no:cacheprovider",
                              *args)


def test_whole_session(pytester: pytest.Pytester, session_dir: Path) -> None:
    pytester.makepyfile(test_bench=BENCH)
    result = run(pytester, "--html=report.html", "--self-contained-html",
                 "--junitxml=junit.xml")
    result.assert_outcomes(passed=3, failed=3)
    out = result.stdout.str()
    assert "tool must be one of builtin, cassandra-stress, latte, scylla-bench, got 'ycsb'" in out
    assert "p99 of write@100: observed 2" in out and "> limit 1 ms" in out
    assert "workload 'nope' is not in profile 'fake'; known: mixed, write" in out
    # Teardown was registered and ran: the cluster was stopped and wiped, once.
    assert journal(session_dir) == ["install", "configure", "start", "ready", "stop", "wipe"]

    trial = (session_dir / "trials" / "fake" / "latest").resolve()
    results = sorted(trial.glob("*/*/result.json"))
    assert len(results) == 4  # the failing threshold step is saved too
    strict = json.loads(next(p for p in results if "too_strict" in str(p)).read_text())
    assert strict["verdict"]["passed"] is False
    assert strict["verdict"]["breaches"][0].startswith("p99 of write@100")
    for path in results:
        data = json.loads(path.read_text())
        assert (path.parent / data["loaders"][0]["hdr_log"].split("/")[-1]).is_file()
    assert (trial / "warm-up" / "loader-1.summary.json").is_file()
    session = json.loads((trial / "session.json").read_text())
    assert session["nodes"] == 2 and session["exit_status"] == 1
    assert session["versions"]["cassandra"] == "fake-1.0"

    report = (session_dir / "report.html").read_text()
    assert "write@200" in report and "Benchmarks" in report
    tree = ET.parse(session_dir / "junit.xml")
    props = {p.get("name"): p.get("value")
             for case in tree.iter("testcase") if case.get("name") == "test_write[200]"
             for p in case.iter("property")}
    assert props["target_rate"] == "200" and props["passed"] == "true"


def test_setup_failure_still_tears_down(pytester: pytest.Pytester, session_dir: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_DB_FAIL", "start")
    pytester.makepyfile(test_bench=BENCH)
    result = run(pytester, "-k", "test_write")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*node1 (127.0.0.1): exited with code 1 during start*"])
    assert journal(session_dir) == ["install", "configure", "start", "stop", "wipe"]


def test_keep_cluster_leaves_it_running(pytester: pytest.Pytester, session_dir: Path) -> None:
    pytester.makepyfile(test_bench=BENCH)
    run(pytester, "-k", "test_write", "--scyllabench-keep-cluster").assert_outcomes(passed=2)
    assert journal(session_dir) == ["install", "configure", "start", "ready"]


def test_keep_cluster_still_stops_a_cluster_whose_setup_failed(
        pytester: pytest.Pytester, session_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_DB_FAIL", "start")
    pytester.makepyfile(test_bench=BENCH)
    result = run(pytester, "-k", "test_write", "--scyllabench-keep-cluster")
    result.assert_outcomes(errors=2)
    assert journal(session_dir) == ["install", "configure", "start", "stop", "wipe"]


def test_reuse_without_a_kept_cluster(pytester: pytest.Pytester, session_dir: Path) -> None:
    pytester.makepyfile(test_bench=BENCH)
    result = run(pytester, "-k", "test_write", "--scyllabench-reuse-cluster")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*no running cluster of profile 'fake' was found*"])
    assert "start" not in journal(session_dir)


@pytest.mark.parametrize(("keep", "events"), [
    ((), ["adopt", "stop", "wipe"]),  # reused, not kept: stopped at the end
    (("--scyllabench-keep-cluster",), ["adopt"]),
])
def test_reuse_starts_nothing_and_keeps_only_when_asked(
        pytester: pytest.Pytester, session_dir: Path, monkeypatch: pytest.MonkeyPatch,
        keep: tuple[str, ...], events: list[str]) -> None:
    monkeypatch.setenv("FAKE_DB_RUNNING", "1")
    pytester.makepyfile(test_bench=BENCH)
    run(pytester, "-k", "test_write", "--scyllabench-reuse-cluster",
        *keep).assert_outcomes(passed=2)
    assert journal(session_dir) == events


@pytest.mark.parametrize("provisioner", ["static", "aws"])
def test_reuse_with_a_remote_provisioner_is_refused_before_provisioning(
        pytester: pytest.Pytester, session_dir: Path, provisioner: str) -> None:
    (session_dir / "id_test").write_text("not really a key")
    remote = {"static": "static: {ssh: {user: bench, key: id_test, known_hosts: 'accept-new:kh'}, "
                        "servers: [192.0.2.1, 192.0.2.3], loaders: [192.0.2.2]}\n",
              "aws": "aws: {region: us-east-1, zone: us-east-1a, operator_cidr: "
                     "203.0.113.5/32, owner: me, servers: {instance_type: i4i.large, count: 2, "
                     "ami: ami-785db401}, loaders: {instance_type: c6i.2xlarge, count: 1, "
                     "ami: ami-785db401}}\n"}[provisioner]
    pytester.makefile(".yaml", remote=PROFILE.replace("name: fake", "name: remote")
                      + f"provisioner: {provisioner}\n" + remote)
    pytester.makepyfile(test_bench=BENCH)
    result = pytester.runpytest("--scyllabench-profile=remote.yaml", "-p", "no:cacheprovider",
                                "--scyllabench-reuse-cluster")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([
        f"*--scyllabench-reuse-cluster: profile 'remote' uses provisioner '{provisioner}', "
        "which cannot reuse a kept cluster (only 'local' can)*"])
    assert journal(session_dir) == []
    assert not (session_dir / "trials" / "remote").exists()


def test_k_selects_benchmarks_without_starting_anything(pytester: pytest.Pytester,
                                                        session_dir: Path) -> None:
    pytester.makepyfile(test_bench=BENCH)
    result = run(pytester, "-k", "strict", "--collect-only", "-q")
    result.stdout.fnmatch_lines(["test_bench.py::test_too_strict"])
    assert "test_write" not in result.stdout.str()
    assert journal(session_dir) == []


def test_profile_thresholds_apply_and_markers_override_them(pytester: pytest.Pytester,
                                                           session_dir: Path) -> None:
    pytester.makefile(".yaml", strict=PROFILE + "thresholds: {p99: 1ms}\n")
    pytester.makepyfile(test_bench="""
        import pytest

        def test_profile_limit(scyllabench_step):
            scyllabench_step("write", rate=100, duration=1, warmup=0)

        @pytest.mark.scyllabench_thresholds(p99="50ms")
        def test_marker_wins(scyllabench_step):
            scyllabench_step("write", rate=100, duration=1, warmup=0)
    """)
    result = pytester.runpytest("--scyllabench-profile=strict.yaml", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*test_profile_limit*", "*p99 of write@100: observed 2*"
                                 " > limit 1 ms*"])


def run_two_loaders(pytester: pytest.Pytester, rate: int | str) -> pytest.RunResult:
    """A session of two loaders (no warm-up) whose one test runs a 3 s step at ``rate`` (an
    expression)."""
    pytester.makefile(".yaml", two=PROFILE.replace("warmup: {workload: write, rate: 50, "
                                                   "seconds: 1}", "")
                      + "loaders: {count: 2}\n")
    pytester.makepyfile(test_bench=f"""
        def test_write(scyllabench_step):
            scyllabench_step("write", rate={rate}, duration=3, warmup=0)
    """)
    return pytester.runpytest("--scyllabench-profile=two.yaml", "-p", "no:cacheprovider")


@pytest.mark.parametrize(("variable", "problem"), [
    ("FAKE_LOADER_FAIL", "loader-2: exited with code 3"),
    ("FAKE_LOADER_CORRUPT", "loader-2: *loader-2.hlog: line 6: payload is not an HdrHist*"),
])
def test_a_failed_loader_keeps_the_others_data(pytester: pytest.Pytester, session_dir: Path,
                                               monkeypatch: pytest.MonkeyPatch, variable: str,
                                               problem: str) -> None:
    monkeypatch.setenv(variable, "loader-2")
    result = run_two_loaders(pytester, rate=100)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"*{problem}*"])
    trial = (session_dir / "trials" / "fake" / "latest").resolve()
    (saved,) = trial.glob("*/*/result.json")
    data = json.loads(saved.read_text())
    # loader-1's 50 ops/s over 3 s are merged and saved; the step is marked failed.
    assert [loader["name"] for loader in data["loaders"]] == ["loader-1"]
    assert data["ops"] == 150
    assert data["verdict"]["passed"] is False
    assert "loader-2" in data["verdict"]["breaches"][0]
    assert (saved.parent / "loader-2.out").exists()


def test_a_rate_below_the_loader_count_fails_the_call_before_any_loader_starts(
        pytester: pytest.Pytester, session_dir: Path) -> None:
    result = run_two_loaders(pytester, rate="int('1')")  # known at the call only
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["E * scyllabench_step: rate: 1 ops/s cannot be shared by 2 "
                                 "loader processes (at least 1 op/s each)*"])
    trial = (session_dir / "trials" / "fake" / "latest").resolve()
    assert not list(trial.glob("*/*/loader-*.out"))  # no loader ran


def test_a_literal_rate_below_the_loader_count_stops_the_session_at_collection(
        pytester: pytest.Pytester, session_dir: Path) -> None:
    result = run_two_loaders(pytester, rate=1)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert ("test_bench.py::test_write: scyllabench_step: rate: 1 ops/s cannot be shared by 2 "
            "loader processes" in result.stderr.str())
    assert journal(session_dir) == []  # nothing was provisioned


ANNOUNCER = """
from pytest_scyllabench.provision import local


class Announcing(local.LocalProvisioner):
    def __init__(self, profile):
        super().__init__(profile)
        self.announce = print  # replaced by the session

    async def provision(self):
        self.announce("estimated cost per hour: $1.23 (fake)")
        return await super().provision()

    async def release(self):
        self.announce("deleting fake run")
        await super().release()


def create(profile, trial_dir):
    return Announcing(profile)
"""


def test_backend_announcements_reach_the_terminal_through_capture(
        pytester: pytest.Pytester, session_dir: Path) -> None:
    """A cost estimate printed during fixture setup would be captured: it goes to pytest's
    terminal instead, at once, with ``-q`` too."""
    pytester.makepyfile(announcer=ANNOUNCER, test_bench=BENCH)
    pytester.makeconftest(CONFTEST + 'backends.PROVISIONERS["local"] = "announcer:create"\n')
    result = run(pytester, "-q", "-k", "test_write", "-p", "no:randomly")
    result.assert_outcomes(passed=2)
    lines = result.stdout.lines
    assert "estimated cost per hour: $1.23 (fake)" in lines
    assert "deleting fake run" in lines
    assert not any("Captured" in line for line in lines)
