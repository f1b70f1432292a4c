"""Merge the interval logs of a step's loaders and compute percentiles from the merged histograms.

The measured window ``[start, end)`` is given in epoch seconds and applied identically to every
loader: an interval belongs to the window when its absolute start lies in it (the comparison
allows half a millisecond, the resolution of log timestamps). Histograms are added, never their
percentiles: one merged histogram per tag (``write-rt``, ``read-st``...), plus ``all-rt`` and
``all-st`` over every operation type. Untagged intervals are merged under the tag ``""`` and
are not part of ``all-*``. The work is done by :mod:`pytest_scyllabench.hdr.pipeline`
(batched numpy decoding, in parallel when large); the merged histograms are
:class:`~pytest_scyllabench.hdr.histogram.Histogram` objects that keep the logged values and
their unit (``value_unit_ns``, nanoseconds per value).

Percentiles follow Java HdrHistogram's ``getValueAtPercentile`` (the count at a percentile is
rounded up, one ulp below the requested percentile, and the value reported is the highest value
equivalent to the bucket reached) so that they agree exactly with ``HistogramLogProcessor``.
``hdrh``'s own ``get_value_at_percentile`` rounds the count to nearest and can differ by one
bucket. They are reported in milliseconds whatever the unit of the logs.

:func:`build_step_result` turns the loaders' summaries and logs into a
:class:`~pytest_scyllabench.result.StepResult` in one pass: each interval in the window is
decoded once and feeds the merged histograms, the per-loader counts and the per-second series.
Each loader's tool says what its tags mean and in which unit it records
(:class:`LoaderOutput`); loaders recording in different units cannot be merged.

:func:`merge_step` does the same and, given :class:`LoaderChecks`, judges each loader's data
(:class:`StepMerge`): a loader is *at fault* -- its data must not be merged -- when its log
ends with a truncated line, when its log covers less of its measured window than the step's
duration minus one interval (it stopped early), or when its logged count and its own count
disagree by more than one interval's worth (plus one per interval of its window outside the
merged one). The step as a whole has a problem -- its data stands, every loader's merged,
the step fails -- when its loaders measured together for less than the duration minus one
interval, when a loader's achieved rate is below its share of the target less the rate
tolerance while other loaders reached theirs (a saturated loader's latencies are the step's
worst: they stay in the merge; when every loader falls short it is the step's rate, judged
with the step), or when more than the rate tolerance of its attempted operations failed
(successes plus errors, or the summary's ops when they include the failed ones). Without
checks these are warnings (as :func:`build_step_result` gives them).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import Any

import numpy as np

from pytest_scyllabench.errors import StressError
from pytest_scyllabench.hdr.histogram import MICROSECONDS, NANOSECONDS_PER_MS, Histogram
from pytest_scyllabench.hdr.log import HdrLog, Interval
from pytest_scyllabench.hdr.pipeline import merge
from pytest_scyllabench.hdr.tags import ALL, aggregate_tag, counted
from pytest_scyllabench.hdr.window import SLACK, Window
from pytest_scyllabench.hdr.workers import LogFile, Workers, read_logs
from pytest_scyllabench.result import (
    PERCENTILES,
    Latency,
    LoaderRun,
    StepResult,
)
from pytest_scyllabench.stress.base import LoaderSummary
from pytest_scyllabench.stress.step import Step

__all__ = [
    "ALL",
    "SLACK",
    "LoaderChecks",
    "LoaderOutput",
    "StepMerge",
    "Window",
    "aggregate_tag",
    "build_step_result",
    "common_window",
    "count_mismatch",
    "counting_tags",
    "loader_count",
    "merge_logs",
    "merge_step",
    "merged_latencies",
    "percentiles",
    "values_at_percentiles",
    "window_intervals",
]


# --- percentiles -------------------------------------------------------------------------


def values_at_percentiles(histogram: Any, percentiles: Sequence[float]) -> list[int]:
    """Recorded values at ``percentiles`` (0..100), as Java's ``getValueAtPercentile``.

    ``histogram`` is a :class:`~pytest_scyllabench.hdr.histogram.Histogram` or an hdrh one.
    """
    if isinstance(histogram, Histogram):
        return histogram.values_at_percentiles(percentiles)
    total = histogram.get_total_count()
    if total == 0:
        return [0] * len(percentiles)
    cumulative = list(accumulate(histogram.counts[: histogram.counts_len]))
    values = []
    for percentile in percentiles:
        requested = min(max(math.nextafter(percentile, -math.inf), 0.0), 100.0)
        target = max(1, math.ceil(requested * total / 100.0))
        index = min(bisect_left(cumulative, target), len(cumulative) - 1)
        value = histogram.get_value_from_index(index)
        if percentile == 0.0:
            values.append(histogram.get_lowest_equivalent_value(value))
        else:
            values.append(histogram.get_highest_equivalent_value(value))
    return values


def histogram_unit(histogram: Any, value_unit_ns: float | None = None) -> float:
    """Nanoseconds per value of ``histogram``: its own (a Histogram knows it), else given.

    An hdrh histogram carries no unit: ``value_unit_ns`` or microseconds. A Histogram whose
    unit differs from a given ``value_unit_ns`` is an error, not a silent conversion.
    """
    own = histogram.value_unit_ns if isinstance(histogram, Histogram) else None
    if own is not None and value_unit_ns is not None and own != value_unit_ns:
        raise ValueError(f"histogram values are {own:g} ns each, not {value_unit_ns:g} ns")
    return own or value_unit_ns or MICROSECONDS


def percentiles(histogram: Any, value_unit_ns: float | None = None) -> Latency:
    """p50..max of a histogram in milliseconds; ``max`` is the histogram max.

    The unit of the recorded values is the histogram's own (:func:`histogram_unit`).
    """
    unit = histogram_unit(histogram, value_unit_ns)
    names = [name for name, _ in PERCENTILES if name != "max"]
    quantiles = [q for name, q in PERCENTILES if name != "max"]
    values = dict(zip(names, values_at_percentiles(histogram, quantiles), strict=True))
    values["max"] = histogram.get_max_value()
    return Latency(count=histogram.get_total_count(),
                   values_ms={name: values[name] * unit / NANOSECONDS_PER_MS
                              for name, _ in PERCENTILES})


# --- merging -----------------------------------------------------------------------------


def counting_tags(logs: Iterable[HdrLog]) -> frozenset[str]:
    """The tags whose counts are operations: response-time tags, else service-time, else all."""
    return counted(frozenset().union(*(log.tags for log in logs)))


def window_intervals(logs: Iterable[HdrLog], window: Window) -> list[Interval]:
    """Every interval of ``logs`` starting in ``window``, sorted by start (stable per log)."""
    selected = [interval for log in logs for interval in log.intervals
                if window.contains(interval.start)]
    selected.sort(key=lambda interval: interval.start)
    return selected


def merge_logs(logs: Sequence[HdrLog], window: Window, *,
               workers: int | None = None) -> dict[str, Histogram]:
    """One merged histogram per tag of the intervals starting in ``window``, plus ``all-*``."""
    return merge(logs, window, workers=workers).histograms


def loader_count(log: HdrLog, window: Window, tags: frozenset[str] | None = None) -> int:
    """Operations ``log`` recorded in ``window`` (``tags`` default: :func:`counting_tags`)."""
    return merge([log], window, series_tags=tags).loader_ops[0]


def count_mismatch(loader: str, counted: int, summary_ops: int, per_interval: int) -> str | None:
    """A warning when a loader's logged count and its summary differ by more than an interval."""
    if abs(counted - summary_ops) <= per_interval:
        return None
    return (f"loader {loader}: its HDR log holds {counted} operations in the measured window "
            f"but its summary reports {summary_ops} (more than one interval's worth, "
            f"{per_interval}, apart)")


