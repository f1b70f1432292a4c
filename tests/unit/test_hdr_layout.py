"""HDR bucket layouts: index and value math as hdrh/Java, exact conversion to coarser layouts."""

from __future__ import annotations

import numpy as np
import pytest
from hdrh.histogram import HdrHistogram

from pytest_scyllabench.hdr.histogram import Histogram
from pytest_scyllabench.hdr.layout import Layout, bit_length

LAYOUTS = [(1, 60_000_000, 3), (1, 3_600_000_000_000, 3), (1000, 10**12, 2), (1, 10**9, 5),
           (8, 10**7, 1), (3, 100, 2)]


@pytest.mark.parametrize("config", LAYOUTS)
def test_index_and_values_match_hdrh(config: tuple[int, int, int]) -> None:
    layout = Layout(*config)
    reference = HdrHistogram(*config)
    assert layout.counts_len == reference.counts_len
    rng = np.random.default_rng(config[1] % 1000)
    values = np.unique(np.concatenate([
        rng.integers(0, config[1], 2000), np.arange(0, 3000), [config[1]],
        2 ** np.arange(0, config[1].bit_length()) - 1]))
    values = values[values <= config[1]]
    index = layout.index_of(values)
    assert index.tolist() == [reference._counts_index_for(int(v)) for v in values]
    assert layout.value_at(index).tolist() == [reference.get_value_from_index(int(i))
                                              for i in index]
    assert layout.highest_at(index).tolist() == [
        reference.get_highest_equivalent_value(int(v)) for v in values]


def test_bit_length_is_exact_above_float_precision() -> None:
    values = np.array([0, 1, 2**53 - 1, 2**53, 2**60 - 1, 2**60, 2**63 - 1], dtype=np.int64)
    assert bit_length(values).tolist() == [int(v).bit_length() for v in values.tolist()]


def test_layout_validation() -> None:
    with pytest.raises(ValueError, match="significant digits"):
        Layout(1, 100, 6)
    with pytest.raises(ValueError, match="at least twice"):
        Layout(10, 15, 3)


def test_coarsest() -> None:
    fine, wide = Layout(1, 60_000_000, 3), Layout(1, 3_600_000_000, 3)
    assert Layout.coarsest([fine, wide]) == wide  # same shape: the widest range
    coarse = Layout.coarsest([fine, Layout(1024, 10**9, 2)])
    assert (coarse.lowest, coarse.digits) == (1024, 2)
    assert coarse.highest >= 10**9


@pytest.mark.parametrize(("fine", "coarse"), [
    ((1, 60_000_000, 3), (1, 60_000_000, 2)),
    ((1, 60_000_000, 3), (1000, 60_000_000, 3)),
    ((1, 10**9, 5), (16, 10**10, 1)),
])
def test_conversion_to_a_coarser_layout_is_exact(fine: tuple[int, int, int],
                                                 coarse: tuple[int, int, int]) -> None:
    # Recording values into the fine layout and converting equals recording into the coarse.
    rng = np.random.default_rng(5)
    values = np.clip(rng.lognormal(8, 2.5, 50_000), 0, fine[1]).astype(np.int64)
    source, target = Layout(*fine), Layout(*coarse)
    fine_counts = np.bincount(source.index_of(values), minlength=source.counts_len)
    converted = Histogram(target)
    converted.add(Histogram(source, fine_counts))
    direct = np.bincount(target.index_of(values), minlength=target.counts_len)
    assert converted.counts.tolist() == direct.tolist()
    assert converted.get_total_count() == len(values)


def test_adding_a_coarser_histogram_into_a_finer_one_is_refused() -> None:
    fine = Histogram(Layout(1, 60_000_000, 3))
    with pytest.raises(ValueError, match="into the finer layout"):
        fine.add(Histogram(Layout(1, 60_000_000, 2), np.ones(10, dtype=np.int64)))
