"""Inline SVG charts for the HTML report, drawn with matplotlib.

Every function takes plain data and returns the text of one ``<svg>`` element, ready to be
put in an HTML page as is (no XML prolog, no metadata, no external fonts, scripts or images),
or ``""`` when there is nothing to draw:

- :func:`latency_throughput_chart`: p50/p99/p99.9 against achieved ops/s across the steps of
  one benchmark, with an optional baseline drawn dashed (labelled ``baseline <name> p99``);
- :func:`percentile_chart` (and :func:`step_percentile_chart` for a step's merged histograms):
  the HDR percentile distribution on a "nines" axis, one line per tag;
- :func:`throughput_chart`: ops/s and p99 over the step's measured window, on twin axes;
- :func:`vitals_chart`: small multiples of the monitoring's vital signs, one line per host.

Figures are :class:`matplotlib.figure.Figure` objects on an Agg canvas, never pyplot, so no
GUI backend is touched and nothing global changes. Text stays text (``svg.fonttype: none``)
and ids are hashed with a salt derived from the chart's data (``svg.hashsalt``), so the same
data gives the same SVG and two charts of one page never share an id with different content.
Each root ``<svg>`` carries the classes ``sb-chart sb-chart-<kind>``.
"""

from __future__ import annotations

import hashlib
import io
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING, Any

from pytest_scyllabench.hdr.merge import values_at_percentiles
from pytest_scyllabench.result import PERCENTILES, RESPONSE_TIME, SERVICE_TIME, split_tag, tag

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from pytest_scyllabench.baseline.record import BaselineRecord
    from pytest_scyllabench.report.serialize import StepSummary
    from pytest_scyllabench.result import StepResult

#: Vital signs from monitoring: metric name -> host -> [(t seconds, value)].
Vitals = Mapping[str, Mapping[str, Sequence[tuple[float, float]]]]

#: CSS class of every chart's root element, and the class of each kind of chart.
CHART_CLASS = "sb-chart"
KIND_LATENCY_THROUGHPUT = "latency-throughput"
KIND_PERCENTILES = "percentiles"
KIND_THROUGHPUT = "throughput"
KIND_VITALS = "vitals"

#: The ticks of the nines axis: x = 1 / (1 - q).
NINES_TICKS: tuple[tuple[float, str], ...] = (
    (1.0, "0%"), (10.0, "90%"), (100.0, "99%"), (1e3, "99.9%"), (1e4, "99.99%"),
    (1e5, "99.999%"),
)
NINES_MAX = NINES_TICKS[-1][0]
#: Points per decade of the nines axis when sampling a histogram.
NINES_STEPS = 10
#: Longest line drawn; longer ones are thinned keeping each bucket's extremes.
MAX_POINTS = 300
#: Longest line of one vital-sign panel (a panel is a third of the width of a chart), and
#: the points of all panels together: many panels get shorter lines, the chart stays small.
VITAL_POINTS = 100
VITAL_BUDGET = 1500

_NS_PER_MS = 1_000_000.0
ALL = "all"
_KIND_NAMES = {RESPONSE_TIME: "response time", SERVICE_TIME: "service time"}
#: (name, colour) of the lines of the latency/throughput chart, by percentile.
_LT_LINES = (("p50", "#2b8a3e"), ("p99", "#e67700"), ("p99.9", "#c92a2a"))
#: The percentiles (0..100) of a :class:`LatencyPoint`, in its order.
_LT_PERCENTILES = [dict(PERCENTILES)[name] for name in ("p50", "p99", "p999")]
_PALETTE = ("#1c7ed6", "#e67700", "#2b8a3e", "#c92a2a", "#7048e8", "#0c8599", "#d6336c",
            "#5c940d", "#495057", "#a61e4d")
_RC = {
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Arial"],
    "font.size": 8.0,
    "axes.titlesize": 9.0,
    "axes.labelsize": 8.0,
    "legend.fontsize": 7.0,
    "xtick.labelsize": 7.0,
    "ytick.labelsize": 7.0,
    "axes.grid": True,
    "grid.color": "#dddddd",
    "grid.linewidth": 0.5,
    "lines.linewidth": 1.3,
    "lines.markersize": 3.5,
    "path.simplify": True,
}
_PROLOG = re.compile(r"\A\s*<\?xml[^>]*\?>\s*(<!DOCTYPE[^>]*>\s*)?")
_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.DOTALL)
_GROUP_ID = re.compile(r'<g id="([^"]*)"')
_INDENT = re.compile(r"\n[ \t]+")
_TAG = re.compile(r"<[^>]+>")
_PATH_DATA = re.compile(r' d="([^"]*)"')
#: Coordinates keep one decimal (a tenth of a point is below a pixel).
_LONG_DECIMAL = re.compile(r"(\d\.\d)\d+")
_NO_ROTATION = re.compile(r' transform="rotate\(-?0 [^"]*\)"')
#: The font of every text, said once on the root element instead (``svg.fonttype: none``).
_FONT_FAMILY = re.compile(r" font-family: [^;\"]*;?")


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
        p50, p99, p999 = (value * record.value_unit_ns / _NS_PER_MS
                          for value in values_at_percentiles(histogram, _LT_PERCENTILES))
        return cls(rate=record.merged.achieved_rate, p50_ms=p50, p99_ms=p99, p999_ms=p999,
                   label=record.identity.step)

    def values(self) -> tuple[float, float, float]:
        return self.p50_ms, self.p99_ms, self.p999_ms