# --- step result -------------------------------------------------------------------------


@dataclass(frozen=True)
class LoaderOutput:
    """What one loader left after a step: who it is, its summary and its HDR log."""

    name: str
    host: str
    tool: str
    summary: LoaderSummary
    hdr_log: Path
    output: Path | None = None
    #: This loader's share of the step's target rate, ops/s.
    target_rate: float = 0.0
    exit_code: int = 0
    #: The tool's raw tag -> ours (``write-rt``...), ``None`` to ignore; ``None``: tags are ours.
    canonical_tag: Callable[[str], str | None] | None = None
    #: Nanoseconds per recorded value (1000.0: microseconds, 1.0: nanoseconds).
    value_unit_ns: float = MICROSECONDS


def common_window(summaries: Sequence[LoaderSummary]) -> Window:
    """The window every loader measured: latest start to earliest end."""
    if not summaries:
        raise StressError("no loader summaries: nothing to merge")
    start = max(s.measure_start for s in summaries)
    end = min(s.measure_end for s in summaries)
    if not end > start:
        spans = ", ".join(f"{s.loader} [{s.measure_start:.3f}, {s.measure_end:.3f}]"
                          for s in summaries)
        raise StressError(f"the loaders' measured windows do not overlap: {spans}")
    return Window(start, end)


