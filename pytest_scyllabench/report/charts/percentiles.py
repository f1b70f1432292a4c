"""The percentile distribution of a step: latency by percentile on a "nines" axis
(x = 1/(1-q)), one line per tag, sampled from merged HDR histograms."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pytest_scyllabench.hdr.merge import values_at_percentiles
from pytest_scyllabench.hdr.tags import ALL
from pytest_scyllabench.report.charts.render import (
    NS_PER_MS,
    colours,
    draw,
    marker,
    milliseconds_axis,
    plain,
    positive,
    titled,
)
from pytest_scyllabench.result import RESPONSE_TIME, SERVICE_TIME, split_tag

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from pytest_scyllabench.result import StepResult

KIND_PERCENTILES = "percentiles"

#: The ticks of the nines axis: x = 1 / (1 - q).
NINES_TICKS: tuple[tuple[float, str], ...] = (
    (1.0, "0%"), (10.0, "90%"), (100.0, "99%"), (1e3, "99.9%"), (1e4, "99.99%"),
    (1e5, "99.999%"),
)
NINES_MAX = NINES_TICKS[-1][0]
#: Points per decade of the nines axis when sampling a histogram.
NINES_STEPS = 10

_KIND_NAMES = {RESPONSE_TIME: "response time", SERVICE_TIME: "service time"}


def nines_grid(count: int, limit: float = NINES_MAX) -> list[float]:
    """Percentiles (0..100) spaced evenly on the nines axis, up to ``1 - 1/count``.

    A histogram of ``count`` values says nothing beyond its ``count``-th value: the grid stops
    there (and at ``limit`` on the nines axis).
    """
    last = min(limit, float(max(count, 1)))
    grid = []
    step = 0
    while (x := 10.0 ** (step / NINES_STEPS)) <= last * (1 + 1e-9):
        grid.append(100.0 * (1.0 - 1.0 / x))
        step += 1
    return grid


def histogram_curve(histogram: Any, value_unit_ns: float) -> list[tuple[float, float]]:
    """(percentile 0..100, milliseconds) of a merged histogram over :func:`nines_grid`."""
    count = int(histogram.get_total_count())
    if count <= 0:
        return []
    grid = nines_grid(count)
    values = values_at_percentiles(histogram, grid)
    return [(q, value * value_unit_ns / NS_PER_MS) for q, value in zip(grid, values,
                                                                       strict=True)]


def tag_label(name: str) -> str:
    """``write-rt`` -> ``write response time``; an empty tag is ``untagged``."""
    operation, kind = split_tag(name)
    if not operation:
        return name or "untagged"
    return f"{operation} {_KIND_NAMES.get(kind, kind)}"


def percentile_chart(curves: Mapping[str, Sequence[tuple[float, float]]], *,
                     title: str = "") -> str:
    """Latency (ms, log y) by percentile on a nines axis (x = 1/(1-q)), one line per tag.

    ``curves`` maps a tag (``all-rt``, ``write-st``...) to (percentile 0..100, ms) points.
    Service-time lines are dashed. ``""`` when no curve has a point.
    """
    lines = {name: positive((_nines(q), ms) for q, ms in points)
             for name, points in curves.items()}
    lines = {name: [(x, y) for x, y in line if x <= NINES_MAX * (1 + 1e-9)]
             for name, line in lines.items()}
    lines = {name: line for name, line in lines.items() if line}
    if not lines:
        return ""
    colour = colours(sorted({split_tag(name)[0] for name in lines},
                            key=lambda op: (op != ALL, op)))

    def paint(figure: Figure) -> None:
        axes = figure.add_subplot()
        for name in sorted(lines, key=lambda n: (split_tag(n)[0] != ALL, n)):
            operation, kind = split_tag(name)
            axes.plot(*zip(*lines[name], strict=True), color=colour[operation],
                      linestyle="--" if kind == SERVICE_TIME else "-",
                      marker=marker(lines[name]),
                      label=plain(tag_label(name)))
        _nines_axis(axes)
        milliseconds_axis(axes)
        axes.set_ylabel("latency (ms)")
        if title:
            axes.set_title(plain(title))
        axes.legend(loc="lower right")  # latency rises to the right: free there

    return draw(KIND_PERCENTILES, (sorted(lines.items()), title),
                titled("latency by percentile", title), 6.4, 3.2, paint)


def step_percentile_chart(result: StepResult, *, title: str = "") -> str:
    """:func:`percentile_chart` of every merged histogram of a step, by tag.

    With a single operation type its ``all-*`` lines would hide under that operation's: they
    are left out. So are the times of failed operations (``write-err``): not latencies.
    """
    names = sorted(name for name in result.histograms
                   if split_tag(name)[1] in (RESPONSE_TIME, SERVICE_TIME))
    operations = {split_tag(name)[0] for name in names} - {ALL}
    if len(operations) == 1:
        names = [name for name in names if split_tag(name)[0] != ALL]
    curves = {name: histogram_curve(result.histograms[name], result.value_unit_ns)
              for name in names}
    return percentile_chart(curves, title=title)


def _nines(percentile: float) -> float:
    remaining = 1.0 - percentile / 100.0
    return 1.0 / remaining if remaining > 0 else math.inf


def _nines_axis(axes: Axes) -> None:
    from matplotlib.ticker import FixedLocator, NullLocator

    axes.set_xscale("log")
    axes.set_xlim(1.0, NINES_MAX)
    axes.xaxis.set_major_locator(FixedLocator([x for x, _ in NINES_TICKS]))
    axes.xaxis.set_minor_locator(NullLocator())
    axes.set_xticklabels([label for _, label in NINES_TICKS])
    axes.set_xlabel("percentile")
