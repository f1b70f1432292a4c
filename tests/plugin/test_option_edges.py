"""Odd values of options and markers a user may write: usage errors naming them, before
anything is provisioned (the tests run with ``--collect-only`` or request no fixture)."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

BENCH = """
def test_step(scyllabench_step):
    scyllabench_step("write", rate=100, duration=1)
"""


def test_an_empty_rules_option_is_a_usage_error(pytester: pytest.Pytester) -> None:
    """``--scyllabench-rules "$RULES"`` with the variable unset must not turn the gate off."""
    pytester.makepyfile(BENCH)

    result = pytester.runpytest("--scyllabench-rules=", "--collect-only")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*argument --scyllabench-rules: rules '': no rule given*"])


def test_a_regression_marker_naming_a_metric_twice_stops_collection(
        pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest

        @pytest.mark.scyllabench_regression("p99:+5%", p99="+10%")
        def test_step(scyllabench_step):
            scyllabench_step("write", rate=100, duration=1)
    """)

    result = pytester.runpytest("--collect-only")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: *test_step: @pytest.mark.scyllabench_regression: "
                                 "rule p99: named twice in one marker"])
