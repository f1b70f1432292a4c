"""pytest-html 4 integration: a table per step in the test's extras, a table per benchmark in
the report's summary.

Everything here returns strings or pytest-html extras; the plugin's hooks attach them:

- per step, in a ``pytest_runtest_makereport`` wrapper (``when == "call"``)::

      report.extras = [*getattr(report, "extras", []), *step_extras(result, breaches, links)]

- per session, in ``pytest_html_results_summary(prefix, summary, postfix, session)``::

      prefix.extend(summary_html(steps))

All text is escaped; the styles are inline and nothing is fetched, so the report opens offline.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from html import escape
from pathlib import Path
from urllib.parse import quote

from pytest_scyllabench.report.serialize import StepSummary, summarize
from pytest_scyllabench.report.terminal import fmt_ms, fmt_rate, fmt_ratio, verdict
from pytest_scyllabench.result import (
    PERCENTILES,
    RESPONSE_TIME,
    SERVICE_TIME,
    LoaderRun,
    StepResult,
)

#: Column titles of the percentiles, in the order of :data:`PERCENTILES`.
TITLES = {"p50": "p50", "p90": "p90", "p99": "p99", "p999": "p99.9", "p9999": "p99.99",
          "max": "max"}
KIND_TITLES = {RESPONSE_TIME: "response time (ms)", SERVICE_TIME: "service time (ms)"}
CLOSED_LOOP_NOTE = ("closed-loop tool: only service time was measured, coordinated omission "
                    "is not corrected")

STYLE = """<style>
.sb-block{margin:.6em 0;font-size:13px}
.sb-block h3,.sb-block h4{margin:.5em 0 .3em}
.sb-table{border-collapse:collapse;margin:.3em 0 .8em}
.sb-table th,.sb-table td{border:1px solid #ccc;padding:2px 7px;text-align:right}
.sb-table th{background:#f0f0f0}
.sb-table .sb-l{text-align:left}
.sb-table .sb-st{background:#f7f7fb;color:#445}
.sb-pass{color:#176c17;font-weight:bold}
.sb-fail{color:#b21818;font-weight:bold}
.sb-note{color:#8a5a00}
.sb-breach{color:#b21818;text-align:left;font-size:12px}
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


def step_html(step: StepSummary, artifact_links: Sequence[tuple[str, str]] = (),
              loaders: Sequence[LoaderRun] = ()) -> str:
    """The block shown under one test's row for one step."""
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
    parts.append(_thresholds_html(step))
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
    rows: list[str] = []
    if step.rate_reached is not None:
        mark = "PASS" if step.rate_reached else "FAIL"
        rows.append(_threshold_row("target rate reached", mark))
    rows += [_threshold_row(breach, "FAIL") for breach in step.breaches]
    if not step.breaches:
        rows.append(_threshold_row("latency thresholds", "PASS"))
    return ('<table class="sb-table"><thead><tr><th class="sb-l">threshold</th>'
            f'<th class="sb-l">result</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')


def _threshold_row(text: str, mark: str) -> str:
    css = "sb-pass" if mark == "PASS" else "sb-fail"
    return (f'<tr><td class="sb-l">{_e(text)}</td>'
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
                rate_tolerance: float | None = None) -> list[dict[str, str | None]]:
    """pytest-html extras for one step of a test: append them to ``report.extras``."""
    from pytest_html import extras  # type: ignore[import-untyped]

    step = summarize(result, test=test, breaches=breaches, rate_tolerance=rate_tolerance)
    content = step_html(step, artifact_links, result.loaders)
    return [extras.html(content)]


def summary_html(steps: Iterable[StepSummary]) -> list[str]:
    """HTML for ``pytest_html_results_summary``'s ``prefix``: a table per benchmark.

    Steps are grouped by test function (node id without parameters) in order of first
    appearance; rows are sorted by target rate. Empty when no step ran.
    """
    groups: dict[str, list[StepSummary]] = {}
    for step in steps:
        groups.setdefault(step.benchmark, []).append(step)
    if not groups:
        return []
    parts = [STYLE, '<div class="sb-block"><h3>Benchmarks</h3>']
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
        parts.append(f"<h4>{_e(benchmark)}</h4><table class=\"sb-table\">{head}"
                     f"<tbody>{rows}</tbody></table>{_closed_loop_note(members)}")
    parts.append("</div>")
    return ["".join(parts)]
