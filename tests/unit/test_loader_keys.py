"""Key distributions of the built-in loader."""

from __future__ import annotations

import collections
import random

import pytest

from pytest_scyllabench.errors import ConfigError
from pytest_scyllabench.loader.keys import (
    Gaussian,
    Sequential,
    Uniform,
    Zipfian,
    key_generator,
    share,
)
from pytest_scyllabench.stress.step import Workload

DRAWS = 50_000


@pytest.mark.parametrize("distribution", ["uniform", "sequential", "zipfian", "gaussian"])
@pytest.mark.parametrize("partitions", [1, 7, 1000])
def test_keys_stay_in_range(distribution: str, partitions: int) -> None:
    workload = Workload("w", {"write": 1.0}, partitions=partitions,
                        distribution=distribution)  # type: ignore[arg-type]
    keys = key_generator(workload, random.Random(1), offset=3)
    drawn = [keys.next() for _ in range(5000)]
    assert min(drawn) >= 0
    assert max(drawn) < partitions


def test_sequential_wraps_from_its_offset() -> None:
    keys = Sequential(5, offset=3)
    assert [keys.next() for _ in range(8)] == [3, 4, 0, 1, 2, 3, 4, 0]


def test_uniform_covers_the_range_evenly() -> None:
    keys = Uniform(10, random.Random(2))
    counts = collections.Counter(keys.next() for _ in range(DRAWS))
    assert set(counts) == set(range(10))
    assert max(counts.values()) / min(counts.values()) < 1.15


@pytest.mark.parametrize("exponent", [0.8, 1.0, 1.1, 2.0])
def test_zipfian_matches_the_zipf_law(exponent: float) -> None:
    n = 1000
    keys = Zipfian(n, exponent, random.Random(3))
    counts = collections.Counter(keys.next() for _ in range(DRAWS))
    harmonic = sum(k ** -exponent for k in range(1, n + 1))
    for rank in (1, 2, 10):
        expected = DRAWS * rank ** -exponent / harmonic
        assert counts[rank - 1] == pytest.approx(expected, rel=0.15), rank
    # Skew: the hottest key is much hotter than the median key.
    assert counts[0] > 20 * max(counts[n // 2], 1)


def test_zipfian_skew_grows_with_the_exponent() -> None:
    def hottest_share(exponent: float) -> float:
        keys = Zipfian(10_000, exponent, random.Random(4))
        return sum(keys.next() == 0 for _ in range(DRAWS)) / DRAWS

    assert hottest_share(0.5) < hottest_share(1.0) < hottest_share(1.5)


def test_gaussian_centres_on_the_middle_with_the_given_spread() -> None:
    keys = Gaussian(10_000, 0.05, random.Random(5))
    drawn = [keys.next() for _ in range(DRAWS)]
    mean = sum(drawn) / len(drawn)
    stddev = (sum((k - mean) ** 2 for k in drawn) / len(drawn)) ** 0.5
    assert mean == pytest.approx(5000, abs=20)
    assert stddev == pytest.approx(500, rel=0.05)


def test_bad_parameters_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="exponent"):
        Zipfian(10, 0.0, random.Random())
    with pytest.raises(ConfigError, match="partitions"):
        key_generator(Workload("w", {"write": 1.0}, partitions=0), random.Random())


def test_shares_split_the_range_without_overlap_or_gap() -> None:
    parts = [share(10, i, 3) for i in range(3)]
    assert [list(p) for p in parts] == [[0, 1, 2], [3, 4, 5], [6, 7, 8, 9]]
