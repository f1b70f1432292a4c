"""Threshold parsing, breach messages and the rate check."""

from __future__ import annotations

import math
from typing import Any

import pytest
from test_hdr_support import record

from pytest_scyllabench.errors import ConfigError
from pytest_scyllabench.hdr.merge import percentiles
from pytest_scyllabench.result import StepResult
from pytest_scyllabench.thresholds import (
    Threshold,
    Verdict,
    check,
    check_rate,
    evaluate,
    parse_thresholds,
    valid_names,
)


def _result(histograms: dict[str, Any], *, step: str = "write@2000", target: float = 2000,
            achieved: float = 2000, service_time_only: bool = False) -> StepResult:
    return StepResult(step=step, workload=step.split("@")[0], target_rate=target,
                      duration=10.0, achieved_rate=achieved, ops=0, errors=0,
                      histograms=histograms, loaders=(), service_time_only=service_time_only)


def test_parse() -> None:
    limits = parse_thresholds({"p99": "20ms", "p999": "50ms", "max": "1s", "p50": 5,
                               "read_p99": "500us", "write_p9999": 2.5})
    assert {name: t.limit_ms for name, t in limits.items()} == {
        "p99": 20.0, "p999": 50.0, "max": 1000.0, "p50": 5.0, "read_p99": 0.5,
        "write_p9999": 2.5}
    assert limits["read_p99"] == Threshold("read_p99", "read", "p99", 0.5)
    assert limits["p99"].operation == "all" and limits["p99"].label == "p99"
    assert limits["read_p99"].label == "read p99"


@pytest.mark.parametrize("name", ["p98", "P99", "average", "delete_p99", "_p99", "read_",
                                  "read_write_p99", "all_p99"])
def test_unknown_name_lists_valid_ones(name: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_thresholds({name: "20ms"})
    message = str(info.value)
    assert message.startswith(f"threshold {name!r}: unknown metric")
    assert "p50, p90, p99, p999, p9999, max" in message and "read_p99" in message


@pytest.mark.parametrize(("value", "problem"), [("fast", "cannot read"), (-1, "positive"),
                                                ("0ms", "positive"), (None, "expected")])
def test_bad_value_names_the_argument(value: Any, problem: str) -> None:
    with pytest.raises(ConfigError, match=rf"^threshold read_max: .*{problem}"):
        parse_thresholds({"read_max": value})


def test_valid_names() -> None:
    assert {"p99", "max", "read_p999", "write_p50"} <= set(valid_names())


def test_breach_message_names_metric_step_observed_and_limit() -> None:
    writes = record([1000] * 98 + [31_200] * 2)  # p99 = 31.215 ms (highest equivalent)
    result = _result({"all-rt": writes, "write-rt": writes})
    observed = percentiles(writes)["p99"]
    assert observed == 31.215
    (breach,) = check(result, parse_thresholds({"p99": "20ms", "p50": "5ms"}))
    assert str(breach) == "p99 of write@2000: observed 31.215 ms > limit 20 ms"
    assert (breach.metric, breach.step, breach.observed, breach.limit) == (
        "p99", "write@2000", 31.215, 20.0)


def test_equal_is_not_a_breach() -> None:
    result = _result({"all-rt": record([1500] * 10)})
    assert check(result, parse_thresholds({"max": "1.5ms", "p50": 1.5})) == []
    assert len(check(result, parse_thresholds({"max": "1.499ms"}))) == 1


def test_operation_limits_use_that_operation_only() -> None:
    reads, writes = record([9000] * 10), record([1000] * 1000)
    all_rt = record([9000] * 10 + [1000] * 1000)
    result = _result({"all-rt": all_rt, "read-rt": reads, "write-rt": writes},
                     step="mixed@500")
    limits = parse_thresholds({"p99": "10ms", "read_p99": "5ms", "write_p99": "5ms"})
    (breach,) = check(result, limits)
    assert str(breach) == "read p99 of mixed@500: observed 9.007 ms > limit 5 ms"


def test_missing_operation_is_reported() -> None:
    result = _result({"all-rt": record([1000]), "write-rt": record([1000])})
    (breach,) = check(result, parse_thresholds({"read_p99": "10ms"}))
    assert str(breach) == ("read p99 of write@2000: no read operations were recorded, "
                           "cannot check limit 10 ms")
    assert math.isnan(breach.observed)


def test_service_time_only_tool_is_checked_on_service_time() -> None:
    result = _result({"all-st": record([30_000])}, service_time_only=True)
    (breach,) = check(result, parse_thresholds({"max": "20ms"}))
    assert str(breach) == "max (service time) of write@2000: observed 30.015 ms > limit 20 ms"


def test_every_limit_gets_a_verdict_with_its_observed_value() -> None:
    reads, writes = record([9000] * 10), record([1000] * 1000)
    result = _result({"all-rt": record([9000] * 10 + [1000] * 1000), "read-rt": reads,
                      "write-rt": writes}, step="mixed@500")
    limits = parse_thresholds({"p99": "10ms", "read_p99": "5ms", "write_max": "1s"})
    verdicts = evaluate(result, limits)
    assert [(v.label, v.limit_ms, v.passed) for v in verdicts] == [
        ("p99", 10.0, True), ("read p99", 5.0, False), ("write max", 1000.0, True)]
    assert verdicts[0].observed_ms == percentiles(result.histograms["all-rt"])["p99"]
    assert verdicts[1].observed_ms == 9.007
    assert verdicts[1].breach == "read p99 of mixed@500: observed 9.007 ms > limit 5 ms"
    assert verdicts[2].observed_ms == 1.0
    (missing,) = evaluate(_result({"all-rt": writes}), parse_thresholds({"read_p99": 1}))
    assert missing.observed_ms is None and not missing.passed  # not silently passed
    assert [v.breach for v in verdicts if v.breach] == [str(b) for b in check(result, limits)]
    assert Verdict("p50", 1.0, 0.5).passed


def test_rate_check() -> None:
    missed = check_rate(_result({}, step="write@8000", target=8000, achieved=6120), 0.05)
    assert missed is not None
    assert str(missed) == ("write@8000 did not reach its target rate: achieved 6120 ops/s "
                           "< 7600 ops/s (8000 -5%)")
    assert check_rate(_result({}, target=8000, achieved=7600), 0.05) is None
    strict = check_rate(_result({}, step="w@50", target=50, achieved=49.5), 0.0)
    assert strict is not None
    assert str(strict).endswith("achieved 49.5 ops/s < 50 ops/s (target 50)")
