"""Verdicts on synthetic runs with known shifts: regression, improvement, within noise."""

from __future__ import annotations

import json
import math
import re

import pytest
from test_baseline_support import environment, record

from pytest_scyllabench.baseline.compare import Comparison, MetricChange, Verdict, compare, verdict
from pytest_scyllabench.baseline.noise import HISTOGRAM, REPETITIONS, SECONDS, ChangeInterval
from pytest_scyllabench.baseline.rules import DEFAULT_RULES, Rule, effective_rules, parse_rules

ALL_PERCENTILES = "p50:+5% p90:+5% p99:+10% p999:+20% p9999:+30%"


def rules(expression: str = DEFAULT_RULES) -> dict[str, Rule]:
    return effective_rules(parse_rules(expression))


def by_name(comparison: Comparison) -> dict[str, MetricChange]:
    return {change.rule.name: change for change in comparison.changes}


def test_a_20_percent_slower_run_is_a_p99_regression_with_a_readable_message() -> None:
    comparison = compare(record(2, scale=1.2), record(1), rules("p99:+10%"),
                         baseline_name="main")

    [change] = comparison.changes
    assert change.verdict is Verdict.REGRESSION
    assert change.relative == pytest.approx(0.2, abs=0.03)
    assert change.interval is not None and change.interval.method == HISTOGRAM
    assert 0 < change.interval.relative_low < change.relative < change.interval.relative_high
    assert re.fullmatch(r"test_write\[2000\] write@2000: p99 regressed: 2\.\d\d ms -> 3\.\d\d ms "
                        r"\(\+\d\d\.\d%, 95% CI \+\d\d%\.\.\+\d\d%; baseline 1 session, 1 run\) "
                        r"breaks rule p99:\+10%",
                        str(change)), str(change)
    assert comparison.regressions == [change]
    assert comparison.failure() == str(change)


def test_a_shift_of_the_tail_only_regresses_p99_not_p50() -> None:
    comparison = compare(record(2, tail_from=95.0, tail_scale=1.2), record(1),
                         rules(ALL_PERCENTILES))

    changes = by_name(comparison)
    assert changes["p99"].verdict is Verdict.REGRESSION
    assert changes["p50"].verdict is Verdict.NOISE
    assert changes["p90"].verdict is Verdict.NOISE


@pytest.mark.parametrize(("baseline_seed", "current_seed"), [(1, 2), (3, 4), (5, 6), (7, 8)])
def test_runs_of_the_same_distribution_are_within_noise(baseline_seed: int,
                                                        current_seed: int) -> None:
    comparison = compare(record(current_seed), record(baseline_seed),
                         rules(ALL_PERCENTILES + " max:+50% throughput:-5%"))

    assert {change.rule.name: change.verdict for change in comparison.changes} == dict.fromkeys(
        ["p50", "p90", "p99", "p999", "p9999", "max", "throughput"], Verdict.NOISE)
    assert comparison.failure() is None


def test_identical_records_have_no_change_and_an_interval_holding_zero() -> None:
    same = record(1)

    comparison = compare(same, same, rules(ALL_PERCENTILES + " throughput:-0%"))

    for change in comparison.changes:
        assert change.verdict is Verdict.NOISE
        assert change.change == 0.0
        assert change.interval is not None
        assert change.interval.low <= 0.0 <= change.interval.high


def test_a_20_percent_faster_run_is_an_improvement() -> None:
    comparison = compare(record(2, scale=1 / 1.2), record(1), rules("p50:+5% p99:+10%"))

    for change in comparison.changes:
        assert change.verdict is Verdict.IMPROVEMENT
        assert change.relative == pytest.approx(-1 / 6, abs=0.03)
        assert str(change).startswith(f"test_write[2000] write@2000: {change.rule.name} "
                                      f"improved: ")
        assert str(change).endswith(f"beyond rule {change.rule}")
    assert comparison.regressions == []
    assert len(comparison.improvements) == 2


def test_an_absolute_rule_reports_the_change_and_interval_in_milliseconds() -> None:
    comparison = compare(record(2, scale=1.2), record(1), rules("p99:+200us"))

    [change] = comparison.changes
    assert change.verdict is Verdict.REGRESSION
    assert re.fullmatch(r".*: p99 regressed: 2\.\d\d ms -> 3\.\d\d ms \(\+0\.\d{3} ms, "
                        r"\+\d\d\.\d%, 95% CI \+0\.\d{3}\.\.\+0\.\d{3} ms; baseline 1 session, "
                        r"1 run\) breaks rule "
                        r"p99:\+0\.2ms", str(change)), str(change)
    loose = compare(record(2, scale=1.2), record(1), rules("p99:+2ms"))
    assert loose.changes[0].verdict is Verdict.NOISE


def test_a_change_beyond_the_rule_that_noise_explains_is_not_a_regression() -> None:
    [rule] = rules("p99:+10%").values()
    holds_zero = ChangeInterval(low=-0.1, high=0.9, relative_low=-0.04, relative_high=0.36,
                                confidence=0.95, method=HISTOGRAM, resamples=200)
    clear = ChangeInterval(low=0.1, high=0.9, relative_low=0.04, relative_high=0.36,
                           confidence=0.95, method=HISTOGRAM, resamples=200)

    assert verdict(rule, 2.5, 3.0, holds_zero) is Verdict.NOISE
    assert verdict(rule, 2.5, 3.0, clear) is Verdict.REGRESSION
    assert verdict(rule, 2.5, 2.7, clear) is Verdict.NOISE


