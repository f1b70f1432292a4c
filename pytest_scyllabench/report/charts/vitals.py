"""Vital signs of a step's window from monitoring: small multiples, one panel per metric and
one line per host."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from pytest_scyllabench.report.charts.render import (
    colours,
    draw,
    finite,
    marker,
    plain,
    thin,
    titled,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Vital signs from monitoring: metric name -> host -> [(t seconds, value)].
Vitals = Mapping[str, Mapping[str, Sequence[tuple[float, float]]]]

KIND_VITALS = "vitals"
#: Longest line of one vital-sign panel (a panel is a third of the width of a chart), and
#: the points of all panels together: many panels get shorter lines, the chart stays small.
VITAL_POINTS = 100
VITAL_BUDGET = 1500


def vitals_chart(vitals: Vitals | None, *, columns: int = 3, title: str = "") -> str:
    """Small multiples: one panel per metric, one line per host, a shared legend.

    ``vitals`` maps a metric name (its unit in the name: ``cpu busy %``) to host -> (t, value)
    samples; t is in seconds (epoch or relative) and is drawn relative to the earliest sample
    of all. Panels follow the mapping's order; empty metrics are skipped. ``""`` when none.
    """
    panels = {name: {host: [(t, v) for t, v in samples if finite(t) and finite(v)]
                     for host, samples in hosts.items()}
              for name, hosts in (vitals or {}).items()}
    panels = {name: {host: s for host, s in hosts.items() if s}
              for name, hosts in panels.items()}
    panels = {name: hosts for name, hosts in panels.items() if hosts}
    if not panels:
        return ""
    start = min(t for hosts in panels.values() for samples in hosts.values()
                for t, _ in samples)
    hosts_all = sorted({host for hosts in panels.values() for host in hosts})
    colour = colours(hosts_all)
    columns = max(1, min(columns, len(panels)))
    rows = math.ceil(len(panels) / columns)
    count = sum(len(hosts) for hosts in panels.values())
    limit = max(24, min(VITAL_POINTS, VITAL_BUDGET // count))
    lines = {name: {host: thin(sorted((t - start, v) for t, v in samples), limit)
                    for host, samples in sorted(hosts.items())}
             for name, hosts in panels.items()}

    def paint(figure: Figure) -> None:
        from matplotlib.lines import Line2D
        from matplotlib.ticker import MaxNLocator

        grid = figure.subplots(rows, columns, squeeze=False)
        for index, (name, hosts) in enumerate(lines.items()):
            axes = grid[index // columns][index % columns]
            for host, samples in hosts.items():
                axes.plot(*zip(*samples, strict=True), color=colour[host], linewidth=1.0,
                          marker=marker(samples))
            axes.set_title(plain(name))
            axes.grid(False, axis="x")
            axes.xaxis.set_major_locator(MaxNLocator(3))
            axes.yaxis.set_major_locator(MaxNLocator(4))
            if index + columns >= len(lines):  # nothing below it
                axes.set_xlabel("time (s)")
        for index in range(len(lines), rows * columns):
            grid[index // columns][index % columns].set_visible(False)
        handles = [Line2D([], [], color=colour[host], label=plain(host)) for host in hosts_all]
        figure.legend(handles=handles, loc="outside lower center",
                      ncols=min(len(hosts_all), 6))
        if title:
            figure.suptitle(plain(title))

    return draw(KIND_VITALS, (sorted(lines.items()), title), titled("vital signs", title),
                2.4 * columns + 0.4, 1.9 * rows + 0.5, paint)
