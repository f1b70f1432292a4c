"""A step's measured window over time: ops/s and p99 on twin axes, the target rate dotted."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pytest_scyllabench.report.charts.render import (
    PALETTE,
    draw,
    finite,
    marker,
    milliseconds_axis,
    plain,
    positive,
    thin,
    titled,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

KIND_THROUGHPUT = "throughput"


def throughput_chart(series: Sequence[tuple[float, float, float]], *,
                     target_rate: float | None = None, title: str = "") -> str:
    """Ops/s (left axis) and p99 ms (right axis) over the measured window.

    ``series`` is :attr:`StepResult.series`: (seconds since the measure start, ops/s, p99 ms).
    The target rate is a dotted line. p99 goes on a log axis when it spans more than 50x.
    ``""`` when the series is empty.
    """
    rates = thin([(t, rate) for t, rate, _ in series if finite(t) and finite(rate)])
    p99 = thin(positive((t, value) for t, _, value in series))
    if not rates and not p99:
        return ""
    target = target_rate if target_rate is not None and finite(target_rate) and (
        target_rate > 0) else None

    def paint(figure: Figure) -> None:
        axes = figure.add_subplot()
        rate_colour, p99_colour = PALETTE[0], PALETTE[1]
        handles = []
        if rates:
            handles += axes.plot(*zip(*rates, strict=True), color=rate_colour, label="ops/s",
                                 marker=marker(rates), gid="sb-rate")
        if target is not None:
            handles.append(axes.axhline(target, color="#868e96", linestyle=":",
                                        linewidth=1.0, label="target ops/s", gid="sb-target"))
        axes.set_xlabel("time in measured window (s)")
        times = [t for t, _ in rates] + [t for t, _ in p99]
        if min(times) >= 0 and max(times) - min(times) < 1:
            # One second of data: matplotlib would centre it on a span reaching below 0 s.
            axes.set_xlim(0, max(times) + 1)
        axes.set_ylabel("throughput (ops/s)", color=rate_colour)
        top = max([rate for _, rate in rates] + [target or 0.0])
        axes.set_ylim(0, top * 1.1 if top > 0 else 1.0)
        right = axes.twinx()
        right.grid(False)
        if p99:
            handles += right.plot(*zip(*p99, strict=True), color=p99_colour,
                                  linewidth=1.0, label="p99 ms", marker=marker(p99),
                                  gid="sb-p99")
            values = [value for _, value in p99]
            if max(values) > 50 * min(values):
                milliseconds_axis(right)
            else:
                right.set_ylim(bottom=0)
        right.set_ylabel("p99 latency (ms)", color=p99_colour)
        if title:
            figure.suptitle(plain(title))
        figure.legend(handles=handles, loc="outside upper center", ncols=len(handles))

    return draw(KIND_THROUGHPUT, (rates, p99, target, title),
                titled("throughput and p99 over time", title), 6.4, 2.8, paint)
