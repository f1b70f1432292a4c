"""Figures in text on edge data: JUnit properties of large numbers, the live line of a loader
that reports a rate that is not a number, a ratio to a target that is not one, a step that
recorded no operation."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
from test_report_support import histogram, make_result

from pytest_scyllabench.report.html import summary_html
from pytest_scyllabench.report.junit import step_properties
from pytest_scyllabench.report.serialize import result_to_dict, summarize
from pytest_scyllabench.report.terminal import ProgressLine, StepInfo, fmt_ratio, summary_lines
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


def test_a_step_without_operations_reports_no_latency_rather_than_zero(tmp_path: Path) -> None:
    # Every operation failed or none was sent: the histograms exist but are empty, and hdrh
    # answers 0 for any percentile of an empty histogram. 0 ms is not what was measured.
    result = dataclasses.replace(
        make_result(tmp_path), ops=0, achieved_rate=0.0, series=[],
        histograms={"all-rt": histogram([]), "write-rt": histogram([])})
    step = summarize(result, test="t.py::test_w[1]", rate_tolerance=0.05)
    assert step.get("all").count == 0  # type: ignore[union-attr]
    properties = dict(step_properties(step))
    assert properties["p99_ms"] == "nan" and properties["max_ms"] == "nan"
    table = "\n".join(summary_lines([step]))
    assert "0.000" not in table
    data = result_to_dict(result, test="t.py::test_w[1]")
    assert data["latency_ms"]["all-rt"] == {"count": 0, "p50": None, "p90": None, "p99": None,
                                            "p999": None, "p9999": None, "max": None}
    assert "0.000" not in summary_html([step])[0]


def test_a_step_that_recorded_nothing_is_not_called_service_time_only(tmp_path: Path) -> None:
    # Every loader failed before its first histogram: nothing says the tool was closed-loop,
    # yet the terminal marked the step "(st)" with its coordinated-omission warning.
    result = dataclasses.replace(make_result(tmp_path), ops=0, achieved_rate=0.0,
                                 histograms={}, series=[])
    step = summarize(result, test="t.py::test_w[1]")
    assert step.headline() == (None, "rt")
    assert dict(step_properties(step))["latency"] == "response_time"
    lines = summary_lines([step])
    assert "(st)" not in "\n".join(lines)
    closed = summarize(dataclasses.replace(result, service_time_only=True), test="t.py::t[1]")
    assert closed.headline() == (None, "st")
    assert "(st)" in "\n".join(summary_lines([closed]))
