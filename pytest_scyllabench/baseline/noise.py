"""Confidence intervals of the change of a metric between two runs.

Three sources of noise, the best one first:

* **Sessions** (:func:`sessions_interval`): when a side holds the runs of two sessions or more
  (a baseline saved with ``--scyllabench-save-sessions K``), see "Several sessions" below.
* **Repetitions** (:func:`welch_interval`): when both sides ran the step two times or more,
  the per-run values (a percentile of each run's histogram, or its throughput) give Welch's
  t interval of the difference of their means. This sees the run-to-run variation
  (placement, compaction, GC, a noisy neighbour), which is what usually dominates. With two
  or three runs a side a bootstrap of the means is far too narrow (with no real change it
  excluded zero in 19-32% of simulated comparisons instead of 5%); Student's t with
  Welch-Satterthwaite degrees of freedom keeps its 95%, and is honestly wide.
* **One run** (:class:`HistogramResampler`): the merged histogram's counts are resampled,
  multinomial over its buckets with the run's total count, and the percentile is computed on
  each resample as :func:`~pytest_scyllabench.hdr.merge.values_at_percentiles` computes it.
  This sees sampling noise only; it assumes independent operations, so it is narrower than
  the run-to-run variation (operations are correlated in time). A run of fewer than
  :data:`MIN_OPERATIONS` operations gives no estimate (the metric is not compared). The
  bootstrap of ``max`` is coarse (a resample's max is never above the run's). For
  throughput, the per-second rates of the measured window give Welch's interval instead (as
  repetitions do: a step of a few seconds has a few rates, too few for a bootstrap of their
  means).

All resampling is vectorized with numpy and seeded: the same data give the same interval.
Bootstrap intervals are percentile intervals of the absolute change (current - baseline) and
of the relative change (current / baseline - 1); Welch's interval gives the relative change
as its bounds over the baseline's mean.

Runs in one session vary less than sessions do (a fresh cluster, its JIT and its compactions
differ each time): repeat steps to see within-session noise, and save the baseline from
several sessions to see the rest.

Several sessions
----------------
The model is the usual one of nested noise: a run's value is ``mu + b + e``, ``b`` the
session's own offset (variance ``sB2``, drawn once per fresh cluster), ``e`` the run's
(variance ``sW2``). The baseline holds k sessions; the run compared with it is one more
session, with n runs (one session: a session's run never holds several). Under "no change"
the difference of the means has the variance

    Var = Var(baseline mean) + Var(one session's mean) = (sB2 + sW2/m)/k + sB2 + sW2/n

with m runs a baseline session. Each session's mean is one observation: the variance of the
k session means, ``sS2``, estimates ``sB2 + sW2/m`` (with k - 1 degrees of freedom) whatever
m, and the repetitions within the sessions estimate ``sW2`` (pooled, ``sum(m_s - 1)``
degrees of freedom), so ``sB2 = sS2 - sW2 * mean(1/m_s)`` (method of moments, taken as 0
when negative: the sessions then vary no more than their runs). The new session's own runs
give its ``sW2/n`` (or, with a single run, the baseline's pooled ``sW2``). The interval is
Student's t with Welch-Satterthwaite degrees of freedom for that sum of variances.

Simpler choices were rejected. Pooling every run of every session as if one session (the
old behaviour) takes the between-session spread for within-session noise of many runs:
its error shrinks as runs are added, though no number of runs in one session averages out
``b``. Welch's interval between the baseline's session means and the new session's runs
counts ``sB2`` only through the baseline's mean (``sS2/k``) and not in the new session,
which is one more draw of ``b``: with a baseline of many nightly sessions it tends to the
too-narrow one-session interval again, and false regressions come back. Simulated with no
change (session offsets of sd 1, runs of sd 0.3, 3 runs a session, 3 to 7 baseline
sessions), the interval excluded zero in 50-58% of comparisons with pooling, 20-37% with
Welch over session means, and 4-5% here (9% with two sessions). The interval here is the
prediction interval of a new session, and with few sessions it is wide (k = 2 gives one
degree of freedom, t = 12.7): keep three sessions or more. When both sides span two
sessions or more, each side's session means are the observations of Welch's interval.
When only one run was made per baseline session, ``sW2`` cannot be separated from ``sB2``:
``sS2`` is taken for a whole session's variance (``Var = sS2 * (1 + 1/k)``), which is
conservative when the new session has several runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
#: Resamples per bootstrap unless told otherwise.
RESAMPLES = 200
CONFIDENCE = 0.95
NANOSECONDS_PER_MS = 1_000_000.0

#: Fewest operations of a run whose histogram is resampled: a percentile of fewer is one of
#: a handful of values, whose resamples cannot show its noise (one operation gives the same
#: value in every resample, so any change looked certain; with no change, two or three a side
#: excluded zero in 10-35% of simulated comparisons).
MIN_OPERATIONS = 10

HISTOGRAM = "histogram"
REPETITIONS = "repetitions"
SESSIONS = "sessions"
SECONDS = "per-second rates"


@dataclass(frozen=True)
class ChangeInterval:
    """A confidence interval of the change of one metric, absolute and relative."""

    low: float
    high: float
    #: Bounds of current / baseline - 1 (0.1 is +10%).
    relative_low: float
    relative_high: float
    confidence: float
    #: Where the noise came from: ``histogram``, ``repetitions``, ``sessions`` or
    #: ``per-second rates``.
    method: str
    resamples: int

    @property
    def side(self) -> int:
        """+1 when the whole interval is above zero, -1 when below, 0 when it holds zero."""
        if self.low > 0:
            return 1
        if self.high < 0:
            return -1
        return 0


#: A bucket is merged with its neighbours when its cumulative count is farther than this many
#: standard deviations of a percentile's rank, plus :data:`WINDOW_RANKS`, from every
#: percentile's rank: a resample's percentile lands there with a probability below 1e-20.
WINDOW_SD = 10.0
WINDOW_RANKS = 50


class HistogramResampler:
    """Bootstrap resamples of one histogram's counts, drawn once for a set of percentiles.

    A resample draws the histogram's total count from a multinomial over its buckets; the
    percentile of each resample is computed as ``values_at_percentiles`` does (the count at
    a percentile rounded up, the highest value equivalent to the bucket reached). Only the
    buckets near the percentiles asked for can hold a resample's percentile, so each run of
    the other buckets is merged into one category before drawing: a multinomial over merged
    categories is exactly the sum of the fine one's counts, and a percentile lands in a merged
    category with a probability below 1e-20 (it would take the value of that category's
    highest bucket). The draw has a few hundred categories instead of thousands.
    """

    def __init__(self, histogram: Any, value_unit_ns: float, percentiles: Sequence[float],
                 resamples: int, rng: np.random.Generator) -> None:
        indices, counts = _nonzero_counts(histogram)
        self.total = int(counts.sum())
        if self.total <= 0:
            raise ValueError("cannot resample an empty histogram")
        self.percentiles = tuple(percentiles)
        cumulative = np.cumsum(counts)
        before = cumulative - counts
        keep = np.zeros(len(counts), dtype=bool)
        for percentile in self.percentiles:
            rank = _target_count(percentile, self.total)
            fraction = min(percentile / 100.0, 1.0)
            margin = WINDOW_SD * math.sqrt(self.total * fraction * (1.0 - fraction)) + WINDOW_RANKS
            keep |= (cumulative >= rank - margin) & (before <= rank + margin)
        starts = np.flatnonzero(keep | np.concatenate(([True], keep[:-1])))
        lasts = np.concatenate((starts[1:] - 1, [len(counts) - 1]))
        merged = np.add.reduceat(counts, starts)
        self.categories = len(merged)
        self._values = (_bucket_values(histogram, indices[lasts]) * value_unit_ns
                        / NANOSECONDS_PER_MS)
        draws = rng.multinomial(self.total, merged / self.total, size=resamples)
        self._cumulative = np.cumsum(draws, axis=1)

    def values_at(self, percentile: float) -> FloatArray:
        """The value at ``percentile`` (one of those given) of each resample, ms."""
        if percentile not in self.percentiles:
            raise ValueError(f"percentile {percentile:g} was not asked for when resampling "
                             f"(asked: {', '.join(f'{p:g}' for p in self.percentiles)})")
        target = _target_count(percentile, self.total)
        index = np.minimum((self._cumulative < target).sum(axis=1), len(self._values) - 1)
        values: FloatArray = self._values[index]
        return values


def _nonzero_counts(histogram: Any) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Indices and counts of the non-empty buckets.

    This and :func:`_bucket_values` are the only places that read buckets, through the
    interface both hdrh's ``HdrHistogram`` and :class:`~pytest_scyllabench.hdr.histogram.
    Histogram` provide (``counts``, ``counts_len``, ``get_value_from_index``,
    ``get_highest_equivalent_value``), the one ``values_at_percentiles`` reads too.
    """
    raw = histogram.counts
    array = raw if isinstance(raw, np.ndarray) else np.ctypeslib.as_array(raw)
    counts = np.asarray(array[: histogram.counts_len], dtype=np.int64)
    indices = np.flatnonzero(counts)
    return indices, counts[indices]


