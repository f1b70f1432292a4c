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
