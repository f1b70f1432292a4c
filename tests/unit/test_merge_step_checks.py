"""merge_step's checks of a whole step: a loader short of its share, failed operations.

Logs are written interval by interval (``test_hdr_support``); each loader's summary counts
what its log holds, so that only the check under test can fire.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_hdr_support import T0, Line, write_lines

from pytest_scyllabench.hdr.merge import LoaderChecks, LoaderOutput, merge_step
from pytest_scyllabench.stress.base import LoaderSummary
from pytest_scyllabench.stress.step import Step, Workload

SECONDS = 8
STEP = Step(workload=Workload(name="w", mix={"write": 1.0}), rate=200, duration=SECONDS)


def _loader(tmp_path: Path, name: str, per_second: int, latency_us: int, *, errors: int = 0,
            target_rate: float = 100.0, ops_include_errors: bool = False) -> LoaderOutput:
    lines = [Line("write-rt", T0 + second, [latency_us] * per_second)
             for second in range(SECONDS)]
    path = write_lines(tmp_path / f"{name}.hlog", lines, start_time=T0)
    summary = LoaderSummary(loader=name, tool_version="tool 1.0", measure_start=T0,
                            measure_end=T0 + SECONDS, ops=per_second * SECONDS, errors=errors,
                            ops_include_errors=ops_include_errors)
    return LoaderOutput(name=name, host=name, tool="t", summary=summary, hdr_log=path,
                        target_rate=target_rate)


def test_a_loader_below_its_share_is_kept_and_named_in_the_steps_problems(
        tmp_path: Path) -> None:
    # loader-b is saturated: half its share, every operation 50 ms. Its latencies are the
    # step's worst and must stay in the merge.
    outputs = [_loader(tmp_path, "loader-a", 100, 1000),
               _loader(tmp_path, "loader-b", 50, 50_000)]
    merged = merge_step(STEP, outputs, checks=LoaderChecks(duration=SECONDS))
    assert merged.faults == {}
    (problem,) = merged.problems
    assert problem.startswith("loader loader-b achieved 50.0 ops/s, below its share of the "
                              "target, 100 ops/s -5%")
    result = merged.result
    assert result.problems == merged.problems
    assert [run.name for run in result.loaders] == ["loader-a", "loader-b"]
    assert result.ops == 150 * SECONDS
    assert result.latency("write")["p99"] == pytest.approx(50.0, rel=0.01)


def test_failed_operations_are_a_fraction_of_successes_and_errors(tmp_path: Path) -> None:
    # The built-in loader: its ops are successes, its errors come on top of them.
    outputs = [_loader(tmp_path, "loader-a", 100, 1000, errors=50, target_rate=200)]
    merged = merge_step(STEP, outputs, checks=LoaderChecks(duration=SECONDS))
    (problem,) = merged.problems
    assert problem.startswith("50 of 850 operations failed (5.88%; by loader: loader-a 50)")
    assert merged.result.problems == [problem]


def test_failed_operations_already_in_the_ops_are_not_counted_twice(tmp_path: Path) -> None:
    # latte: its ops (and its log) count every call, failed or not.
    outputs = [_loader(tmp_path, "loader-a", 100, 1000, errors=50, target_rate=200,
                       ops_include_errors=True)]
    merged = merge_step(STEP, outputs, checks=LoaderChecks(duration=SECONDS))
    (problem,) = merged.problems
    assert problem.startswith("50 of 800 operations failed (6.25%;")


def test_failed_operations_within_the_tolerance_are_a_warning(tmp_path: Path) -> None:
    outputs = [_loader(tmp_path, "loader-a", 100, 1000, errors=40, target_rate=200)]
    merged = merge_step(STEP, outputs, checks=LoaderChecks(duration=SECONDS))
    assert merged.problems == [] and merged.result.problems == []
    assert any(w.startswith("40 of 840 operations failed") for w in merged.result.warnings)
