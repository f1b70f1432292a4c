"""Compare a benchmark's record with its baseline, rule by rule, aware of noise.

For each rule the metric is recomputed on both sides: a percentile from the merged
histograms (:func:`~pytest_scyllabench.hdr.merge.values_at_percentiles`, never from stored
percentiles), or the achieved throughput (operations over measured time). The change is given
absolute (ms or ops/s) and relative to the baseline, with a confidence interval
(:mod:`pytest_scyllabench.baseline.noise`: when a side holds the runs of two sessions or more,
the interval of a new session against them (between-session variance included); else Welch's
t over the repetitions when both sides have two or more, else a bootstrap over the histograms'
counts, or Welch's t over the per-second rates for throughput). With repetitions,
the means of per-run values only estimate the noise: the values shown and judged are still
those of the merged histograms (percentiles are never averaged).

Verdicts:

* **regression**: the change in the rule's bad direction exceeds the rule's allowance (``+10%``
  of the baseline, ``+2ms``) **and** the confidence interval of the change excludes zero on
  that side. A change beyond the allowance that the noise could explain is not a regression.
* **improvement**: the same, in the good direction.
* **within noise**: anything else (identical runs land here).
* **no data**: a side recorded no operations of the metric's kind, or a single run too few to
  estimate its noise (:data:`~.noise.MIN_OPERATIONS`); nothing was compared.

When no noise estimate is possible (throughput of single runs that kept no per-second rates)
the allowance alone decides. When the environments differ (database version, node count,
instance types, loaders, tool...) the comparison is made but flagged: :attr:`Comparison.mismatch`
names the fields, and :attr:`Comparison.regressions` is empty, so nothing is gated on it.

A regression reads (the baseline's sessions and runs after the interval)::

    test_write[2000] write@2000: p99 regressed: 12.1 ms -> 15.3 ms (+26.4%, 95% CI +18%..+31%;
    baseline 3 sessions, 9 runs) breaks rule p99:+10%
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from pytest_scyllabench.baseline.noise import (
    CONFIDENCE,
    MIN_OPERATIONS,
    NANOSECONDS_PER_MS,
    RESAMPLES,
    SECONDS,
    ChangeInterval,
    HistogramResampler,
    histogram_interval,
    sessions_interval,
    welch_interval,
)
from pytest_scyllabench.baseline.record import BaselineRecord, Identity, Measurement
from pytest_scyllabench.baseline.rules import Rule
from pytest_scyllabench.hdr.merge import values_at_percentiles
from pytest_scyllabench.result import RESPONSE_TIME, SERVICE_TIME, tag


class Verdict(StrEnum):
    REGRESSION = "regressed"
    IMPROVEMENT = "improved"
    NOISE = "within noise"
    NO_DATA = "not compared"


@dataclass(frozen=True)
class MetricChange:
    """One rule applied to one benchmark; ``str()`` is the one-line message."""

    identity: Identity
    rule: Rule
    baseline: float
    current: float
    interval: ChangeInterval | None
    verdict: Verdict
    #: ``" (service time)"`` when the tool measured only service time.
    kind: str = ""
    #: Why nothing was compared (``no data``).
    note: str = ""
    #: How many sessions and runs the baseline holds.
    baseline_sessions: int = 1
    baseline_runs: int = 1

    @property
    def change(self) -> float:
        """current - baseline, in the metric's unit (ms or ops/s)."""
        return self.current - self.baseline

    @property
    def relative(self) -> float:
        """current / baseline - 1 (0.1 is +10%)."""
        return _relative(self.baseline, self.current)

    def __str__(self) -> str:
        what = f"{self.identity.label}: {self.rule.label}{self.kind}"
        if self.verdict is Verdict.NO_DATA:
            return f"{what} not compared: {self.note}"
        unit = self.rule.unit
        figures = f"{_value(self.baseline)} {unit} -> {_value(self.current)} {unit}"
        if self.rule.relative is not None:
            change = _percent(self.relative, 1)
        else:
            change = f"{_signed(self.change)} {unit}, {_percent(self.relative, 1)}"
        detail = f"({change}, {self._interval()}; {self._baseline_size()})"
        if self.verdict is Verdict.REGRESSION:
            return f"{what} regressed: {figures} {detail} breaks rule {self.rule}"
        if self.verdict is Verdict.IMPROVEMENT:
            return f"{what} improved: {figures} {detail} beyond rule {self.rule}"
        return f"{what} within noise: {figures} {detail}, rule {self.rule}"

    def _interval(self) -> str:
        interval = self.interval
        if interval is None:
            return "no noise estimate"
        level = f"{interval.confidence * 100:g}% CI"
        if self.rule.relative is not None:
            return (f"{level} {_percent(interval.relative_low, 0)}.."
                    f"{_percent(interval.relative_high, 0)}")
        return f"{level} {_signed(interval.low)}..{_signed(interval.high)} {self.rule.unit}"

    def _baseline_size(self) -> str:
        sessions, runs = self.baseline_sessions, self.baseline_runs
        return (f"baseline {sessions} session{'s' * (sessions != 1)}, "
                f"{runs} run{'s' * (runs != 1)}")

    def to_dict(self) -> dict[str, Any]:
        interval = self.interval
        return {
            "rule": str(self.rule), "metric": self.rule.name, "unit": self.rule.unit,
            "verdict": self.verdict.value, "baseline": _finite(self.baseline),
            "current": _finite(self.current), "change": _finite(self.change),
            "relative": _finite(self.relative), "service_time": bool(self.kind),
            "interval": None if interval is None else {
                "low": _finite(interval.low), "high": _finite(interval.high),
                "relative_low": _finite(interval.relative_low),
                "relative_high": _finite(interval.relative_high),
                "confidence": interval.confidence, "method": interval.method,
                "resamples": interval.resamples},
            "note": self.note, "baseline_sessions": self.baseline_sessions,
            "baseline_runs": self.baseline_runs, "message": str(self),
        }