def _bucket_values(histogram: Any, indices: npt.NDArray[np.int64]) -> FloatArray:
    """The highest value equivalent to each bucket of ``indices``, in recorded units."""
    return np.array([histogram.get_highest_equivalent_value(
        histogram.get_value_from_index(int(index))) for index in indices], dtype=np.float64)


def change_interval(baseline: FloatArray, current: FloatArray, *, confidence: float,
                    method: str) -> ChangeInterval:
    """The percentile interval of the change between paired bootstrap replicates.

    The bounds are replicates themselves (the one below the lower quantile, the one above the
    upper), not interpolated: slightly wider, and defined when some replicates are infinite.
    """
    tail = (1.0 - confidence) / 2.0 * 100.0
    change = current - baseline
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.where(baseline > 0, current / baseline - 1.0,
                            np.where(current > 0, np.inf, 0.0))
    return ChangeInterval(
        low=_bound(change, tail, "lower"), high=_bound(change, 100.0 - tail, "higher"),
        relative_low=_bound(relative, tail, "lower"),
        relative_high=_bound(relative, 100.0 - tail, "higher"),
        confidence=confidence, method=method, resamples=len(change))


def _bound(replicates: FloatArray, percent: float, method: Literal["lower", "higher"]) -> float:
    return float(np.percentile(replicates, percent, method=method))


