"""The loader's HDR interval log, read back by our reader and by hdrh's."""

from __future__ import annotations

import io

from hdrh.log import HistogramLogReader

from pytest_scyllabench.hdr.log import LogSource, parse_log
from pytest_scyllabench.loader.recorder import (
    HIGHEST_US,
    IntervalLogWriter,
    Recorder,
    interval_count,
    interval_p99_ms,
)

START = 1_700_000_000.25


def _write_log(seconds: int) -> str:
    recorder = Recorder(["write", "read"])
    out = io.StringIO()
    writer = IntervalLogWriter(out, START)
    for second in range(seconds):
        for i in range(100 * (second + 1)):
            recorder.record("write", 1000 + i, 500)
        recorder.record("read", 2000, 10**12)  # beyond the highest value: clamped
        for name, histogram in recorder.rotate().items():
            writer.write(name, START + second, 1.0, histogram)
    return out.getvalue()


def test_header_is_java_compatible() -> None:
    lines = _write_log(1).splitlines()
    assert lines[0] == "#[Histogram log format version 1.3]"
    assert lines[1].startswith("#[StartTime: 1700000000.250 (seconds since epoch), ")
    assert lines[2] == "#[BaseTime: 0.000 (seconds since epoch)]"
    assert lines[3] == ('"StartTimestamp","Interval_Length","Interval_Max",'
                        '"Interval_Compressed_Histogram"')
    assert lines[4].startswith("Tag=write-rt,1700000000.250,1.000,")


def test_counts_per_tag_and_absolute_timestamps() -> None:
    log = parse_log(_write_log(3), LogSource("loader-1", "x.hlog"))
    assert log.tags == {"write-rt", "write-st", "read-rt", "read-st"}
    assert log.base_time == 0.0
    starts = sorted({interval.start for interval in log.intervals})
    assert starts == [START, START + 1, START + 2]
    counts = {tag: sum(i.decode().get_total_count() for i in log.select({tag}))
              for tag in log.tags}
    assert counts == {"write-rt": 600, "write-st": 600, "read-rt": 3, "read-st": 3}
    read_st = next(log.select({"read-st"})).decode()
    assert HIGHEST_US * 0.99 <= read_st.get_max_value() <= HIGHEST_US * 1.01


def test_hdrh_reader_reads_it(tmp_path: object) -> None:
    text = _write_log(2)
    path = f"{tmp_path}/x.hlog"
    with open(path, "w", encoding="ascii") as out:
        out.write(text)
    reader = HistogramLogReader(path, Recorder(["w"]).rotate()["w-rt"])
    total = 0
    while (histogram := reader.get_next_interval_histogram()) is not None:
        total += histogram.get_total_count()
    assert total == 2 * (100 + 200) + 2 * 2


def test_interval_summaries() -> None:
    recorder = Recorder(["write"])
    for value in range(1, 1001):
        recorder.record("write", value * 1000, 1)
    histograms = recorder.rotate()
    assert interval_count(histograms) == 1000
    assert 985 <= interval_p99_ms(histograms) <= 995
    assert interval_count(recorder.rotate()) == 0
    assert interval_p99_ms(recorder.rotate()) == 0.0