@dataclass(frozen=True)
class Comparison:
    """Every rule's outcome for one benchmark against one baseline."""

    identity: Identity
    baseline_name: str
    changes: tuple[MetricChange, ...]
    #: ``field: baseline -> current`` of each environment field that differs.
    mismatch: tuple[str, ...] = ()

    @property
    def comparable(self) -> bool:
        return not self.mismatch

    @property
    def regressions(self) -> list[MetricChange]:
        """The regressions to fail on: none when the environments differ."""
        if self.mismatch:
            return []
        return [change for change in self.changes if change.verdict is Verdict.REGRESSION]

    @property
    def improvements(self) -> list[MetricChange]:
        if self.mismatch:
            return []
        return [change for change in self.changes if change.verdict is Verdict.IMPROVEMENT]

    def failure(self) -> str | None:
        """The message to fail the test with (one line per regression), or ``None``."""
        lines = [str(change) for change in self.regressions]
        return "\n".join(lines) if lines else None

    def mismatch_message(self) -> str | None:
        """One line saying why the comparison does not count, or ``None``."""
        if not self.mismatch:
            return None
        return (f"{self.identity.label}: not gated against baseline {self.baseline_name!r}: "
                f"the environment differs: {'; '.join(self.mismatch)}")

    def lines(self) -> list[str]:
        """What a report shows: the mismatch first, then one line per rule."""
        head = self.mismatch_message()
        return [*([head] if head else []), *(str(change) for change in self.changes)]

    def to_dict(self) -> dict[str, Any]:
        return {"baseline": self.baseline_name, "comparable": self.comparable,
                "mismatch": list(self.mismatch),
                "metrics": [change.to_dict() for change in self.changes]}


def compare(current: BaselineRecord, baseline: BaselineRecord, rules: Mapping[str, Rule], *,
            baseline_name: str = "", resamples: int = RESAMPLES,
            confidence: float = CONFIDENCE, seed: int = 0) -> Comparison:
    """Apply every rule to ``current`` against ``baseline`` (see the module docstring).

    Resampling is seeded from ``seed``, the identity and the metric: the same records give
    the same intervals.
    """
    mismatch = [f"{name}: {before} -> {after}" for name, before, after in (
        ("profile", baseline.identity.profile, current.identity.profile),
        ("test", baseline.identity.test, current.identity.test),
        ("step", baseline.identity.step, current.identity.step)) if before != after]
    mismatch.extend(baseline.environment.differences(current.environment))
    context = _Context(current, baseline, rules, resamples, confidence, seed)
    changes = tuple(context.compare(rule) for rule in rules.values())
    return Comparison(identity=current.identity, baseline_name=baseline_name, changes=changes,
                      mismatch=tuple(mismatch))


def verdict(rule: Rule, baseline: float, current: float,
            interval: ChangeInterval | None) -> Verdict:
    """Regression, improvement or noise: the allowance exceeded and the interval clear of 0."""
    if rule.relative is not None:
        amount, allowance = _relative(baseline, current), rule.relative
    else:
        amount, allowance = current - baseline, float(rule.absolute or 0.0)
    worse = rule.direction * amount
    side = interval.side if interval is not None else int(np.sign(current - baseline))
    if worse > allowance and side == rule.direction:
        return Verdict.REGRESSION
    if -worse > allowance and side == -rule.direction:
        return Verdict.IMPROVEMENT
    return Verdict.NOISE


