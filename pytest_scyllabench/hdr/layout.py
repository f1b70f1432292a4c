"""The bucket layout of an HdrHistogram, as Java's ``AbstractHistogram`` computes it, vectorized.

A histogram is configured by its lowest discernible value, highest trackable value and number
of significant digits (0..5). Which counts index a value lands in depends only on the *shape*:
the unit magnitude ``floor(log2(lowest))`` and the sub-bucket half-count magnitude (from the
significant digits); the highest trackable value only sets how many counts there are. Two
histograms of the same shape add index by index whatever their highest values.

Every bucket of an HDR layout is an aligned range of a power-of-two width, and that width at
any value only grows with the unit magnitude and shrinks with the significant digits. So for
two shapes where one is at least as coarse as the other on both counts, every bucket of the
finer one lies inside one bucket of the coarser one: converting counts from fine to coarse is
exact (it is what recording the original values into the coarse layout would give, and what
Java's ``add`` does for a coarser accumulator). :meth:`Layout.coarsest` gives the shape every
layout of a merge converts to.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

#: Counts and indices are 64-bit signed integers, as Java's ``long``.
IntArray = npt.NDArray[np.int64]

_MAX_LONG = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Layout:
    """Lowest discernible value, highest trackable value and significant digits."""

    lowest: int
    highest: int
    digits: int
    #: Derived in ``__post_init__``: floor(log2(lowest)).
    unit_magnitude: int = field(init=False, compare=False, repr=False)
    #: ``subBucketHalfCountMagnitude``: log2 of half the sub-buckets per bucket.
    half_magnitude: int = field(init=False, compare=False, repr=False)
    #: Length of the counts array (Java's ``countsArrayLength``).
    counts_len: int = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not 0 <= self.digits <= 5:
            raise ValueError(f"significant digits must be 0..5, got {self.digits}")
        if self.lowest < 1:
            raise ValueError(f"lowest discernible value must be >= 1, got {self.lowest}")
        if self.highest < 2 * self.lowest or self.highest > _MAX_LONG:
            raise ValueError(f"highest trackable value {self.highest} must be at least twice "
                             f"the lowest ({self.lowest}) and fit 63 bits")
        unit_magnitude = self.lowest.bit_length() - 1
        count_magnitude = (2 * 10**self.digits - 1).bit_length()  # ceil(log2(2 * 10^digits))
        half_magnitude = max(count_magnitude, 1) - 1
        object.__setattr__(self, "unit_magnitude", unit_magnitude)
        object.__setattr__(self, "half_magnitude", half_magnitude)
        object.__setattr__(self, "counts_len",
                           _counts_len(self.highest, unit_magnitude, half_magnitude))

    @property
    def shape(self) -> tuple[int, int]:
        """What decides the index of a value: (unit magnitude, half-count magnitude)."""
        return self.unit_magnitude, self.half_magnitude

    @property
    def sub_bucket_count(self) -> int:
        return 1 << (self.half_magnitude + 1)

    def describe(self) -> str:
        return f"lowest {self.lowest}, highest {self.highest}, {self.digits} significant digits"

    @staticmethod
    def coarsest(layouts: Iterable[Layout]) -> Layout:
        """A layout at least as coarse as each of ``layouts`` (see the module docstring)."""
        chosen = list(layouts)
        if not chosen:
            raise ValueError("no layout to choose from")
        lowest = max((layout for layout in chosen), key=lambda layout: (
            layout.unit_magnitude, layout.lowest)).lowest
        digits = min(layout.digits for layout in chosen)
        if len({layout.shape for layout in chosen}) == 1:
            highest = max(layout.highest for layout in chosen)
        else:
            # Converted counts may sit anywhere up to the top of their own layout.
            highest = max(int(layout.highest_at(layout.counts_len - 1)) for layout in chosen)
        return Layout(lowest, min(max(highest, 2 * lowest), _MAX_LONG), digits)

    # --- vectorized index <-> value ---------------------------------------------------------

    def index_of(self, values: npt.ArrayLike) -> IntArray:
        """Counts index of each value (Java's ``countsArrayIndex``); values must be >= 0."""
        v = np.asarray(values, dtype=np.int64)
        magnitude = self.half_magnitude
        mask = (self.sub_bucket_count - 1) << self.unit_magnitude
        bucket = bit_length(v | mask) - self.unit_magnitude - (magnitude + 1)
        sub_bucket = v >> (bucket + self.unit_magnitude)
        index: IntArray = ((bucket + 1) << magnitude) + sub_bucket - (1 << magnitude)
        return index

    def value_at(self, indices: npt.ArrayLike) -> IntArray:
        """Lowest value of each counts index (Java's ``valueFromIndex``)."""
        index = np.asarray(indices, dtype=np.int64)
        magnitude = self.half_magnitude
        half = 1 << magnitude
        bucket = (index >> magnitude) - 1
        sub_bucket = (index & (half - 1)) + half
        low = bucket < 0
        sub_bucket = np.where(low, sub_bucket - half, sub_bucket)
        bucket = np.maximum(bucket, 0)
        values: IntArray = sub_bucket << (bucket + self.unit_magnitude)
        return values

    def highest_at(self, indices: npt.ArrayLike) -> IntArray:
        """Highest value equivalent to each counts index (``highestEquivalentValue``)."""
        index = np.asarray(indices, dtype=np.int64)
        bucket = np.maximum((index >> self.half_magnitude) - 1, 0)
        # Width minus one first: the last bucket of a layout up to 2**63 - 1 ends there.
        highest: IntArray = self.value_at(index) + ((np.int64(1) << (
            bucket + self.unit_magnitude)) - 1)
        return highest

    def convert(self, indices: npt.ArrayLike, target: Layout) -> IntArray:
        """Indices of ``target`` holding the buckets ``indices`` of this layout.

        Exact when ``target`` is at least as coarse (see :meth:`coarsest`).
        """
        if target.shape == self.shape:
            return np.asarray(indices, dtype=np.int64)
        return target.index_of(self.value_at(indices))


def _counts_len(highest: int, unit_magnitude: int, half_magnitude: int) -> int:
    """Java's ``getLengthForNumberOfBuckets(getBucketsNeededToCoverValue(highest))``."""
    sub_bucket_count = 1 << (half_magnitude + 1)
    smallest_untrackable = sub_bucket_count << unit_magnitude
    buckets = 1
    while smallest_untrackable <= highest:
        if smallest_untrackable > _MAX_LONG // 2:
            buckets += 1
            break
        smallest_untrackable <<= 1
        buckets += 1
    return (buckets + 1) * (sub_bucket_count // 2)


def bit_length(values: Any) -> IntArray:
    """``int.bit_length`` of non-negative int64 values, vectorized."""
    v = np.asarray(values, dtype=np.int64)
    _, exponent = np.frexp(v.astype(np.float64))
    length = exponent.astype(np.int64)
    # float64 rounds values above 2**53 and may carry into the next power of two.
    high = v >= 2**53
    if np.any(high):
        too_long = high & ((v >> np.maximum(length - 1, 0)) == 0)
        length = length - too_long
    return length
