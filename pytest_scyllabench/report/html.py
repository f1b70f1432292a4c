"""pytest-html 4 integration: a block per step in the test's extras, a section per benchmark
in the report's summary.

Everything here returns strings or pytest-html extras; the plugin's hooks attach them:

- per step, in a ``pytest_runtest_makereport`` wrapper (``when == "call"``)::

      report.extras = [*getattr(report, "extras", []), *step_extras(result, breaches, links)]

  The block holds the rates, the percentiles per operation, the verdict per threshold, the
  loaders, the percentile distribution and throughput/p99-over-time charts, the vital signs
  when monitoring gave some, and relative links to the raw artifacts.

- per session, in ``pytest_html_results_summary(prefix, summary, postfix, session)``::

      prefix.extend(summary_html(steps, environment=facts, baselines=points,
                                 baseline_name=name))

  The environment, then per benchmark (test function, parameters stripped) its steps table
  and, when it has two steps or more, the latency/throughput chart across them, with the
  points of the baseline its steps were compared with dashed when given.

All text is escaped; the styles are inline, the charts are inline SVG and nothing is fetched,
so the self-contained report opens offline.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from pathlib import Path
from urllib.parse import quote

from pytest_scyllabench.report import charts
from pytest_scyllabench.report.charts import LatencyPoint, Vitals
from pytest_scyllabench.report.serialize import StepSummary, summarize
from pytest_scyllabench.report.terminal import fmt_ms, fmt_rate, fmt_ratio, sustained, verdict
from pytest_scyllabench.result import (
    PERCENTILES,
    RESPONSE_TIME,
    SERVICE_TIME,
    LoaderRun,
    StepResult,
)
from pytest_scyllabench.thresholds import RATE_MISSED, Verdict

#: Column titles of the percentiles, in the order of :data:`PERCENTILES`.
TITLES = {"p50": "p50", "p90": "p90", "p99": "p99", "p999": "p99.9", "p9999": "p99.99",
          "max": "max"}
KIND_TITLES = {RESPONSE_TIME: "response time (ms)", SERVICE_TIME: "service time (ms)"}
CLOSED_LOOP_NOTE = ("closed-loop tool: only service time was measured, coordinated omission "
                    "is not corrected")

STYLE = """<style>
.sb-block{margin:.6em 0;font-size:13px;color:#222}
.sb-block h3,.sb-block h4{margin:.5em 0 .3em}
.sb-table{border-collapse:collapse;margin:.3em 0 .8em}
.sb-table th,.sb-table td{border:1px solid #ccc;padding:2px 7px;text-align:right}
.sb-table th{background:#f0f0f0}
.sb-table .sb-l{text-align:left}
.sb-table .sb-st{background:#f7f7fb;color:#445}
.sb-pass{color:#176c17;font-weight:bold}
.sb-fail{color:#b21818;font-weight:bold}
.sb-note{color:#8a5a00}
.sb-capacity{font-weight:bold;margin:4px 0}
.sb-breach{color:#b21818;text-align:left;font-size:12px}
.sb-charts{display:flex;flex-wrap:wrap;gap:6px 14px;align-items:flex-start}
.sb-figure{margin:.2em 0 .6em}
.sb-figure figcaption{font-size:12px;color:#444}
.sb-chart{display:block;max-width:100%;height:auto}
.sb-summary .sb-chart{max-width:none}
.sb-env th{text-align:left}
</style>"""


_ST = ' class="sb-st"'


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _verdict_cell(step: StepSummary) -> str:
    css = "sb-pass" if step.passed else "sb-fail"
    breaches = "<br>".join(_e(b) for b in step.breaches)
    detail = f'<div class="sb-breach">{breaches}</div>' if breaches else ""
    return f'<td class="sb-l"><span class="{css}">{_e(verdict(step))}</span>{detail}</td>'


def _latency_cells(step: StepSummary, operation: str, kind: str) -> str:
    latency = step.get(operation, kind)
    css = _ST if kind == SERVICE_TIME else ""
    return "".join(
        f"<td{css}>{_e(fmt_ms(latency.values_ms.get(name) if latency else None))}</td>"
        for name, _ in PERCENTILES)


def _kinds(steps: Sequence[StepSummary]) -> list[str]:
    present = {kind for step in steps for kind in (RESPONSE_TIME, SERVICE_TIME)
               if any(step.get(op, kind) for op in step.operations())}
    return [kind for kind in (RESPONSE_TIME, SERVICE_TIME) if kind in present]


def _kind_title(kind: str, steps: Sequence[StepSummary]) -> str:
    if kind == RESPONSE_TIME and any(step.service_time_only for step in steps):
        return "response time (ms) *"
    return KIND_TITLES[kind]


def _percentile_header(kinds: Sequence[str], steps: Sequence[StepSummary],
                       lead: Sequence[str]) -> str:
    groups = "".join(f'<th colspan="{len(PERCENTILES)}">{_e(_kind_title(k, steps))}</th>'
                     for k in kinds)
    names = "".join(
        f"<th{_ST if k == SERVICE_TIME else ''}>{_e(TITLES[n])}</th>"
        for k in kinds for n, _ in PERCENTILES)
    first = "".join(f'<th rowspan="2" class="sb-l">{_e(title)}</th>' for title in lead)
    return f"<thead><tr>{first}{groups}</tr><tr>{names}</tr></thead>"


def _closed_loop_note(steps: Sequence[StepSummary]) -> str:
    if not any(step.service_time_only for step in steps):
        return ""
    return f'<p class="sb-note">* {_e(CLOSED_LOOP_NOTE)}</p>'


def artifact_links(result: StepResult, report_dir: Path,
                   result_json: Path | None = None) -> list[tuple[str, str]]:
    """(label, href) of the step's raw files, hrefs relative to the report's directory."""
    files: list[tuple[str, Path]] = []
    if result_json is not None:
        files.append(("result JSON", result_json))
    for run in result.loaders:
        if run.hdr_log is not None:
            files.append((f"{run.name} HDR log", run.hdr_log))
        if run.output is not None:
            files.append((f"{run.name} output", run.output))
    return [(label, relative_href(path, report_dir)) for label, path in files]


def relative_href(path: Path, report_dir: Path) -> str:
    """A percent-encoded relative URL from ``report_dir`` to ``path``."""
    relative = os.path.relpath(Path(path).absolute(), Path(report_dir).absolute())
    return quote(Path(relative).as_posix())


def figure(svg: str, caption: str) -> str:
    """A chart with its caption; ``""`` when there is no chart."""
    if not svg:
        return ""
    return f'<figure class="sb-figure">{svg}<figcaption>{_e(caption)}</figcaption></figure>'


def step_charts(result: StepResult, vitals: Vitals | None = None) -> list[str]:
    """The figures of one step: percentile distribution, throughput and p99 over time, and
    the vital signs when monitoring gave some. Charts without data are left out."""
    return [chart for chart in (
        figure(charts.step_percentile_chart(result),
               f"{result.step}: latency by percentile (merged histograms of every loader)"),
        figure(charts.throughput_chart(result.series, target_rate=result.target_rate),
               f"{result.step}: throughput and p99 per second of the measured window"),
        figure(charts.vitals_chart(vitals), f"{result.step}: vital signs"),
    ) if chart]


def step_html(step: StepSummary, artifact_links: Sequence[tuple[str, str]] = (),
              loaders: Sequence[LoaderRun] = (), figures: Sequence[str] = (),
              warnings: Sequence[str] = ()) -> str:
    """The block shown under one test's row for one step; ``figures`` from
    :func:`step_charts`, ``warnings`` tolerated while merging the loaders' data."""
    css = "sb-pass" if step.passed else "sb-fail"
    parts = [STYLE, '<div class="sb-block">',
             f'<h4>Step {_e(step.step)} (workload {_e(step.workload)}): '
             f'<span class="{css}">{_e(verdict(step))}</span></h4>']
    parts.append(
        '<table class="sb-table"><thead><tr><th>target rate (ops/s)</th>'
        "<th>achieved rate (ops/s)</th><th>ops</th><th>errors</th><th>duration (s)</th>"
        "</tr></thead><tbody><tr>"
        f"<td>{_e(fmt_rate(step.target_rate))}</td>"
        f"<td>{_e(fmt_rate(step.achieved_rate))} "
        f"({_e(fmt_ratio(step.achieved_rate, step.target_rate))})</td>"
        f"<td>{step.ops:,}</td><td>{step.errors:,}</td>"
        f"<td>{_e(fmt_rate(round(step.duration, 1)))}</td></tr></tbody></table>")
    kinds = _kinds([step])
    if kinds:
        rows = "".join(
            f'<tr><td class="sb-l">{_e(op)}</td>'
            f"<td>{_e(_count(step, op))}</td>"
            + "".join(_latency_cells(step, op, kind) for kind in kinds) + "</tr>"
            for op in step.operations())
        parts.append('<table class="sb-table">'
                     + _percentile_header(kinds, [step], ("operation", "count"))
                     + f"<tbody>{rows}</tbody></table>")
    parts.append(_closed_loop_note([step]))
    if warnings:
        items = "".join(f"<li>{_e(warning)}</li>" for warning in warnings)
        parts.append(f'<ul class="sb-note">{items}</ul>')
    parts.append(_thresholds_html(step))
    if figures:
        parts.append(f'<div class="sb-charts">{"".join(figures)}</div>')
    if loaders:
        parts.append(_loaders_html(loaders))
    if artifact_links:
        items = "".join(f'<li><a href="{_e(href)}">{_e(label)}</a></li>'
                        for label, href in artifact_links)
        parts.append(f"<h4>Raw artifacts</h4><ul>{items}</ul>")
    parts.append("</div>")
    return "".join(parts)


def _count(step: StepSummary, operation: str) -> str:
    latency = step.get(operation, RESPONSE_TIME) or step.get(operation, SERVICE_TIME)
    return f"{latency.count:,}" if latency else "-"


def _thresholds_html(step: StepSummary) -> str:
    """One row per check of the step: target rate, every latency limit with its observed
    value, and any other breach (a regression, a failed loader, monitoring)."""
    rows: list[str] = []
    if step.rate_reached is not None:
        rows.append(_threshold_row("target rate reached", "PASS" if step.rate_reached
                                   else "FAIL", observed=f"{fmt_rate(step.achieved_rate)} "
                                                         f"of {fmt_rate(step.target_rate)} ops/s"))
    for limit in step.limits:
        observed = "nothing recorded" if limit.observed_ms is None else (
            f"{fmt_ms(limit.observed_ms)} ms")
        rows.append(_threshold_row(limit.label, "PASS" if limit.passed else "FAIL",
                                   limit=f"\u2264 {fmt_ms(limit.limit_ms)} ms",
                                   observed=observed))
    judged = {limit.breach for limit in step.limits}  # each has its row already
    rows += [_threshold_row(breach, "FAIL") for breach in step.breaches
             if breach not in judged and RATE_MISSED not in breach]
    if not step.limits:
        rows.append(_threshold_row("latency thresholds", "none set"))
    return ('<table class="sb-table"><thead><tr><th class="sb-l">check</th>'
            '<th class="sb-l">limit</th><th class="sb-l">observed</th>'
            f'<th class="sb-l">result</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')


def _threshold_row(text: str, mark: str, *, limit: str = "", observed: str = "") -> str:
    css = {"PASS": "sb-pass", "FAIL": "sb-fail"}.get(mark, "sb-note")
    return (f'<tr><td class="sb-l">{_e(text)}</td><td class="sb-l">{_e(limit)}</td>'
            f'<td class="sb-l">{_e(observed)}</td>'
            f'<td class="sb-l"><span class="{css}">{_e(mark)}</span></td></tr>')


def _loaders_html(loaders: Sequence[LoaderRun]) -> str:
    rows = []
    for run in loaders:
        samples = "<br>".join(_e(sample) for sample in run.error_samples[:5])
        rows.append(
            f'<tr><td class="sb-l">{_e(run.name)}</td><td class="sb-l">{_e(run.host)}</td>'
            f'<td class="sb-l">{_e(run.tool)} {_e(run.tool_version)}</td>'
            f"<td>{_e(run.exit_code)}</td><td>{_e(fmt_rate(run.target_rate))}</td>"
            f"<td>{_e(fmt_rate(run.achieved_rate))}</td><td>{run.ops:,}</td>"
            f'<td>{run.errors:,}</td><td class="sb-breach">{samples}</td></tr>')
    head = "".join(f"<th>{_e(t)}</th>" for t in (
        "loader", "host", "tool", "exit", "target ops/s", "achieved ops/s", "ops", "errors",
        "error samples"))
    return f'<table class="sb-table"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}' \
           "</tbody></table>"


def step_extras(result: StepResult, breaches: Sequence[str],
                artifact_links: Sequence[tuple[str, str]] = (), *, test: str = "",
                rate_tolerance: float | None = None, vitals: Vitals | None = None,
                with_charts: bool = True, comparison: Sequence[str] = (),
                limits: Sequence[Verdict] = (),
                label: str | None = None) -> list[dict[str, str | None]]:
    """pytest-html extras for one step of a test: append them to ``report.extras``.

    ``vitals`` (metric -> host -> [(t, value)]) adds the vital-sign charts; ``comparison``
    the lines of its baseline comparison (baseline and current value, change, verdict);
    ``limits`` the verdict of every latency limit; ``label`` names the step in the heading
    (``write@100 run 2 of 3`` with repetitions).
    """
    from pytest_html import extras  # type: ignore[import-untyped]

    step = summarize(result, test=test, breaches=breaches, rate_tolerance=rate_tolerance,
                     limits=limits)
    if label is not None:
        step = dataclasses.replace(step, step=label)
    figures = step_charts(result, vitals) if with_charts else []
    content = step_html(step, artifact_links, result.loaders, figures, result.warnings)
    if comparison:
        items = "".join(f"<li>{_e(line)}</li>" for line in comparison)
        content += f'<h4>Baseline comparison</h4><ul class="sb-baseline">{items}</ul>'
    return [extras.html(content)]


def environment_html(facts: Sequence[tuple[str, str]]) -> str:
    """A two-column table of what the results depend on; ``""`` without facts."""
    if not facts:
        return ""
    rows = "".join(f'<tr><th>{_e(name)}</th><td class="sb-l">{_e(value)}</td></tr>'
                   for name, value in facts)
    return (f'<h4>Environment</h4><table class="sb-table sb-env">'
            f"<tbody>{rows}</tbody></table>")


def latency_throughput_figure(benchmark: str, steps: Sequence[StepSummary],
                              baseline: Sequence[LatencyPoint] = (),
                              baseline_name: str = "") -> str:
    """The latency/throughput chart of one benchmark's steps, with the points of baseline
    ``baseline_name`` dashed when given; ``""`` below two steps."""
    points = [point for point in map(LatencyPoint.from_summary, steps) if point is not None]
    if len(points) < 2:
        return ""
    caption = f"{benchmark}: latency against achieved throughput, one point per step"
    if baseline:
        caption += f" (baseline {baseline_name} dashed)" if baseline_name else (
            " (baseline dashed)")
    return figure(charts.latency_throughput_chart(points, baseline,
                                                  baseline_name=baseline_name), caption)


def summary_html(steps: Iterable[StepSummary], *, environment: Sequence[tuple[str, str]] = (),
                 baselines: Mapping[str, Sequence[LatencyPoint]] | None = None,
                 baseline_name: str = "", with_charts: bool = True,
                 snapshots: Mapping[str, str] | None = None,
                 session_snapshot: str | None = None,
                 notes: Sequence[str] = ()) -> list[str]:
    """HTML for ``pytest_html_results_summary``'s ``prefix``: the environment, then a section
    per benchmark.

    Steps are grouped by test function (node id without parameters) in order of first
    appearance; rows are sorted by target rate. A benchmark of two steps or more gets its
    latency/throughput chart, with ``baselines[benchmark]`` (points of baseline
    ``baseline_name``) dashed when given, then links to its tests' Prometheus snapshots
    (``snapshots``: test node id -> href); ``session_snapshot`` (an href) is linked under the
    environment, as are ``notes`` (what went wrong around the benchmarks, e.g. monitoring
    that failed in optional mode). Empty when no step ran.
    """
    groups: dict[str, list[StepSummary]] = {}
    for step in steps:
        groups.setdefault(step.benchmark, []).append(step)
    if not groups:
        return []
    parts = [STYLE, '<div class="sb-block sb-summary"><h3>Benchmarks</h3>',
             environment_html(environment)]
    if notes:
        items = "".join(f"<li>{_e(note)}</li>" for note in notes)
        parts.append(f'<h4>Warnings</h4><ul class="sb-note sb-warnings">{items}</ul>')
    if session_snapshot:
        parts.append(f"<p>{_snapshot_link(session_snapshot, 'Prometheus snapshot of the session')}"
                     f"</p>")
    for benchmark, members in groups.items():
        members.sort(key=lambda s: (s.target_rate, s.step))
        kinds = _kinds(members)
        rows = "".join(
            f'<tr><td class="sb-l">{_e(s.step)}</td><td>{_e(fmt_rate(s.target_rate))}</td>'
            f"<td>{_e(fmt_rate(s.achieved_rate))} "
            f"({_e(fmt_ratio(s.achieved_rate, s.target_rate))})</td>"
            f"<td>{s.ops:,}</td><td>{s.errors:,}</td>"
            + "".join(_latency_cells(s, "all", kind) for kind in kinds)
            + _verdict_cell(s) + "</tr>"
            for s in members)
        head = _percentile_header(kinds, members, ("step", "target ops/s", "achieved ops/s",
                                                   "ops", "errors"))
        head = head.replace("</tr><tr>", '<th rowspan="2" class="sb-l">verdict</th></tr><tr>', 1)
        chart = (latency_throughput_figure(benchmark, members, (baselines or {}).get(
            benchmark, ()), baseline_name) if with_charts else "")
        capacity = sustained(members)
        parts.append(f'<div class="sb-benchmark"><h4>{_e(benchmark)}</h4>'
                     f'<table class="sb-table">{head}<tbody>{rows}</tbody></table>'
                     + (f'<p class="sb-capacity">{_e(capacity)}</p>' if capacity else "")
                     + f"{_closed_loop_note(members)}{chart}"
                     f"{_snapshot_links(members, snapshots or {})}</div>")
    parts.append("</div>")
    return ["".join(parts)]


SERVE_HINT = "serve one with scyllabench serve-snapshot FILE"


def _snapshot_link(href: str, label: str) -> str:
    return f'<a href="{_e(href)}">{_e(label)}</a>'


def _snapshot_links(members: Sequence[StepSummary], snapshots: Mapping[str, str]) -> str:
    """The Prometheus snapshots of a benchmark's tests, one link per test, in step order."""
    tests = list(dict.fromkeys(s.test for s in members if s.test in snapshots))
    if not tests:
        return ""
    links = " · ".join(_snapshot_link(snapshots[test], test.rsplit("::", 1)[-1])
                       for test in tests)
    return f'<p class="sb-links">Prometheus snapshots ({_e(SERVE_HINT)}): {links}</p>'