class _Context:
    """One comparison's decoded histograms and resamples, each made once."""

    def __init__(self, current: BaselineRecord, baseline: BaselineRecord,
                 rules: Mapping[str, Rule], resamples: int, confidence: float,
                 seed: int) -> None:
        self.sides = {"baseline": baseline, "current": current}
        self.resamples = resamples
        self.confidence = confidence
        self.seed = seed
        #: How many sessions and runs the baseline holds (for the messages).
        self.sessions = len(baseline.sessions)
        self.runs = len(baseline.runs)
        self._histograms: dict[tuple[str, int, str], Any] = {}
        self._resamplers: dict[tuple[str, str], HistogramResampler] = {}
        self._values: dict[tuple[str, int, str], dict[float, float]] = {}
        #: The percentiles the rules ask of each tag: one resample serves them all.
        self._percentiles: dict[str, list[float]] = {}
        for rule in rules.values():
            if rule.percentile is not None:
                self._percentiles.setdefault(self._tag(rule)[0], []).append(rule.percentile)

    def rng(self, *purpose: str) -> np.random.Generator:
        words = [zlib.crc32(part.encode("utf-8")) for part in
                 (self.sides["current"].identity.key, *purpose)]
        return np.random.default_rng([self.seed, *words])

    def compare(self, rule: Rule) -> MetricChange:
        if rule.percentile is None:
            return self._throughput(rule)
        return self._latency(rule, rule.percentile)

    # --- throughput --------------------------------------------------------------------

    def _throughput(self, rule: Rule) -> MetricChange:
        baseline, current = self.sides["baseline"], self.sides["current"]
        before, after = baseline.merged.achieved_rate, current.merged.achieved_rate
        # A record read from a file holds NaN for a rate it wrote as null: nothing to judge
        # (NaN compared as a number is "within noise" whatever the other side did).
        missing = [side for side, value in (("baseline", before), ("current", after))
                   if not math.isfinite(value)]
        if missing:
            return MetricChange(current.identity, rule, before, after, None, Verdict.NO_DATA,
                                note=f"the {' and the '.join(missing)} recorded no throughput",
                                baseline_sessions=self.sessions, baseline_runs=self.runs)
        interval = None
        # Per-run or per-second rates with a NaN among them give no noise estimate (a NaN
        # interval, or a t quantile of NaN degrees of freedom): the next source is used.
        seconds = [[rate for rate in record.merged.ops_per_s if math.isfinite(rate)]
                   for record in (baseline, current)]
        if self._spans_sessions() and _all_finite(baseline, current):
            interval = sessions_interval(_rates(baseline), _rates(current),
                                         confidence=self.confidence)
        elif (len(baseline.repetitions) >= 2 and len(current.repetitions) >= 2
              and _all_finite(baseline, current)):
            interval = welch_interval([run.achieved_rate for run in baseline.repetitions],
                                      [run.achieved_rate for run in current.repetitions],
                                      confidence=self.confidence)
        elif len(seconds[0]) >= 2 and len(seconds[1]) >= 2:
            # Welch's t, not a bootstrap of the means: a step of a few seconds has a few
            # rates, and a bootstrap of two or three means is far too narrow (noise module).
            interval = welch_interval(seconds[0], seconds[1], confidence=self.confidence,
                                      method=SECONDS)
        return MetricChange(current.identity, rule, before, after, interval,
                            verdict(rule, before, after, interval),
                            baseline_sessions=self.sessions, baseline_runs=self.runs)

    # --- latency -----------------------------------------------------------------------

    def _latency(self, rule: Rule, percentile: float) -> MetricChange:
        baseline, current = self.sides["baseline"], self.sides["current"]
        name, kind = self._tag(rule)
        missing = [side for side in self.sides if self._count(side, -1, name) == 0]
        if missing:
            operations = ("operations" if rule.operation == "all"
                          else f"{rule.operation} operations")
            return MetricChange(current.identity, rule, math.nan, math.nan, None,
                                Verdict.NO_DATA, kind=kind,
                                note=f"the {' and the '.join(missing)} recorded no {operations}",
                                baseline_sessions=self.sessions, baseline_runs=self.runs)
        before = self._value(baseline, "baseline", -1, name, percentile)
        after = self._value(current, "current", -1, name, percentile)
        interval = self._repetitions_interval(rule, name, percentile)
        few = [f"{side} {self._count(side, -1, name)}" for side in self.sides
               if self._count(side, -1, name) < MIN_OPERATIONS]
        if interval is None and few:
            return MetricChange(current.identity, rule, before, after, None,
                                Verdict.NO_DATA, kind=kind,
                                note=f"too few operations to see the noise of one run "
                                     f"({', '.join(few)}; {MIN_OPERATIONS} or more, or "
                                     f"repeat the step)",
                                baseline_sessions=self.sessions, baseline_runs=self.runs)
        if interval is None:
            interval = histogram_interval(self._resampler("baseline", name),
                                          self._resampler("current", name), percentile,
                                          confidence=self.confidence)
        return MetricChange(current.identity, rule, before, after, interval,
                            verdict(rule, before, after, interval), kind=kind,
                            baseline_sessions=self.sessions, baseline_runs=self.runs)

    def _tag(self, rule: Rule) -> tuple[str, str]:
        """Response time when both sides have it, else service time (the tool's only kind)."""
        response = tag(rule.operation, RESPONSE_TIME)
        if all(response in record.merged.histograms for record in self.sides.values()):
            return response, ""
        service = tag(rule.operation, SERVICE_TIME)
        if any(record.service_time_only for record in self.sides.values()) and all(
                service in record.merged.histograms for record in self.sides.values()):
            return service, " (service time)"
        return response, ""

    def _spans_sessions(self) -> bool:
        """Whether a side holds the runs of two sessions or more."""
        return any(len(record.sessions) >= 2 for record in self.sides.values())


    def _repetitions_interval(self, rule: Rule, name: str,
                              percentile: float) -> ChangeInterval | None:
        if self._spans_sessions():
            grouped: dict[str, list[list[float]]] = {}
            for side, record in self.sides.items():
                if any(self._count(side, number, name) == 0
                       for number in range(len(record.runs))):
                    return None
                grouped[side] = [[self._value(record, side, number, name, percentile)
                                  for number in group] for group in record.sessions]
            return sessions_interval(grouped["baseline"], grouped["current"],
                                     confidence=self.confidence)
        values: dict[str, list[float]] = {}
        for side, record in self.sides.items():
            runs = record.repetitions
            if len(runs) < 2 or any(self._count(side, number, name) == 0
                                    for number in range(len(runs))):
                return None
            values[side] = [self._value(record, side, number, name, percentile)
                            for number in range(len(runs))]
        return welch_interval(values["baseline"], values["current"],
                              confidence=self.confidence)

    def _measurement(self, side: str, number: int) -> Measurement:
        record = self.sides[side]
        return record.merged if number < 0 else record.runs[number]

    def _histogram(self, side: str, number: int, name: str) -> Any:
        """The decoded histogram (``None`` when absent); ``number`` -1 is the merged one."""
        key = (side, number, name)
        if key not in self._histograms:
            measurement = self._measurement(side, number)
            self._histograms[key] = (measurement.histogram(name)
                                     if name in measurement.histograms else None)
        return self._histograms[key]

    def _count(self, side: str, number: int, name: str) -> int:
        histogram = self._histogram(side, number, name)
        return 0 if histogram is None else int(histogram.get_total_count())

    def _value(self, record: BaselineRecord, side: str, number: int, name: str,
               percentile: float) -> float:
        """A percentile of a histogram, ms; every percentile of the tag is computed at once."""
        key = (side, number, name)
        if key not in self._values:
            wanted = sorted(set(self._percentiles[name]))
            raw = values_at_percentiles(self._histogram(side, number, name), wanted)
            self._values[key] = {percentile: value * record.value_unit_ns / NANOSECONDS_PER_MS
                                 for percentile, value in zip(wanted, raw, strict=True)}
        return self._values[key][percentile]

    def _resampler(self, side: str, name: str) -> HistogramResampler:
        key = (side, name)
        if key not in self._resamplers:
            self._resamplers[key] = HistogramResampler(
                self._histogram(side, -1, name), self.sides[side].value_unit_ns,
                sorted(set(self._percentiles[name])), self.resamples, self.rng(side, name))
        return self._resamplers[key]


def _all_finite(*records: BaselineRecord) -> bool:
    """Whether every run of ``records`` has a finite throughput."""
    return all(math.isfinite(run.achieved_rate) for record in records for run in record.runs)


def _rates(record: BaselineRecord) -> list[list[float]]:
    """The throughput of each run, grouped by session."""
    return [[record.runs[number].achieved_rate for number in group]
            for group in record.sessions]


def _relative(baseline: float, current: float) -> float:
    if baseline > 0:
        return current / baseline - 1.0
    if current == baseline:
        return 0.0
    return math.copysign(math.inf, current - baseline)


def _value(value: float) -> str:
    """Three significant figures or more: ``12.1``, ``0.412``, ``1998``."""
    magnitude = abs(value)
    if not math.isfinite(value):
        return str(value)
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def _signed(value: float) -> str:
    text = _value(value)
    return text if text.startswith("-") else f"+{text}"


def _percent(fraction: float, digits: int) -> str:
    if not math.isfinite(fraction):
        return "+inf%" if fraction > 0 else "-inf%"
    percent = fraction * 100
    if digits == 0 and abs(percent) < 10:
        digits = 1
    text = f"{percent:+.{digits}f}"
    return f"{text}%"


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None
