"""Key distributions and the op mix against exact reference probabilities (fixed seeds).

Chi-square statistics over many draws, compared with the 0.1 % critical value: with a fixed
seed the outcome is deterministic, and a wrong exponent, an off-by-one key or a shifted
centre gives statistics in the thousands.
"""

from __future__ import annotations

import collections
import random
from collections.abc import Callable, Sequence
from statistics import NormalDist

import pytest

from pytest_scyllabench.loader.keys import Gaussian, Sequential, Zipfian, share
from pytest_scyllabench.loader.workload import OpMix

DRAWS = 100_000


def _critical(df: int) -> float:
    """Chi-square 0.1 % critical value (Wilson-Hilferty; 10.8 at 1 df, 85.4 at 49)."""
    a = 2 / (9 * df)
    return float(df * (1 - a + 3.09 * a ** 0.5) ** 3) if df > 1 else 10.83


def _chi_square(draw: Callable[[], object], expected: dict[object, float]) -> float:
    counts = collections.Counter(draw() for _ in range(DRAWS))
    assert set(counts) <= set(expected)  # nothing outside the support
    return sum((counts[k] - DRAWS * p) ** 2 / (DRAWS * p) for k, p in expected.items())


@pytest.mark.parametrize("exponent", [0.5, 0.99, 1.0, 1.5, 3.0])
def test_zipfian_is_the_zipf_law_with_key_0_hottest(exponent: float) -> None:
    partitions = 50
    weights = [rank ** -exponent for rank in range(1, partitions + 1)]
    total = sum(weights)
    expected: dict[object, float] = {k: w / total for k, w in enumerate(weights)}
    zipf = Zipfian(partitions, exponent, random.Random(11))
    assert _chi_square(zipf.next, expected) < _critical(49)
    hottest = collections.Counter(zipf.next() for _ in range(20_000)).most_common(1)[0][0]
    assert hottest == 0


@pytest.mark.parametrize("fraction", [0.02, 0.1, 0.5, 3.0])
def test_gaussian_is_the_truncated_normal_exactly(fraction: float) -> None:
    partitions = 40
    normal = NormalDist((partitions - 1) / 2, fraction * partitions)
    low, high = normal.cdf(-0.5), normal.cdf(partitions - 0.5)
    mass = [(normal.cdf(k + 0.5) - normal.cdf(k - 0.5)) / (high - low)
            for k in range(partitions)]
    # Keys with a negligible mass join their neighbours' cells (chi-square needs counts).
    expected: dict[object, float] = {k: p for k, p in enumerate(mass) if p * DRAWS >= 5}
    gaussian = Gaussian(partitions, fraction, random.Random(12))
    counts = collections.Counter(gaussian.next() for _ in range(DRAWS))
    assert all(0 <= k < partitions for k in counts)
    rare = sum(c for k, c in counts.items() if k not in expected)
    assert rare <= DRAWS * (1 - sum(expected.values())) * 3 + 10
    stat = sum((counts[k] - DRAWS * p) ** 2 / (DRAWS * p) for k, p in expected.items())
    assert stat < _critical(len(expected) - 1)


@pytest.mark.parametrize(("partitions", "count"), [(10, 3), (1000, 7), (5, 5)])
def test_sequential_loaders_cover_each_key_once_per_pass(partitions: int, count: int) -> None:
    drawn: list[int] = []
    for index in range(count):
        mine = share(partitions, index, count)
        keys = Sequential(partitions, offset=mine.start)
        drawn += [keys.next() for _ in mine]
    assert sorted(drawn) == list(range(partitions))
    # One loader alone wraps at the end of the range.
    keys = Sequential(partitions, offset=partitions - 1)
    assert [keys.next() for _ in range(3)] == [partitions - 1, 0, 1 % partitions]


@pytest.mark.parametrize("weights", [(3.0, 1.0), (0.1, 0.9), (0.999, 0.001)])
def test_op_mix_follows_its_weights(weights: Sequence[float]) -> None:
    mix = OpMix({"read": weights[0], "write": weights[1]}, random.Random(13))
    total = sum(weights)
    expected: dict[object, float] = {"read": weights[0] / total, "write": weights[1] / total}
    assert _chi_square(mix.next, expected) < _critical(1)
