"""Merge the interval logs of a step's loaders and compute percentiles from the merged histograms.

The measured window ``[start, end)`` is given in epoch seconds and applied identically to every
loader: an interval belongs to the window when its absolute start lies in it (the comparison
allows half a millisecond, the resolution of log timestamps). Histograms are added, never their
percentiles: one merged histogram per tag (``write-rt``, ``read-st``...), plus ``all-rt`` and
``all-st`` over every operation type. Untagged intervals are merged under the tag ``""`` and
are not part of ``all-*``.

Percentiles follow Java HdrHistogram's ``getValueAtPercentile`` (the count at a percentile is
rounded up, one ulp below the requested percentile, and the value reported is the highest value
equivalent to the bucket reached) so that they agree exactly with ``HistogramLogProcessor``.
``hdrh``'s own ``get_value_at_percentile`` rounds the count to nearest and can differ by one
bucket.

:func:`build_step_result` turns the loaders' summaries and logs into a
:class:`~pytest_scyllabench.result.StepResult` in one pass: each interval in the window is
decoded once and feeds the merged histograms, the per-loader counts and the per-second series.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram

from pytest_scyllabench.errors import StressError
from pytest_scyllabench.hdr.log import HdrLog, Interval, read_log
from pytest_scyllabench.result import (
    PERCENTILES,
    RESPONSE_TIME,
    SERVICE_TIME,
    Latency,
    LoaderRun,
    StepResult,
    split_tag,
    tag,
)
from pytest_scyllabench.stress.base import LoaderSummary
from pytest_scyllabench.stress.step import Step

#: Log timestamps have millisecond resolution: window bounds are compared with this slack.
SLACK = 0.0005
#: Operation name of the merged-over-operations histograms (``all-rt``, ``all-st``).
ALL = "all"


@dataclass(frozen=True)
class Window:
    """The measured window, epoch seconds, half-open ``[start, end)``."""

    start: float
    end: float

    def __post_init__(self) -> None:
        if not self.end > self.start:
            raise ValueError(f"empty measured window [{self.start}, {self.end})")

    @property
    def length(self) -> float:
        return self.end - self.start

    def contains(self, timestamp: float) -> bool:
        return self.start - SLACK <= timestamp < self.end - SLACK


# --- percentiles -------------------------------------------------------------------------


def values_at_percentiles(histogram: Any, percentiles: Sequence[float]) -> list[int]:
    """Recorded values at ``percentiles`` (0..100), as Java's ``getValueAtPercentile``."""
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


def percentiles(histogram: Any) -> Latency:
    """p50..max of a histogram of microseconds, in milliseconds; ``max`` is the histogram max."""
    names = [name for name, _ in PERCENTILES if name != "max"]
    quantiles = [q for name, q in PERCENTILES if name != "max"]
    values = dict(zip(names, values_at_percentiles(histogram, quantiles), strict=True))
    values["max"] = histogram.get_max_value()
    return Latency(count=histogram.get_total_count(),
                   values_ms={name: values[name] / 1000.0 for name, _ in PERCENTILES})


# --- merging -----------------------------------------------------------------------------


def empty_like(histogram: Any) -> Any:
    """An empty histogram with the layout of ``histogram`` (so ``add`` takes the fast path)."""
    return HdrHistogram(histogram.lowest_trackable_value, histogram.highest_trackable_value,
                        histogram.significant_figures)


def add_into(accumulators: dict[Any, Any], key: Any, histogram: Any, interval: Interval) -> None:
    """Add ``histogram`` into ``accumulators[key]``, creating it with the same layout."""
    target = accumulators.get(key)
    if target is None:
        target = accumulators[key] = empty_like(histogram)
    try:
        target.add(histogram)
    except IndexError as exc:
        raise interval.source.error(
            interval.line, f"histogram does not fit the merged layout of the other intervals "
                           f"({exc})") from exc


def aggregate_tag(interval_tag: str) -> str | None:
    """The ``all-<kind>`` tag an interval's tag adds to, ``None`` if it is not ``<op>-<kind>``."""
    operation, kind = split_tag(interval_tag)
    if not operation or operation == ALL or kind not in (RESPONSE_TIME, SERVICE_TIME):
        return None
    return tag(ALL, kind)


