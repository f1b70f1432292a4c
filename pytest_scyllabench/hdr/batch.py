"""One batch of intervals: decoded together with numpy and added by tag and by series point.

A batch (:func:`run_batch`) holds the payloads of whole series points (see
:mod:`pytest_scyllabench.hdr.pipeline`), the intervals of the series first. Its payloads are
decoded together (:mod:`pytest_scyllabench.hdr.codec`) and added with two ``bincount`` calls:
one keyed by (tag, counts index) for the merged histograms, one by (series point, counts
index) over the series' intervals only -- a prefix of the batch's numbers -- up to the highest
index they reach, from which each point's p99 is read. ``bincount`` adds float64 weights: exact
while the batch holds fewer than 2**53 values; beyond that ``np.add.at`` on int64 takes over.

Bodies the vectorized decoder cannot vouch for (see :func:`~pytest_scyllabench.hdr.codec.scan`)
are read by the scalar reader, and bodies of another shape than the batch's layout are
converted into it, exactly; a payload that is corrupt is reported in
:attr:`BatchResult.errors`, never raised. Batches are plain data: they go to worker processes
as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from pytest_scyllabench.hdr.codec import (
    EXACT_FLOAT_SUM,
    Inflated,
    inflate,
    scalar_entries,
    scan,
    sum_by,
)
from pytest_scyllabench.hdr.histogram import target_count
from pytest_scyllabench.hdr.layout import IntArray, Layout

#: The series percentile.
SERIES_PERCENTILE = 99.0


@dataclass(frozen=True)
class Batch:
    """Intervals decoded together, sent as is to a worker process."""

    payloads: list[str]
    #: Tag slot of each payload.
    tags: IntArray
    #: Series point of each payload, counted from the batch's first; -1: not in the series.
    points: IntArray
    n_tags: int
    n_points: int
    #: Layout to merge into; ``None``: the coarsest of the batch's own.
    target: Layout | None = None


@dataclass
class BatchResult:
    """A batch's merged counts (in ``layout``), per-payload totals, series points, errors."""

    layout: Layout | None
    layouts: list[Layout]
    #: Index into ``layouts`` of each payload, -1 for a payload that failed.
    layout_of: IntArray
    per_tag: IntArray
    totals: IntArray
    point_counts: IntArray
    #: The p99 of each point as a recorded value (highest equivalent), 0 when empty.
    point_p99: IntArray
    errors: dict[int, str] = field(default_factory=dict)


def run_batch(batch: Batch) -> BatchResult:
    """Decode and add one batch (see the module docstring)."""
    size = len(batch.payloads)
    inflated = inflate(batch.payloads)
    layout_of = np.full(size, -1, dtype=np.int64)
    positions = np.asarray(inflated.positions, dtype=np.int64)
    layout_of[positions] = inflated.layout_of
    if not inflated.bodies:
        return _empty_result(batch, inflated, layout_of)
    target = batch.target or Layout.coarsest(inflated.layouts)
    width = target.counts_len
    adder = _Adder(batch, inflated, target, positions)
    per_tag, per_point = adder.add()
    errors = dict(inflated.errors)
    errors.update(adder.errors)
    for position in adder.errors:
        layout_of[position] = -1
    totals = np.zeros(size, dtype=np.int64)
    totals[positions] = adder.totals
    if adder.errors:
        totals[np.fromiter(adder.errors, dtype=np.int64)] = 0
    in_series = batch.points >= 0
    point_counts = sum_by(batch.points[in_series], totals[in_series], batch.n_points)
    point_p99 = np.zeros(batch.n_points, dtype=np.int64)
    busy = np.flatnonzero(point_counts > 0)
    if len(busy):
        # Integer cumsum: numpy's float64 one is several times slower.
        cumulative = np.cumsum(per_point[busy].astype(np.int64), axis=1)
        index = [int(np.searchsorted(row, target_count(SERIES_PERCENTILE, int(total))))
                 for row, total in zip(cumulative, point_counts[busy].tolist(), strict=True)]
        point_p99[busy] = target.highest_at(np.minimum(index, width - 1))
    return BatchResult(layout=target, layouts=inflated.layouts, layout_of=layout_of,
                       per_tag=per_tag, totals=totals, point_counts=point_counts,
                       point_p99=point_p99, errors=errors)


def _empty_result(batch: Batch, inflated: Inflated, layout_of: IntArray) -> BatchResult:
    zeros = np.zeros(batch.n_points, dtype=np.int64)
    return BatchResult(layout=batch.target, layouts=inflated.layouts, layout_of=layout_of,
                       per_tag=np.zeros((batch.n_tags, 0), dtype=np.int64),
                       totals=np.zeros(len(batch.payloads), dtype=np.int64),
                       point_counts=zeros, point_p99=zeros.copy(), errors=dict(inflated.errors))


