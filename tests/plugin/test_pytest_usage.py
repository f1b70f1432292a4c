"""pytest's own ways of running tests against the plugin, in sessions of fakes: selection,
collection only, xfail and skip, pytest-xdist workers, pytest-html disabled, bad arguments."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.plugin import test_session
from tests.plugin.test_session import CONFTEST, journal, run

pytest_plugins = ["pytester"]

#: The session tests' project (their conftest, profile and environment).
session_dir = test_session.session_dir

STARTED = ["install", "configure", "start", "ready", "stop", "wipe"]

BENCH = """
import pytest

def test_plain():
    pass

@pytest.mark.parametrize("rate", [100, 200, 300])
def test_write(scyllabench_step, rate):
    scyllabench_step("write", rate=rate, duration=1, warmup=0)

@pytest.mark.scyllabench_thresholds(p99="fast")
def test_bad_marker(scyllabench_step):
    scyllabench_step("write", rate=100, duration=1, warmup=0)
"""


def trials(path: Path) -> list[Path]:
    return sorted((path / "trials").rglob("*"))


@pytest.mark.parametrize("args", [
    ("--collect-only", "--scyllabench-html"), ("--setup-plan", "--scyllabench-html"),
    ("-k", "nothing_matches"), ("-k", "plain"), ("--markers",), ("--fixtures",)])
def test_nothing_provisioned_or_written_without_a_benchmark_to_run(
        pytester: pytest.Pytester, session_dir: Path, args: tuple[str, ...]) -> None:
    pytester.makepyfile(test_bench=BENCH.split("@pytest.mark.scyllabench_thresholds")[0])
    result = run(pytester, *args)
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED)
    assert journal(session_dir) == []
    assert trials(session_dir) == []


def test_a_report_of_no_benchmark_leaves_latest_alone(pytester: pytest.Pytester,
                                                       session_dir: Path) -> None:
    """With --scyllabench-html, pytest-html writes its report into a trial directory of its
    own even when -k selects no benchmark; ``latest`` still names the session that ran one."""
    pytester.makepyfile(test_bench=BENCH.split("@pytest.mark.scyllabench_thresholds")[0])
    run(pytester, "-k", "write and 100", "--scyllabench-html").assert_outcomes(passed=1)
    latest = session_dir / "trials" / "fake" / "latest"
    ran = latest.resolve()
    assert (ran / "session.json").is_file()
    result = run(pytester, "-k", "plain", "--scyllabench-html")
    result.assert_outcomes(passed=1)
    reports = [path for path in (session_dir / "trials" / "fake").glob("*/report.html")
               if path.parent.name != "latest"]
    assert len(reports) == 2
    assert latest.resolve() == ran
    assert journal(session_dir) == STARTED


def test_markers_of_deselected_tests_are_not_checked(pytester: pytest.Pytester,
                                                      session_dir: Path) -> None:
    """A bad marker fails the session at collection (even --collect-only), before anything
    is provisioned, unless -k leaves its test out; the live line counts selected steps."""
    pytester.makepyfile(test_bench=BENCH)
    for args in ((), ("--collect-only",)):
        result = run(pytester, *args)
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(["ERROR: test_bench.py::test_bad_marker: @pytest.mark."
                                     "scyllabench_thresholds: threshold p99: cannot read "
                                     "'fast' as a latency*"])
        assert journal(session_dir) == []
    result = run(pytester, "-v", "-k", "write and not 300")
    result.assert_outcomes(passed=2, deselected=3)
    result.stdout.fnmatch_lines(["*test_write?200? step 2 of 2 write@200:*"])
    assert "of 3" not in result.stdout.str()
    assert journal(session_dir) == STARTED


def test_bad_step_argument_is_one_line_at_the_test_s_call(pytester: pytest.Pytester,
                                                         session_dir: Path) -> None:
    pytester.makepyfile(test_bench="""
        def test_call(scyllabench_step):
            limits = ["p99"]  # known only at the call (a literal is refused at collection)
            scyllabench_step("write", rate=100, thresholds=limits)
    """)
    result = run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        '>       scyllabench_step("write", rate=100, thresholds=limits)',
        "E       pytest_scyllabench.errors.ConfigError: scyllabench_step: thresholds must be "
        "a mapping such as {'p99': '20ms'}, got [[]'p99'[]]",
        "test_bench.py:3: ConfigError"])
    out = result.stdout.str()
    assert "stepcall.py" not in out and "StepCall object at" not in out
    assert "scyllabench_step = <scyllabench_step of test_bench.py::test_call>" in out


def test_xfail_skip_and_two_steps(pytester: pytest.Pytester, session_dir: Path) -> None:
    """A breach in an xfail test is its expected failure; a step before pytest.skip is kept;
    two steps of one test are both saved and both in its JUnit properties."""
    pytester.makepyfile(test_bench="""
        import pytest

        @pytest.mark.xfail(reason="known to be slow", strict=True)
        @pytest.mark.scyllabench_thresholds(p99="1ms")
        def test_xfail(scyllabench_step):
            scyllabench_step("write", rate=100, duration=1, warmup=0)

        def test_skip_after_step(scyllabench_step):
            scyllabench_step("write", rate=100, duration=1, warmup=0)
            pytest.skip("enough")

        def test_two_steps(scyllabench_step):
            scyllabench_step("write", rate=100, duration=1, warmup=0)
            scyllabench_step("write", rate=100, duration=1, warmup=0)
    """)
    result = run(pytester, "-rxs", "--junitxml=junit.xml")
    result.assert_outcomes(passed=1, skipped=1, xfailed=1)
    result.stdout.fnmatch_lines(["XFAIL test_bench.py::test_xfail - known to be slow",
                                 "SKIPPED *enough"])
    trial = (session_dir / "trials" / "fake" / "latest").resolve()
    saved = sorted(p.parent.relative_to(trial).as_posix() for p in trial.rglob("result.json"))
    assert len(saved) == 4
    assert sum("two_steps" in name for name in saved) == 2
    assert any("skip_after_step" in name for name in saved)
    junit = (session_dir / "junit.xml").read_text()
    assert junit.count('<property name="step" value="write@100"') == 4


def test_xdist_workers_refuse_benchmarks(pytester: pytest.Pytester, session_dir: Path) -> None:
    """Each pytest-xdist worker would start a cluster: benchmarks error before anything is
    provisioned, other tests run. (A conftest plays the worker: xdist is not a dependency.)"""
    pytester.makeconftest(CONFTEST + """
