"""Step arguments written in a test's source are checked at collection, before anything starts;
what the source cannot tell for sure is left to the call."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_session import run, session_dir  # noqa: F401  (a fixture, found by name)

pytest_plugins = ["pytester"]
#: Every test runs a session of the fake backends, with a journal of the database's calls.
pytestmark = pytest.mark.usefixtures("session_dir")


def started(directory: Path) -> bool:
    """Whether the session called the fake database at all."""
    return (directory / "journal").exists()


@pytest.mark.parametrize(("body", "message"), [
    # a literal workload with a typo
    ('scyllabench_step("wirte", rate=100)',
     "test_bench.py::test_step[1]: scyllabench_step: workload 'wirte' is not in profile "
     "'fake'; known: mixed, write"),
    # a parametrized rate
    ('scyllabench_step("write", rate=bad_rate)',
     "test_bench.py::test_step[1]: scyllabench_step: rate must be a positive whole number "
     "(ops/s), got -5"),
    # a module constant, in an assignment
    ('result = scyllabench_step("write", rate=100, duration=LONG)',
     "test_bench.py::test_step[1]: scyllabench_step: duration: at most 24h, got '48h'"),
    # a literal mapping
    ('scyllabench_step("write", rate=100, thresholds={"p98": "1ms"})',
     "test_bench.py::test_step[1]: scyllabench_step: thresholds: threshold 'p98': unknown metric"),
    ('scyllabench_step("write", rate=100, tool="ycsb")',
     "test_bench.py::test_step[1]: scyllabench_step: tool must be one of "),
])
def test_a_bad_argument_in_the_source_stops_the_session_before_anything_starts(
        pytester: pytest.Pytester, body: str, message: str) -> None:
    pytester.makepyfile(test_bench=f"""
        import pytest

        LONG = "48h"

        @pytest.mark.parametrize("bad_rate", [-5], ids=["1"])
        def test_step(scyllabench_step, bad_rate):
            {body}
    """)
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str(), result.stderr.str()
    assert not started(pytester.path)


def test_deselected_tests_are_not_checked(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_bench="""
        def test_typo(scyllabench_step):
            scyllabench_step("wirte", rate=100)

        def test_other():
            pass
    """)
    run(pytester, "-k", "other").assert_outcomes(passed=1)


def test_what_the_source_cannot_tell_is_left_to_the_call(pytester: pytest.Pytester) -> None:
    """Nothing here is refused at collection: each call either runs or fails at the call."""
    pytester.makepyfile(test_bench="""
        import pytest

        WORKLOAD = "nope"

        @pytest.fixture
        def workload():
            return "write"

        @pytest.fixture
        def rate(request):
            return request.param * 100

        def test_guarded(scyllabench_step, scyllabench_profile):
            if "absent" in scyllabench_profile.workloads:  # guarded by the profile
                scyllabench_step("absent", rate=100)

        def test_reassigned(scyllabench_step):
            WORKLOAD = "write"
            scyllabench_step(WORKLOAD, rate=100, duration=1, warmup=0)

        def test_fixture_shadows_a_constant(scyllabench_step, workload):
            scyllabench_step(workload, rate=100, duration=1, warmup=0)

        @pytest.mark.parametrize("rate", [0.01], indirect=True)
        def test_indirect(scyllabench_step, rate):
            scyllabench_step("write", rate=rate, duration=1, warmup=0)

        def test_after_a_skip(scyllabench_step, scyllabench_profile):
            if "absent" not in scyllabench_profile.workloads:
                pytest.skip("the profile has no such workload")
            scyllabench_step("absent", rate=100)

        def test_in_a_loop(scyllabench_step, scyllabench_profile):
            for name in ("write", "nope"):
                if name in scyllabench_profile.workloads:
                    scyllabench_step(name, rate=100, duration=1, warmup=0)

        def test_unknown_at_the_call(scyllabench_step):
            scyllabench_step(WORKLOAD.lower(), rate=100)  # an expression: not evaluated
    """)
    result = run(pytester)
    result.assert_outcomes(passed=5, failed=1, skipped=1)
    result.stdout.fnmatch_lines(["*test_unknown_at_the_call*"])
    assert "workload 'nope' is not in profile 'fake'" in result.stdout.str()
    assert started(pytester.path)
