"""Interval logs for the HDR tests: written by hdrh's HistogramLogWriter or line by line.

Histograms are recorded with hdrh here; the logs hold what a loader would write. Tests that
compare with Java's HistogramLogProcessor are in tests/integration/test_hdr_java.py.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogWriter

LEGEND = '"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"'
#: Epoch seconds used as the start of the test logs.
T0 = 1_700_000_000.0


#: The built-in loader's layout: 1 µs .. 60 s at 3 significant digits.
LAYOUT = (1, 60_000_000, 3)


def new_histogram(layout: tuple[int, int, int] = LAYOUT) -> Any:
    return HdrHistogram(*layout)


def record(values: Iterable[int], layout: tuple[int, int, int] = LAYOUT) -> Any:
    histogram = new_histogram(layout)
    for value in values:
        histogram.record_value(value)
    return histogram


def latencies(rng: random.Random, count: int, median_us: float = 2000.0) -> list[int]:
    """Log-normal latencies in microseconds, a long tail as real ones have."""
    return [max(1, int(rng.lognormvariate(0.0, 0.8) * median_us)) for _ in range(count)]


@dataclass
class Line:
    """One interval to write: tag (None: untagged), logged start, length, values (µs)."""

    tag: str | None
    start: float
    values: list[int]
    length: float = 1.0
    #: (lowest, highest, significant digits) of the histogram written.
    layout: tuple[int, int, int] = LAYOUT

    def text(self) -> str:
        histogram = record(self.values, self.layout)
        prefix = f"Tag={self.tag}," if self.tag else ""
        return (f"{prefix}{self.start:.3f},{self.length:.3f},"
                f"{histogram.get_max_value() / 1000:.3f},{histogram.encode().decode()}")


def write_lines(path: Path, lines: Sequence[Line], *, start_time: float | None = None,
                base_time: float | None = None, legend: bool = True,
                version: str | None = "1.3") -> Path:
    """A log written line by line, as Java's HistogramLogWriter lays it out."""
    out = []
    if version is not None:
        out.append(f"#[Histogram log format version {version}]")
    if start_time is not None:
        out.append(f"#[StartTime: {start_time:.3f} (seconds since epoch), Tue Nov 14 2023]")
    if base_time is not None:
        out.append(f"#[BaseTime: {base_time:.3f} (seconds since epoch)]")
    if legend:
        out.append(LEGEND)
    out.extend(line.text() for line in lines)
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path


def write_with_hdrh(path: Path, starts_ms: Sequence[float], histograms: Sequence[Any],
                    length_ms: float = 1000.0, base_time_ms: float = 0.0) -> Path:
    """A log written by hdrh's HistogramLogWriter (untagged; it cannot write tags).

    hdrh's ``output_start_time`` is broken (it calls a missing ``iso_format``), so relative logs
    carry a ``BaseTime`` line instead, which the writer supports.
    """
    with path.open("w", encoding="utf-8") as out:
        writer = HistogramLogWriter(out)
        writer.output_log_format_version()
        if base_time_ms:
            writer.output_base_time(base_time_ms)
            writer.base_time = base_time_ms
        writer.output_legend()
        for start, histogram in zip(starts_ms, histograms, strict=True):
            histogram.set_start_time_stamp(start)
            histogram.set_end_time_stamp(start + length_ms)
            writer.output_interval_histogram(histogram)
    return path
