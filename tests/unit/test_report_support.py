"""Step results built from real hdrh histograms, shared by the report tests.

The values are recorded here, not read from a tool: the report only needs real histograms.
Percentiles come from the real ``pytest_scyllabench.hdr.merge`` through ``StepResult.latency``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from hdrh.histogram import HdrHistogram

from pytest_scyllabench.result import LoaderRun, StepResult


def histogram(values_us: Iterable[int]) -> HdrHistogram:
    result = HdrHistogram(1, 3_600_000_000, 3)
    for value in values_us:
        result.record_value(value)
    return result


def make_histograms(operations: Iterable[str], n: int = 2000) -> dict[str, HdrHistogram]:
    """``<op>-rt``, ``<op>-st`` and ``all-rt``, ``all-st``: 0.2..~2 ms with a 50 ms outlier."""
    histograms: dict[str, HdrHistogram] = {}
    for index, operation in enumerate(operations):
        base = 200 + 100 * index
        histograms[f"{operation}-rt"] = histogram(
            [base + (i * 7919) % 1800 for i in range(n)] + [50_000])
        histograms[f"{operation}-st"] = histogram(
            [base // 2 + (i * 7919) % 900 for i in range(n)] + [20_000])
    for kind in ("rt", "st"):
        merged = HdrHistogram(1, 3_600_000_000, 3)
        for name, value in histograms.items():
            if name.endswith(f"-{kind}"):
                merged.add(value)
        histograms[f"all-{kind}"] = merged
    return histograms


def make_result(step_dir: Path | None, *, step: str = "write@2000", workload: str = "write",
                target: float = 2000.0, achieved: float = 1990.5,
                operations: Iterable[str] = ("write",), service_time_only: bool = False,
                loaders: int = 2, error_samples: tuple[str, ...] = ()) -> StepResult:
    """A step result whose loaders' files live in ``step_dir`` (created, with content)."""
    histograms = make_histograms(operations)
    ops = histograms["all-rt"].get_total_count()
    runs = []
    for index in range(loaders):
        name = f"loader-{index + 1}"
        hdr_log = output = None
        if step_dir is not None:
            step_dir.mkdir(parents=True, exist_ok=True)
            hdr_log, output = step_dir / f"{name}.hlog", step_dir / f"{name}.out"
            hdr_log.write_text("#[StartTime: 0]\n", encoding="utf-8")
            output.write_text("done\n", encoding="utf-8")
        runs.append(LoaderRun(
            name=name, host=f"10.0.0.{index + 1}", tool="builtin", tool_version="0.1",
            exit_code=0, target_rate=target / loaders, ops=ops // loaders, errors=index,
            achieved_rate=achieved / loaders, hdr_log=hdr_log, output=output,
            error_samples=error_samples))
    return StepResult(
        step=step, workload=workload, target_rate=target, duration=30.0,
        achieved_rate=achieved, ops=ops, errors=loaders - 1, histograms=histograms,
        loaders=tuple(runs), overhead=8.5, service_time_only=service_time_only,
        artifacts=step_dir, series=[(0.0, 1990.0, 1.5), (1.0, 1991.0, float("nan"))])