def histogram_interval(baseline: HistogramResampler, current: HistogramResampler,
                       percentile: float, *, confidence: float = CONFIDENCE) -> ChangeInterval:
    """Interval of the change of a percentile between two runs' merged histograms."""
    return change_interval(baseline.values_at(percentile), current.values_at(percentile),
                           confidence=confidence, method=HISTOGRAM)


def welch_interval(baseline: Sequence[float], current: Sequence[float], *,
                   confidence: float = CONFIDENCE,
                   method: str = REPETITIONS) -> ChangeInterval:
    """Welch's t interval of mean(current) - mean(baseline), two values or more a side."""
    before = np.asarray(baseline, dtype=np.float64)
    after = np.asarray(current, dtype=np.float64)
    if len(before) < 2 or len(after) < 2:
        raise ValueError("Welch's interval needs two values or more on each side")
    with np.errstate(over="ignore", invalid="ignore"):  # overflowing values: unbounded
        terms = [(float(before.var(ddof=1)) / len(before), len(before) - 1.0),
                 (float(after.var(ddof=1)) / len(after), len(after) - 1.0)]
        change, baseline_mean = float(after.mean() - before.mean()), float(before.mean())
    # Welch-Satterthwaite, never below its exact minimum (rounding can put it a hair under 1
    # when one side has no spread).
    return _t_interval(change, terms, baseline_mean,
                       confidence=confidence, method=method,
                       min_freedom=min(len(before), len(after)) - 1.0)


def sessions_interval(baseline: Sequence[Sequence[float]], current: Sequence[Sequence[float]],
                      *, confidence: float = CONFIDENCE) -> ChangeInterval:
    """Interval of mean(current) - mean(baseline) when a side spans two sessions or more.

    Each side is its per-run values grouped by session; a side's mean is the mean of its
    session means. See "Several sessions" in the module docstring. ``ValueError`` when
    neither side spans two sessions (use :func:`welch_interval`), or a session is empty.
    """
    before = [np.asarray(values, dtype=np.float64) for values in baseline]
    after = [np.asarray(values, dtype=np.float64) for values in current]
    if not before or not after or any(len(values) == 0 for values in (*before, *after)):
        raise ValueError("every session needs one value or more")
    with np.errstate(over="ignore", invalid="ignore"):  # overflowing values: unbounded
        before_mean = float(np.mean([values.mean() for values in before]))
        after_mean = float(np.mean([values.mean() for values in after]))
        if len(before) >= 2 and len(after) >= 2:
            return welch_interval([values.mean() for values in before],
                                  [values.mean() for values in after],
                                  confidence=confidence, method=SESSIONS)
        if len(before) >= 2:
            terms = _new_session_terms(before, after[0])
        elif len(after) >= 2:
            terms = _new_session_terms(after, before[0])
        else:
            raise ValueError("a sessions interval needs two sessions or more on a side")
        change = after_mean - before_mean
    return _t_interval(change, terms, before_mean, confidence=confidence,
                       method=SESSIONS)