@dataclass(frozen=True)
class LoaderChecks:
    """What each loader's data must meet to be merged (see :func:`merge_step`)."""

    #: The step's measured duration, seconds.
    duration: float
    #: Fraction of its share of the target rate a loader may miss, and of the step's
    #: operations that may fail.
    rate_tolerance: float = 0.05


@dataclass
class StepMerge:
    """A merged step and what the checks found."""

    result: StepResult
    #: Loaders whose data must not be merged -> why (``loader <name>: <file>: ...``).
    faults: dict[str, str] = field(default_factory=dict)
    #: Problems of the step as a whole: the result stands, the step fails.
    problems: list[str] = field(default_factory=list)


def build_step_result(step: Step, loaders: Sequence[LoaderOutput], window: Window | None = None,
                      *, service_time_only: bool = False, grid: float = 1.0,
                      workers: int | None = None) -> StepResult:
    """Merge the loaders' logs over ``window`` (default: :func:`common_window`) into a result.

    ``ops`` and ``achieved_rate`` count the operations logged in the window (response-time
    tags, or service-time tags for a tool without them); each loader's count is checked
    against its summary and a difference beyond one interval becomes a warning. Loaders
    whose logs record values in different units raise ``StressError``.
    """
    return merge_step(step, loaders, window, service_time_only=service_time_only, grid=grid,
                      workers=workers).result