# --- rendering -----------------------------------------------------------------------------


def _salt(kind: str, data: object) -> str:
    digest = hashlib.sha256(f"{kind}\0{data!r}".encode(), usedforsecurity=False).hexdigest()
    return f"sb-{kind}-{digest[:12]}"


def _figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=72, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _render(figure: Figure, kind: str, label: str) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg",
                   metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    return _clean(buffer.getvalue(), kind, label)


def _clean(svg: str, kind: str, label: str) -> str:
    """The SVG element alone, classed and labelled, without prolog, metadata or group ids;
    coordinates shortened."""
    svg = _PROLOG.sub("", svg)
    svg = _METADATA.sub("", svg)
    svg = _GROUP_ID.sub(_group_class, svg)
    svg = _INDENT.sub("\n", svg).replace(" \n", "\n").strip()
    svg = _TAG.sub(lambda tag: _LONG_DECIMAL.sub(r"\1", tag.group(0)), svg)
    svg = _PATH_DATA.sub(_polyline, svg)
    svg = _NO_ROTATION.sub("", svg)
    fonts = _FONT_FAMILY.search(svg)
    font = fonts.group(0).strip().rstrip(";") if fonts else ""
    svg = _FONT_FAMILY.sub("", svg)
    attributes = (f'class="{CHART_CLASS} {CHART_CLASS}-{kind}" role="img" '
                  f'aria-label="{escape(label, quote=True)}" '
                  + (f'style="{font}" ' if font else ""))
    return svg.replace("<svg ", f"<svg {attributes}", 1)


def _group_class(match: re.Match[str]) -> str:
    """matplotlib names every group (``line2d_3``...): ids that would repeat across the charts
    of a page. Ours (``gid="sb-..."``) become classes, the others go."""
    name = match.group(1)
    return f'<g class="{name}"' if name.startswith("sb-") else "<g"


def _polyline(match: re.Match[str]) -> str:
    """Path data of straight segments without the repeated ``L``: after ``M`` or ``L`` more
    coordinate pairs are line-tos. Paths with curves (markers) are left alone."""
    data = match.group(1)
    if any(command in data for command in "CcQqAaSsTt"):
        return match.group(0)
    return ' d="' + data.replace("\nL ", " ").replace("\n", " ") + '"'


def _draw(kind: str, data: object, label: str, width: float, height: float,
          paint: Callable[[Figure], None]) -> str:
    """Render ``paint(figure)`` under the report's rc settings, salted by ``data``."""
    import matplotlib

    settings: dict[Any, Any] = {**_RC, "svg.hashsalt": _salt(kind, data)}
    with matplotlib.rc_context(settings):
        figure = _figure(width, height)
        paint(figure)
        return _render(figure, kind, label)


def _plain(text: str) -> str:
    """``text`` as matplotlib shows it literally: a ``$`` would start mathtext."""
    return text.replace("$", r"\$")


#: Up to this many decades on a latency axis, its 2x and 5x ticks are labelled too.
MINOR_LABEL_DECADES = 2.0


def _milliseconds_axis(axes: Axes) -> None:
    """A log latency axis labelled ``0.1``, ``1``, ``10``... rather than powers of ten, and
    ``2``, ``5``, ``20``... as well when it spans few decades (one label would be left)."""
    from matplotlib.ticker import FuncFormatter

    def minor(value: float, _: int | None) -> str:
        low, high = axes.get_ylim()
        if low <= 0 or math.log10(high / low) > MINOR_LABEL_DECADES:
            return ""
        mantissa = round(value / 10 ** math.floor(math.log10(value) + 1e-9), 6)
        return f"{value:g}" if mantissa in (2.0, 5.0) else ""

    axes.set_yscale("log")
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axes.yaxis.set_minor_formatter(FuncFormatter(minor))


