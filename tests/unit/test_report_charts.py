"""Inline SVG charts: what each draws, that it stays text and small, and empty inputs."""

from __future__ import annotations

import dataclasses
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hdrh.histogram import HdrHistogram
from test_baseline_support import IDENTITY, record
from test_report_support import histogram, make_result

from pytest_scyllabench.baseline.compare import compare
from pytest_scyllabench.baseline.rules import effective_rules, parse_rules
from pytest_scyllabench.report import charts
from pytest_scyllabench.report.charts import LatencyPoint
from pytest_scyllabench.report.serialize import summarize

SVG = "{http://www.w3.org/2000/svg}"
#: "< ~60 KB" per chart, the budget of the issue.
BUDGET = 60_000


def parse(svg: str) -> ET.Element:
    """The chart as XML: it must parse on its own, with no prolog."""
    assert svg.startswith("<svg ") and svg.endswith("</svg>")
    return ET.fromstring(svg)


def texts(svg: str) -> list[str]:
    return ["".join(node.itertext()) for node in parse(svg).iter(f"{SVG}text")]


def group(svg: str, css: str) -> ET.Element:
    """The group matplotlib drew for a line we named ``gid=css``."""
    (found,) = [g for g in parse(svg).iter(f"{SVG}g") if g.get("class") == css]
    return found


def dashed(element: ET.Element) -> bool:
    return any("stroke-dasharray" in (path.get("style") or "")
               for path in element.iter(f"{SVG}path"))


def points(n: int = 5) -> list[LatencyPoint]:
    return [LatencyPoint(rate=1000.0 * i, p50_ms=0.5 * i, p99_ms=2.0 * i, p999_ms=5.0 * i,
                         label=f"write@{1000 * i}") for i in range(1, n + 1)]


def test_latency_throughput_chart_axes_lines_and_no_baseline() -> None:
    svg = charts.latency_throughput_chart(points())
    root = parse(svg)
    assert root.get("class") == "sb-chart sb-chart-latency-throughput"
    assert root.get("role") == "img"
    labels = texts(svg)
    assert "achieved throughput (ops/s)" in labels and "latency (ms)" in labels
    assert {"p50", "p99", "p99.9"} <= set(labels)
    assert not any("baseline" in label for label in labels)
    # Log y axis labelled in plain milliseconds, not powers of ten.
    assert {"1", "10"} <= set(labels)
    for css in ("sb-p50", "sb-p99", "sb-p999"):
        assert not dashed(group(svg, css))
    assert len(svg) < BUDGET


def y_labels(svg: str) -> set[str]:
    """The texts right-aligned left of the plot: the y axis's tick labels."""
    return {"".join(node.itertext()) for node in parse(svg).iter(f"{SVG}text")
            if "text-anchor: end" in (node.get("style") or "")}


def test_a_narrow_latency_axis_labels_its_2x_and_5x_ticks() -> None:
    narrow = [LatencyPoint(rate=100.0 * i, p50_ms=3.0 * i, p99_ms=8.0 * i, p999_ms=12.0 * i)
              for i in (1, 2, 3)]  # 3 to 36 ms: only "10" would be labelled otherwise
    assert {"5", "10", "20"} <= y_labels(charts.latency_throughput_chart(narrow))
    wide = [LatencyPoint(rate=100.0 * i, p50_ms=0.2 * i, p99_ms=40.0 * i, p999_ms=900.0 * i)
            for i in (1, 2, 3)]  # four decades: decades only
    assert y_labels(charts.latency_throughput_chart(wide)) == {"1", "10", "100", "1,000"}
    # Past six digits too: plain digits, never 1e+06 beside 500,000.
    huge = [LatencyPoint(rate=100.0 * i, p50_ms=3e5 * i, p99_ms=6e5 * i, p999_ms=9e5 * i)
            for i in (1, 2, 3)]
    assert {"500,000", "1,000,000", "2,000,000"} <= y_labels(
        charts.latency_throughput_chart(huge))


