"""The batched merge: equal to adding hdrh histograms one by one, whatever the batches and
processes; layouts, units, tag mappings and corrupt payloads."""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hdrh.histogram import HdrHistogram
from test_hdr_support import T0, Line, latencies, record, write_lines

from pytest_scyllabench.errors import HdrLogError, StressError
from pytest_scyllabench.hdr import pipeline
from pytest_scyllabench.hdr.histogram import Histogram
from pytest_scyllabench.hdr.layout import Layout
from pytest_scyllabench.hdr.log import HdrLog, read_log
from pytest_scyllabench.hdr.merge import (
    LoaderOutput,
    Window,
    build_step_result,
    percentiles,
    values_at_percentiles,
)
from pytest_scyllabench.hdr.pipeline import merge
from pytest_scyllabench.hdr.series import SeriesBuilder
from pytest_scyllabench.hdr.tags import aggregate_tag, counted
from pytest_scyllabench.hdr.workers import LogFile, Workers, read_logs
from pytest_scyllabench.report.serialize import result_to_dict, summary_from_dict
from pytest_scyllabench.stress.base import LoaderSummary
from pytest_scyllabench.stress.step import Step, Workload
from pytest_scyllabench.thresholds import check, parse_thresholds

TAGS = ("write-rt", "write-st", "read-rt", "read-st")
WINDOW = Window(T0, T0 + 10)


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> list[HdrLog]:
    """Four loaders, offset starts, uneven rates, 14 s of intervals around the window."""
    tmp = tmp_path_factory.mktemp("pipeline")
    rng = random.Random(5)
    out = []
    for number, offset in enumerate((0.0, 0.3, 0.5, 0.9)):
        lines = [Line(tag, T0 + second + offset + rng.uniform(-0.002, 0.002),
                      latencies(rng, rng.randint(0, 300) * (number + 1),
                                3000.0 if tag.startswith("read") else 900.0))
                 for second in range(-2, 12) for tag in TAGS]
        path = write_lines(tmp / f"loader-{number}.hlog", lines, start_time=T0 - 2)
        out.append(read_log(path, f"loader-{number}"))
    return out


def _reference(logs: list[HdrLog], window: Window) -> tuple[dict[str, Any], list[Any]]:
    """The merge done the slow way: hdrh histograms added one interval at a time."""
    merged: dict[str, Any] = {}
    chosen = counted(frozenset().union(*(log.tags for log in logs)))
    series = SeriesBuilder(window)
    intervals = sorted((i for log in logs for i in log.intervals if window.contains(i.start)),
                       key=lambda i: i.start)
    for interval in intervals:
        histogram = interval.decode()
        for name in (interval.tag, aggregate_tag(interval.tag)):
            if name is None:
                continue
            if name not in merged:
                merged[name] = HdrHistogram(1, 60_000_000, 3)
            merged[name].add(histogram)
        if interval.tag in chosen:
            series.add(interval.start, histogram)
    return merged, series.points()


def _same(ours: Histogram, reference: Any) -> None:
    assert ours.counts.tolist() == list(reference.counts)
    assert ours.get_total_count() == reference.get_total_count()
    assert ours.get_max_value() == reference.get_max_value()
    quantiles = [0.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0]
    assert values_at_percentiles(ours, quantiles) == values_at_percentiles(reference, quantiles)


@pytest.mark.parametrize("batch_chars", [pipeline.BATCH_CHARS, 1, 5_000])
def test_merge_equals_adding_hdrh_histograms(logs: list[HdrLog], batch_chars: int,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "BATCH_CHARS", batch_chars)
    merged = merge(logs, WINDOW, workers=1)
    reference, points = _reference(logs, WINDOW)
    assert set(merged.histograms) == set(reference) == {*TAGS, "all-rt", "all-st"}
    for name, histogram in reference.items():
        _same(merged.histograms[name], histogram)
    assert merged.series == points
    assert sum(p.rate for p in merged.series) == merged.histograms["all-rt"].get_total_count()
    for log, ops in zip(logs, merged.loader_ops, strict=True):
        assert ops == sum(i.decode().get_total_count() for i in log.intervals
                          if i.tag.endswith("-rt") and WINDOW.contains(i.start))


def test_worker_processes_give_the_same_result(logs: list[HdrLog],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "BATCH_CHARS", 20_000)
    alone = merge(logs, WINDOW, workers=1)
    spread = merge(logs, WINDOW, workers=2)
    for name, histogram in alone.histograms.items():
        assert spread.histograms[name].counts.tolist() == histogram.counts.tolist()
    assert (spread.series, spread.loader_ops, spread.loader_largest) == (
        alone.series, alone.loader_ops, alone.loader_largest)