def _finite(value: float) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _positive(points: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points with finite coordinates and a positive y (for log axes)."""
    return [(x, y) for x, y in points if _finite(x) and _finite(y) and y > 0]


def thin(points: Sequence[tuple[float, float]], limit: int = MAX_POINTS) -> list[
        tuple[float, float]]:
    """At most about ``limit`` points: each of ``limit // 2`` buckets keeps its min and max.

    Spikes survive (a GC pause is one point among thousands); order is kept.
    """
    if len(points) <= limit:
        return list(points)
    buckets = max(1, limit // 2)
    size = len(points) / buckets
    kept: list[tuple[float, float]] = []
    for index in range(buckets):
        chunk = points[int(index * size):int((index + 1) * size)]
        finite = [point for point in chunk if _finite(point[1])]
        if not finite:
            kept.append(chunk[0])
            continue
        low = min(finite, key=lambda point: point[1])
        high = max(finite, key=lambda point: point[1])
        kept.extend(sorted({low, high}, key=lambda point: point[0]))
    return kept


# --- latency vs throughput -----------------------------------------------------------------


def latency_throughput_chart(points: Sequence[LatencyPoint],
                             baseline: Sequence[LatencyPoint] = (), *,
                             baseline_name: str = "", title: str = "") -> str:
    """p50, p99 and p99.9 (log y) against achieved ops/s, one marker per step.

    ``baseline`` points (a previous run of the same benchmark) are drawn dashed in the same
    colours, labelled ``baseline <baseline_name> <percentile>``. ``""`` when no point has a
    latency.
    """
    prefix = " ".join(word for word in ("baseline", baseline_name) if word)
    current = sorted((p for p in points if _finite(p.rate)), key=lambda p: p.rate)
    reference = sorted((p for p in baseline if _finite(p.rate)), key=lambda p: p.rate)
    if not any(_positive((p.rate, v) for v in p.values()) for p in current):
        return ""

    def paint(figure: Figure) -> None:
        axes = figure.add_subplot()
        for index, (name, colour) in enumerate(_LT_LINES):
            css = name.replace(".", "")
            line = _positive((p.rate, p.values()[index]) for p in current)
            if line:
                axes.plot(*zip(*line, strict=True), marker="o", color=colour, label=name,
                          gid=f"sb-{css}")
            old = _positive((p.rate, p.values()[index]) for p in reference)
            if old:
                axes.plot(*zip(*old, strict=True), marker="x", linestyle="--", color=colour,
                          alpha=0.6, label=_plain(f"{prefix} {name}"),
                          gid=f"sb-baseline-{css}")
        _milliseconds_axis(axes)
        axes.set_xlabel("achieved throughput (ops/s)")
        axes.set_ylabel("latency (ms)")
        axes.set_xlim(left=0)
        if title:
            axes.set_title(_plain(title))
        axes.legend(loc="best", ncols=2 if reference else 1)

    return _draw(KIND_LATENCY_THROUGHPUT, (current, reference, prefix, title),
                 f"latency against throughput{': ' + title if title else ''}", 6.4, 3.4, paint)


# --- percentile distribution ---------------------------------------------------------------


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
    return [(q, value * value_unit_ns / _NS_PER_MS) for q, value in zip(grid, values,
                                                                        strict=True)]


def _nines(percentile: float) -> float:
    remaining = 1.0 - percentile / 100.0
    return 1.0 / remaining if remaining > 0 else math.inf


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
    lines = {name: _positive((_nines(q), ms) for q, ms in points)
             for name, points in curves.items()}
    lines = {name: [(x, y) for x, y in line if x <= NINES_MAX * (1 + 1e-9)]
             for name, line in lines.items()}
    lines = {name: line for name, line in lines.items() if line}
    if not lines:
        return ""
    operations = sorted({split_tag(name)[0] for name in lines},
                        key=lambda op: (op != ALL, op))
    colours = {op: _PALETTE[index % len(_PALETTE)] for index, op in enumerate(operations)}

    def paint(figure: Figure) -> None:
        axes = figure.add_subplot()
        for name in sorted(lines, key=lambda n: (split_tag(n)[0] != ALL, n)):
            operation, kind = split_tag(name)
            axes.plot(*zip(*lines[name], strict=True), color=colours[operation],
                      linestyle="--" if kind == SERVICE_TIME else "-",
                      label=_plain(tag_label(name)))
        _nines_axis(axes)
        _milliseconds_axis(axes)
        axes.set_ylabel("latency (ms)")
        if title:
            axes.set_title(_plain(title))
        axes.legend(loc="lower right")  # latency rises to the right: free there

    return _draw(KIND_PERCENTILES, (sorted(lines.items()), title),
                 f"latency by percentile{': ' + title if title else ''}", 6.4, 3.2, paint)


def _nines_axis(axes: Axes) -> None:
    from matplotlib.ticker import FixedLocator, NullLocator

    axes.set_xscale("log")
    axes.set_xlim(1.0, NINES_MAX)
    axes.xaxis.set_major_locator(FixedLocator([x for x, _ in NINES_TICKS]))
    axes.xaxis.set_minor_locator(NullLocator())
    axes.set_xticklabels([label for _, label in NINES_TICKS])
    axes.set_xlabel("percentile")


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


# --- throughput and p99 over time ----------------------------------------------------------


def throughput_chart(series: Sequence[tuple[float, float, float]], *,
                     target_rate: float | None = None, title: str = "") -> str:
    """Ops/s (left axis) and p99 ms (right axis) over the measured window.

    ``series`` is :attr:`StepResult.series`: (seconds since the measure start, ops/s, p99 ms).
    The target rate is a dotted line. p99 goes on a log axis when it spans more than 50x.
    ``""`` when the series is empty.
    """
    rates = thin([(t, rate) for t, rate, _ in series if _finite(t) and _finite(rate)])
    p99 = thin(_positive((t, value) for t, _, value in series))
    if not rates and not p99:
        return ""

    def paint(figure: Figure) -> None:
        axes = figure.add_subplot()
        rate_colour, p99_colour = _PALETTE[0], _PALETTE[1]
        handles = []
        if rates:
            handles += axes.plot(*zip(*rates, strict=True), color=rate_colour, label="ops/s",
                                 gid="sb-rate")
        if target_rate is not None and _finite(target_rate) and target_rate > 0:
            handles.append(axes.axhline(target_rate, color="#868e96", linestyle=":",
                                        linewidth=1.0, label="target ops/s", gid="sb-target"))
        axes.set_xlabel("time in measured window (s)")
        axes.set_ylabel("throughput (ops/s)", color=rate_colour)
        top = max([rate for _, rate in rates] + [target_rate or 0.0])
        axes.set_ylim(0, top * 1.1 if top > 0 else 1.0)
        right = axes.twinx()
        right.grid(False)
        if p99:
            handles += right.plot(*zip(*p99, strict=True), color=p99_colour,
                                  linewidth=1.0, label="p99 ms", gid="sb-p99")
            values = [value for _, value in p99]
            if max(values) > 50 * min(values):
                _milliseconds_axis(right)
            else:
                right.set_ylim(bottom=0)
        right.set_ylabel("p99 latency (ms)", color=p99_colour)
        if title:
            figure.suptitle(_plain(title))
        figure.legend(handles=handles, loc="outside upper center", ncols=len(handles))

    return _draw(KIND_THROUGHPUT, (rates, p99, target_rate, title),
                 f"throughput and p99 over time{': ' + title if title else ''}", 6.4, 2.8,
                 paint)


# --- vital signs ---------------------------------------------------------------------------


def vitals_chart(vitals: Vitals | None, *, columns: int = 3, title: str = "") -> str:
    """Small multiples: one panel per metric, one line per host, a shared legend.

    ``vitals`` maps a metric name (its unit in the name: ``cpu busy %``) to host -> (t, value)
    samples; t is in seconds (epoch or relative) and is drawn relative to the earliest sample
    of all. Panels follow the mapping's order; empty metrics are skipped. ``""`` when none.
    """
    panels = {name: {host: [(t, v) for t, v in samples if _finite(t) and _finite(v)]
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
    colours = {host: _PALETTE[index % len(_PALETTE)] for index, host in enumerate(hosts_all)}
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
                axes.plot(*zip(*samples, strict=True), color=colours[host], linewidth=1.0)
            axes.set_title(_plain(name))
            axes.grid(False, axis="x")
            axes.xaxis.set_major_locator(MaxNLocator(3))
            axes.yaxis.set_major_locator(MaxNLocator(4))
            if index + columns >= len(lines):  # nothing below it
                axes.set_xlabel("time (s)")
        for index in range(len(lines), rows * columns):
            grid[index // columns][index % columns].set_visible(False)
        handles = [Line2D([], [], color=colours[host], label=_plain(host)) for host in hosts_all]
        figure.legend(handles=handles, loc="outside lower center",
                      ncols=min(len(hosts_all), 6))
        if title:
            figure.suptitle(_plain(title))

    return _draw(KIND_VITALS, (sorted(lines.items()), title),
                 f"vital signs{': ' + title if title else ''}", 2.4 * columns + 0.4,
                 1.9 * rows + 0.5, paint)