def merge_step(step: Step, loaders: Sequence[LoaderOutput], window: Window | None = None,
               *, service_time_only: bool = False, grid: float = 1.0,
               workers: int | None = None, checks: LoaderChecks | None = None) -> StepMerge:
    """:func:`build_step_result`, judging each loader's data when ``checks`` are given.

    With ``checks`` a truncated log, a log that stopped early and a count mismatch are
    :attr:`StepMerge.faults` (the caller merges again without those loaders); a short common
    window, a loader below its share of the rate and too many failed operations are
    :attr:`StepMerge.problems` (also the result's ``problems``). Without, the first and
    third are warnings of the result. While some loader's log is at fault (truncated,
    stopped early) the others' counts are not judged: that log may have shrunk the common
    window below their intervals, and the merge without it judges them.
    """
    units = {output.value_unit_ns for output in loaders}
    if len(units) > 1:
        listed = ", ".join(f"{output.name} ({output.tool}) {output.value_unit_ns:g} ns"
                           for output in loaders)
        raise StressError(f"the loaders record HDR values in different units: {listed}; "
                          f"the loaders of a step must run one tool")
    files = [LogFile(output.hdr_log, output.name, output.canonical_tag, output.value_unit_ns)
             for output in loaders]
    with Workers(workers) as pool:
        logs = read_logs(files, pool)
        window = window or common_window([output.summary for output in loaders])
        merged = merge(logs, window, grid=grid, workers=pool)
    found = _Findings(checks)
    runs = []
    spans = [_LogSpan.of(log, merged.counted_tags) for log in logs]
    for output, log, span in zip(loaders, logs, spans, strict=True):
        if log.truncated_line is not None:
            found.loader(output.name, f"loader {output.name}: {log.path}: line "
                                      f"{log.truncated_line} is truncated (the loader stopped "
                                      f"mid-write)", log.warnings())
        own = _own_window(output.summary, span)
        if checks is not None and _short(own, checks.duration, span.interval):
            found.loader(output.name, f"loader {output.name}: {log.path}: its log covers "
                                      f"{max(own, 0.0):.1f} s of its measured window, less "
                                      f"than the step's {checks.duration:g} s (the loader "
                                      f"stopped early)")
    # A loader whose log is at fault may have shrunk the common window below the others'
    # intervals: their counts are judged by the merge without it.
    damaged = set(found.faults)
    for output, log, span, counted_ops, largest in zip(
            loaders, logs, spans, merged.loader_ops, merged.loader_largest, strict=True):
        outside = max(0.0, output.summary.measure_end - output.summary.measure_start
                      - window.length)
        tolerance = largest * (1 + math.ceil(outside / span.interval - 0.01))
        mismatch = count_mismatch(output.name, counted_ops, output.summary.ops, tolerance)
        if mismatch is not None and (not damaged or output.name in damaged):
            found.loader(output.name, mismatch.replace(
                f"loader {output.name}: ", f"loader {output.name}: {log.path}: ", 1), [mismatch])
        runs.append(_loader_run(output, counted_ops, window))
    found.warnings.extend(merged.warnings)
    ops = sum(merged.loader_ops)
    result = StepResult(
        step=step.id, workload=step.workload.name, target_rate=float(step.rate),
        duration=window.length, achieved_rate=ops / window.length, ops=ops,
        errors=sum(output.summary.errors for output in loaders), histograms=merged.histograms,
        loaders=tuple(runs), service_time_only=service_time_only,
        series=list(merged.series), warnings=found.warnings, value_unit_ns=merged.value_unit_ns,
    )
    if checks is not None:
        _check_rates(found, checks, loaders, result)
        _check_step(found, checks, loaders, result, window, spans)
        result.problems = list(found.problems)
    return StepMerge(result, found.faults, found.problems)


class _Findings:
    """Faults, problems and warnings as the checks find them."""

    def __init__(self, checks: LoaderChecks | None) -> None:
        self.checks = checks
        self.faults: dict[str, str] = {}
        self.problems: list[str] = []
        self.warnings: list[str] = []

    def loader(self, name: str, fault: str, warnings: Sequence[str] = ()) -> None:
        """A fault of loader ``name`` with checks; its ``warnings`` without."""
        if self.checks is None:
            self.warnings.extend(warnings)
        elif name in self.faults:
            self.faults[name] += "; " + fault.removeprefix(f"loader {name}: ")
        else:
            self.faults[name] = fault


@dataclass(frozen=True)
class _LogSpan:
    """The first start and last end of a log's counted intervals, and their usual length."""

    first: float
    last: float
    interval: float

    @classmethod
    def of(cls, log: HdrLog, tags: frozenset[str]) -> _LogSpan:
        slots = [number for number, name in enumerate(log.tag_names) if name in tags]
        rows = np.isin(log.tag_index, slots)
        if not rows.any():
            return cls(math.inf, -math.inf, 1.0)
        starts, ends = log.starts[rows], log.ends[rows]
        interval = float(np.median(ends - starts))
        return cls(float(starts.min()), float(ends.max()), interval if interval > 0 else 1.0)


