"""Latency recording: one HdrHistogram per tag and interval, written as an interval log.

Values are microseconds, clamped to ``[1, 60 s]``. Tags are ``<operation>-rt`` (response
time: completion minus intended start) and ``<operation>-st`` (service time: completion
minus actual send), see :func:`pytest_scyllabench.result.tag`. A failed operation is recorded
apart, under ``<operation>-err`` (failure minus intended start), so that the percentiles of
the successes stay clean and no issued operation is silently lost; that tag is written only for
intervals that had failures, and it feeds neither ``all-rt``/``all-st`` nor the operation
counts of the merge (:mod:`pytest_scyllabench.hdr.tags`).

The log is a standard HdrHistogram interval log, format 1.3, as Java's ``HistogramLogWriter``
writes it, with **absolute** timestamps (epoch seconds) and an explicit
``#[BaseTime: 0.000 ...]`` so that every reader -- Java's ``HistogramLogReader`` and
``HistogramLogProcessor``, hdrh, :mod:`pytest_scyllabench.hdr.log` -- takes the timestamps as
they are instead of guessing. Java's reader adds the base time to each timestamp; without a
``BaseTime`` line it guesses "relative" only for a first timestamp more than a year before
``StartTime``, so absolute times would work without it too. ``Interval_Max`` is in
milliseconds (the histogram's microseconds divided by 1000, as Java's writer does with a
``maxValueUnitRatio`` of 1000). Each interval line is written whole and flushed, so a killed
loader leaves at most one truncated last line.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import IO, Any

from hdrh.histogram import HdrHistogram

from pytest_scyllabench.result import RESPONSE_TIME, SERVICE_TIME, tag

LOWEST_US = 1
HIGHEST_US = 60_000_000
SIGNIFICANT_DIGITS = 3
#: Latency kind of failed operations (``write-err``): kept apart from ``rt`` and ``st``.
ERROR = "err"
LEGEND = '"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"'


def new_histogram() -> Any:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


class IntervalLogWriter:
    """Writes the header once, then one line per tagged interval histogram."""

    def __init__(self, out: IO[str], start_time: float) -> None:
        self._out = out
        stamp = datetime.fromtimestamp(start_time, UTC).strftime("%a %b %d %H:%M:%S UTC %Y")
        out.write("#[Histogram log format version 1.3]\n")
        out.write(f"#[StartTime: {start_time:.3f} (seconds since epoch), {stamp}]\n")
        out.write("#[BaseTime: 0.000 (seconds since epoch)]\n")
        out.write(LEGEND + "\n")
        out.flush()

    def write(self, tag_name: str, start: float, length: float, histogram: Any) -> None:
        payload = histogram.encode().decode("ascii")
        max_ms = histogram.get_max_value() / 1000.0
        self._out.write(f"Tag={tag_name},{start:.3f},{length:.3f},{max_ms:.3f},{payload}\n")

    def flush(self) -> None:
        self._out.flush()


class Recorder:
    """Per-interval histograms of response and service time for each operation type.

    ``record`` is on the hot path: two histogram updates. ``record_error`` keeps a failed
    operation's time to failure apart. ``rotate`` hands back the interval's histograms and
    starts new ones; the loader calls it once per second.
    """

    def __init__(self, operations: Iterable[str]) -> None:
        self.operations = tuple(operations)
        self._rt: dict[str, Any] = {op: new_histogram() for op in self.operations}
        self._st: dict[str, Any] = {op: new_histogram() for op in self.operations}
        self._err: dict[str, Any] = {op: new_histogram() for op in self.operations}

    def record(self, operation: str, response_us: int, service_us: int) -> None:
        self._rt[operation].record_value(min(max(response_us, LOWEST_US), HIGHEST_US))
        self._st[operation].record_value(min(max(service_us, LOWEST_US), HIGHEST_US))

    def record_error(self, operation: str, response_us: int) -> None:
        """A failed operation: its time from the intended start to the failure."""
        self._err[operation].record_value(min(max(response_us, LOWEST_US), HIGHEST_US))

    def rotate(self) -> dict[str, Any]:
        """The current interval's histograms by tag; recording continues into fresh ones.

        ``<op>-rt`` and ``<op>-st`` always, ``<op>-err`` only when operations failed.
        """
        out: dict[str, Any] = {}
        for op in self.operations:
            out[tag(op, RESPONSE_TIME)] = self._rt[op]
            out[tag(op, SERVICE_TIME)] = self._st[op]
            self._rt[op] = new_histogram()
            self._st[op] = new_histogram()
            if self._err[op].get_total_count():
                out[tag(op, ERROR)] = self._err[op]
                self._err[op] = new_histogram()
        return out


def interval_p99_ms(histograms: dict[str, Any]) -> float:
    """p99 of the response time over every operation type of one interval, milliseconds."""
    merged = new_histogram()
    for name, histogram in histograms.items():
        if name.endswith("-" + RESPONSE_TIME):
            merged.add(histogram)
    if merged.get_total_count() == 0:
        return 0.0
    return float(merged.get_value_at_percentile(99.0)) / 1000.0


def interval_count(histograms: dict[str, Any]) -> int:
    return sum(int(h.get_total_count()) for name, h in histograms.items()
               if name.endswith("-" + RESPONSE_TIME))


def epoch_to_monotonic_ns(epoch: float) -> int:
    """The ``time.monotonic_ns()`` reading at wall-clock time ``epoch``."""
    return time.monotonic_ns() + int((epoch - time.time()) * 1e9)


def monotonic_ns_to_epoch(mono_ns: int) -> float:
    return time.time() + (mono_ns - time.monotonic_ns()) / 1e9
