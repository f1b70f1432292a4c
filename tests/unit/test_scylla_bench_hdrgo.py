"""scylla-bench's HDR log as hdrhistogram-go writes it, read and merged as Go merges it.

``data/hdrhistogram-go/mixed-1000.*`` is a log written by hdrhistogram-go v1.2.0's own
``HistogramLogWriter`` (the version scylla-bench v1.1.1 requires), called as scylla-bench calls
it, and what hdrhistogram-go computes over the merge of its intervals (see its README).
scylla-bench itself is not run: its source archives are refused here.

Our merge must equal Go's bucket for bucket. Percentiles: ours follow Java's
``getValueAtPercentile`` (the count at a percentile rounded up, checked against Java in
tests/integration/test_hdr_java.py); hdrhistogram-go's ``ValueAtQuantile`` rounds that count to
the nearest integer (``int64(p / 100 * total + 0.5)``), so at p99 of 7980 values Go takes the
7900th value and we take the 7901st. Both are checked on our merged histogram, each with its
own rule. :func:`check_against_go` is also run on fresh output of the Go program by
tests/integration/test_hdr_go.py.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pytest_scyllabench.hdr.histogram import Histogram, target_count
from pytest_scyllabench.hdr.layout import Layout
from pytest_scyllabench.hdr.log import LogSource, parse_log, read_log
from pytest_scyllabench.hdr.merge import LoaderOutput, Window, build_step_result, merge_logs
from pytest_scyllabench.stress.base import LoaderSummary, log_window
from pytest_scyllabench.stress.scylla_bench import ScyllaBenchTool
from pytest_scyllabench.stress.step import Step, Workload

DATA = Path(__file__).parent / "data" / "hdrhistogram-go"
LOG = DATA / "mixed-1000.hlog"
SUMMARY = DATA / "mixed-1000.json"
#: Tags in the order scylla-bench writes them each period (-mode mixed).
TAGS = ["co-fixed", "raw", "raw-read", "co-fixed-read", "raw-write", "co-fixed-write"]
MIXED = Workload("kv-mixed", {"read": 0.5, "write": 0.5})
WRITE = Workload("kv-write", {"write": 1.0})


def go_output(path: Path = SUMMARY) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def go_count(percentile: float, total: int) -> int:
    """The count hdrhistogram-go's ``ValueAtPercentile`` needs: rounded to the nearest."""
    return int(percentile / 100 * total + 0.5)


def value_at_count(histogram: Histogram, count: int) -> int:
    """Highest value equivalent to the first bucket where the cumulative count reaches
    ``count`` (what both rules return once they have their count)."""
    index = int(np.searchsorted(np.cumsum(histogram.counts), count, side="left"))
    return int(histogram.layout.highest_at(index))


def whole(log: Any) -> Window:
    return Window(float(log.starts.min()), float(log.ends.max()))


def check_against_go(path: Path, go: dict[str, Any]) -> dict[str, Histogram]:
    """Assert that our reading of the log at ``path`` agrees with hdrhistogram-go's ``go``
    output (the program's JSON); the merged histograms by raw tag."""
    log = read_log(path, "loader-1")
    assert log.tags == set(go["tags"])
    merged = merge_logs([log], whole(log))
    checked = 0
    for tag, expected in go["tags"].items():
        ours, theirs = merged[tag], Histogram.decode(expected["merged"])
        assert ours.layout == theirs.layout == Layout(*go["histogram"]), tag
        assert ours.counts.tolist() == theirs.counts.tolist(), f"{tag}: buckets differ"
        total = ours.get_total_count()
        assert total == expected["count"] > 0
        assert (ours.get_min_value(), ours.get_max_value()) == (expected["min"],
                                                                 expected["max"])
        assert ours.to_hdrh().get_mean_value() == pytest.approx(expected["mean"], rel=1e-9)
        for key, value in expected["percentiles"].items():
            percentile = float(key)
            assert value_at_count(ours, go_count(percentile, total)) == value, (tag, key)
            java = ours.values_at_percentiles([percentile])[0]
            assert java == value_at_count(ours, target_count(percentile, total))
            if target_count(percentile, total) == go_count(percentile, total):
                assert java == value, (tag, key)
                checked += 1
    assert checked >= 2 * len(go["tags"])  # p50 and p90 at least: the same count for both
    return merged


