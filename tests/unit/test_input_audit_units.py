"""Latencies and durations written with the Greek letter mu (U+03BC), which looks the same as
the micro sign (U+00B5) and is what NFKC normalisation and many keyboards produce."""

from __future__ import annotations

import pytest

from pytest_scyllabench.thresholds import parse_threshold
from pytest_scyllabench.units import parse_duration, parse_latency_ms


@pytest.mark.parametrize("unit", ["\u00b5s", "\u03bcs", "us"])
def test_microseconds_in_every_spelling(unit: str) -> None:
    assert parse_latency_ms(f"500{unit}", "p99") == pytest.approx(0.5)
    assert parse_duration(f"2 {unit}", "duration") == pytest.approx(2e-6)
    assert parse_threshold("read_p99", f"250{unit}").limit_ms == pytest.approx(0.25)