def _own_window(summary: LoaderSummary, span: _LogSpan) -> float:
    """Seconds of the loader's own measured window its log covers."""
    return min(summary.measure_end, span.last) - max(summary.measure_start, span.first)


def _short(length: float, duration: float, interval: float) -> bool:
    """Whether ``length`` is less than ``duration`` minus one interval (1 % of it spared)."""
    return length < duration - interval * 1.01 - SLACK


def _check_rates(found: _Findings, checks: LoaderChecks, loaders: Sequence[LoaderOutput],
                 result: StepResult) -> None:
    """A step problem for each loader below its share of the rate, unless every loader is.

    Its data is intact and stays in the merge: a saturated loader holds the step's worst
    latencies, which leaving it out would hide.
    """
    keep = 1.0 - checks.rate_tolerance
    judged = [(output, run) for output, run in zip(loaders, result.loaders, strict=True)
              if output.target_rate > 0]
    slow = [(output, run) for output, run in judged
            if run.achieved_rate < output.target_rate * keep]
    if not slow or len(slow) == len(judged):
        return  # every loader short of its share: the step's own rate check says so
    for output, run in slow:
        found.problems.append(
            f"loader {output.name} achieved {run.achieved_rate:.1f} ops/s, below its share of "
            f"the target, {output.target_rate:g} ops/s -{checks.rate_tolerance * 100:g}% (the "
            f"other loaders reached theirs; its data is merged)")


def _one_line(text: str, limit: int = 160) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[:limit - 3] + "..."


def _check_step(found: _Findings, checks: LoaderChecks, loaders: Sequence[LoaderOutput],
                result: StepResult, window: Window, spans: Sequence[_LogSpan]) -> None:
    """The common window's length and the failed operations; errors are always shown."""
    interval = max((span.interval for span in spans), default=1.0)
    if _short(window.length, checks.duration, interval) and not found.faults:
        own = ", ".join(f"{output.name} [{output.summary.measure_start:.3f}, "
                        f"{output.summary.measure_end:.3f}]" for output in loaders)
        found.problems.append(
            f"the loaders measured together for {window.length:.1f} s of the "
            f"{checks.duration:g} s step (their windows: {own}): they did not run together")
    if not result.errors:
        return
    attempted = sum(run.ops if output.summary.ops_include_errors else run.ops + run.errors
                    for output, run in zip(loaders, result.loaders, strict=True))
    attempted = max(attempted, result.errors)
    fraction = result.errors / attempted
    by_loader = ", ".join(f"{run.name} {run.errors}" for run in result.loaders)
    samples = [_one_line(sample) for run in result.loaders for sample in run.error_samples][:3]
    shown = f"; e.g. {' | '.join(samples)}" if samples else ""
    line = (f"{result.errors} of {attempted} operations failed ({fraction * 100:.2f}%; by "
            f"loader: {by_loader}){shown}")
    found.warnings.append(line)
    if fraction > checks.rate_tolerance:
        found.problems.append(f"{line}: more than the {checks.rate_tolerance * 100:g}% "
                              f"the rate tolerance allows")


def _loader_run(output: LoaderOutput, counted: int, window: Window) -> LoaderRun:
    summary = output.summary
    return LoaderRun(
        name=output.name, host=output.host, tool=output.tool,
        tool_version=summary.tool_version, exit_code=output.exit_code,
        target_rate=output.target_rate, ops=counted, errors=summary.errors,
        achieved_rate=counted / window.length, hdr_log=output.hdr_log, output=output.output,
        error_samples=summary.error_samples,
    )


def merged_latencies(histograms: Mapping[str, Any],
                     value_unit_ns: float | None = None) -> dict[str, Latency]:
    """Percentiles of every merged histogram, by tag."""
    return {name: percentiles(histogram, value_unit_ns)
            for name, histogram in histograms.items()}
