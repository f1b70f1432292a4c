"""Comparisons of records holding edge values: NaN read from a file (null), zeros."""

from __future__ import annotations

import math
from typing import Any

from test_baseline_support import record

from pytest_scyllabench.baseline.compare import Verdict, compare
from pytest_scyllabench.baseline.noise import welch_interval
from pytest_scyllabench.baseline.record import BaselineRecord
from pytest_scyllabench.baseline.rules import effective_rules, parse_rules
from pytest_scyllabench.baseline.sessions import accumulate

THROUGHPUT = effective_rules(parse_rules("throughput:-5%"))


def edited(original: BaselineRecord, *path: str | int) -> BaselineRecord:
    """``original`` written to its file form with the field at ``path`` set to null, read back."""
    data: Any = original.to_dict()
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = None
    return BaselineRecord.from_dict(data)


def test_a_null_throughput_in_the_baseline_is_not_compared_rather_than_a_crash() -> None:
    baseline = edited(record(1, seconds=False), "merged", "achieved_rate")

    [change] = compare(record(2, seconds=False, rate_scale=0.5), baseline, THROUGHPUT).changes

    assert change.verdict is Verdict.NO_DATA
    assert change.note == "the baseline recorded no throughput"
    assert str(change) == ("test_write[2000] write@2000: throughput not compared: "
                           "the baseline recorded no throughput")
    assert change.to_dict()["baseline"] is None


def test_a_null_per_second_rate_does_not_hide_a_throughput_drop() -> None:
    baseline = edited(record(1), "merged", "ops_per_s", 3)
    assert math.isnan(baseline.merged.ops_per_s[3])

    [change] = compare(record(2, rate_scale=0.5), baseline, THROUGHPUT).changes

    assert change.verdict is Verdict.REGRESSION, str(change)
    assert change.interval is not None and math.isfinite(change.interval.low)


def test_a_null_throughput_of_one_repetition_falls_back_to_per_second_rates() -> None:
    baseline = edited(record([1, 2, 3]), "repetitions", 1, "achieved_rate")

    [change] = compare(record([4, 5, 6], rate_scale=0.5), baseline, THROUGHPUT).changes

    assert change.verdict is Verdict.REGRESSION, str(change)
    assert change.interval is not None and change.interval.method == "per-second rates"


def test_an_interval_over_a_baseline_of_zero_keeps_the_side_of_its_bounds() -> None:
    # A p50 of 0 ms in every baseline run (operations faster than the histogram's unit):
    # an interval of the change above 0 is +inf%..+inf% relative, not -inf%..+inf% (which
    # read as holding zero beside a "regressed" verdict).
    above = welch_interval([0.0, 0.0, 0.0], [0.5, 0.6, 0.55])
    around = welch_interval([0.0, 0.0, 0.0], [-0.1, 0.6, 0.2])
    still = welch_interval([0.0, 0.0, 0.0], [0.0, 0.0, 0.0])

    assert above.low > 0 and above.relative_low == above.relative_high == math.inf
    assert around.low < 0 < around.high
    assert (around.relative_low, around.relative_high) == (-math.inf, math.inf)
    assert (still.relative_low, still.relative_high) == (0.0, 0.0)


def test_runs_summed_with_a_null_duration_have_no_throughput_rather_than_zero() -> None:
    # Sessions pool the runs of a saved file: a run whose duration was null made the sum's
    # rate 0 ops/s, then every comparison an "improvement" of +inf%.
    damaged = edited(record(1).with_session("s1"), "merged", "duration_s")
    pooled, problem = accumulate(damaged, record(2).with_session("s2"), 2)
    assert problem is None and len(pooled.runs) == 2

    assert math.isnan(pooled.merged.achieved_rate)
    [change] = compare(record(3), pooled, THROUGHPUT).changes
    assert change.verdict is Verdict.NO_DATA
