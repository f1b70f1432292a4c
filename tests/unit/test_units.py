"""Durations and latencies with units: values in the right unit, errors naming the field."""

from __future__ import annotations

import pytest

from pytest_scyllabench.errors import ConfigError
from pytest_scyllabench.units import parse_duration, parse_latency_ms


@pytest.mark.parametrize(("value", "seconds"), [
    ("30s", 30.0), ("1.5s", 1.5), ("2m", 120.0), ("1h", 3600.0), ("500ms", 0.5),
    ("250us", 0.00025), ("250µs", 0.00025), (" 2 m ", 120.0), (30, 30.0), (0.5, 0.5),
    ("45", 45.0), ("0s", 0.0), (0, 0.0),
])
def test_parse_duration(value: float | str, seconds: float) -> None:
    assert parse_duration(value, "duration") == pytest.approx(seconds)


@pytest.mark.parametrize(("value", "ms"), [
    ("20ms", 20.0), ("1.5s", 1500.0), ("500us", 0.5), (5, 5.0), ("5", 5.0), (0.25, 0.25),
    ("1m", 60_000.0),
])
def test_parse_latency_ms(value: float | str, ms: float) -> None:
    assert parse_latency_ms(value, "p99") == pytest.approx(ms)


@pytest.mark.parametrize(("value", "problem"), [
    ("-1s", "must be zero or positive"), (-3, "must be zero or positive"),
    ("fast", "cannot read 'fast'"), ("20 parsecs", "cannot read"), ("ms", "cannot read"),
    ("1_0ms", "cannot read"), ("", "cannot read"), ("infs", "must be finite"),
    (float("nan"), "must be finite"),
    (True, "expected a number"), (None, "expected a number"), ([1], "expected a number"),
])
def test_duration_errors_name_the_field(value: object, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_duration(value, "scyllabench_step: duration")  # type: ignore[arg-type]
    message = str(info.value)
    assert message.startswith("scyllabench_step: duration: "), message
    assert problem in message


@pytest.mark.parametrize("value", [0, "0ms", "-5ms"])
def test_latency_must_be_positive(value: float | str) -> None:
    with pytest.raises(ConfigError, match=r"^threshold p99: must be positive"):
        parse_latency_ms(value, "threshold p99")


def test_error_suggests_units() -> None:
    with pytest.raises(ConfigError, match=r"us, ms, s, m, h.*'20ms'"):
        parse_latency_ms("20 msec", "p99")


@pytest.mark.parametrize(("parse", "value"), [
    (parse_latency_ms, "1e306s"), (parse_latency_ms, "1e308h"), (parse_duration, "1e308h")])
def test_a_value_beyond_a_float_in_its_unit_is_refused(parse: object, value: object) -> None:
    """Finite as written, infinite once converted: refused, not a limit of inf ms."""
    with pytest.raises(ConfigError, match=r"^field: must be finite"):
        parse(value, "field")  # type: ignore[operator]
