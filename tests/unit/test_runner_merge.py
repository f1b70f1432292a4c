"""The runner's merge of a step's loaders, on recorded tool output: which loader fails it.

A loader whose log stopped early, is truncated, or disagrees with its own count is a failed
loader: the step is merged from the others (their data is kept) and the problem names the
loader and its file. A loader below its share of the rate while the others reached theirs,
and too many failed operations, are problems of the step (``result.problems``): every
loader's data is merged and no loader failed. The loaders are copies of the recorded latte
and cassandra-stress runs of ``data/``, edited the way a loader that stopped early leaves them.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import shutil
from pathlib import Path

import pytest

from pytest_scyllabench.errors import LoaderFailed, StressError
from pytest_scyllabench.hdr.merge import LoaderChecks, LoaderOutput
from pytest_scyllabench.result import StepResult
from pytest_scyllabench.runner import StepRunner
from pytest_scyllabench.stress.base import LoaderFiles, StressTool
from pytest_scyllabench.stress.cassandra_stress import CassandraStressTool
from pytest_scyllabench.stress.latte import LEGEND, LatteTool
from pytest_scyllabench.stress.step import Step, Workload

DATA = Path(__file__).parent / "data"
READ = Workload("kv-read", {"read": 1.0}, partitions=1000, distribution="sequential")
WRITE = Workload("kv-write", {"write": 1.0}, partitions=50_000, row_size=200)
#: Two loaders of read-300 (each recorded at 300 ops/s for 2 s + 10 s).
READ_STEP = Step(READ, rate=600, duration=10, warmup=2)


def _latte(tmp_path: Path, name: str, recording: str) -> LoaderFiles:
    """A loader's files from a latte recording: its export with the legend line the step's
    script inserts before the first interval, and the report beside it."""
    folder = tmp_path / name
    folder.mkdir()
    files = LoaderFiles(hdr_log=folder / f"{name}.hlog", summary=folder / "absent.json",
                        stdout=folder / f"{name}.out")
    lines = (DATA / "latte" / f"{recording}.latte.hlog").read_text("utf-8").splitlines(True)
    first = next(n for n, line in enumerate(lines) if not line.startswith("#"))
    files.hdr_log.write_text("".join([*lines[:first], LEGEND + "\n", *lines[first:]]), "utf-8")
    shutil.copy(DATA / "latte" / f"{recording}.latte.json", folder / f"{name}.latte.json")
    return files


def _stop_latte_at(files: LoaderFiles, seconds: float) -> None:
    """Edit a copy as latte leaves it when it stops ``seconds`` into the run."""
    log = files.hdr_log.read_text(encoding="utf-8").splitlines(keepends=True)
    files.hdr_log.write_text("".join(
        line for line in log
        if not line.startswith("Tag=") or float(line.split(",")[1]) < seconds), "utf-8")
    report_path = files.hdr_log.with_name(files.hdr_log.stem + ".latte.json")
    report = json.loads(report_path.read_text(encoding="utf-8"))
    report["result"]["log"] = [s for s in report["result"]["log"] if s["time_s"] < seconds]
    report_path.write_text(json.dumps(report), encoding="utf-8")


def _output(tool: StressTool, step: Step, name: str, files: LoaderFiles,
            target_rate: float) -> LoaderOutput:
    return LoaderOutput(
        name=name, host="127.0.0.1", tool=tool.name,
        summary=tool.summarize(name, step, files), hdr_log=files.hdr_log, output=files.stdout,
        target_rate=target_rate, canonical_tag=functools.partial(tool.canonical_tag, step=step),
        value_unit_ns=tool.hdr_value_ns)


def _merge(step: Step, outputs: list[LoaderOutput], tool: StressTool,
           ) -> tuple[StepResult | None, dict[str, str]]:
    problems: dict[str, str] = {}
    result = StepRunner._merge(step, outputs, tool, problems, LoaderChecks(step.duration, 0.05))
    return result, problems


def _two_latte_loaders(tmp_path: Path, recording: str = "read-300",
                       step: Step = READ_STEP) -> tuple[LatteTool, list[LoaderFiles]]:
    return LatteTool(allow_service_time=True), [
        _latte(tmp_path, f"loader-{i}", recording) for i in (1, 2)]


def test_two_loaders_that_ran_together_pass(tmp_path: Path) -> None:
    tool, files = _two_latte_loaders(tmp_path)
    outputs = [_output(tool, READ_STEP, f"loader-{i + 1}", f, 300) for i, f in enumerate(files)]
    result, problems = _merge(READ_STEP, outputs, tool)
    assert problems == {}
    assert result is not None and result.duration == pytest.approx(10.0, abs=0.01)
    assert [run.name for run in result.loaders] == ["loader-1", "loader-2"]


def test_a_loader_that_stopped_early_fails_and_the_others_are_kept(tmp_path: Path) -> None:
    tool, files = _two_latte_loaders(tmp_path)
    _stop_latte_at(files[1], 8.0)  # 6 s of the 10 s window, then latte exited 0
    outputs = [_output(tool, READ_STEP, f"loader-{i + 1}", f, 300) for i, f in enumerate(files)]
    # Its own window is what its log spans: it would shrink the common one to 6 s.
    assert outputs[1].summary.measure_end - outputs[1].summary.measure_start < 6.1
    result, problems = _merge(READ_STEP, outputs, tool)
    assert set(problems) == {"loader-2"}
    assert str(files[1].hdr_log) in problems["loader-2"]
    assert "stopped early" in problems["loader-2"]
    # The step is merged from loader-1 alone, over the whole window.
    assert result is not None and [run.name for run in result.loaders] == ["loader-1"]
    assert result.duration == pytest.approx(10.0, abs=0.01)
    assert result.ops == outputs[0].summary.ops


def test_every_loader_stopped_early_keeps_what_they_measured(tmp_path: Path) -> None:
    tool, files = _two_latte_loaders(tmp_path)
    for loader_files in files:
        _stop_latte_at(loader_files, 8.0)
    outputs = [_output(tool, READ_STEP, f"loader-{i + 1}", f, 300) for i, f in enumerate(files)]
    result, problems = _merge(READ_STEP, outputs, tool)
    assert set(problems) == {"loader-1", "loader-2"}
    assert result is not None and result.duration < 6.1  # saved with the failed step


def test_a_truncated_log_fails_its_loader(tmp_path: Path) -> None:
    tool, files = _two_latte_loaders(tmp_path)
    text = files[0].hdr_log.read_text(encoding="utf-8")
    files[0].hdr_log.write_text(text[:-200], encoding="utf-8")  # killed mid-write
    outputs = [_output(tool, READ_STEP, f"loader-{i + 1}", f, 300) for i, f in enumerate(files)]
    result, problems = _merge(READ_STEP, outputs, tool)
    assert set(problems) == {"loader-1"}
    assert str(files[0].hdr_log) in problems["loader-1"] and "truncated" in problems["loader-1"]
    assert result is not None and [run.name for run in result.loaders] == ["loader-2"]


def test_a_count_that_disagrees_with_the_log_fails_its_loader(tmp_path: Path) -> None:
    tool, files = _two_latte_loaders(tmp_path)
    report_path = files[1].hdr_log.with_name("loader-2.latte.json")
    report = json.loads(report_path.read_text(encoding="utf-8"))
    report["result"]["log"][5]["cycle_count"] += 400  # more than an interval's worth
    report_path.write_text(json.dumps(report), encoding="utf-8")
    outputs = [_output(tool, READ_STEP, f"loader-{i + 1}", f, 300) for i, f in enumerate(files)]
    result, problems = _merge(READ_STEP, outputs, tool)
    assert set(problems) == {"loader-2"}
    assert str(files[1].hdr_log) in problems["loader-2"]
    assert "summary reports" in problems["loader-2"]
    assert result is not None and [run.name for run in result.loaders] == ["loader-1"]


def test_a_loader_below_its_share_of_the_rate_is_a_step_problem(tmp_path: Path) -> None:
    tool, files = _two_latte_loaders(tmp_path)
    # loader-2 was given 400 ops/s and achieved the recording's ~297: the total (600 of 700)
    # is within 15 %, yet loader-2 is 26 % short of its share.
    step = Step(READ, rate=700, duration=10, warmup=2)
    outputs = [_output(tool, step, "loader-1", files[0], 300),
               _output(tool, step, "loader-2", files[1], 400)]
    problems: dict[str, str] = {}
    result = StepRunner._merge(step, outputs, tool, problems, LoaderChecks(step.duration, 0.15))
    assert problems == {}  # no loader failed: its data is intact
    # Kept in the merge (a saturated loader holds the worst latencies), named in the step's
    # problems with its rate and its share.
    assert result is not None and [run.name for run in result.loaders] == ["loader-1", "loader-2"]
    (problem,) = result.problems
    assert problem.startswith("loader loader-2 achieved 29")
    assert "below its share of the target, 400 ops/s -15%" in problem
    assert StepRunner._outcome(result, problems) is result


def test_every_loader_short_of_its_share_is_the_steps_rate(tmp_path: Path) -> None:
    tool, files = _two_latte_loaders(tmp_path)
    step = Step(READ, rate=800, duration=10, warmup=2)
    outputs = [_output(tool, step, f"loader-{i + 1}", f, 400) for i, f in enumerate(files)]
    result, problems = _merge(step, outputs, tool)
    assert problems == {}  # judged by the step's own rate check, with every loader's data
    assert result is not None and len(result.loaders) == 2
    assert not result.rate_reached(0.05)


def test_failed_operations_beyond_the_tolerance_fail_the_step(tmp_path: Path) -> None:
    # The node was stopped 6 s into the run: from then on every request failed.
    step = Step(WRITE, rate=600, duration=6, warmup=2)
    tool, files = _two_latte_loaders(tmp_path, "stopped-write-300", step)
    outputs = [_output(tool, step, f"loader-{i + 1}", f, 300) for i, f in enumerate(files)]
    result, problems = _merge(step, outputs, tool)
    assert problems == {}  # no loader failed: the step did
    assert result is not None and len(result.loaders) == 2  # every loader's data kept
    (problem,) = result.problems
    assert "operations failed" in problem and "loader-1 636" in problem
    # latte's ops count its failed calls: they are the attempted operations, not ops + errors.
    assert all(output.summary.ops_include_errors for output in outputs)
    assert f"{result.errors} of {result.ops} operations failed" in problem
    assert any("operations failed" in warning for warning in result.warnings)
    assert StepRunner._outcome(result, problems) is result  # returned, not LoaderFailed


def test_two_cassandra_stress_loaders_started_together_pass() -> None:
    tool = CassandraStressTool(home="/opt/cs")
    step = Step(Workload("m", {"write": 0.5, "read": 0.5}), rate=600, duration=6, warmup=2)
    folder = DATA / "cassandra-stress"
    outputs = [_output(tool, step, f"loader-{i}", LoaderFiles(
        hdr_log=folder / f"two-{i}.hlog", summary=folder / "absent.json",
        stdout=folder / f"two-{i}.stdout"), 300) for i in (1, 2)]
    result, problems = _merge(step, outputs, tool)
    # Their common window is 5 s of the 6 s step: one interval less, which is allowed.
    assert problems == {}
    assert result is not None and result.duration == pytest.approx(5.0)


def test_the_warm_up_is_not_judged(tmp_path: Path) -> None:
    tool, files = _two_latte_loaders(tmp_path)
    _stop_latte_at(files[1], 8.0)
    outputs = [_output(tool, READ_STEP, f"loader-{i + 1}", f, 300) for i, f in enumerate(files)]
    problems: dict[str, str] = {}
    result = StepRunner._merge(READ_STEP, outputs, tool, problems, None)
    assert problems == {}
    # Not judged: both loaders merged over the window they share, as measured.
    assert result is not None and len(result.loaders) == 2
    assert result.duration < 6.1


def test_a_failed_loader_raises_loader_failed_with_the_others_result(tmp_path: Path) -> None:
    tool, files = _two_latte_loaders(tmp_path)
    _stop_latte_at(files[1], 8.0)
    outputs = [_output(tool, READ_STEP, f"loader-{i + 1}", f, 300) for i, f in enumerate(files)]
    result, problems = _merge(READ_STEP, outputs, tool)
    with pytest.raises(LoaderFailed, match=r"loader-2: .*stopped early") as failed:
        StepRunner._outcome(result, problems)
    assert failed.value.partial is result


def test_windows_that_do_not_overlap_are_a_step_error_not_a_loader_failure(
        tmp_path: Path) -> None:
    tool, files = _two_latte_loaders(tmp_path)
    outputs = [_output(tool, READ_STEP, f"loader-{i + 1}", f, 300) for i, f in enumerate(files)]
    late = outputs[1].summary
    outputs[1] = dataclasses.replace(outputs[1], summary=dataclasses.replace(
        late, measure_start=late.measure_end + 5, measure_end=late.measure_end + 15))
    problems: dict[str, str] = {}
    with pytest.raises(StressError, match="do not overlap") as raised:
        StepRunner._merge(READ_STEP, outputs, tool, problems, LoaderChecks(10.0, 0.05))
    assert not isinstance(raised.value, LoaderFailed) and problems == {}


def test_a_loader_off_the_steps_schedule_is_at_fault_and_the_others_are_kept(
        tmp_path: Path) -> None:
    """A window hours away from the run (a corrupt base time) is that loader's fault: the
    other loader's data is merged and kept, where the windows alone could not say who is
    wrong (see the test above)."""
    tool, files = _two_latte_loaders(tmp_path)
    outputs = [_output(tool, READ_STEP, f"loader-{i + 1}", f, 300) for i, f in enumerate(files)]
    good = outputs[0].summary
    started, ended = good.measure_start - 3.0, good.measure_end + 1.0
    shifted = dataclasses.replace(outputs[1].summary, measure_start=good.measure_start + 7200,
                                  measure_end=good.measure_end + 7200)
    outputs[1] = dataclasses.replace(outputs[1], summary=shifted)
    problems: dict[str, str] = {}
    kept = StepRunner._on_schedule(outputs, started, ended, problems)
    assert [output.name for output in kept] == ["loader-1"]
    assert list(problems) == ["loader-2"]
    assert problems["loader-2"].startswith(f"loader loader-2: {files[1].hdr_log}: its measured "
                                           f"window [")
    assert "lies outside the step's run" in problems["loader-2"]
    result, merged_problems = _merge(READ_STEP, kept, tool)
    assert merged_problems == {}
    assert result is not None and [run.name for run in result.loaders] == ["loader-1"]


def test_windows_within_the_slack_of_the_run_are_all_kept(tmp_path: Path) -> None:
    tool, files = _two_latte_loaders(tmp_path)
    outputs = [_output(tool, READ_STEP, f"loader-{i + 1}", f, 300) for i, f in enumerate(files)]
    first = outputs[0].summary
    # a loader host whose clock is 50 s ahead: within the slack, nobody is blamed
    problems: dict[str, str] = {}
    kept = StepRunner._on_schedule(outputs, first.measure_end + 50, first.measure_end + 55,
                                   problems)
    assert len(kept) == 2 and problems == {}