def test_small_runs_with_a_real_shift_are_judged_noise_when_the_interval_holds_zero() -> None:
    comparison = compare(record(2, n=400, scale=1.15), record(1, n=400), rules("p99:+10%"))

    [change] = comparison.changes
    assert change.relative > 0.10
    assert change.interval is not None and change.interval.side == 0
    assert change.verdict is Verdict.NOISE


def test_a_different_environment_is_flagged_and_not_gated() -> None:
    current = record(2, scale=1.3, env=environment(database_version="5.1.0", nodes=1))

    comparison = compare(current, record(1), rules("p99:+10%"), baseline_name="main")

    assert comparison.mismatch == ("database_version: 5.0.9 -> 5.1.0", "nodes: 3 -> 1")
    assert not comparison.comparable
    assert comparison.changes[0].verdict is Verdict.REGRESSION
    assert comparison.regressions == []
    assert comparison.failure() is None
    assert comparison.mismatch_message() == (
        "test_write[2000] write@2000: not gated against baseline 'main': the environment "
        "differs: database_version: 5.0.9 -> 5.1.0; nodes: 3 -> 1")
    assert comparison.lines()[0] == comparison.mismatch_message()


def test_repeated_runs_use_the_bootstrap_of_per_run_values() -> None:
    baseline = record([1, 2, 3])
    slower = record([4, 5, 6], scale=1.2)
    same = record([7, 8, 9])

    regression = compare(slower, baseline, rules("p99:+10%")).changes[0]
    noise = compare(same, baseline, rules("p99:+10% p50:+1%")).changes

    assert regression.interval is not None and regression.interval.method == REPETITIONS
    assert regression.verdict is Verdict.REGRESSION
    assert [change.verdict for change in noise] == [Verdict.NOISE, Verdict.NOISE]
    assert [change.interval.method if change.interval else None for change in noise] == [
        REPETITIONS, REPETITIONS]


def test_one_side_without_repetitions_falls_back_to_the_histograms() -> None:
    change = compare(record(4, scale=1.2), record([1, 2, 3]), rules("p99:+10%")).changes[0]

    assert change.interval is not None and change.interval.method == HISTOGRAM
    assert change.verdict is Verdict.REGRESSION


def test_a_throughput_drop_over_repetitions_is_a_regression() -> None:
    change = compare(record([4, 5, 6], rate_scale=0.9), record([1, 2, 3]),
                     rules("throughput:-5%")).changes[0]

    assert change.interval is not None and change.interval.method == REPETITIONS
    assert change.relative == pytest.approx(-0.1, abs=0.001)
    assert change.verdict is Verdict.REGRESSION
    assert str(change).startswith("test_write[2000] write@2000: throughput regressed: "
                                  "2000 ops/s -> 1800 ops/s (-10.0%, 95% CI ")


def test_throughput_of_single_runs_uses_per_second_rates_or_the_rule_alone() -> None:
    with_seconds = compare(record(2, rate_scale=0.9), record(1), rules("throughput:-5%"))
    without = compare(record(2, rate_scale=0.9, seconds=False),
                      record(1, seconds=False), rules("throughput:-5%"))

    interval = with_seconds.changes[0].interval
    assert interval is not None and interval.method == SECONDS
    assert with_seconds.changes[0].verdict is Verdict.REGRESSION
    assert without.changes[0].interval is None
    assert without.changes[0].verdict is Verdict.REGRESSION
    assert "(-10.0%, no noise estimate; baseline 1 session, 1 run)" in str(without.changes[0])


def test_an_operation_the_runs_did_not_record_is_not_compared() -> None:
    change = compare(record(2), record(1), rules("read_p99:+10%")).changes[0]

    assert change.verdict is Verdict.NO_DATA
    assert str(change) == ("test_write[2000] write@2000: read p99 not compared: the baseline "
                           "and the current recorded no read operations")
    assert math.isnan(change.baseline)


def test_service_time_only_runs_compare_service_time_and_say_so() -> None:
    change = compare(record(2, scale=1.2, service_time_only=True),
                     record(1, service_time_only=True), rules("p99:+10%")).changes[0]

    assert change.verdict is Verdict.REGRESSION
    assert str(change).startswith("test_write[2000] write@2000: p99 (service time) regressed:")


def test_comparisons_are_reproducible_and_serializable() -> None:
    first = compare(record(2), record(1), rules(ALL_PERCENTILES), seed=3)
    second = compare(record(2), record(1), rules(ALL_PERCENTILES), seed=3)

    assert first == second
    data = json.loads(json.dumps(first.to_dict(), allow_nan=False))
    assert data["comparable"] is True
    assert [metric["rule"] for metric in data["metrics"]] == [
        "p50:+5%", "p90:+5%", "p99:+10%", "p999:+20%", "p9999:+30%"]
    assert data["metrics"][0]["interval"]["method"] == HISTOGRAM
