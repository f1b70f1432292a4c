"""Charts on edge data: axes that keep their numbers, lone points that stay visible, a
target rate that is not a number."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest
from test_report_support import histogram

from pytest_scyllabench.report import charts
from pytest_scyllabench.report.charts import LatencyPoint
from pytest_scyllabench.report.charts.percentiles import _nines

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    assert svg.startswith("<svg ") and svg.endswith("</svg>")
    return ET.fromstring(svg)


def y_labels(svg: str) -> set[str]:
    """The texts right-aligned left of the plot: the y axis's tick labels."""
    return {"".join(node.itertext()) for node in parse(svg).iter(f"{SVG}text")
            if "text-anchor: end" in (node.get("style") or "")}


def numbers(labels: set[str]) -> list[float]:
    found = []
    for label in labels:
        try:
            found.append(float(label.replace(",", "")))
        except ValueError:
            continue
    return found


def round_markers(svg: str) -> int:
    """Marker shapes drawn (``<use>`` of a defined path with curves: a circle, not a tick)."""
    root = parse(svg)
    circles = {path.get("id") for path in root.iter(f"{SVG}path")
               if path.get("id") and "C" in (path.get("d") or "")}
    return sum(1 for use in root.iter(f"{SVG}use")
               if (use.get("{http://www.w3.org/1999/xlink}href") or "").lstrip("#") in circles)


@pytest.mark.parametrize("values", [(3.1, 3.5, 3.9), (0.81, 1.2, 1.5), (61.0, 66.0, 72.0)])
def test_a_latency_axis_within_one_decade_still_has_two_numbers(
        values: tuple[float, float, float]) -> None:
    # A steady step: p50 3.1 ms, p99.9 3.9 ms. No power of ten, no 2x or 5x tick lies
    # between them: the axis came out without a single number.
    p50, p99, p999 = values
    points = [LatencyPoint(100.0, p50, p99, p999), LatencyPoint(200.0, p50, p99, p999 * 0.99)]
    labels = numbers(y_labels(charts.latency_throughput_chart(points)))
    assert len(labels) >= 2
    assert min(labels) <= p50 and max(labels) >= p999 * 0.99


def test_a_percentile_chart_of_hour_long_latencies_has_numbers_on_its_axis() -> None:
    h = histogram([3_600_000_000] * 3)  # an hour, in microseconds
    curve = charts.histogram_curve(h, 1000.0)
    labels = numbers(y_labels(charts.percentile_chart({"all-rt": curve})))
    assert len(labels) >= 2
    assert min(labels) <= 3.6e6 <= max(labels)


def test_a_one_point_line_is_drawn_as_a_marker() -> None:
    curve = charts.histogram_curve(histogram([1000]), 1000.0)  # one value: one point
    assert len(curve) == 1
    # The point, and the key of its line in the legend.
    assert round_markers(charts.percentile_chart({"all-rt": curve})) == 2
    one_second = charts.throughput_chart([(0.0, 100.0, 1.5)])
    assert round_markers(one_second) == 4  # ops/s and p99, each with its legend key
    assert round_markers(charts.vitals_chart({"cpu busy %": {"node-1": [(5.0, 40.0)]}})) == 1
    # Longer lines stay plain lines.
    assert round_markers(charts.throughput_chart([(0.0, 100.0, 1.5), (1.0, 99.0, 1.6)])) == 0


@pytest.mark.parametrize("target", [math.inf, math.nan, -5.0, 0.0])
def test_a_target_rate_that_is_not_a_positive_number_is_not_drawn(target: float) -> None:
    svg = charts.throughput_chart([(0.0, 100.0, 1.5), (1.0, 99.0, 1.6)], target_rate=target)
    assert "target ops/s" not in {"".join(n.itertext()) for n in parse(svg).iter(f"{SVG}text")}
    assert numbers(y_labels(svg))


def test_the_nines_axis_puts_each_percentile_at_its_nines() -> None:
    # x = 1/(1-q): p90 is one nine (10), p99 two (100), p99.9 three (1000); p50 is 2.
    x = _nines
    assert x(50.0) == pytest.approx(2.0)
    assert [round(math.log10(x(q)), 9) for q in (90.0, 99.0, 99.9, 99.99)] == [1, 2, 3, 4]
    assert dict(charts.NINES_TICKS)[1e3] == "99.9%"


def test_a_one_second_series_has_no_negative_time_on_its_axis() -> None:
    svg = charts.throughput_chart([(0.0, 100.0, 1.5)])
    labels = {"".join(node.itertext()) for node in parse(svg).iter(f"{SVG}text")}
    assert not [label for label in labels if label.startswith(("-", "\u2212"))], labels
    assert "0" in labels or "0.0" in labels
