"""The end-of-session summary for the terminal, and the number formats every report shares."""

from __future__ import annotations

import math
from collections.abc import Iterable

from pytest_scyllabench.report.serialize import StepSummary
from pytest_scyllabench.result import SERVICE_TIME

MISSING = "-"
#: (column title, percentile name) of the terminal table.
TERMINAL_PERCENTILES = (("p50", "p50"), ("p99", "p99"), ("p99.9", "p999"), ("max", "max"))


def fmt_ms(value: float | None) -> str:
    """Milliseconds with about four significant digits: ``0.412``, ``12.35``, ``1,234``."""
    if value is None or not math.isfinite(value):
        return MISSING
    if value < 10:
        return f"{value:.3f}"
    if value < 100:
        return f"{value:.2f}"
    if value < 1000:
        return f"{value:.1f}"
    return f"{value:,.0f}"


def fmt_rate(value: float | None) -> str:
    """Operations per second: ``2,000`` or ``1,998.7``."""
    if value is None or not math.isfinite(value):
        return MISSING
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


def fmt_ratio(achieved: float, target: float) -> str:
    """``99.9%`` of the target rate."""
    if target <= 0 or not math.isfinite(achieved):
        return MISSING
    return f"{100.0 * achieved / target:.1f}%"


def verdict(step: StepSummary) -> str:
    if step.passed:
        return "PASS"
    return "FAIL (rate)" if step.rate_reached is False and not step.breaches else "FAIL"


def summary_lines(steps: Iterable[StepSummary]) -> list[str]:
    """Lines of a table with one row per step, grouped by benchmark, for the terminal summary.

    Empty when no step ran. Service time stands in for response time when the tool measured
    only service time; the step is then marked ``(st)``.
    """
    ordered = sorted(steps, key=lambda s: (s.benchmark, s.target_rate, s.step))
    if not ordered:
        return []
    header = ["benchmark", "step", "achieved/target ops/s"]
    header += [f"{title} ms" for title, _ in TERMINAL_PERCENTILES]
    header.append("verdict")
    rows: list[list[str]] = []
    service_only = False
    for step in ordered:
        latency, kind = step.headline()
        service_only = service_only or kind == SERVICE_TIME
        rate = (f"{fmt_rate(step.achieved_rate)}/{fmt_rate(step.target_rate)} "
                f"({fmt_ratio(step.achieved_rate, step.target_rate)})")
        marked = f"{step.step} (st)" if kind == SERVICE_TIME else step.step
        cells = [step.benchmark, marked, rate]
        cells += [fmt_ms(latency.values_ms.get(name) if latency else None)
                  for _, name in TERMINAL_PERCENTILES]
        cells.append(verdict(step))
        rows.append(cells)
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    numeric = range(2, len(header) - 1)

    def line(cells: list[str]) -> str:
        return "  ".join(cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i])
                         for i, cell in enumerate(cells)).rstrip()

    passed = sum(1 for step in ordered if step.passed)
    title = f"scyllabench: {len(ordered)} steps, {passed} passed, {len(ordered) - passed} failed"
    if service_only:
        title += " (st: service time only, coordinated omission not corrected)"
    lines = [title, line(header), line(["-" * w for w in widths])]
    lines += [line(row) for row in rows]
    return lines
