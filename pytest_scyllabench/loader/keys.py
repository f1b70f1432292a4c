"""Key distributions over ``[0, partitions)``: which partition the next operation touches.

Each distribution is a small object with ``next() -> int``; all draw from one
``random.Random`` so a seed makes a run reproducible.

- ``uniform``: every partition equally likely.
- ``sequential``: ``offset, offset + 1, ...`` wrapping at ``partitions``; loaders start at
  different offsets so that together they sweep the key space.
- ``zipfian``: rank ``k`` (1 = hottest) has weight ``k ** -exponent``; key ``k - 1`` is
  returned, so the hot keys are the low ones. Sampled in O(1) by rejection-inversion
  (Hörmann and Derflinger, "Rejection-inversion to generate variates from monotone discrete
  distributions", 1996), so any ``partitions`` works without a table.
- ``gaussian``: normal around the middle of the range with a standard deviation of
  ``stddev_fraction * partitions``, truncated to the range (key ``k`` takes the normal's
  mass on ``[k - 0.5, k + 0.5)``). Sampled exactly by inverting the normal's CDF over the
  range's share of it: no redraws, and no excess at the edges (redrawing a bounded number of
  times, then clamping, gave the two edge keys 1 % of the draws each at a spread of 1).
"""

from __future__ import annotations

import math
import random
from statistics import NormalDist
from typing import Protocol

from pytest_scyllabench.errors import ConfigError
from pytest_scyllabench.stress.step import Workload


class KeyGenerator(Protocol):
    """Produces the partition key of the next operation."""

    def next(self) -> int: ...


class Uniform:
    def __init__(self, partitions: int, rng: random.Random) -> None:
        self._partitions = partitions
        self._random = rng.random

    def next(self) -> int:
        return int(self._random() * self._partitions)


class Sequential:
    def __init__(self, partitions: int, offset: int = 0) -> None:
        self._partitions = partitions
        self._current = offset % partitions

    def next(self) -> int:
        key = self._current
        self._current = key + 1 if key + 1 < self._partitions else 0
        return key


def _expm1_over_x(x: float) -> float:
    """``(exp(x) - 1) / x``, continuous at 0."""
    return math.expm1(x) / x if abs(x) > 1e-8 else 1.0 + x / 2.0


def _log1p_over_x(x: float) -> float:
    """``log(1 + x) / x``, continuous at 0."""
    return math.log1p(x) / x if abs(x) > 1e-8 else 1.0 - x / 2.0


class Zipfian:
    """Zipf over ranks ``1..partitions`` by rejection-inversion, returned as ``rank - 1``."""

    def __init__(self, partitions: int, exponent: float, rng: random.Random) -> None:
        if exponent <= 0:
            raise ConfigError(f"zipfian exponent must be > 0, got {exponent}")
        self._n = partitions
        self._s = exponent
        self._random = rng.random
        self._h_x1 = self._integral(1.5) - 1.0
        self._h_n = self._integral(partitions + 0.5)
        self._squeeze = 2.0 - self._integral_inverse(self._integral(2.5) - self._h(2.0))

    def _h(self, x: float) -> float:
        return math.exp(-self._s * math.log(x))

    def _integral(self, x: float) -> float:
        """Antiderivative of ``x ** -s`` (``log x`` when ``s == 1``), shifted to 0 at 1."""
        log_x = math.log(x)
        return _expm1_over_x((1.0 - self._s) * log_x) * log_x

    def _integral_inverse(self, y: float) -> float:
        t = max(-1.0, y * (1.0 - self._s))
        return math.exp(_log1p_over_x(t) * y)

    def next(self) -> int:
        while True:
            u = self._h_n + self._random() * (self._h_x1 - self._h_n)
            x = self._integral_inverse(u)
            k = min(max(int(x + 0.5), 1), self._n)
            if k - x <= self._squeeze or u >= self._integral(k + 0.5) - self._h(k):
                return k - 1


class Gaussian:
    def __init__(self, partitions: int, stddev_fraction: float, rng: random.Random) -> None:
        if stddev_fraction <= 0:
            raise ConfigError(f"gaussian stddev fraction must be > 0, got {stddev_fraction}")
        self._last = partitions - 1
        normal = NormalDist((partitions - 1) / 2.0, stddev_fraction * partitions)
        self._inv_cdf = normal.inv_cdf
        self._low = normal.cdf(-0.5)
        self._span = normal.cdf(partitions - 0.5) - self._low
        self._random = rng.random

    def next(self) -> int:
        p = self._low + self._random() * self._span
        if not 0.0 < p < 1.0:  # a tail beyond floating point: its edge
            return 0 if p <= 0.0 else self._last
        return min(max(math.floor(self._inv_cdf(p) + 0.5), 0), self._last)


def key_generator(workload: Workload, rng: random.Random, offset: int = 0) -> KeyGenerator:
    """The key distribution of ``workload``; ``offset`` starts a sequential sweep."""
    partitions = workload.partitions
    if partitions < 1:
        raise ConfigError(f"workload {workload.name}: partitions must be >= 1, got {partitions}")
    match workload.distribution:
        case "uniform":
            return Uniform(partitions, rng)
        case "sequential":
            return Sequential(partitions, offset)
        case "zipfian":
            return Zipfian(partitions, workload.zipf_exponent, rng)
        case "gaussian":
            return Gaussian(partitions, workload.gaussian_stddev, rng)
    raise ConfigError(f"workload {workload.name}: unknown distribution "
                      f"{workload.distribution!r}")


def share(total: int, index: int, count: int) -> range:
    """Loader ``index`` of ``count``'s contiguous share of ``range(total)``."""
    return range(total * index // count, total * (index + 1) // count)
