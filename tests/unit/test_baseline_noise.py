"""Bootstrap intervals: histogram resampling and the bootstrap of means."""

from __future__ import annotations

import numpy as np
import pytest
from test_baseline_support import histogram, samples_us

from pytest_scyllabench.baseline import noise
from pytest_scyllabench.baseline.noise import (
    HistogramResampler,
    change_interval,
    histogram_interval,
    t_quantile,
    welch_interval,
)
from pytest_scyllabench.hdr.histogram import Histogram
from pytest_scyllabench.hdr.merge import values_at_percentiles

PERCENTILES = (50.0, 90.0, 99.0, 99.9, 99.99, 100.0)


@pytest.fixture(scope="module")
def hdr() -> object:
    return histogram(samples_us(1, 50_000))


def test_resampled_percentiles_centre_on_the_histograms_own(hdr: object) -> None:
    resampler = HistogramResampler(hdr, 1000.0, PERCENTILES, 400, np.random.default_rng(0))

    points = values_at_percentiles(hdr, list(PERCENTILES))
    for percentile, point in zip(PERCENTILES[:4], points[:4], strict=True):
        values = resampler.values_at(percentile)
        assert values.shape == (400,)
        assert np.median(values) == pytest.approx(point / 1000.0, rel=0.01)
        assert values.min() < values.max()
    assert resampler.values_at(100.0).max() == pytest.approx(points[-1] / 1000.0)


def test_resampled_values_are_the_values_values_at_percentiles_reports(hdr: object) -> None:
    resampler = HistogramResampler(hdr, 1000.0, [99.0], 200, np.random.default_rng(1))

    reported = {value / 1000.0 for value in values_at_percentiles(
        hdr, list(np.linspace(95.0, 99.9, 2000)))}
    assert set(resampler.values_at(99.0).tolist()) <= reported


def test_merging_far_buckets_keeps_the_distribution_of_the_percentile(
        hdr: object, monkeypatch: pytest.MonkeyPatch) -> None:
    merged = HistogramResampler(hdr, 1000.0, [99.0], 2000, np.random.default_rng(2))
    monkeypatch.setattr(noise, "WINDOW_SD", 1e9)
    full = HistogramResampler(hdr, 1000.0, [99.0], 2000, np.random.default_rng(3))

    assert merged.categories < full.categories / 5
    for quantile in (2.5, 50.0, 97.5):
        assert np.percentile(merged.values_at(99.0), quantile) == pytest.approx(
            np.percentile(full.values_at(99.0), quantile), rel=0.01)


def test_the_numpy_histogram_resamples_like_hdrh(hdr: object) -> None:
    ours = Histogram.from_hdrh(hdr)

    from_hdrh = HistogramResampler(hdr, 1000.0, PERCENTILES, 100, np.random.default_rng(4))
    from_ours = HistogramResampler(ours, 1000.0, PERCENTILES, 100, np.random.default_rng(4))

    for percentile in PERCENTILES:
        assert np.array_equal(from_hdrh.values_at(percentile), from_ours.values_at(percentile))


def test_a_percentile_not_asked_for_is_refused(hdr: object) -> None:
    resampler = HistogramResampler(hdr, 1000.0, [99.0], 10, np.random.default_rng(0))

    with pytest.raises(ValueError, match="percentile 50 was not asked for"):
        resampler.values_at(50.0)


def test_an_empty_histogram_cannot_be_resampled() -> None:
    with pytest.raises(ValueError, match="empty histogram"):
        HistogramResampler(histogram(np.array([])), 1000.0, [99.0], 10,
                           np.random.default_rng(0))


def test_histogram_interval_of_a_known_shift(hdr: object) -> None:
    slower = histogram(samples_us(2, 50_000, scale=1.3))
    before = HistogramResampler(hdr, 1000.0, [99.0], 200, np.random.default_rng(5))
    after = HistogramResampler(slower, 1000.0, [99.0], 200, np.random.default_rng(6))

    interval = histogram_interval(before, after, 99.0)

    assert interval.side == 1
    assert interval.relative_low < 0.3 < interval.relative_high
    assert interval.confidence == 0.95 and interval.resamples == 200


@pytest.mark.parametrize(("freedom", "expected"), [
    (1, 12.706), (2, 4.303), (3, 3.182), (4, 2.776), (10, 2.228), (30, 2.042), (1000, 1.962)])
def test_t_quantile_matches_students_table(freedom: float, expected: float) -> None:
    assert t_quantile(0.975, freedom) == pytest.approx(expected, abs=1e-3)


def test_t_quantile_refuses_what_it_cannot_compute() -> None:
    with pytest.raises(ValueError, match="freedom >= 1"):
        t_quantile(0.975, 0.5)
    with pytest.raises(ValueError, match="probability"):
        t_quantile(0.3, 3)


def test_welch_interval_separates_shifted_runs_and_not_equal_ones() -> None:
    shifted = welch_interval([10.0, 10.4, 9.8], [12.1, 12.5, 11.9])
    equal = welch_interval([10.0, 10.4, 9.8], [10.2, 9.9, 10.3])

    assert shifted.side == 1 and shifted.relative_low > 0.1
    assert (shifted.low + shifted.high) / 2 == pytest.approx(2.1)  # around the change of means
    assert equal.side == 0
    assert welch_interval([5.0, 5.0], [5.0, 5.0]).side == 0  # no spread, no change
    assert welch_interval([5.0, 5.0], [6.0, 6.0]).side == 1  # no spread, a change
    # One side without spread: Welch's freedom is exactly that of the other (1 here), which
    # rounding once put below 1.
    assert welch_interval([200.0, 200.0], [199.9, 200.0]).side == 0
    with pytest.raises(ValueError, match="two values or more"):
        welch_interval([1.0], [1.0, 2.0])


@pytest.mark.parametrize("runs", [2, 3])
def test_with_few_runs_and_no_change_welch_keeps_its_false_alarm_rate(runs: int) -> None:
    """A bootstrap of the means flagged 19-32% of these; the 95% interval must flag ~5%."""
    rng = np.random.default_rng(7)
    trials = 600
    alarms = sum(welch_interval(rng.normal(10.0, 1.0, runs), rng.normal(10.0, 1.0, runs)).side
                 != 0 for _ in range(trials))
    assert alarms / trials < 0.08


def test_change_interval_of_a_zero_baseline_is_infinite_not_an_error() -> None:
    interval = change_interval(np.zeros(10), np.ones(10), confidence=0.9, method="test")

    assert interval.low == interval.high == 1.0
    assert interval.relative_low == np.inf
