"""Inline SVG charts for the HTML report, drawn with matplotlib.

Every function takes plain data and returns the text of one ``<svg>`` element, ready to be
put in an HTML page as is (no XML prolog, no metadata, no external fonts, scripts or images),
or ``""`` when there is nothing to draw. Each root ``<svg>`` carries the classes
``sb-chart sb-chart-<kind>``. One module per family of charts, this package names them all:

``latency``      :func:`latency_throughput_chart`: p50/p99/p99.9 against achieved ops/s
                 across the steps of one benchmark, with an optional baseline drawn dashed
                 (labelled ``baseline <name> p99``)
``percentiles``  :func:`percentile_chart` (and :func:`step_percentile_chart` for a step's
                 merged histograms): the HDR percentile distribution on a "nines" axis, one
                 line per tag
``timeseries``   :func:`throughput_chart`: ops/s and p99 over the step's measured window,
                 on twin axes
``vitals``       :func:`vitals_chart`: small multiples of the monitoring's vital signs, one
                 line per host
``render``       what they share: figures rendered to clean, deterministic SVG, the report's
                 look, the milliseconds axis, filtering and thinning of points
"""

from pytest_scyllabench.report.charts.latency import (
    KIND_LATENCY_THROUGHPUT,
    LatencyPoint,
    latency_throughput_chart,
)
from pytest_scyllabench.report.charts.percentiles import (
    KIND_PERCENTILES,
    NINES_MAX,
    NINES_STEPS,
    NINES_TICKS,
    histogram_curve,
    nines_grid,
    percentile_chart,
    step_percentile_chart,
    tag_label,
)
from pytest_scyllabench.report.charts.render import CHART_CLASS, MAX_POINTS, thin
from pytest_scyllabench.report.charts.timeseries import KIND_THROUGHPUT, throughput_chart
from pytest_scyllabench.report.charts.vitals import KIND_VITALS, Vitals, vitals_chart

__all__ = [
    "CHART_CLASS",
    "KIND_LATENCY_THROUGHPUT",
    "KIND_PERCENTILES",
    "KIND_THROUGHPUT",
    "KIND_VITALS",
    "MAX_POINTS",
    "NINES_MAX",
    "NINES_STEPS",
    "NINES_TICKS",
    "LatencyPoint",
    "Vitals",
    "histogram_curve",
    "latency_throughput_chart",
    "nines_grid",
    "percentile_chart",
    "step_percentile_chart",
    "tag_label",
    "thin",
    "throughput_chart",
    "vitals_chart",
]
