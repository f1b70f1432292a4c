"""What every chart shares: matplotlib figures rendered to a clean inline ``<svg>``, the
report's look (rc settings, palette), a milliseconds axis and the filtering of points.

Figures are :class:`matplotlib.figure.Figure` objects on an Agg canvas, never pyplot, so no
GUI backend is touched and nothing global changes. Text stays text (``svg.fonttype: none``)
and ids are hashed with a salt derived from the chart's data (``svg.hashsalt``), so the same
data gives the same SVG and two charts of one page never share an id with different content.
"""

from __future__ import annotations

import hashlib
import io
import math
import re
from collections.abc import Callable, Iterable, Sequence
from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: CSS class of every chart's root element (each kind adds ``sb-chart-<kind>``).
CHART_CLASS = "sb-chart"
#: Longest line drawn; longer ones are thinned keeping each bucket's extremes.
MAX_POINTS = 300
#: Up to this many decades on a latency axis, its 2x and 5x ticks are labelled too.
MINOR_LABEL_DECADES = 2.0
NS_PER_MS = 1_000_000.0
PALETTE = ("#1c7ed6", "#e67700", "#2b8a3e", "#c92a2a", "#7048e8", "#0c8599", "#d6336c",
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


def draw(kind: str, data: object, label: str, width: float, height: float,
         paint: Callable[[Figure], None]) -> str:
    """Render ``paint(figure)`` under the report's rc settings, salted by ``data``.

    ``label`` names the chart for assistive technology; ``width`` and ``height`` are inches.
    """
    import matplotlib

    settings: dict[Any, Any] = {**_RC, "svg.hashsalt": _salt(kind, data)}
    with matplotlib.rc_context(settings):
        figure = _figure(width, height)
        paint(figure)
        return _render(figure, kind, label)


def titled(description: str, title: str) -> str:
    """A chart's label: ``description``, then ``: title`` when there is a title."""
    return f"{description}{': ' + title if title else ''}"


def plain(text: str) -> str:
    """``text`` as matplotlib shows it literally: a ``$`` would start mathtext."""
    return text.replace("$", r"\$")


def shortened(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters in its middle (``main-…-0412``): a name in a
    legend must not push the plot aside; its start and its end tell names apart."""
    if len(text) <= limit:
        return text
    head = limit // 2
    return f"{text[:head]}…{text[len(text) - (limit - 1 - head):]}"


def milliseconds_axis(axes: Axes) -> None:
    """A log latency axis labelled ``0.1``, ``1``, ``10``... rather than powers of ten, and
    ``2``, ``5``, ``20``... as well when it spans few decades (one label would be left).

    Call it once the lines are drawn: an axis spanning less than a decade (a steady step,
    3.1 to 3.9 ms) is widened to the ``1-2-5`` values around its data, so that it still has
    two numbers on it.
    """
    from matplotlib.ticker import FuncFormatter

    def minor(value: float, _: int | None) -> str:
        low, high = axes.get_ylim()
        if low <= 0 or math.log10(high / low) > MINOR_LABEL_DECADES:
            return ""
        mantissa = round(value / 10 ** math.floor(math.log10(value) + 1e-9), 6)
        return _tick(value) if mantissa in (2.0, 5.0) else ""

    axes.set_yscale("log")
    low, high = axes.get_ylim()
    if 0 < low < high and math.log10(high / low) < 1.0:
        axes.set_ylim(_one_two_five(low, up=False), _one_two_five(high, up=True))
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: _tick(value)))
    axes.yaxis.set_minor_formatter(FuncFormatter(minor))


def _tick(value: float) -> str:
    """A latency label in plain digits, thousands grouped: ``0.5``, ``20``, ``500,000`` and
    ``1,000,000`` on one axis (``:g`` switched to ``1e+06`` past six digits)."""
    return f"{value:,.12g}"


def _one_two_five(value: float, *, up: bool) -> float:
    """The nearest of ..., 0.5, 1, 2, 5, 10, 20, ... at or below ``value`` (above: ``up``)."""
    decade = math.floor(math.log10(value))
    steps = [mantissa * 10.0 ** exponent for exponent in (decade - 1, decade, decade + 1)
             for mantissa in (1, 2, 5)]
    if up:
        return min(step for step in steps if step >= value * (1 - 1e-9))
    return max(step for step in steps if step <= value * (1 + 1e-9))


def marker(points: Sequence[object]) -> str:
    """The marker of a line: a dot when it has a single point (a line of one point is not
    drawn at all), none otherwise."""
    return "o" if len(points) == 1 else "None"


def colours(names: Iterable[str]) -> dict[str, str]:
    """A colour of the palette for each of ``names``, in order (the palette repeats)."""
    return {name: PALETTE[index % len(PALETTE)] for index, name in enumerate(names)}


def finite(value: float) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def positive(points: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points with finite coordinates and a positive y (for log axes)."""
    return [(x, y) for x, y in points if finite(x) and finite(y) and y > 0]


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
        finite_points = [point for point in chunk if finite(point[1])]
        if not finite_points:
            kept.append(chunk[0])
            continue
        low = min(finite_points, key=lambda point: point[1])
        high = max(finite_points, key=lambda point: point[1])
        kept.extend(sorted({low, high}, key=lambda point: point[0]))
    return kept


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