def test_auto_resized_histograms_of_one_shape_add(tmp_path: Path) -> None:
    # cassandra-stress's recorders resize: the highest trackable value differs per interval.
    lines = [Line("w-rt", T0, [5_000_000] * 3, layout=(1, 67_108_863, 3)),
             Line("w-rt", T0 + 1, [900_000_000, 7], layout=(1, 2_147_483_647, 3)),
             Line("w-rt", T0 + 2, [12], layout=(1, 134_217_727, 3))]
    log = read_log(write_lines(tmp_path / "r.hlog", lines), "l")
    merged = merge([log], Window(T0, T0 + 3)).histograms["w-rt"]
    assert merged.layout == Layout(1, 2_147_483_647, 3)
    direct = record([5_000_000] * 3 + [900_000_000, 7, 12], (1, 2_147_483_647, 3))
    _same(merged, direct)
    assert not merge([log], Window(T0, T0 + 3)).warnings


def test_different_layouts_merge_exactly_at_the_coarsest(tmp_path: Path) -> None:
    rng = random.Random(3)
    fine = [Line("w-rt", T0 + s, latencies(rng, 400)) for s in range(3)]
    coarse = [Line("w-rt", T0 + s + 0.3, latencies(rng, 400), layout=(1, 60_000_000, 2))
              for s in range(3)]
    logs = [read_log(write_lines(tmp_path / "fine.hlog", fine), "fine"),
            read_log(write_lines(tmp_path / "coarse.hlog", coarse), "coarse")]
    merged = merge(logs, Window(T0, T0 + 3), workers=1)
    histogram = merged.histograms["w-rt"]
    assert histogram.significant_figures == 2
    every_value = [v for line in fine + coarse for v in line.values]
    _same(histogram, record(every_value, (1, 60_000_000, 2)))
    (warning,) = merged.warnings
    assert "different layouts" in warning and "2 significant digits" in warning
    assert f"loader fine: {tmp_path / 'fine.hlog'}: line 3" in warning
    assert f"loader coarse: {tmp_path / 'coarse.hlog'}: line 3" in warning
    # The series points hold one interval of each layout: they are merged the same way.
    first = record(fine[0].values + coarse[0].values, (1, 60_000_000, 2))
    assert merged.series[0].p99_ms == values_at_percentiles(first, [99.0])[0] / 1000


def _summary(loader: str, ops: int, start: float = T0, end: float = T0 + 3) -> LoaderSummary:
    return LoaderSummary(loader=loader, tool_version="t 1", measure_start=start,
                         measure_end=end, ops=ops, errors=0)


STEP = Step(workload=Workload(name="w", mix={"write": 1.0}), rate=100, duration=3.0)


def _stress_tag(raw: str) -> str | None:
    """cassandra-stress's tags: WRITE-rt -> write-rt; wait times ignored."""
    operation, _, kind = raw.partition("-")
    return None if kind == "wt" else f"{operation.lower()}-{kind}"


def test_nanosecond_logs_with_their_own_tags(tmp_path: Path) -> None:
    ns = (1, 3_600_000_000_000, 3)
    lines = []
    for second in range(3):
        lines += [Line("WRITE-rt", T0 + second, [2_500_000] * 98 + [40_000_000] * 2, layout=ns),
                  Line("WRITE-st", T0 + second, [1_000_000] * 100, layout=ns),
                  Line("WRITE-wt", T0 + second, [7] * 500, layout=ns)]
    path = write_lines(tmp_path / "cs.hlog", lines, start_time=T0)
    output = LoaderOutput(name="l", host="h", tool="cassandra-stress", hdr_log=path,
                          summary=_summary("l", 300), canonical_tag=_stress_tag,
                          value_unit_ns=1.0)
    result = build_step_result(STEP, [output])
    assert set(result.histograms) == {"write-rt", "write-st", "all-rt", "all-st"}
    assert result.ops == 300 and result.value_unit_ns == 1.0
    latency = result.latency("write")
    assert latency["p50"] == pytest.approx(2.5, rel=1e-3)  # ms, from nanoseconds
    assert latency["max"] == pytest.approx(40.0, rel=1e-3)
    assert latency == percentiles(result.histograms["write-rt"])
    assert result.series[1].p99_ms == pytest.approx(40.0, rel=1e-3)
    # Limits are milliseconds whatever the unit.
    breaches = check(result, parse_thresholds({"p50": "3ms", "max": "30ms"}))
    assert [b.metric for b in breaches] == ["max"]
    assert "observed 40.0" in str(breaches[0])
    data = result_to_dict(result)
    assert (data["histograms"]["unit"], data["histograms"]["value_unit_ns"]) == ("ns", 1.0)
    assert data["latency_ms"]["write-rt"]["p50"] == pytest.approx(2.5, rel=1e-3)
    assert summary_from_dict(data).value_unit_ns == 1.0


