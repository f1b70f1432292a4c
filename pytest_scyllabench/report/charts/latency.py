"""The latency/throughput chart of a benchmark: p50, p99 and p99.9 against achieved ops/s,
one point per step (:class:`LatencyPoint`), a baseline's points drawn dashed beside them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pytest_scyllabench.hdr.merge import values_at_percentiles
from pytest_scyllabench.hdr.tags import ALL
from pytest_scyllabench.report.charts.render import (
    NS_PER_MS,
    draw,
    finite,
    milliseconds_axis,
    plain,
    positive,
    shortened,
    titled,
)
from pytest_scyllabench.result import PERCENTILES, RESPONSE_TIME, SERVICE_TIME, tag

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from pytest_scyllabench.baseline.record import BaselineRecord
    from pytest_scyllabench.report.serialize import StepSummary

KIND_LATENCY_THROUGHPUT = "latency-throughput"

#: (name, colour) of the lines of the latency/throughput chart, by percentile.
_LT_LINES = (("p50", "#2b8a3e"), ("p99", "#e67700"), ("p99.9", "#c92a2a"))
#: The percentiles (0..100) of a :class:`LatencyPoint`, in its order.
_LT_PERCENTILES = [dict(PERCENTILES)[name] for name in ("p50", "p99", "p999")]
#: Longest baseline name in the legend (the chart's caption names it whole).
_LEGEND_NAME = 20


@dataclass(frozen=True)
class LatencyPoint:
    """One step on the latency/throughput chart: achieved rate and latencies, milliseconds."""

    rate: float
    p50_ms: float
    p99_ms: float
    p999_ms: float
    label: str = ""

    @classmethod
    def from_summary(cls, step: StepSummary) -> LatencyPoint | None:
        """The step's headline latency (response time, else service time); ``None`` if absent."""
        latency, _ = step.headline()
        if latency is None:
            return None
        values = latency.values_ms
        return cls(rate=step.achieved_rate, p50_ms=values.get("p50", math.nan),
                   p99_ms=values.get("p99", math.nan), p999_ms=values.get("p999", math.nan),
                   label=step.step)

    @classmethod
    def from_record(cls, record: BaselineRecord) -> LatencyPoint | None:
        """A saved benchmark's point: its merged histograms' headline latency (as
        :meth:`from_summary` chooses it) and throughput; ``None`` if it recorded none."""
        kinds = ((SERVICE_TIME, RESPONSE_TIME) if record.service_time_only
                 else (RESPONSE_TIME, SERVICE_TIME))
        names = [tag(ALL, kind) for kind in kinds if tag(ALL, kind) in record.merged.histograms]
        if not names:
            return None
        histogram = record.merged.histogram(names[0])
        if histogram.get_total_count() <= 0:
            return None
        p50, p99, p999 = (value * record.value_unit_ns / NS_PER_MS
                          for value in values_at_percentiles(histogram, _LT_PERCENTILES))
        return cls(rate=record.merged.achieved_rate, p50_ms=p50, p99_ms=p99, p999_ms=p999,
                   label=record.identity.step)

    def values(self) -> tuple[float, float, float]:
        return self.p50_ms, self.p99_ms, self.p999_ms


def latency_throughput_chart(points: Sequence[LatencyPoint],
                             baseline: Sequence[LatencyPoint] = (), *,
                             baseline_name: str = "", title: str = "") -> str:
    """p50, p99 and p99.9 (log y) against achieved ops/s, one marker per step.

    ``baseline`` points (a previous run of the same benchmark) are drawn dashed in the same
    colours, labelled ``baseline <baseline_name> <percentile>`` (a long name cut in its
    middle). ``""`` when no point has a latency.
    """
    prefix = " ".join(word for word in ("baseline", shortened(baseline_name, _LEGEND_NAME))
                      if word)
    current = sorted((p for p in points if finite(p.rate)), key=lambda p: p.rate)
    reference = sorted((p for p in baseline if finite(p.rate)), key=lambda p: p.rate)
    if not any(positive((p.rate, v) for v in p.values()) for p in current):
        return ""

    def paint(figure: Figure) -> None:
        axes = figure.add_subplot()
        for index, (name, colour) in enumerate(_LT_LINES):
            css = name.replace(".", "")
            line = positive((p.rate, p.values()[index]) for p in current)
            if line:
                axes.plot(*zip(*line, strict=True), marker="o", color=colour, label=name,
                          gid=f"sb-{css}")
            old = positive((p.rate, p.values()[index]) for p in reference)
            if old:
                axes.plot(*zip(*old, strict=True), marker="x", linestyle="--", color=colour,
                          alpha=0.6, label=plain(f"{prefix} {name}"),
                          gid=f"sb-baseline-{css}")
        milliseconds_axis(axes)
        axes.set_xlabel("achieved throughput (ops/s)")
        axes.set_ylabel("latency (ms)")
        axes.set_xlim(left=0)
        if title:
            axes.set_title(plain(title))
        axes.legend(loc="best", ncols=2 if reference else 1)

    return draw(KIND_LATENCY_THROUGHPUT, (current, reference, prefix, title),
                titled("latency against throughput", title), 6.4, 3.4, paint)