def test_baseline_is_drawn_dashed_in_the_same_colours() -> None:
    baseline = [LatencyPoint(p.rate, p.p50_ms * 1.5, p.p99_ms * 1.5, p.p999_ms * 1.5)
                for p in points(3)]
    svg = charts.latency_throughput_chart(points(), baseline)
    labels = texts(svg)
    assert {"baseline p50", "baseline p99", "baseline p99.9"} <= set(labels)
    for name in ("p50", "p99", "p999"):
        current, old = group(svg, f"sb-{name}"), group(svg, f"sb-baseline-{name}")
        assert dashed(old) and not dashed(current)
        colour = re.search(r"stroke: (#[0-9a-f]{6})", ET.tostring(current, "unicode"))
        assert colour is not None and colour.group(1) in ET.tostring(old, "unicode")


def test_a_saved_baseline_is_drawn_as_its_own_labelled_dashed_series() -> None:
    runs = [dataclasses.replace(record(seed), identity=dataclasses.replace(
        IDENTITY, step=f"write@{rate}")) for seed, rate in ((1, 2000), (2, 4000))]
    baseline = [LatencyPoint.from_record(run) for run in runs]
    assert None not in baseline
    current = [LatencyPoint(p.rate * 1.01, p.p50_ms * 2, p.p99_ms * 2, p.p999_ms * 2)
               for p in baseline if p is not None]

    svg = charts.latency_throughput_chart(current, [p for p in baseline if p is not None],
                                          baseline_name="main")

    labels = texts(svg)
    assert {"baseline main p50", "baseline main p99", "baseline main p99.9"} <= set(labels)
    assert {"p50", "p99", "p99.9"} <= set(labels)
    for name in ("p50", "p99", "p999"):
        assert dashed(group(svg, f"sb-baseline-{name}"))
        assert not dashed(group(svg, f"sb-{name}"))
        # One vertex per saved step in the baseline's line.
        [line] = [path for path in group(svg, f"sb-baseline-{name}").iter(f"{SVG}path")
                  if "stroke-dasharray" in (path.get("style") or "")]
        assert len(re.findall(r"-?\d+(?:\.\d+)? -?\d+(?:\.\d+)?", line.get("d", ""))) == 2


def test_a_long_baseline_name_is_cut_in_the_legend() -> None:
    """The legend sits inside the plot: a 60-character name written out three times covered
    the lines; the caption names the baseline whole."""
    name = "nightly-" + "x" * 44 + "-build-4812"
    baseline = [LatencyPoint(p.rate, p.p50_ms * 1.5, p.p99_ms * 1.5, p.p999_ms * 1.5)
                for p in points(3)]
    labels = [label for label in texts(charts.latency_throughput_chart(
        points(), baseline, baseline_name=name)) if label.startswith("baseline")]
    assert len(labels) == 3
    for label in labels:
        assert len(label) <= len("baseline  p99.9") + 20
        assert label.startswith("baseline nightly-") and "uild-4812 p" in label
        assert "…" in label


def test_a_records_point_has_the_percentiles_its_comparison_judges() -> None:
    saved = record(1)
    changes = {change.rule.name: change for change in compare(
        record(2), saved, effective_rules(parse_rules("p50:+5% p99:+10% p999:+20%"))).changes}

    point = LatencyPoint.from_record(saved)

    assert point is not None
    assert point.label == "write@2000"
    assert point.rate == saved.merged.achieved_rate
    assert point.values() == (changes["p50"].baseline, changes["p99"].baseline,
                              changes["p999"].baseline)
    assert 0 < point.p50_ms < point.p99_ms < point.p999_ms


def test_a_service_time_record_is_drawn_from_its_service_time() -> None:
    saved = record(1, service_time_only=True)
    point = LatencyPoint.from_record(saved)
    assert point is not None and point.p99_ms == pytest.approx(
        LatencyPoint.from_record(record(1)).p99_ms)  # type: ignore[union-attr]
    assert "all-rt" not in saved.merged.histograms
    assert LatencyPoint.from_record(dataclasses.replace(saved, merged=dataclasses.replace(
        saved.merged, histograms={}))) is None


def test_latency_point_from_a_step_summary(tmp_path: Path) -> None:
    result = make_result(tmp_path)
    point = LatencyPoint.from_summary(summarize(result, test="t.py::test_w[1]"))
    assert point is not None
    latency = result.latency()
    assert (point.rate, point.p50_ms, point.p99_ms, point.p999_ms) == (
        result.achieved_rate, latency["p50"], latency["p99"], latency["p999"])
    st_only = summarize(make_result(tmp_path, service_time_only=True), test="t")
    service = LatencyPoint.from_summary(st_only)
    assert service is not None and service.p99_ms == st_only.latency["all-st"]["p99"]


