"""The merge of a step's interval logs: batched numpy decoding, in parallel when large.

Every interval of every log whose start lies in the window is decoded once and feeds three
things: the merged histogram of its tag, its loader's operation count, and the per-second
series (throughput and p99, see :mod:`pytest_scyllabench.hdr.series`). Intervals are sorted by
absolute start and cut into batches of whole series points, so that each batch
(:mod:`pytest_scyllabench.hdr.batch`) computes its points' p99 from the histogram merged over
every loader; batches go to worker processes when there is enough work
(:mod:`pytest_scyllabench.hdr.workers`).

Exactness: counts are added as integers, the merged histograms keep the logged values and
layout, so their percentiles (Java's ``getValueAtPercentile``), total count and max value are
those of Java's ``HistogramLogProcessor`` over the same intervals. Histograms of one shape
(lowest value, significant digits) and different highest values -- auto-resized ones -- add
index by index. Histograms of different shapes are merged into the coarsest of them, exactly
(see :mod:`pytest_scyllabench.hdr.layout`), and the result carries a warning naming where
each shape was first seen; a batch that chose another layout on its own is decoded again.
Logs recording values in different units are not merged (StressError).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import NamedTuple

import numpy as np

from pytest_scyllabench.errors import StressError
from pytest_scyllabench.hdr.batch import Batch, BatchResult, run_batch
from pytest_scyllabench.hdr.codec import sum_by
from pytest_scyllabench.hdr.histogram import NANOSECONDS_PER_MS, Histogram, unit_name
from pytest_scyllabench.hdr.layout import IntArray, Layout
from pytest_scyllabench.hdr.log import HdrLog
from pytest_scyllabench.hdr.tags import aggregate_tag, counted
from pytest_scyllabench.hdr.window import Window
from pytest_scyllabench.hdr.workers import Workers

#: Payload characters per batch: large enough for numpy to pay, small enough to stay in cache.
BATCH_CHARS = 1_000_000


class SeriesPoint(NamedTuple):
    """One grid point: seconds since the window start, ops/s, p99 in milliseconds."""

    time: float
    rate: float
    p99_ms: float


# --- the merge of a step -------------------------------------------------------------------


@dataclass
class Merged:
    """Everything a step result takes from the logs."""

    #: One histogram per tag, plus ``all-rt`` and ``all-st``.
    histograms: dict[str, Histogram]
    value_unit_ns: float
    #: Operations each log holds in the window (counted tags), in the order of the logs.
    loader_ops: list[int]
    #: Each log's largest count on one series point: the tolerance of the count check.
    loader_largest: list[int]
    series: list[SeriesPoint]
    #: Problems tolerated (different layouts merged at the coarsest), one line each.
    warnings: list[str]
    #: The tags whose counts are operations and feed the series.
    counted_tags: frozenset[str]


def common_unit(logs: Sequence[HdrLog]) -> float:
    """The value unit of ``logs``; StressError naming each log's when they differ."""
    units = {log.value_unit_ns for log in logs}
    if len(units) > 1:
        listed = ", ".join(f"{log.loader} {unit_name(log.value_unit_ns)}" for log in logs)
        raise StressError(f"the loaders' HDR logs record values in different units ({listed}): "
                          f"their histograms cannot be merged (the loaders of a step must "
                          f"run the same tool)")
    return units.pop() if units else 1000.0


