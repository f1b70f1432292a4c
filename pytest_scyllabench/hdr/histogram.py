"""A merged histogram: numpy counts in one HDR layout, and the unit of its values.

:class:`Histogram` is what merging produces (:mod:`pytest_scyllabench.hdr.pipeline`). It keeps
the recorded values as they were logged -- no rebucketing -- and says what one value is in
nanoseconds (``value_unit_ns``: 1000.0 for microseconds, 1.0 for nanoseconds), so that
percentiles come out in milliseconds whatever tool wrote the logs.

It answers the part of hdrh's ``HdrHistogram`` interface the rest of the package and the
tests use (``get_total_count``, ``get_max_value``, ``counts``, ``encode``...), so that reports
can take either. Percentiles follow Java's ``getValueAtPercentile``
(:meth:`Histogram.values_at_percentiles`); :meth:`Histogram.to_hdrh` gives an hdrh copy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from pytest_scyllabench.hdr.codec import decode_one
from pytest_scyllabench.hdr.encoding import encode
from pytest_scyllabench.hdr.layout import IntArray, Layout

#: Nanoseconds per value of the built-in loader's logs (microseconds).
MICROSECONDS = 1000.0
NANOSECONDS_PER_MS = 1_000_000.0


def unit_name(value_unit_ns: float) -> str:
    """``us`` for 1000 ns, ``ns``, ``ms``; otherwise ``<n>ns``."""
    names = {1.0: "ns", 1000.0: "us", 1_000_000.0: "ms", 1_000_000_000.0: "s"}
    return names.get(value_unit_ns, f"{value_unit_ns:g}ns")


class Histogram:
    """Counts of one layout; values are in units of ``value_unit_ns`` nanoseconds."""

    __slots__ = ("_total", "counts", "layout", "value_unit_ns")

    def __init__(self, layout: Layout, counts: npt.ArrayLike | None = None,
                 value_unit_ns: float = MICROSECONDS) -> None:
        if not value_unit_ns > 0:
            raise ValueError(f"value_unit_ns must be positive, got {value_unit_ns}")
        self.layout = layout
        self.value_unit_ns = float(value_unit_ns)
        self.counts: IntArray = np.zeros(layout.counts_len, dtype=np.int64)
        if counts is not None:
            values = np.asarray(counts, dtype=np.int64)
            if len(values) > layout.counts_len and np.any(values[layout.counts_len:]):
                raise ValueError(f"{len(values)} counts do not fit the {layout.counts_len} "
                                 f"of layout {layout.describe()}")
            size = min(len(values), layout.counts_len)
            self.counts[:size] = values[:size]
        self._total = int(self.counts.sum())

    # --- construction ---------------------------------------------------------------------

    @classmethod
    def decode(cls, encoded: str | bytes, value_unit_ns: float = MICROSECONDS) -> Histogram:
        """From a compressed base64 payload; ``ValueError`` if it is not one."""
        layout, counts = decode_one(encoded)
        return cls(layout, counts, value_unit_ns)

    @classmethod
    def from_hdrh(cls, histogram: Any, value_unit_ns: float = MICROSECONDS) -> Histogram:
        layout = Layout(int(histogram.lowest_trackable_value),
                        int(histogram.highest_trackable_value),
                        int(histogram.significant_figures))
        counts = np.ctypeslib.as_array(histogram.counts)[: histogram.counts_len]
        return cls(layout, counts, value_unit_ns)

    def to_hdrh(self) -> Any:
        """An hdrh ``HdrHistogram`` with the same counts (hdrh needs 1..5 digits)."""
        from hdrh.histogram import HdrHistogram

        return HdrHistogram.decode(self.encode())

    def copy(self) -> Histogram:
        return Histogram(self.layout, self.counts, self.value_unit_ns)

    # --- hdrh-compatible view -------------------------------------------------------------

    @property
    def lowest_trackable_value(self) -> int:
        return self.layout.lowest

    @property
    def highest_trackable_value(self) -> int:
        return self.layout.highest

    @property
    def significant_figures(self) -> int:
        return self.layout.digits

    @property
    def counts_len(self) -> int:
        return len(self.counts)

    def get_total_count(self) -> int:
        return self._total

    def get_max_value(self) -> int:
        """Highest value equivalent to the highest non-empty bucket (0 when empty)."""
        nonzero = np.flatnonzero(self.counts)
        if not len(nonzero):
            return 0
        return int(self.layout.highest_at(nonzero[-1]))

    def get_min_value(self) -> int:
        nonzero = np.flatnonzero(self.counts)
        if not len(nonzero) or nonzero[0] == 0:
            return 0
        return int(self.layout.value_at(nonzero[0]))

    def get_value_from_index(self, index: int) -> int:
        return int(self.layout.value_at(index))

    def get_lowest_equivalent_value(self, value: int) -> int:
        return int(self.layout.value_at(self.layout.index_of(value)))

    def get_highest_equivalent_value(self, value: int) -> int:
        return int(self.layout.highest_at(self.layout.index_of(value)))

    def get_value_at_percentile(self, percentile: float) -> int:
        """Java's ``getValueAtPercentile`` (hdrh's own rounds differently)."""
        return self.values_at_percentiles([percentile])[0]

    def encode(self) -> bytes:
        """Compressed base64 V2 encoding, as hdrh's ``encode()`` returns it."""
        return encode(self.counts, self.layout).encode("ascii")

    # --- arithmetic -----------------------------------------------------------------------

    def add(self, other: Histogram | Any) -> None:
        """Add ``other`` (a Histogram or an hdrh histogram) into this one.

        Its layout must be at least as fine as this one's (same shape, or convertible
        exactly, see :mod:`pytest_scyllabench.hdr.layout`); units must match.
        """
        if not isinstance(other, Histogram):
            other = Histogram.from_hdrh(other, self.value_unit_ns)
        if other.value_unit_ns != self.value_unit_ns:
            raise ValueError(f"cannot add a histogram of {unit_name(other.value_unit_ns)} to "
                             f"one of {unit_name(self.value_unit_ns)}")
        if other.layout.shape == self.layout.shape:
            size = len(other.counts)
            if size > len(self.counts):
                if np.any(other.counts[len(self.counts):]):
                    raise ValueError(f"values up to {other.get_max_value()} do not fit layout "
                                     f"{self.layout.describe()}")
                size = len(self.counts)
            self.counts[:size] += other.counts[:size]
        else:
            coarse = Layout.coarsest([self.layout, other.layout])
            if coarse.shape != self.layout.shape:
                raise ValueError(f"cannot add a histogram of layout {other.layout.describe()} "
                                 f"into the finer layout {self.layout.describe()}: its "
                                 f"buckets would be split; add both into a coarser one")
            nonzero = np.flatnonzero(other.counts)
            target = other.layout.convert(nonzero, self.layout)
            if len(target) and int(target.max()) >= len(self.counts):
                raise ValueError(f"values up to {other.get_max_value()} do not fit layout "
                                 f"{self.layout.describe()}")
            np.add.at(self.counts, target, other.counts[nonzero])
        self._total += other.get_total_count()

    # --- percentiles ----------------------------------------------------------------------

    def values_at_percentiles(self, percentiles: Sequence[float]) -> list[int]:
        """Recorded values at ``percentiles`` (0..100), as Java's ``getValueAtPercentile``.

        The count at a percentile is rounded up, computed one ulp below the requested
        percentile; the value is the highest equivalent to the bucket reached (the lowest
        for percentile 0).
        """
        total = self._total
        if total == 0:
            return [0] * len(percentiles)
        cumulative = np.cumsum(self.counts)
        targets = [target_count(percentile, total) for percentile in percentiles]
        indices = np.minimum(np.searchsorted(cumulative, targets, side="left"),
                             len(cumulative) - 1)
        values = []
        for percentile, index in zip(percentiles, indices.tolist(), strict=True):
            if percentile == 0.0:
                values.append(int(self.layout.value_at(index)))
            else:
                values.append(int(self.layout.highest_at(index)))
        return values

    def to_ms(self, value: float) -> float:
        """A recorded value in milliseconds."""
        return value * self.value_unit_ns / NANOSECONDS_PER_MS

    def __repr__(self) -> str:
        return (f"Histogram({self.layout.describe()}, {self._total} values of "
                f"{unit_name(self.value_unit_ns)}, max {self.get_max_value()})")


def target_count(percentile: float, total: int) -> int:
    """The count a percentile needs, as Java: ``ceil(nextafter(p, -inf) * total / 100)``."""
    requested = min(max(math.nextafter(percentile, -math.inf), 0.0), 100.0)
    return max(1, math.ceil(requested * total / 100.0))
