"""Verdicts that the data cannot support: a percentile of a handful of operations, a
throughput judged on a few seconds, a variance beyond any float in an edited baseline."""

from __future__ import annotations

import warnings
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from test_baseline_support import IDENTITY, environment, histogram, record, step_result

from pytest_scyllabench.baseline.compare import Verdict, compare
from pytest_scyllabench.baseline.noise import SECONDS, welch_interval
from pytest_scyllabench.baseline.record import BaselineRecord, record_from_results
from pytest_scyllabench.baseline.rules import Rule, effective_rules, parse_rules
from pytest_scyllabench.baseline.sessions import accumulate


def rules(expression: str) -> dict[str, Rule]:
    return effective_rules(parse_rules(expression))


def few(latencies_us: list[float]) -> BaselineRecord:
    """A single run of a step that recorded only ``latencies_us``."""
    hdr = histogram(np.array(latencies_us, dtype=np.float64))
    result = replace(step_result(0, n=10), histograms={"all-rt": hdr, "write-rt": hdr},
                     ops=len(latencies_us), achieved_rate=len(latencies_us) / 25.0, series=[])
    return record_from_results(IDENTITY, environment(), [result])


def with_seconds(original: BaselineRecord, rates: list[float]) -> BaselineRecord:
    """``original`` (one run) whose measured window had these per-second rates."""
    merged = replace(original.merged, ops_per_s=tuple(rates), duration=float(len(rates)),
                     ops=round(sum(rates)), achieved_rate=sum(rates) / len(rates))
    return replace(original, merged=merged)


@pytest.mark.parametrize(("before", "after"), [
    ([1000.0], [2000.0]),                      # one operation a side: every resample the same
    ([1000.0, 1100.0, 1200.0], [1500.0, 1600.0, 1700.0]),
])
def test_a_percentile_of_a_handful_of_operations_is_no_confident_verdict(
        before: list[float], after: list[float]) -> None:
    comparison = compare(few(after), few(before), rules("p50:+10% p99:+10% max:+10%"))

    for change in comparison.changes:
        assert change.verdict is Verdict.NO_DATA, str(change)
        assert "too few" in change.note and "operations" in change.note, change.note
    assert comparison.failure() is None


def test_enough_operations_of_a_shifted_latency_still_regress() -> None:
    comparison = compare(few([2000.0] * 10), few([1000.0] * 10), rules("p99:+10%"))

    [change] = comparison.changes
    assert change.verdict is Verdict.REGRESSION, str(change)


def test_a_throughput_drop_seen_in_three_seconds_is_within_their_noise() -> None:
    baseline = with_seconds(record(1), [1000.0, 1050.0, 1100.0])
    current = with_seconds(record(2), [900.0, 950.0, 1000.0])  # -9.5%, noise of +-50 a second

    [change] = compare(current, baseline, rules("throughput:-5%")).changes

    assert change.relative == pytest.approx(-0.095, abs=0.001)
    assert change.interval is not None and change.interval.method == SECONDS
    assert change.interval.low < 0 < change.interval.high
    assert change.verdict is Verdict.NOISE, str(change)


def test_per_second_rates_of_the_same_throughput_keep_the_false_alarm_rate() -> None:
    """With no change and three seconds a side, a 95% interval excludes zero about 5% of
    the time (a bootstrap of three means excluded it 19% of the time)."""
    rng = np.random.default_rng(11)
    base = record(1)
    excluded = 0
    trials = 300
    for _ in range(trials):
        baseline = with_seconds(base, list(rng.normal(1000.0, 50.0, 3)))
        current = with_seconds(base, list(rng.normal(1000.0, 50.0, 3)))
        [change] = compare(current, baseline, rules("throughput:-5%")).changes
        assert change.interval is not None
        excluded += change.interval.side != 0
    assert excluded / trials < 0.09


def test_a_variance_beyond_any_float_gives_an_unbounded_interval_not_a_crash() -> None:
    data: Any = record([1, 2]).to_dict()
    data["repetitions"][0]["achieved_rate"] = 1e308  # a baseline edited by hand
    baseline = BaselineRecord.from_dict(data)

    [change] = compare(record([3, 4]), baseline, rules("throughput:-5%")).changes

    assert change.interval is not None
    assert change.interval.side == 0
    assert change.verdict is Verdict.NOISE


def test_welch_interval_of_overflowing_values_holds_everything() -> None:
    interval = welch_interval([1e308, -1e308], [1.0, 2.0])

    assert interval.low == -np.inf and interval.high == np.inf
    assert interval.side == 0


@pytest.mark.parametrize("expression", ["p99:+0.0000000001ms", "p999:+0.3333333333ms",
                                        "p50:+0.00000000001%", "throughput:-0.1234567890123",
                                        "p99:+7%", "p90:+0.1ms"])
def test_a_rule_saved_with_a_record_reads_back_as_the_same_rule(expression: str) -> None:
    saved = replace(record(1), rules=parse_rules(expression))

    data = saved.to_dict()
    assert data["rules"] == expression
    assert BaselineRecord.from_dict(data).rules == saved.rules


def test_an_overflowing_baseline_of_several_sessions_warns_nothing() -> None:
    sessions = accumulate(record([1, 2]).with_session("a"), record([5, 6]).with_session("b"),
                          3)[0]
    data: Any = sessions.to_dict()
    data["repetitions"][0]["achieved_rate"] = 1e308  # a baseline edited by hand
    baseline = BaselineRecord.from_dict(data)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        [change] = compare(record([3, 4]), baseline, rules("throughput:-5%")).changes

    assert change.interval is not None and change.interval.side == 0
    assert change.verdict is Verdict.NOISE
