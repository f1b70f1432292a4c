"""Figures in text on edge data: JUnit properties of large numbers, the live line of a loader
that reports a rate that is not a number, a ratio to a target that is not one."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
from test_report_support import make_result

from pytest_scyllabench.report.junit import step_properties
from pytest_scyllabench.report.serialize import summarize
from pytest_scyllabench.report.terminal import ProgressLine, StepInfo, fmt_ratio
from pytest_scyllabench.stress.base import Progress


def test_junit_keeps_every_digit_of_a_million_ops_per_second(tmp_path: Path) -> None:
    step = summarize(make_result(tmp_path, target=1_250_000.0, achieved=1_234_567.8),
                     test="t.py::test_w")
    hour = dataclasses.replace(step.latency["all-rt"], values_ms={
        **step.latency["all-rt"].values_ms, "max": 3_600_123.4567})
    step = dataclasses.replace(step, latency={**step.latency, "all-rt": hour})
    values = dict(step_properties(step))
    # ``:g`` gave 1.25e+06 and 1.23457e+06: 33 ops/s lost, and no longer a plain number.
    assert values["target_rate"] == "1250000"
    assert values["achieved_rate"] == "1234567.8"
    assert values["max_ms"] == "3600123.457"
    assert float(values["p50_ms"]) == pytest.approx(step.latency["all-rt"].values_ms["p50"],
                                                    abs=0.001)


class _Sink:
    tty = True
    width = 20

    def __init__(self) -> None:
        self.texts: list[str] = []

    def rewrite(self, text: str) -> None:
        self.texts.append(text)

    def finish(self) -> None:
        pass

    def line(self, text: str) -> None:
        self.texts.append(text)


@pytest.mark.parametrize("rate", [math.nan, math.inf])
@pytest.mark.parametrize("tty", [True, False])
def test_a_rate_that_is_not_a_number_does_not_break_the_live_line(rate: float,
                                                                   tty: bool) -> None:
    sink = _Sink()
    sink.tty = tty
    live = ProgressLine(sink)
    live.begin_step(StepInfo(test="t.py::test_w", index=1, total=None, seconds=0.0))
    live.update(Progress(loader="l1", elapsed=0.0, rate=rate, p99_ms=math.nan, errors=0))
    assert sink.texts
    text = live.text()
    assert "step 1:" in text and "0 s left" in text and "- ops/s" in text


def test_a_ratio_to_a_target_that_is_not_a_number_is_missing() -> None:
    assert fmt_ratio(10.0, math.nan) == "-"
    assert fmt_ratio(10.0, math.inf) == "-"
    assert fmt_ratio(10.0, 20.0) == "50.0%"