def counting_tags(logs: Iterable[HdrLog]) -> frozenset[str]:
    """The tags whose counts are operations: response-time tags, else service-time, else all."""
    tags = frozenset().union(*(log.tags for log in logs))
    for kind in (RESPONSE_TIME, SERVICE_TIME):
        chosen = frozenset(t for t in tags if aggregate_tag(t) == tag(ALL, kind))
        if chosen:
            return chosen
    return tags


def window_intervals(logs: Iterable[HdrLog], window: Window) -> list[Interval]:
    """Every interval of ``logs`` starting in ``window``, sorted by start (stable per log)."""
    selected = [interval for log in logs for interval in log.intervals
                if window.contains(interval.start)]
    selected.sort(key=lambda interval: interval.start)
    return selected


def merge_logs(logs: Sequence[HdrLog], window: Window) -> dict[str, Any]:
    """One merged histogram per tag of the intervals starting in ``window``, plus ``all-*``."""
    merged: dict[str, Any] = {}
    for interval in window_intervals(logs, window):
        histogram = interval.decode()
        add_into(merged, interval.tag, histogram, interval)
        aggregate = aggregate_tag(interval.tag)
        if aggregate is not None:
            add_into(merged, aggregate, histogram, interval)
    return merged


def loader_count(log: HdrLog, window: Window, tags: frozenset[str] | None = None) -> int:
    """Operations ``log`` recorded in ``window`` (``tags`` default: :func:`counting_tags`)."""
    chosen = counting_tags([log]) if tags is None else tags
    return sum(interval.decode().get_total_count() for interval in log.intervals
               if interval.tag in chosen and window.contains(interval.start))


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
    #: Nanoseconds per recorded value (1000.0: microseconds).
    value_unit_ns: float = 1000.0


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
                      *, service_time_only: bool = False, grid: float = 1.0) -> StepResult:
    """Merge the loaders' logs over ``window`` (default: :func:`common_window`) into a result.

    ``ops`` and ``achieved_rate`` count the operations logged in the window (response-time
    tags, or service-time tags for a tool without them); each loader's count is checked
    against its summary and a difference beyond one interval becomes a warning.
    """
    from pytest_scyllabench.hdr.series import SeriesBuilder  # series uses this module

    logs = [read_log(output.hdr_log, output.name) for output in loaders]
    window = window or common_window([output.summary for output in loaders])
    counted_tags = counting_tags(logs)
    merged: dict[str, Any] = {}
    counts = {output.name: 0 for output in loaders}
    per_interval: dict[tuple[str, int], int] = {}
    series = SeriesBuilder(window, grid)
    for interval in window_intervals(logs, window):
        histogram = interval.decode()
        add_into(merged, interval.tag, histogram, interval)
        aggregate = aggregate_tag(interval.tag)
        if aggregate is not None:
            add_into(merged, aggregate, histogram, interval)
        if interval.tag in counted_tags:
            count = histogram.get_total_count()
            counts[interval.source.loader] += count
            key = (interval.source.loader, series.bucket(interval.start))
            per_interval[key] = per_interval.get(key, 0) + count
            series.add(interval.start, histogram)
    warnings = [line for log in logs for line in log.warnings()]
    runs = []
    for output in loaders:
        counted = counts[output.name]
        largest = max((c for (name, _), c in per_interval.items() if name == output.name),
                      default=0)
        mismatch = count_mismatch(output.name, counted, output.summary.ops, largest)
        if mismatch is not None:
            warnings.append(mismatch)
        runs.append(_loader_run(output, counted, window))
    ops = sum(counts.values())
    return StepResult(
        step=step.id, workload=step.workload.name, target_rate=float(step.rate),
        duration=window.length, achieved_rate=ops / window.length, ops=ops,
        errors=sum(output.summary.errors for output in loaders), histograms=merged,
        loaders=tuple(runs), service_time_only=service_time_only,
        series=list(series.points()), warnings=warnings,
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


def merged_latencies(histograms: Mapping[str, Any]) -> dict[str, Latency]:
    """Percentiles of every merged histogram, by tag."""
    return {name: percentiles(histogram) for name, histogram in histograms.items()}
