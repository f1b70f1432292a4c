"""Merging loaders' logs over a window: exact histograms, Java's percentiles, step results."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest
from test_hdr_support import T0, Line, latencies, new_histogram, record, write_lines

from pytest_scyllabench.errors import StressError
from pytest_scyllabench.hdr.log import read_log
from pytest_scyllabench.hdr.merge import (
    LoaderOutput,
    Window,
    build_step_result,
    common_window,
    count_mismatch,
    loader_count,
    merge_logs,
    percentiles,
    values_at_percentiles,
)
from pytest_scyllabench.result import PERCENTILES
from pytest_scyllabench.stress.base import LoaderSummary
from pytest_scyllabench.stress.step import Step, Workload

TAGS = ("write-rt", "write-st", "read-rt", "read-st")


def _loader_lines(rng: random.Random, offset: float, seconds: int) -> list[Line]:
    """Intervals from T0-2+offset for ``seconds`` seconds, every tag each second."""
    lines = []
    for second in range(-2, seconds - 2):
        for tag in TAGS:
            median = 3000.0 if tag.startswith("read") else 1000.0
            lines.append(Line(tag, T0 + second + offset, latencies(rng, 200, median)))
    return lines


@pytest.fixture(scope="module")
def three_loaders(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, list[Line]]]:
    """Three loaders with starts offset by 0, 0.25 and 0.5 s, 12 s of intervals each."""
    tmp_path = tmp_path_factory.mktemp("three-loaders")
    rng = random.Random(7)
    loaders = []
    for index, offset in enumerate((0.0, 0.25, 0.5)):
        lines = _loader_lines(rng, offset, 12)
        path = write_lines(tmp_path / f"loader-{index}.hlog", lines, start_time=T0 - 2)
        loaders.append((path, lines))
    return loaders


def _direct(lines: list[Line], window: Window, tags: tuple[str, ...]) -> object:
    """One histogram recorded with every in-window value of ``tags`` directly."""
    histogram = new_histogram()
    for line in lines:
        if line.tag in tags and window.start <= line.start < window.end:
            for value in line.values:
                histogram.record_value(value)
    return histogram


def test_merge_equals_direct_recording(three_loaders: list[tuple[Path, list[Line]]]) -> None:
    window = Window(T0, T0 + 8)
    logs = [read_log(path, f"loader-{i}") for i, (path, _) in enumerate(three_loaders)]
    merged = merge_logs(logs, window)
    assert set(merged) == {*TAGS, "all-rt", "all-st"}
    every_line = [line for _, lines in three_loaders for line in lines]
    for tag, tags in [*((t, (t,)) for t in TAGS), ("all-rt", ("write-rt", "read-rt")),
                      ("all-st", ("write-st", "read-st"))]:
        direct = _direct(every_line, window, tags)
        assert list(merged[tag].counts) == list(direct.counts), tag  # type: ignore[attr-defined]
        assert percentiles(merged[tag]) == percentiles(direct), tag
    # 3 loaders x 8 intervals x 200 values: offsets 0.25 and 0.5 keep 8 each.
    assert merged["write-rt"].get_total_count() == 3 * 8 * 200


def test_window_trims_every_loader_alike(three_loaders: list[tuple[Path, list[Line]]]) -> None:
    logs = [read_log(path, f"loader-{i}") for i, (path, _) in enumerate(three_loaders)]
    window = Window(T0 + 0.25, T0 + 3.25)
    tags = frozenset({"write-rt"})
    # loader-0 starts on whole seconds: 1, 2, 3 are in; loader-1 at .25: 0.25, 1.25, 2.25 in,
    # 3.25 (the end) out; loader-2 at .5: 0.5, 1.5, 2.5.
    assert [loader_count(log, window, tags) for log in logs] == [600, 600, 600]
    starts = sorted(round(i.start - T0, 3) for log in logs
                    for i in log.select(tags=tags) if window.contains(i.start))
    assert starts == [0.25, 0.5, 1.0, 1.25, 1.5, 2.0, 2.25, 2.5, 3.0]


def test_window_bounds_tolerate_millisecond_stamps() -> None:
    window = Window(T0 + 5, T0 + 10)
    assert window.contains(T0 + 4.9997) and not window.contains(T0 + 4.999)
    assert not window.contains(T0 + 9.9997) and window.contains(T0 + 9.999)
    with pytest.raises(ValueError, match="empty measured window"):
        Window(T0, T0)


def test_tags_do_not_mix(tmp_path: Path) -> None:
    lines = [Line("write-rt", T0, [100] * 99 + [5000]), Line("read-rt", T0, [20000] * 10)]
    log = read_log(write_lines(tmp_path / "m.hlog", lines), "l")
    merged = merge_logs([log], Window(T0, T0 + 1))
    assert percentiles(merged["write-rt"])["max"] == pytest.approx(5.0, abs=0.01)
    assert percentiles(merged["read-rt"])["p50"] == pytest.approx(20.0, abs=0.02)
    assert merged["all-rt"].get_total_count() == 110
    assert "all-st" not in merged


def test_accumulator_takes_the_decoded_layout(tmp_path: Path) -> None:
    wide = [Line("w-rt", T0, [3_000_000_000])]
    path = tmp_path / "wide.hlog"
    path.write_text(write_lines(tmp_path / "x.hlog", []).read_text(), encoding="utf-8")
    # A histogram with a wider range than the test default (1..60 s in µs).
    histogram = record([])
    wide_histogram = type(histogram)(1, 3_600_000_000, 2)
    wide_histogram.record_value(wide[0].values[0])
    with path.open("a", encoding="utf-8") as out:
        out.write(f"Tag=w-rt,{T0:.3f},1.000,3000.0,{wide_histogram.encode().decode()}\n")
    merged = merge_logs([read_log(path, "l")], Window(T0, T0 + 1))
    accumulator = merged["w-rt"]
    assert (accumulator.highest_trackable_value, accumulator.significant_figures) == (
        3_600_000_000, 2)
    assert accumulator.get_max_value() == wide_histogram.get_max_value()


def test_percentiles_follow_java_rounding() -> None:
    # 1006 distinct exact values: p90 needs ceil(905.4) = 906 values (Java), where hdrh's
    # round-to-nearest stops at 905.
    histogram = record(range(1, 1007))
    assert values_at_percentiles(histogram, [90.0]) == [906]
    assert histogram.get_value_at_percentile(90.0) == 905
    # p50 of 1000 values: exactly 500 values, nextafter keeps it from rounding up to 501.
    assert values_at_percentiles(record(range(1, 1001)), [50.0, 0.0, 100.0]) == [500, 1, 1000]


def test_percentiles_in_milliseconds() -> None:
    histogram = record([1000] * 50 + [2000] * 49 + [40_000])
    latency = percentiles(histogram)
    assert latency.count == 100
    assert tuple(latency.values_ms) == tuple(name for name, _ in PERCENTILES)
    assert latency["p50"] == 1.0
    assert latency["p90"] == 2.0  # values below 2048 are exact at 3 significant figures
    assert percentiles(record([40_000]))["p50"] == 40.031  # highest equivalent of 40000
    assert latency["max"] == histogram.get_max_value() / 1000
    assert percentiles(new_histogram()).values_ms["p99"] == 0.0


def test_count_mismatch() -> None:
    assert count_mismatch("l", 1000, 1100, 100) is None
    message = count_mismatch("loader-3", 1000, 1101, 100)
    assert message is not None and "loader loader-3" in message and "1101" in message


def _summary(loader: str, ops: int, start: float = T0, end: float = T0 + 8) -> LoaderSummary:
    return LoaderSummary(loader=loader, tool_version="tool 1.0", measure_start=start,
                         measure_end=end, ops=ops, errors=1)


def test_build_step_result(three_loaders: list[tuple[Path, list[Line]]]) -> None:
    step = Step(workload=Workload(name="mixed", mix={"write": 0.5, "read": 0.5}), rate=300,
                duration=8.0)
    outputs = [LoaderOutput(name=f"loader-{i}", host=f"10.0.0.{i}", tool="fake",
                            summary=_summary(f"loader-{i}", 3200 if i else 9999),
                            hdr_log=path, target_rate=100)
               for i, (path, _) in enumerate(three_loaders)]
    result = build_step_result(step, outputs)
    assert (result.step, result.workload, result.duration) == ("mixed@300", "mixed", 8.0)
    # write-rt and read-rt: 2 x 200 per interval, 8 intervals, 3 loaders.
    assert result.ops == 3 * 8 * 400
    assert result.achieved_rate == result.ops / 8.0
    assert result.errors == 3
    assert [run.ops for run in result.loaders] == [3200, 3200, 3200]
    assert result.loaders[1].tool_version == "tool 1.0"
    assert result.loaders[2].achieved_rate == 400.0
    (warning,) = result.warnings
    assert "loader loader-0" in warning and "9999" in warning
    assert result.latency("read", "st") == percentiles(result.histograms["read-st"])
    # loader-2's intervals start at .5 and round up: its last one lands past the window.
    assert [point[1] for point in result.series] == [800.0] + [1200.0] * 7 + [400.0]
    assert sum(point[1] for point in result.series) == result.ops


def test_common_window_is_the_overlap() -> None:
    window = common_window([_summary("a", 0, T0, T0 + 10), _summary("b", 0, T0 + 0.2, T0 + 11)])
    assert (window.start, window.end) == (T0 + 0.2, T0 + 10)
    with pytest.raises(StressError, match="do not overlap"):
        common_window([_summary("a", 0, T0, T0 + 1), _summary("b", 0, T0 + 2, T0 + 3)])


def test_step_result_carries_truncation_warning(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "l.hlog", [Line("write-rt", T0 + s, [500] * 10)
                                             for s in range(3)])
    text = path.read_text()
    path.write_text(text[:-30], encoding="utf-8")
    step = Step(workload=Workload(name="w", mix={"write": 1.0}), rate=10, duration=3.0)
    output = LoaderOutput(name="l", host="h", tool="t", hdr_log=path,
                          summary=_summary("l", 30, T0, T0 + 3))
    result = build_step_result(step, [output])
    assert result.ops == 20
    assert any("truncated" in w for w in result.warnings)
    assert not any("summary reports" in w for w in result.warnings)  # within one interval
    assert math.isclose(result.achieved_rate, 20 / 3)
