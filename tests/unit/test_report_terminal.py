"""The end-of-session terminal table."""

from __future__ import annotations

from pathlib import Path

from test_report_support import make_result

from pytest_scyllabench.report.serialize import StepSummary, summarize
from pytest_scyllabench.report.terminal import fmt_ms, fmt_rate, summary_lines, sustained


def test_one_aligned_row_per_step_sorted_by_rate(tmp_path: Path) -> None:
    fast = make_result(tmp_path, step="write@4000", target=4000, achieved=2000)
    slow = make_result(tmp_path, step="write@1000", target=1000, achieved=1000)
    steps = [summarize(fast, test="t.py::test_w[4000]", rate_tolerance=0.05),
             summarize(slow, test="t.py::test_w[1000]", rate_tolerance=0.05)]
    lines = summary_lines(steps)
    assert lines[0] == "scyllabench: 2 steps, 1 passed, 1 failed"
    header, rule, first, second, capacity = lines[1:]
    assert capacity == "t.py::test_w: sustains 1,000 ops/s within its limits; 4,000 ops/s failed"
    assert header.split()[:3] == ["benchmark", "step", "achieved/target"]
    assert len(rule) == max(len(line) for line in lines[1:4])
    assert first.split()[:3] == ["t.py::test_w", "write@1000", "1,000/1,000"]
    assert first.endswith("PASS") and second.endswith("FAIL (rate)")
    assert "2,000/4,000 (50.0%)" in second
    latency = fast.latency()
    for name in ("p50", "p99", "p999", "max"):
        assert fmt_ms(latency[name]) in second
    # Columns line up: the verdict starts at the same offset.
    assert header.index("verdict") == first.index("PASS") == second.index("FAIL")


def test_service_time_only_steps_are_marked(tmp_path: Path) -> None:
    result = make_result(tmp_path, service_time_only=True)
    lines = summary_lines([summarize(result, test="t.py::test_w", breaches=["p99 > 1 ms"])])
    assert "service time only" in lines[0]
    assert "write@2000 (st)" in lines[3] and lines[3].endswith("FAIL")
    assert fmt_ms(result.latency("all", "st")["p99"]) in lines[3]


def test_nothing_without_steps_and_number_formats() -> None:
    assert summary_lines([]) == []
    assert [fmt_ms(v) for v in (0.4123, 12.345, 123.45, 12345.6, float("nan"), None)] == [
        "0.412", "12.35", "123.5", "12,346", "-", "-"]
    assert fmt_rate(2000.0) == "2,000" and fmt_rate(1998.66) == "1,998.7"


def test_sustained_is_the_highest_rate_below_the_first_failure(tmp_path: Path) -> None:
    def step(rate: int, *, passed: bool = True, run: str = "") -> StepSummary:
        result = make_result(tmp_path, step=f"write@{rate}{run}", target=rate, achieved=rate)
        return summarize(result, test=f"t.py::test_w[{rate}]",
                         breaches=[] if passed else ["p99 > 1 ms"])

    assert sustained([step(100)]) is None
    assert sustained([step(100), step(200), step(300)]) == (
        "every rate passed: it sustains at least 300 ops/s within its limits")
    # A failure at 200 ends it, whatever 300 did; one failed repetition fails its rate.
    assert sustained([step(300), step(100), step(200, passed=False)]) == (
        "sustains 100 ops/s within its limits; 200 ops/s failed")
    assert sustained([step(100), step(200), step(200, passed=False, run=" run 2 of 2")]) == (
        "sustains 100 ops/s within its limits; 200 ops/s failed")
    assert sustained([step(100, passed=False), step(200)]) == (
        "no rate passed: the lowest, 100 ops/s, failed")