def test_nines_grid_stops_where_the_histogram_does() -> None:
    grid = charts.nines_grid(1000)
    assert grid[0] == 0.0
    assert grid[-1] == pytest.approx(99.9)
    assert grid[charts.NINES_STEPS] == pytest.approx(90.0)
    assert grid == sorted(set(grid))  # strictly increasing
    assert charts.nines_grid(10**9)[-1] == pytest.approx(99.999)
    assert charts.nines_grid(0) == [0.0]


def test_histogram_curve_agrees_with_the_step_percentiles(tmp_path: Path) -> None:
    result = make_result(tmp_path)
    curve = charts.histogram_curve(result.histograms["all-rt"], result.value_unit_ns)
    latency = result.latency()
    by_percentile = {round(q, 6): ms for q, ms in curve}
    assert by_percentile[90.0] == pytest.approx(latency["p90"])
    assert by_percentile[99.0] == pytest.approx(latency["p99"])
    assert by_percentile[99.9] == pytest.approx(latency["p999"])
    values = [ms for _, ms in curve]
    assert values == sorted(values)
    assert charts.histogram_curve(HdrHistogram(1, 3_600_000_000, 3), 1000.0) == []
    # The unit is applied: nanosecond histograms come out in milliseconds too.
    nanos = histogram([2_000_000] * 10)
    assert charts.histogram_curve(nanos, 1.0)[-1][1] == pytest.approx(2.0, rel=0.001)


def test_percentile_chart_has_a_nines_axis_and_a_line_per_tag(tmp_path: Path) -> None:
    result = make_result(tmp_path, operations=("read", "write"))
    svg = charts.step_percentile_chart(result)
    assert parse(svg).get("class") == "sb-chart sb-chart-percentiles"
    labels = texts(svg)
    ticks = [label for _, label in charts.NINES_TICKS]
    assert ticks == ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"]
    positions = [labels.index(tick) for tick in ticks]
    assert positions == sorted(positions)  # in order along the axis
    assert "percentile" in labels and "latency (ms)" in labels
    for tag in ("all-rt", "all-st", "read-rt", "read-st", "write-rt", "write-st"):
        assert charts.tag_label(tag) in labels
    assert "write response time" in labels and "read service time" in labels
    assert len(svg) < BUDGET
    # One operation: its lines say it all, the identical all-* lines are left out.
    single = texts(charts.step_percentile_chart(make_result(tmp_path)))
    assert "write response time" in single and "all response time" not in single

    # The times of failed operations are not latencies: not drawn as a latency curve.
    failing = make_result(tmp_path, operations=("read", "write"))
    failing.histograms = {**failing.histograms, "write-err": failing.histograms["write-rt"]}
    assert charts.step_percentile_chart(failing) == svg


def test_charts_are_deterministic_and_ids_differ_between_charts(tmp_path: Path) -> None:
    first = charts.latency_throughput_chart(points())
    assert first == charts.latency_throughput_chart(points())
    other = charts.latency_throughput_chart(points(4))
    ids = set(re.findall(r' id="([^"]+)"', first))
    assert ids and ids.isdisjoint(re.findall(r' id="([^"]+)"', other))
    # Every reference points inside the same chart; no group ids that would repeat.
    refs = set(re.findall(r'(?:href="#|url\(#)([^")]+)', first))
    assert refs <= ids
    assert not re.search(r'<g id="', first)


def test_text_is_text_and_escaped() -> None:
    evil = '<script>alert("x")</script> & $x$'
    svg = charts.latency_throughput_chart(points(), title=evil)
    assert "<script" not in svg and "<?xml" not in svg and "<!DOCTYPE" not in svg
    assert "<metadata" not in svg and "<image" not in svg
    assert evil in texts(svg)  # mathtext off: the dollars are shown as typed
    assert parse(svg).get("aria-label") == f"latency against throughput: {evil}"
    assert not re.search(r'(?:href|src)="(?!#)', svg)  # nothing outside the chart
    # The font is named once, on the chart, and it is the user's sans-serif at worst.
    style = parse(svg).get("style") or ""
    assert style.startswith("font-family:") and style.endswith("sans-serif")
    assert svg.count("font-family") == 1