def test_the_recording_is_the_v1_2_0_writer() -> None:
    go = go_output()
    assert go["writer"] == "github.com/HdrHistogram/hdrhistogram-go v1.2.0"
    assert (go["mode"], go["periods"], go["histogram"]) == ("mixed", 8, [50, 15_000_000, 3])
    text = LOG.read_text(encoding="utf-8")
    lines = text.splitlines()
    base = go["base_ms"] // 1000
    assert lines[:3] == ["#[Histogram log format version 1.3]",
                         "#Logging op latencies for Cassandra Stress",
                         f"#[Basetime: {base} (seconds since epoch)]"]
    assert lines[3].startswith(f"#[StartTime: {base} (seconds since epoch), ")
    assert lines[4].startswith('"StartTimestamp","Interval_Length"')
    assert [line.split(",", 1)[0] for line in lines[5:11]] == [f"Tag={t}" for t in TAGS]
    assert len(lines) == 5 + len(TAGS) * go["periods"]


def test_start_time_is_read_and_the_lowercase_basetime_is_a_comment() -> None:
    go = go_output()
    base = go["base_ms"] / 1000
    log = read_log(LOG, "loader-1")
    assert (log.version, log.start_time, log.base_time) == ("1.3", base, base)
    # Another Basetime changes nothing: like Java's reader, ours knows only "BaseTime".
    text = LOG.read_text(encoding="utf-8").replace(f"#[Basetime: {go['base_ms'] // 1000}",
                                                   "#[Basetime: 1000")
    moved = parse_log(text, LogSource("loader-1", "moved.hlog"))
    assert (moved.start_time, moved.base_time) == (base, base)
    assert moved.starts.tolist() == log.starts.tolist()


def test_intervals_are_the_writer_periods() -> None:
    go = go_output()
    log = read_log(LOG, "loader-1")
    expected = [ms / 1000 for period in go["intervals"] for ms in period]
    for tag in TAGS:
        got = [time for i in log.select({tag}) for time in (i.start, i.end)]
        assert got == pytest.approx(expected, abs=1e-6), tag
        assert len(got) == 2 * go["tags"][tag]["intervals"]


def test_counts_buckets_and_percentiles_equal_hdrhistogram_go() -> None:
    merged = check_against_go(LOG, go_output())
    # The rules differ in this recording: p99 of 7980 values is Go's 7900th value, our 7901st.
    co_fixed = merged["co-fixed"]
    assert (go_count(99, 7980), target_count(99, 7980)) == (7900, 7901)
    assert co_fixed.values_at_percentiles([99])[0] == value_at_count(co_fixed, 7901)


def test_scylla_bench_tags_of_a_mixed_step_are_the_per_operation_histograms() -> None:
    go = go_output()
    step = Step(MIXED, rate=2000, duration=6)
    tool = ScyllaBenchTool()
    log = read_log(LOG, "loader-1", canonical_tag=functools.partial(tool.canonical_tag,
                                                                    step=step))
    assert log.tags == {"read-rt", "write-rt", "read-st", "write-st"}
    merged = merge_logs([log], whole(log))
    for ours, raw in [("read-rt", "co-fixed-read"), ("write-rt", "co-fixed-write"),
                      ("read-st", "raw-read"), ("write-st", "raw-write"),
                      ("all-rt", "co-fixed"), ("all-st", "raw")]:
        expected = Histogram.decode(go["tags"][raw]["merged"]).counts
        assert merged[ours].counts.tolist() == expected.tolist(), ours


def test_a_step_result_from_the_log_counts_what_go_counted() -> None:
    go = go_output()
    step = Step(MIXED, rate=2000, duration=6, warmup=2)
    tool = ScyllaBenchTool()
    start, end = log_window(LOG, "loader-1", step.warmup)
    first, last = go["intervals"][0][0] / 1000, go["intervals"][-1][1] / 1000
    assert (start, end) == pytest.approx((first + 2, last), abs=1e-6)
    # No warm-up: the whole log, as Go merged it.
    window = Window(first, last)
    summary = LoaderSummary(loader="loader-1", tool_version=tool.version(),
                            measure_start=first, measure_end=last, ops=7980, errors=0)
    output = LoaderOutput(name="loader-1", host="localhost", tool=tool.name, summary=summary,
                          hdr_log=LOG, canonical_tag=functools.partial(tool.canonical_tag,
                                                                       step=step),
                          value_unit_ns=tool.hdr_value_ns)
    result = build_step_result(step, [output], window)
    assert result.ops == go["tags"]["co-fixed"]["count"] == 7980
    assert result.warnings == []
    read = result.latency("read")
    assert read.count == go["tags"]["co-fixed-read"]["count"]
    assert read["p50"] == go["tags"]["co-fixed-read"]["percentiles"]["50"] / 1000  # ms
    assert read["max"] == go["tags"]["co-fixed-read"]["max"] / 1000
    assert result.latency("write", "st")["p90"] == (
        go["tags"]["raw-write"]["percentiles"]["90"] / 1000)