def test_old_result_files_are_microseconds(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "us.hlog", [Line("write-rt", T0, [2500] * 10)])
    result = build_step_result(STEP, [LoaderOutput(name="l", host="h", tool="t", hdr_log=path,
                                                   summary=_summary("l", 10))])
    data = result_to_dict(result)
    assert data["histograms"]["unit"] == "us"
    del data["histograms"]["value_unit_ns"]
    assert summary_from_dict(data).value_unit_ns == 1000.0


def test_mixing_units_is_an_error(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "a.hlog", [Line("write-rt", T0, [10])])
    outputs = [LoaderOutput(name="a", host="h", tool="builtin", hdr_log=path,
                            summary=_summary("a", 1)),
               LoaderOutput(name="b", host="h", tool="cassandra-stress", hdr_log=path,
                            summary=_summary("b", 1), value_unit_ns=1.0)]
    with pytest.raises(StressError, match=r"different units: a \(builtin\) 1000 ns, "
                                          r"b \(cassandra-stress\) 1 ns"):
        build_step_result(STEP, outputs)
    logs = [read_log(path, "a"), read_log(path, "b", value_unit_ns=1.0)]
    with pytest.raises(StressError, match="a us, b ns"):
        merge(logs, Window(T0, T0 + 1))
    with pytest.raises(ValueError, match="cannot add"):
        Histogram(Layout(1, 100, 2)).add(Histogram(Layout(1, 100, 2), value_unit_ns=1.0))
    with pytest.raises(ValueError, match="1000 ns each, not 1 ns"):
        percentiles(Histogram(Layout(1, 100, 2)), 1.0)


def _corrupt(tmp_path: Path, name: str) -> Path:
    lines = [Line("write-rt", T0 + s, [500] * 10) for s in range(3)]
    path = write_lines(tmp_path / name, lines)
    text = path.read_text().splitlines()
    columns = text[-2].rsplit(",", 1)[0]
    text[-2] = f"{columns},HISTFAAAACB42pNpmSzMwMDAxAABzFCaEUQAAAP0ACE="  # zlib of garbage
    path.write_text("\n".join(text) + "\n")
    return path


@pytest.mark.parametrize("workers", [1, 2])
def test_corrupt_payload_names_loader_file_and_line(tmp_path: Path, workers: int) -> None:
    good = write_lines(tmp_path / "good.hlog", [Line("write-rt", T0 + s, [500] * 10)
                                                for s in range(3)])
    bad = _corrupt(tmp_path, "bad.hlog")
    outputs = [LoaderOutput(name=f"loader-{n}", host="h", tool="t", hdr_log=path,
                            summary=_summary(f"loader-{n}", 30))
               for n, path in enumerate((good, bad))]
    with pytest.raises(HdrLogError) as info:
        build_step_result(STEP, outputs, workers=workers)
    assert (info.value.loader, info.value.path) == ("loader-1", str(bad))
    assert str(info.value).startswith(f"loader loader-1: {bad}: line 4: payload is not an "
                                      f"HdrHistogram (")


def test_read_errors_come_back_from_worker_processes(tmp_path: Path) -> None:
    path = tmp_path / "x.hlog"
    path.write_text("Tag=a,1.0,1.0,1.0,QUJD\n")
    with Workers(2) as workers, pytest.raises(HdrLogError) as info:
        read_logs([LogFile(path, "l1"), LogFile(path, "l2")],
                           workers)
    assert str(info.value) == (f"loader l1: {path}: line 1: interval line before the legend "
                               f"line (missing header)")


def test_histogram_matches_hdrh() -> None:
    rng = random.Random(9)
    reference = record(latencies(rng, 5000))
    ours = Histogram.from_hdrh(reference)
    for q in (0.0, 25.0, 50.0, 99.0, 99.999, 100.0):
        assert ours.get_value_at_percentile(q) == values_at_percentiles(reference, [q])[0]
    assert (ours.get_max_value(), ours.get_min_value(), ours.get_total_count()) == (
        reference.get_max_value(), reference.get_min_value(), reference.get_total_count())
    back = ours.to_hdrh()
    assert list(back.counts) == list(reference.counts)
    doubled = ours.copy()
    doubled.add(reference)
    assert doubled.get_total_count() == 2 * reference.get_total_count()
    assert Histogram.decode(ours.encode()).counts.tolist() == ours.counts.tolist()
    assert math.isclose(ours.to_ms(2500), 2.5)
    empty = Histogram(Layout(1, 1000, 2))
    assert empty.values_at_percentiles([50.0]) == [0] and empty.get_max_value() == 0
    assert np.array_equal(Histogram(Layout(1, 1000, 2), [0, 3]).counts[:2], [0, 3])
