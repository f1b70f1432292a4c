"""The live progress line in whole sessions with fake backends: where it goes, and when not."""

from __future__ import annotations

import pytest
from fakes import ONE_NODE_PROFILE
from test_session import CONFTEST

PROFILE = ONE_NODE_PROFILE.format(name="fake")

BENCH = """
import pytest

@pytest.mark.parametrize("rate", [100, 200])
def test_write(scyllabench_step, rate):
    print("output of the test")
    scyllabench_step("write", rate=rate, duration="2s", warmup=1)
    assert rate == 100, "fails after its step"

def test_two_steps(scyllabench_step):
    scyllabench_step("write", rate=50, duration=1, warmup=0)
    scyllabench_step("write", rate=60, duration=1, warmup=0)
"""


@pytest.fixture
def session(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    pytester.makefile(".yaml", fake=PROFILE)
    pytester.makepyfile(test_bench=BENCH)
    monkeypatch.setenv("SCYLLABENCH_CACHE", str(pytester.path / "cache"))
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("--scyllabench-profile=fake.yaml", "-p", "no:cacheprovider",
                              *args)


def test_progress_lines_go_to_the_terminal_not_to_captured_output(
        session: pytest.Pytester) -> None:
    result = run(session, "-rA")
    result.assert_outcomes(passed=2, failed=1)
    out = result.stdout.str()
    # Not a terminal here: one line when a step starts (then every 10 s), whole lines.
    result.stdout.fnmatch_lines([
        "test_bench.py ",
        "scyllabench test_write[[]100] step 1 of 2 write@100: 1 s elapsed, 2 s left, "
        "100 ops/s, p99 2.000 ms, 0 errors",
        ".",
        "test_bench.py ",
        "scyllabench test_write[[]200] step 2 of 2 write@200: * 200 ops/s, p99 2.000 ms, "
        "0 errors",
        "F",
        "test_bench.py ",
        "scyllabench test_two_steps step 1 write@50: *50 ops/s*",
        "scyllabench test_two_steps step 2 write@60: *60 ops/s*",
        ".*",
    ])
    # The failing test's captured output has its own print, not the progress.
    captured = out[out.index("Captured stdout call"):]
    captured = captured[:captured.index("test_bench.py:")]
    assert "output of the test" in captured and "scyllabench test_write" not in captured


def test_quiet_sessions_show_no_progress(session: pytest.Pytester) -> None:
    result = run(session, "-q")
    result.assert_outcomes(passed=2, failed=1)
    assert "ops/s, p99" not in result.stdout.str()


PLANNED = """
def test_planned(scyllabench_step):
    scyllabench_step("write", rate=70, duration=29, warmup=1)
"""


def test_a_planned_step_shows_its_name_and_the_time_left(session: pytest.Pytester) -> None:
    session.makepyfile(test_planned=PLANNED)
    result = run(session, "test_planned.py")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["scyllabench test_planned step 1 write@70: 1 s elapsed, "
                                 "29 s left, 70 ops/s, p99 2.000 ms, 0 errors"])