class _Adder:
    """The two ``bincount`` calls of a batch, with the rare cases beside the fast path.

    The batch lists the intervals of the series first (the pipeline orders them so), so that their
    numbers are a prefix of the batch's: only that prefix is keyed by series point.
    """

    def __init__(self, batch: Batch, inflated: Inflated, target: Layout,
                 positions: IntArray) -> None:
        self.inflated = inflated
        self.target = target
        self.width = target.counts_len
        self.n_tags = batch.n_tags
        self.n_points = batch.n_points
        self.tag_offset = batch.tags[positions] * self.width
        self.points = batch.points[positions]
        self.in_series = int(np.count_nonzero(self.points >= 0))
        if np.any(self.points[: self.in_series] < 0):
            raise ValueError("a batch must list the intervals of the series first")
        self.point_offset = self.points * self.width
        self.positions = positions
        self.point_width = self.width
        self.errors: dict[int, str] = {}
        self.totals = np.zeros(len(inflated.bodies), dtype=np.int64)

    def add(self) -> tuple[IntArray, npt.NDArray[np.float64] | IntArray]:
        """Counts by (tag, index), and by (series point, index) up to the highest index used."""
        inflated = self.inflated
        varints = scan(inflated.bodies, inflated.limits)
        self.totals = varints.totals.copy()
        shapes = [layout.shape for layout in inflated.layouts]
        foreign = np.array([shape != self.target.shape for shape in shapes], dtype=bool)
        odd_bodies = set(varints.suspects)
        if np.any(foreign):
            odd_bodies.update(np.flatnonzero(foreign[inflated.layout_of]).tolist())
        series = self.in_series
        if not odd_bodies and series:
            # Series points only need the indices their intervals reach.
            self.point_width = max(1, int(varints.span[:series].max()))
            self.point_offset = self.points * self.point_width
        tag_keys = varints.keys(self.tag_offset)
        weights = varints.count
        prefix = int(varints.first[series]) if series < len(varints.first) else len(tag_keys)
        point_keys = tag_keys[:prefix] + np.repeat(
            (self.point_offset - self.tag_offset)[:series], varints.per_body[:series])
        point_weights = weights[:prefix]
        extra: list[tuple[IntArray, IntArray | None, IntArray]] = []
        if odd_bodies:
            owner = varints.owner()
            odd = np.zeros(len(inflated.bodies), dtype=bool)
            odd[list(odd_bodies)] = True
            for body in sorted(odd_bodies):
                entries = self._odd_body(body, varints.suspects, owner, tag_keys, weights)
                if entries is not None:
                    extra.append(entries)
            keep = ~odd[owner]
            tag_keys, weights = tag_keys[keep], weights[keep]
            point_keys, point_weights = point_keys[keep[:prefix]], point_weights[keep[:prefix]]
        if extra:
            if max((int(e[2].max()) for e in extra if len(e[2])), default=0) >= EXACT_FLOAT_SUM:
                # A count the scalar reader read exactly that float64 weights would round.
                weights, point_weights = weights.astype(np.int64), point_weights.astype(np.int64)
            tag_keys = np.concatenate([tag_keys, *(e[0] for e in extra)])
            weights = np.concatenate([weights, *(e[2].astype(weights.dtype) for e in extra)])
            point_keys = np.concatenate([point_keys, *(e[1] for e in extra if e[1] is not None)])
            point_weights = np.concatenate([point_weights, *(
                e[2].astype(weights.dtype) for e in extra if e[1] is not None)])
        size = self.n_points * self.point_width
        if varints.exact_float and int(self.totals.sum()) < EXACT_FLOAT_SUM:
            per_tag = _sum_into(tag_keys, weights, self.n_tags * self.width)
            per_point: npt.NDArray[np.float64] | IntArray = np.bincount(
                point_keys, weights=point_weights, minlength=size)
        else:
            per_tag = _add_into(tag_keys, weights, self.n_tags * self.width)
            per_point = _add_into(point_keys, point_weights, size)
        return (per_tag.reshape(self.n_tags, self.width),
                per_point.reshape(self.n_points, self.point_width))

    def _odd_body(self, body: int, suspects: set[int], owner: IntArray, tag_keys: IntArray,
                  weights: npt.NDArray[np.float64] | IntArray
                  ) -> tuple[IntArray, IntArray | None, IntArray] | None:
        """Keys and counts of a body read by the scalar reader or in another layout."""
        layout = self.inflated.layouts[int(self.inflated.layout_of[body])]
        if body in suspects:
            try:
                index, count = scalar_entries(self.inflated.bodies[body], layout.counts_len)
            except ValueError as exc:
                self.errors[int(self.positions[body])] = str(exc)
                return None
            self.totals[body] = int(count.sum())
        else:
            mine = np.flatnonzero(owner == body)
            index = tag_keys[mine] - self.tag_offset[body]
            count = weights[mine].astype(np.int64)
        if layout.shape != self.target.shape:
            index = layout.convert(index, self.target)
        if len(index) and int(index.max()) >= self.width:
            self.errors[int(self.positions[body])] = (
                f"histogram values reach {int(layout.highest_at(int(index.max())))}, beyond "
                f"the merged layout ({self.target.describe()})")
            return None
        point = index + self.point_offset[body] if body < self.in_series else None
        return index + self.tag_offset[body], point, count


def _sum_into(keys: IntArray, weights: npt.NDArray[np.float64] | IntArray,
              size: int) -> IntArray:
    """Dense sums of ``weights`` by key; exact while their total is below 2**53."""
    summed: IntArray = np.bincount(keys, weights=weights, minlength=size).astype(np.int64)
    return summed


def _add_into(keys: IntArray, weights: npt.NDArray[np.float64] | IntArray,
              size: int) -> IntArray:
    """Dense sums of ``weights`` by key in int64, for totals beyond float64's exact range."""
    out = np.zeros(size, dtype=np.int64)
    np.add.at(out, keys, weights.astype(np.int64))
    return out
