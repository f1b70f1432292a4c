"""Per-interval series for charts: throughput and p99 over the measured window.

Loaders do not start their intervals at the same instant. Each interval is placed on a grid of
``grid`` seconds (one second by default) anchored at the window start, by rounding its absolute
start to the nearest grid point (halves round up); the histograms of every loader that land on
the same point are added and the point's p99 is computed from that merged histogram. Throughput
is the point's count divided by the grid length. Grid points without any interval report zero
throughput and zero p99, so a stall shows as a gap rather than disappearing. The p99 is in
milliseconds, whatever the unit of the logs.

Rounding to nearest keeps loaders whose clocks tick a few milliseconds apart on the same point.
Its edge effect: a loader whose intervals start more than half a grid step after the window
start has its last in-window interval on the point just past the window, which is reported
(the sum of the points' counts is always the step's count).

The series of a step is computed with its merge (:mod:`pytest_scyllabench.hdr.pipeline`);
:class:`SeriesBuilder` does the same one histogram at a time, for callers that have them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from pytest_scyllabench.hdr.batch import SERIES_PERCENTILE
from pytest_scyllabench.hdr.histogram import MICROSECONDS, NANOSECONDS_PER_MS, Histogram
from pytest_scyllabench.hdr.layout import Layout
from pytest_scyllabench.hdr.log import HdrLog
from pytest_scyllabench.hdr.pipeline import SeriesPoint, merge
from pytest_scyllabench.hdr.window import Window

__all__ = ["SeriesBuilder", "SeriesPoint", "interval_series"]


class SeriesBuilder:
    """Accumulates interval histograms in start order; keeps one open grid point at a time."""

    def __init__(self, window: Window, grid: float = 1.0,
                 value_unit_ns: float = MICROSECONDS) -> None:
        if not grid > 0:
            raise ValueError(f"grid must be positive, got {grid}")
        self._window = window
        self._grid = grid
        self._unit = value_unit_ns
        self._open: int | None = None
        self._histogram: Histogram | None = None
        self._closed: dict[int, SeriesPoint] = {}

    def bucket(self, start: float) -> int:
        """The grid point of an interval starting at ``start`` (epoch seconds)."""
        return math.floor((start - self._window.start) / self._grid + 0.5)

    def add(self, start: float, histogram: Any) -> None:
        """Add one interval's histogram (ours or hdrh's); in non-decreasing ``start`` order.

        Histograms of one point may have different layouts (auto-resized, or other loaders'):
        the point is merged at the coarsest of them, as the merge does.
        """
        index = self.bucket(start)
        if self._open is not None and index < self._open:
            raise ValueError(f"interval at {start} added after grid point {self._open}: "
                             f"add intervals in start order")
        if not isinstance(histogram, Histogram):
            histogram = Histogram.from_hdrh(histogram, self._unit)
        if index != self._open or self._histogram is None:
            self._close()
            self._open = index
            self._histogram = Histogram(histogram.layout, value_unit_ns=histogram.value_unit_ns)
        target = Layout.coarsest([self._histogram.layout, histogram.layout])
        if target != self._histogram.layout:  # a larger or coarser one: grow into it
            grown = Histogram(target, value_unit_ns=self._histogram.value_unit_ns)
            grown.add(self._histogram)
            self._histogram = grown
        self._histogram.add(histogram)

    def points(self) -> list[SeriesPoint]:
        """Every grid point of the window (and any beyond it that received an interval)."""
        self._close()
        last = math.ceil(self._window.length / self._grid - 1e-9) - 1
        if self._closed:
            last = max(last, max(self._closed))
        first = min(0, min(self._closed, default=0))
        return [self._closed.get(index, SeriesPoint(index * self._grid, 0.0, 0.0))
                for index in range(first, last + 1)]

    def _close(self) -> None:
        if self._open is None or self._histogram is None:
            return
        histogram = self._histogram
        (p99,) = histogram.values_at_percentiles([SERIES_PERCENTILE])
        self._closed[self._open] = SeriesPoint(
            self._open * self._grid, histogram.get_total_count() / self._grid,
            p99 * histogram.value_unit_ns / NANOSECONDS_PER_MS)
        self._open = None
        self._histogram = None


def interval_series(logs: Sequence[HdrLog], window: Window, tags: Iterable[str] | None = None,
                    grid: float = 1.0) -> list[SeriesPoint]:
    """Throughput and p99 per grid point of ``window``, merged across ``logs``.

    ``tags`` default to the operation tags of one latency kind (response time when logged, see
    :func:`~pytest_scyllabench.hdr.tags.counted`) so that each operation counts once.
    """
    return merge(logs, window, grid=grid, series_tags=tags).series