def test_throughput_chart_twin_axes_and_target() -> None:
    series = [(float(t), 2000.0 + (t % 7), 1.0 + (30.0 if t == 300 else 0.1 * (t % 5)))
              for t in range(600)]
    series[10] = (10.0, 1990.0, math.nan)  # a second without operations
    svg = charts.throughput_chart(series, target_rate=2000.0)
    assert parse(svg).get("class") == "sb-chart sb-chart-throughput"
    labels = texts(svg)
    assert {"throughput (ops/s)", "p99 latency (ms)", "time in measured window (s)"} <= set(
        labels)
    assert {"ops/s", "target ops/s", "p99 ms"} <= set(labels)
    assert dashed(group(svg, "sb-target")) and not dashed(group(svg, "sb-rate"))
    # The spike at t=300 survives thinning 600 points down.
    p99_path = next(group(svg, "sb-p99").iter(f"{SVG}path")).get("d") or ""
    ys = [float(y) for y in p99_path.split()[2::2]]
    assert min(ys) < 0.5 * max(ys)
    assert len(p99_path.split()) < 2 * (charts.MAX_POINTS + 10)
    assert len(svg) < BUDGET
    assert "target ops/s" not in texts(charts.throughput_chart(series))


def test_thin_keeps_extremes_and_order() -> None:
    line = [(float(i), 1.0) for i in range(10_000)]
    line[4321] = (4321.0, 99.0)
    kept = charts.thin(line, 200)
    assert len(kept) <= 200
    assert (4321.0, 99.0) in kept
    assert [x for x, _ in kept] == sorted(x for x, _ in kept)
    assert charts.thin(line[:50], 200) == line[:50]


def vitals(metrics: int, hosts: int, samples: int) -> charts.Vitals:
    start = 1_700_000_000.0
    return {f"metric {m} %": {f"node{h}": [(start + 5 * i, 10 * h + (i * 7 + m) % 9)
                                            for i in range(samples)]
                              for h in range(1, hosts + 1)}
            for m in range(metrics)}


def test_vitals_small_multiples() -> None:
    svg = charts.vitals_chart(vitals(5, 3, 120))
    assert parse(svg).get("class") == "sb-chart sb-chart-vitals"
    labels = texts(svg)
    assert [label for label in labels if label.startswith("metric ")] == [
        f"metric {m} %" for m in range(5)]
    assert {"node1", "node2", "node3"} <= set(labels)
    assert labels.count("time (s)") == 3  # the panels with nothing below them
    assert "0" in labels  # time is relative to the first sample, not epoch seconds
    assert len(svg) < BUDGET
    # Thinned to a budget: every vital sign of monitoring (12) on 4 hosts over a long step.
    big = charts.vitals_chart(vitals(12, 4, 2000))
    assert len(big) < BUDGET


def test_empty_inputs_draw_nothing() -> None:
    nan = math.nan
    assert charts.latency_throughput_chart([]) == ""
    assert charts.latency_throughput_chart([LatencyPoint(100.0, nan, nan, nan)]) == ""
    assert charts.latency_throughput_chart([LatencyPoint(nan, 1.0, 2.0, 3.0)]) == ""
    assert charts.percentile_chart({}) == ""
    assert charts.percentile_chart({"all-rt": []}) == ""
    assert charts.percentile_chart({"all-rt": [(50.0, 0.0)]}) == ""
    assert charts.throughput_chart([]) == ""
    assert charts.throughput_chart([(nan, nan, nan)]) == ""
    assert charts.vitals_chart(None) == ""
    assert charts.vitals_chart({}) == ""
    assert charts.vitals_chart({"cpu": {}, "disk": {"node1": []}}) == ""
    assert charts.vitals_chart({"cpu": {"node1": [(0.0, nan)]}}) == ""
    # A single point still makes a chart.
    assert charts.latency_throughput_chart([LatencyPoint(100.0, 1.0, 2.0, 3.0)]).startswith(
        "<svg")