def _new_session_terms(sessions: Sequence[FloatArray],
                       new: FloatArray) -> list[tuple[float, float]]:
    """(variance, degrees of freedom) terms of Var(mean(new) - mean of the session means),
    ``new`` being one more session (module docstring)."""
    k = len(sessions)
    means = np.array([values.mean() for values in sessions])
    between_means = float(means.var(ddof=1))
    within_freedom = sum(len(values) - 1 for values in sessions)
    if within_freedom == 0:  # one run a session: sW2 is not separable from sB2
        return [(between_means * (1.0 + 1.0 / k), k - 1.0)]
    within = sum(float(((values - values.mean()) ** 2).sum())
                 for values in sessions) / within_freedom
    share = float(np.mean([1.0 / len(values) for values in sessions]))
    between = between_means - within * share
    if len(new) >= 2:
        own: tuple[float, float] = (float(new.var(ddof=1)) / len(new), len(new) - 1.0)
        within_coefficient = -share if between > 0 else 0.0
    else:  # the new session's run varies as the baseline's runs do
        own = (0.0, 1.0)
        within_coefficient = (1.0 - share) if between > 0 else 1.0
    means_coefficient = 1.0 + 1.0 / k if between > 0 else 1.0 / k
    return [(between_means * means_coefficient, k - 1.0),
            (within * within_coefficient, float(within_freedom)), own]


def _t_interval(change: float, terms: Sequence[tuple[float, float]], baseline_mean: float, *,
                confidence: float, method: str, min_freedom: float = 1.0) -> ChangeInterval:
    """Student's t interval of ``change`` whose variance is the sum of ``terms`` (each a
    variance estimate and its degrees of freedom; Welch-Satterthwaite, at least
    ``min_freedom``)."""
    with np.errstate(over="ignore", invalid="ignore"):  # numpy floats: inf, not an error
        values = np.array([value for value, _ in terms], dtype=np.float64)
        freedoms = np.array([freedom for _, freedom in terms], dtype=np.float64)
        variance = float(values.sum())
        spread = float((values[values != 0.0] ** 2 / freedoms[values != 0.0]).sum())
        freedom = float(np.float64(variance) ** 2 / spread) if spread > 0 else math.inf
    if variance <= 0.0:
        low = high = change
    elif not (math.isfinite(variance) and math.isfinite(change)) or math.isnan(freedom):
        # Values beyond a float's range (a baseline edited by hand): nothing is known.
        low, high = -math.inf, math.inf
    else:
        margin = (t_quantile(0.5 + confidence / 2.0, max(freedom, min_freedom))
                  * math.sqrt(variance))
        low, high = change - margin, change + margin
    if baseline_mean > 0:
        relative = (low / baseline_mean, high / baseline_mean)
    else:  # each bound over a baseline of 0: infinite on its own side (as a bootstrap's)
        relative = (_over_zero(low), _over_zero(high))
    return ChangeInterval(low=low, high=high, relative_low=relative[0],
                          relative_high=relative[1], confidence=confidence, method=method,
                          resamples=0)


def _over_zero(change: float) -> float:
    """``change`` relative to a baseline of 0: 0 for none, else infinite with its sign."""
    return 0.0 if change == 0.0 else math.copysign(math.inf, change)


#: Points of the grid on which :func:`t_quantile` integrates Student's density.
_T_GRID = np.concatenate((np.linspace(0.0, 10.0, 20_001), np.geomspace(10.0, 1e7, 20_001)[1:]))


def t_quantile(probability: float, freedom: float) -> float:
    """The ``probability`` quantile (above 0.5) of Student's t with ``freedom`` degrees of
    freedom (any real number >= 1): its density integrated on a fine grid, to about 1e-4."""
    if not 0.5 < probability < 1.0 or not freedom >= 1.0:
        raise ValueError(f"t quantile: probability in (0.5, 1) and freedom >= 1 needed, "
                         f"got {probability}, {freedom}")
    log_norm = (math.lgamma((freedom + 1.0) / 2.0) - math.lgamma(freedom / 2.0)
                - 0.5 * math.log(freedom * math.pi))
    density = np.exp(log_norm - (freedom + 1.0) / 2.0 * np.log1p(_T_GRID ** 2 / freedom))
    steps = np.diff(_T_GRID) * (density[1:] + density[:-1]) / 2.0
    cumulative = 0.5 + np.concatenate(([0.0], np.cumsum(steps)))
    return float(np.interp(probability, cumulative, _T_GRID))


def _target_count(percentile: float, total: int) -> int:
    """The count a percentile needs, as Java's ``getValueAtPercentile`` (and
    :func:`~pytest_scyllabench.hdr.merge.values_at_percentiles`):
    ``ceil(nextafter(p, -inf) * total / 100)``, at least 1."""
    requested = min(max(math.nextafter(percentile, -math.inf), 0.0), 100.0)
    return max(1, math.ceil(requested * total / 100.0))
