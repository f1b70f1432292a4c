"""Baseline gating in whole sessions with fake backends: save, compare, rules, markers."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_session import CONFTEST, PROFILE

pytest_plugins = ["pytester"]

BENCH = """
import pytest

def test_write(scyllabench_step):
    scyllabench_step("write", rate=100, duration=2, warmup=0)

@pytest.mark.scyllabench_regression(p99=None, p999=None)
def test_write_latency_not_gated(scyllabench_step):
    scyllabench_step("write", rate=100, duration=2, warmup=0)
"""


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    pytester.makeconftest(CONFTEST)
    pytester.makefile(".yaml", fake=PROFILE.replace("warmup: {workload: write, rate: 50, "
                                                    "seconds: 1}", ""))
    pytester.makepyfile(test_bench=BENCH)
    monkeypatch.setenv("SCYLLABENCH_CACHE", str(pytester.path / "cache"))
    return pytester.path


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("--scyllabench-profile=fake.yaml", "-p", "no:cacheprovider",
                              *args)


def test_save_then_compare(pytester: pytest.Pytester, project: Path,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    run(pytester, "--scyllabench-save=base").assert_outcomes(passed=2)
    assert sorted(p.parent.name for p in (project / "baselines").glob("*/*.json")) == \
        ["base", "base"]
    assert (project / "baselines" / "latest").read_text().strip() == "base"

    same = run(pytester, "--scyllabench-compare=latest", "--html=report.html",
               "--self-contained-html")
    same.assert_outcomes(passed=2)
    same.stdout.fnmatch_lines(["*scyllabench baseline latest:*",
                               "*test_write write@100: p99 within noise*"])
    assert "Baseline comparison" in (project / "report.html").read_text()

    monkeypatch.setenv("FAKE_LATENCY_MS", "3")  # every latency 50% higher
    slower = run(pytester, "--scyllabench-compare=base", "--scyllabench-repeat=2")
    # The marker turned the latency rules off for the second test: only the first fails.
    slower.assert_outcomes(passed=1, failed=1)
    slower.stdout.fnmatch_lines([
        "*test_write write@100: p99 regressed: 2.00* ms -> 3.00* ms (+50.0%*breaks rule "
        "p99:+10%*"])
    assert "test_write_latency_not_gated write@100: p99 regressed" not in slower.stdout.str()


def test_rules_from_the_command_line(pytester: pytest.Pytester, project: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    run(pytester, "--scyllabench-save=base").assert_outcomes(passed=2)
    monkeypatch.setenv("FAKE_LATENCY_MS", "2.1")  # +5%: inside p99:+10%, outside p99:+2%
    run(pytester, "--scyllabench-compare=base").assert_outcomes(passed=2)
    run(pytester, "--scyllabench-compare=base", "--scyllabench-rules=p99:+2%",
        "-k", "test_write and not gated").assert_outcomes(failed=1)


def test_missing_baseline(pytester: pytest.Pytester, project: Path) -> None:
    tolerated = run(pytester, "--scyllabench-compare=nope")
    tolerated.assert_outcomes(passed=2)
    assert "nope" in tolerated.stdout.str()
    strict = run(pytester, "--scyllabench-compare=nope", "--scyllabench-fail-missing-baseline")
    assert strict.ret == pytest.ExitCode.USAGE_ERROR
    strict.stderr.fnmatch_lines(["*--scyllabench-compare:*nope*"])


def test_bad_regression_marker(pytester: pytest.Pytester, project: Path) -> None:
    pytester.makepyfile(test_bench="""
        import pytest

        @pytest.mark.scyllabench_regression("p99:lots")
        def test_write(scyllabench_step):
            scyllabench_step("write", rate=100, duration=1, warmup=0)
    """)
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*test_write: @pytest.mark.scyllabench_regression: *p99*"])


RATES = """
import pytest

@pytest.mark.parametrize("rate", [100, 200])
def test_rates(scyllabench_step, rate):
    scyllabench_step("write", rate=rate, duration=2, warmup=0)

@pytest.mark.scyllabench_regression(p99=None, p999=None)
def test_write_latency_not_gated(scyllabench_step):
    scyllabench_step("write", rate=100, duration=2, warmup=0)
"""


def test_saved_runs_compared_offline_and_the_baseline_curve_in_the_report(
        pytester: pytest.Pytester, project: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from pytest_scyllabench import cli

    pytester.makepyfile(test_bench=RATES)
    run(pytester, "--scyllabench-save=base").assert_outcomes(passed=3)
    monkeypatch.setenv("FAKE_LATENCY_MS", "3")  # every latency 50% higher
    slower = run(pytester, "--scyllabench-compare=base", "--scyllabench-save=slow",
                 "--html=report.html", "--self-contained-html")
    slower.assert_outcomes(passed=1, failed=2)

    page = (project / "report.html").read_text(encoding="utf-8")
    assert page.count('class="sb-baseline-p99"') == 1  # test_rates: two steps, one chart
    assert "baseline base p99" in page
    assert "(baseline base dashed)" in page

    capsys.readouterr()
    code = cli.main(["compare", "--baseline-dir", str(project / "baselines"), "base", "slow"])
    out = capsys.readouterr().out
    assert code == 1, out
    regressed = [line for line in out.splitlines() if " regressed: " in line]
    # The marker's rules were saved with the run: its test is not gated on latency offline
    # either, the others are, each step once.
    assert sorted(line.partition(" regressed")[0] for line in regressed) == [
        "test_rates[100] write@100: p99", "test_rates[100] write@100: p999",
        "test_rates[200] write@200: p99", "test_rates[200] write@200: p999"]
    assert "test_write_latency_not_gated write@100: throughput within noise" in out
    assert "test_write_latency_not_gated write@100: p99" not in out


def test_a_baseline_keeps_the_last_sessions_saved(pytester: pytest.Pytester,
                                                   project: Path) -> None:
    import json

    def sessions() -> list[list[str]]:
        """The session of each run of each saved record."""
        return [[run["session"] for run in json.loads(path.read_text())["repetitions"]]
                for path in sorted((project / "baselines" / "main").glob("*.json"))]

    keep_two = ("--scyllabench-save=main", "--scyllabench-save-sessions=2")
    run(pytester, *keep_two).assert_outcomes(passed=2)
    assert sessions() == [[], []]  # one run: no repetitions yet
    run(pytester, *keep_two, "--scyllabench-repeat=2").assert_outcomes(passed=2)
    first = sessions()
    assert [len(set(runs)) for runs in first] == [2, 2]
    assert [len(runs) for runs in first] == [3, 3]

    third = run(pytester, *keep_two, "--scyllabench-compare=main")
    third.assert_outcomes(passed=2)
    # Compared with both sessions kept, then saved: the oldest session is dropped.
    third.stdout.fnmatch_lines(["*test_write write@100: p99 within noise: *; baseline 2 "
                                "sessions, 3 runs)*"])
    last = sessions()
    assert [len(runs) for runs in last] == [3, 3]
    assert [runs[:2] for runs in last] == [runs[1:] for runs in first]
    assert len({runs[2] for runs in last} | set(first[0])) == 3

    damaged = sorted((project / "baselines" / "main").glob("*.json"))[0]
    damaged.write_text("{")
    replaced = run(pytester, *keep_two)
    replaced.assert_outcomes(passed=2)
    replaced.stdout.fnmatch_lines(["*scyllabench: saved baseline 'main' in *",
                                   "baseline 'main': its earlier sessions cannot be read, so "
                                   "the records saved now hold this session's runs only: "
                                   f"{damaged}: cannot read: *"])
    assert [len(runs) for runs in sessions()] == [0, 0]