import pytest

@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    config.workerinput = {"workerid": "gw1", "workercount": 2}
""")
    pytester.makepyfile(test_bench=BENCH.split("@pytest.mark.scyllabench_thresholds")[0])
    result = run(pytester, "-k", "plain or 100 or 200")
    result.assert_outcomes(passed=1, errors=2, deselected=1)
    result.stdout.fnmatch_lines(["pytest-scyllabench: benchmarks cannot run under "
                                 "pytest-xdist (worker gw1 of 2): each worker would start "
                                 "its own cluster*; run them with -n 0 or -p no:xdist"])
    assert journal(session_dir) == []


def test_html_option_needs_pytest_html(pytester: pytest.Pytester, session_dir: Path) -> None:
    pytester.makepyfile(test_bench=BENCH.split("@pytest.mark.scyllabench_thresholds")[0])
    result = run(pytester, "-p", "no:html", "--scyllabench-html")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --scyllabench-html: pytest-html is not active "
                                 "(disabled with -p no:html, or not installed)*"])
    assert journal(session_dir) == []
    assert trials(session_dir) == []


def test_marker_on_a_test_without_steps_warns(pytester: pytest.Pytester,
                                              session_dir: Path) -> None:
    """Only a marker put on the test itself: a module's or class's marks cover its tests
    that run no step too, and a step fixture used through another fixture counts."""
    pytester.makepyfile(test_bench="""
        import pytest

        pytestmark = pytest.mark.scyllabench_thresholds(p99=5)

        @pytest.mark.scyllabench_thresholds(p99="5ms")
        def test_plain():
            pass

        def test_other():
            pass

        @pytest.fixture
        def wrapped(scyllabench_step):
            return scyllabench_step

        @pytest.mark.scyllabench_regression("p99:+5%")
        def test_wrapped(wrapped):
            pass
    """)
    result = run(pytester, "--collect-only")
    result.stdout.fnmatch_lines(["*MarkerWarning: @pytest.mark.scyllabench_thresholds on "
                                 "test_bench.py::test_plain, which does not use the "
                                 "scyllabench_step fixture: it has no effect"])
    assert result.stdout.str().count("MarkerWarning") == 1
    assert journal(session_dir) == []



def test_marker_warning_made_an_error_is_one_line(pytester: pytest.Pytester,
                                                  session_dir: Path) -> None:
    """Under -W error the warning is a usage error of one line, not an INTERNALERROR."""
    pytester.makepyfile(test_bench="""
        import pytest

        @pytest.mark.scyllabench_thresholds(p99="5ms")
        def test_plain():
            pass
    """)
    result = run(pytester, "-W", "error::UserWarning")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: @pytest.mark.scyllabench_thresholds on "
                                 "test_bench.py::test_plain, which does not use the "
                                 "scyllabench_step fixture: it has no effect"])
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    assert journal(session_dir) == []

def test_step_tool_checks_every_workload(pytester: pytest.Pytester, session_dir: Path) -> None:
    """A tool kept from an earlier step is checked against each later step's workload: the
    refusal is one line at the test's call."""
    pytester.makepyfile(picky="""
        from fakes import FakeTool
        from pytest_scyllabench.errors import ConfigError

        class PickyTool(FakeTool):
            def check_workload(self, workload):
                if workload.mix.get("read"):
                    raise ConfigError(f"workloads.{workload.name}.mix: picky cannot read")

        def create(spec):
            return PickyTool()
    """)
    pytester.makeconftest(CONFTEST + 'backends.STRESS_TOOLS["latte"] = "picky:create"\n')
    pytester.makepyfile(test_bench="""
        def test_write(scyllabench_step):
            scyllabench_step("write", rate=100, duration=1, warmup=0, tool="latte")

        def test_mixed(scyllabench_step):
            scyllabench_step("mixed", rate=100, duration=1, warmup=0, tool="latte")
    """)
    result = run(pytester)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        '>       scyllabench_step("mixed", rate=100, duration=1, warmup=0, tool="latte")',
        "E       pytest_scyllabench.errors.ConfigError: workloads.mixed.mix: picky cannot read",
        "test_bench.py:5: ConfigError"])
    assert "runner.py" not in result.stdout.str()