def merge(logs: Sequence[HdrLog], window: Window, *, grid: float = 1.0,
          series_tags: Iterable[str] | None = None,
          workers: int | Workers | None = None) -> Merged:
    """Merge ``logs`` over ``window``: histograms per tag, counts per loader, series.

    ``series_tags`` (default: :func:`~pytest_scyllabench.hdr.tags.counted`) are the tags that
    count operations and feed the series. ``workers``: processes to decode in (``None``:
    decide from the amount of work; 0 or 1: this process), or a :class:`Workers` to share.
    """
    if not grid > 0:
        raise ValueError(f"grid must be positive, got {grid}")
    if not isinstance(workers, Workers):
        with Workers(workers) as own:
            return merge(logs, window, grid=grid, series_tags=series_tags, workers=own)
    unit = common_unit(logs)
    names = sorted(frozenset().union(*(log.tags for log in logs)))
    chosen = counted(names) if series_tags is None else frozenset(series_tags)
    plan = _Plan(logs, window, names, chosen, grid)
    sums = _TagSums(len(names))
    results = [sums.fold(result) for result in
               workers.imap(run_batch, plan.batches(), plan.total_chars)]
    target = _coarsest(results)
    if target is not None:
        again = [number for number, result in enumerate(results)
                 if result.layout is not None and result.layout.shape != target.shape]
        if again:
            sums.keep(target.shape)  # every batch of another shape is done again
            rerun = workers.imap(run_batch, [plan.batch(number, target) for number in again],
                                 plan.total_chars * len(again) // max(1, len(results)))
            for number, result in zip(again, rerun, strict=True):
                results[number] = sums.fold(result)
    plan.raise_first_error(results)
    histograms = plan.histograms(sums.total(target), target, unit)
    return Merged(histograms=histograms, value_unit_ns=unit,
                  loader_ops=plan.loader_ops(results), loader_largest=plan.loader_largest(results),
                  series=plan.series(results, target, unit), warnings=plan.layout_warnings(results),
                  counted_tags=chosen)


class _TagSums:
    """The batches' counts by tag, added as they arrive (a batch's own are then dropped)."""

    def __init__(self, n_tags: int) -> None:
        self.n_tags = n_tags
        self.by_shape: dict[tuple[int, int], IntArray] = {}

    def fold(self, result: BatchResult) -> BatchResult:
        if result.layout is None or result.per_tag.shape[1] == 0:
            return result
        shape = result.layout.shape
        counts = result.per_tag
        total = self.by_shape.get(shape)
        if total is None or total.shape[1] < counts.shape[1]:
            grown = np.zeros((self.n_tags, counts.shape[1]), dtype=np.int64)
            if total is not None:
                grown[:, : total.shape[1]] = total
            total = self.by_shape[shape] = grown
        total[:, : counts.shape[1]] += counts
        result.per_tag = np.zeros((self.n_tags, 0), dtype=np.int64)
        return result

    def keep(self, shape: tuple[int, int]) -> None:
        self.by_shape = {key: value for key, value in self.by_shape.items() if key == shape}

    def total(self, target: Layout | None) -> IntArray:
        """The counts by tag in ``target`` (which has the only shape left)."""
        if target is None:
            return np.zeros((self.n_tags, 0), dtype=np.int64)
        out = np.zeros((self.n_tags, target.counts_len), dtype=np.int64)
        summed = self.by_shape.get(target.shape)
        if summed is not None:
            out[:, : summed.shape[1]] = summed
        return out


def _coarsest(results: Sequence[BatchResult]) -> Layout | None:
    seen = [layout for result in results for layout in result.layouts]
    return Layout.coarsest(seen) if seen else None


class _Plan:
    """The selected intervals of every log, sorted by start, cut into batches."""

    def __init__(self, logs: Sequence[HdrLog], window: Window, names: list[str],
                 chosen: frozenset[str], grid: float) -> None:
        self.logs = logs
        self.window = window
        self.names = names
        self.grid = grid
        self.counted_slots = np.array([name in chosen for name in names], dtype=bool)
        slot = {name: number for number, name in enumerate(names)}
        parts_log, parts_row, parts_start, parts_tag = [], [], [], []
        for number, log in enumerate(logs):
            rows = np.flatnonzero(window.mask(log.starts))
            slots = np.array([slot[name] for name in log.tag_names], dtype=np.int64)
            parts_log.append(np.full(len(rows), number, dtype=np.int64))
            parts_row.append(rows)
            parts_start.append(log.starts[rows])
            parts_tag.append(slots[log.tag_index[rows]] if len(slots) else rows)
        starts = np.concatenate(parts_start) if parts_start else np.zeros(0)
        order = np.argsort(starts, kind="stable")
        self.log = np.concatenate(parts_log)[order] if logs else np.zeros(0, np.int64)
        self.row = np.concatenate(parts_row)[order] if logs else np.zeros(0, np.int64)
        self.start = starts[order]
        self.tag = np.concatenate(parts_tag)[order] if logs else np.zeros(0, np.int64)
        self.point = np.floor((self.start - window.start) / grid + 0.5).astype(np.int64)
        self.counted = self.counted_slots[self.tag] if len(self.tag) else np.zeros(0, bool)
        self.payloads = [logs[log].payloads[row]
                         for log, row in zip(self.log.tolist(), self.row.tolist(), strict=True)]
        lengths = np.fromiter(map(len, self.payloads), dtype=np.int64, count=len(self.payloads))
        self.total_chars = int(lengths.sum())
        self.cuts = self._cuts(lengths)
        self._series_first()

    def _series_first(self) -> None:
        """Within each batch, the intervals of the series first (see :class:`_Adder`)."""
        if not len(self.counted):
            return
        sizes = [end - begin for begin, end in self.cuts]
        batch_of = np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)
        order = np.lexsort((~self.counted, batch_of))  # stable: start order within each
        self.log, self.row, self.start = self.log[order], self.row[order], self.start[order]
        self.tag, self.point, self.counted = self.tag[order], self.point[order], \
            self.counted[order]
        self.payloads = [self.payloads[i] for i in order.tolist()]

    def _cuts(self, lengths: IntArray) -> list[tuple[int, int]]:
        """[begin, end) of each batch: whole series points, about BATCH_CHARS each."""
        if not len(lengths):
            return []
        before = np.cumsum(lengths) - lengths
        new_point = np.ones(len(lengths), dtype=bool)
        new_point[1:] = self.point[1:] != self.point[:-1]
        point_start = np.flatnonzero(new_point)
        batch_of_point = before[point_start] // BATCH_CHARS
        boundaries = point_start[np.flatnonzero(np.diff(batch_of_point)) + 1]
        edges = [0, *boundaries.tolist(), len(lengths)]
        return list(pairwise(edges))

    def batch(self, number: int, target: Layout | None = None) -> Batch:
        begin, end = self.cuts[number]
        points = self.point[begin:end]
        first = int(points.min())
        local = np.where(self.counted[begin:end], points - first, -1)
        return Batch(payloads=self.payloads[begin:end], tags=self.tag[begin:end],
                     points=local, n_tags=len(self.names),
                     n_points=int(points.max()) - first + 1, target=target)

    def batches(self) -> list[Batch]:
        return [self.batch(number) for number in range(len(self.cuts))]

    def raise_first_error(self, results: Sequence[BatchResult]) -> None:
        """HdrLogError for the earliest corrupt interval (by start, then loader order)."""
        for (begin, _), result in zip(self.cuts, results, strict=True):
            if result.errors:
                position = min(result.errors, key=lambda p: (
                    self.start[begin + p], self.log[begin + p], self.row[begin + p]))
                log = self.logs[int(self.log[begin + position])]
                line = int(log.lines[int(self.row[begin + position])])
                raise log.source.error(line, f"payload is not an HdrHistogram "
                                             f"({result.errors[position]})")

    def histograms(self, per_tag: IntArray, target: Layout | None,
                   unit: float) -> dict[str, Histogram]:
        """One Histogram per tag with intervals in the window, plus ``all-*``."""
        if target is None:
            return {}
        present = np.zeros(len(self.names), dtype=bool)
        present[np.unique(self.tag)] = True
        merged: dict[str, Histogram] = {}
        for slot, name in enumerate(self.names):
            if not present[slot]:
                continue
            merged[name] = Histogram(target, per_tag[slot], unit)
            aggregate = aggregate_tag(name)
            if aggregate is None:
                continue
            if aggregate in merged:
                merged[aggregate].add(merged[name])
            else:
                merged[aggregate] = Histogram(target, per_tag[slot], unit)
        return merged

    def _totals(self, results: Sequence[BatchResult]) -> IntArray:
        if not results:
            return np.zeros(0, dtype=np.int64)
        return np.concatenate([result.totals for result in results])

    def loader_ops(self, results: Sequence[BatchResult]) -> list[int]:
        totals = self._totals(results)
        ops = sum_by(self.log[self.counted], totals[self.counted], len(self.logs))
        return [int(value) for value in ops.tolist()]

    def loader_largest(self, results: Sequence[BatchResult]) -> list[int]:
        totals = self._totals(results)
        largest = [0] * len(self.logs)
        if not len(totals):
            return largest
        chosen = np.flatnonzero(self.counted)
        log, point = self.log[chosen], self.point[chosen]
        keys = np.stack([log, point], axis=1)
        unique, inverse = np.unique(keys, axis=0, return_inverse=True)
        sums = sum_by(inverse.reshape(-1), totals[chosen], len(unique))
        for (number, _), total in zip(unique.tolist(), sums.tolist(), strict=True):
            largest[number] = max(largest[number], int(total))
        return largest

    def series(self, results: Sequence[BatchResult], target: Layout | None,
               unit: float) -> list[SeriesPoint]:
        found: dict[int, tuple[int, int]] = {}
        for (begin, end), result in zip(self.cuts, results, strict=True):
            chosen = self.counted[begin:end]
            if not np.any(chosen):
                continue
            # The batch's points count from its earliest interval, counted or not
            # (:meth:`batch`); its first interval is a counted one (:meth:`_series_first`).
            first = int(self.point[begin:end].min())
            used = np.unique(self.point[begin:end][chosen]) - first
            for local in used.tolist():
                found[first + local] = (int(result.point_counts[local]),
                                        int(result.point_p99[local]))
        last = math.ceil(self.window.length / self.grid - 1e-9) - 1
        if found:
            last = max(last, max(found))
        begin_at = min(0, min(found, default=0))
        points = []
        for index in range(begin_at, last + 1):
            count, p99 = found.get(index, (0, 0))
            points.append(SeriesPoint(index * self.grid, count / self.grid,
                                      p99 * unit / NANOSECONDS_PER_MS))
        return points

    def layout_warnings(self, results: Sequence[BatchResult]) -> list[str]:
        """One warning when the logs hold histograms of different shapes, naming where."""
        first_seen: dict[tuple[int, int], tuple[Layout, int]] = {}
        for (begin, _), result in zip(self.cuts, results, strict=True):
            for number, layout in enumerate(result.layouts):
                if layout.shape in first_seen:
                    continue
                positions = np.flatnonzero(result.layout_of == number)
                if len(positions):
                    first_seen[layout.shape] = (layout, begin + int(positions[0]))
        if len(first_seen) < 2:
            return []
        target = Layout.coarsest(layout for layout, _ in first_seen.values())
        places = []
        for layout, item in first_seen.values():
            log = self.logs[int(self.log[item])]
            line = int(log.lines[int(self.row[item])])
            places.append(f"{layout.describe()} (first in loader {log.loader}: {log.path}: "
                          f"line {line})")
        return [f"HDR histograms of different layouts were merged at the coarsest resolution, "
                f"{target.describe()}: {'; '.join(places)}"]
