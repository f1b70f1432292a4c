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
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import Any

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
    "LoaderOutput",
    "Window",
    "aggregate_tag",
    "build_step_result",
    "common_window",
    "count_mismatch",
    "counting_tags",
    "loader_count",
    "merge_logs",
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


def build_step_result(step: Step, loaders: Sequence[LoaderOutput], window: Window | None = None,
                      *, service_time_only: bool = False, grid: float = 1.0,
                      workers: int | None = None) -> StepResult:
    """Merge the loaders' logs over ``window`` (default: :func:`common_window`) into a result.

    ``ops`` and ``achieved_rate`` count the operations logged in the window (response-time
    tags, or service-time tags for a tool without them); each loader's count is checked
    against its summary and a difference beyond one interval becomes a warning. Loaders
    whose logs record values in different units raise ``StressError``.
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
    warnings = [line for log in logs for line in log.warnings()]
    warnings.extend(merged.warnings)
    runs = []
    for output, counted_ops, largest in zip(loaders, merged.loader_ops, merged.loader_largest,
                                            strict=True):
        mismatch = count_mismatch(output.name, counted_ops, output.summary.ops, largest)
        if mismatch is not None:
            warnings.append(mismatch)
        runs.append(_loader_run(output, counted_ops, window))
    ops = sum(merged.loader_ops)
    return StepResult(
        step=step.id, workload=step.workload.name, target_rate=float(step.rate),
        duration=window.length, achieved_rate=ops / window.length, ops=ops,
        errors=sum(output.summary.errors for output in loaders), histograms=merged.histograms,
        loaders=tuple(runs), service_time_only=service_time_only,
        series=list(merged.series), warnings=warnings, value_unit_ns=merged.value_unit_ns,
    )


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
