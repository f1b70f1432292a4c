"""BuiltinTool: command lines, progress parsing and summary reading."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_scyllabench.errors import StressError
from pytest_scyllabench.loader.cli import parse_args
from pytest_scyllabench.stress.base import Invocation, StressTool
from pytest_scyllabench.stress.builtin import BuiltinTool
from pytest_scyllabench.stress.step import Step, Workload

WORKLOAD = Workload("mixed", {"read": 0.8, "write": 0.2}, partitions=5000,
                    distribution="zipfian", populate=5000)


def _invocation(tmp_path: Path, driver: str = "") -> Invocation:
    return Invocation(loader="loader-2", index=1, count=3, hosts=("127.0.0.21", "127.0.0.22"),
                      port=9043, rate=1500, start_at=1_700_000_000.123456,
                      hdr_log=str(tmp_path / "l.hlog"), summary=str(tmp_path / "l.json"),
                      replication_factor=3, driver=driver)


def test_is_a_stress_tool() -> None:
    tool: StressTool = BuiltinTool()
    assert tool.name == "builtin"
    assert tool.measures_response_time is True
    assert "pytest-scyllabench" in tool.version()


def test_step_command_round_trips_through_the_loader_cli(tmp_path: Path) -> None:
    step = Step(WORKLOAD, rate=4500, duration=30, warmup=5, concurrency=64, connections=2)
    argv = BuiltinTool(python="/opt/py").step_command(step, _invocation(tmp_path, "acsylla"))
    assert argv[:3] == ["/opt/py", "-m", "pytest_scyllabench.loader"]
    args = parse_args(argv[3:])
    assert args.phase == "run"
    assert args.hosts == ("127.0.0.21", "127.0.0.22")
    assert args.port == 9043
    assert args.driver == "acsylla"
    assert args.workload == WORKLOAD
    assert (args.rate, args.duration, args.warmup) == (1500, 30.0, 5.0)
    assert (args.concurrency, args.connections) == (64, 2)
    assert args.start_at == 1_700_000_000.123
    assert args.hdr_log == str(tmp_path / "l.hlog")
    assert args.summary == str(tmp_path / "l.json")
    assert (args.loader, args.index, args.count) == ("loader-2", 1, 3)
    assert args.replication_factor == 3


def test_schema_and_populate_commands(tmp_path: Path) -> None:
    tool = BuiltinTool(driver="scylla-driver", datacenter="dc1")
    schema = parse_args(tool.schema_command(WORKLOAD, _invocation(tmp_path))[3:])
    assert schema.phase == "schema"
    assert schema.driver == "scylla-driver"  # the tool's default when the invocation has none
    assert schema.datacenter == "dc1"
    populate = parse_args(tool.populate_command(WORKLOAD, _invocation(tmp_path))[3:])
    assert populate.phase == "populate"
    assert (populate.index, populate.count) == (1, 3)
    assert tool.schema_command(WORKLOAD, _invocation(tmp_path))[0] == sys.executable


def test_step_command_needs_an_hdr_log(tmp_path: Path) -> None:
    invocation = Invocation(loader="l", index=0, count=1, hosts=("h",), port=1, rate=1,
                            start_at=0.0, hdr_log="", summary="", replication_factor=1)
    with pytest.raises(StressError, match=r"loader l.*HDR log"):
        BuiltinTool().step_command(Step(WORKLOAD, rate=1, duration=1), invocation)


@pytest.fixture(scope="module")
def fake_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], Path]:
    """Real output of the loader (fake driver): its stdout lines and summary file."""
    tmp = tmp_path_factory.mktemp("fake-run")
    step = Step(Workload("w", {"write": 1.0}), rate=500, duration=1.5, warmup=0.5)
    invocation = Invocation(loader="loader-1", index=0, count=1, hosts=("127.0.0.1",),
                            port=9042, rate=500, start_at=0.0, hdr_log=str(tmp / "f.hlog"),
                            summary=str(tmp / "f.json"), replication_factor=1, driver="fake")
    argv = BuiltinTool().step_command(step, invocation)
    argv = [a for a in argv if a not in ("--start-at", "0.000")]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.splitlines(), tmp / "f.json"


def test_parse_progress_on_real_output(fake_run: tuple[list[str], Path]) -> None:
    lines, _ = fake_run
    tool = BuiltinTool()
    progress = [p for p in (tool.parse_progress(line, "L") for line in lines) if p]
    assert len(progress) >= 2
    assert progress[0].loader == "L"
    assert progress[0].elapsed == 0.5  # the 0.5 s warm-up ends the first interval
    first = json.loads(lines[0])  # the rate itself depends on this machine's load
    assert (progress[0].rate, progress[0].p99_ms) == (first["rate"], first["p99_ms"])
    assert progress[0].p99_ms > 0
    assert progress[-1].errors == 0
    assert len(progress) == len(lines) - 1  # the last line is the summary, not progress


@pytest.mark.parametrize("line", ["", "INFO something", "{not json", "[1, 2]",
                                  '{"event": "summary"}', '{"event": "progress"}',
                                  '{"event": "progress", "elapsed": "x", "rate": 1, '
                                  '"p99_ms": 1, "errors": 0}'])
def test_parse_progress_ignores_other_lines(line: str) -> None:
    assert BuiltinTool().parse_progress(line, "L") is None


def test_read_summary_of_a_real_run(fake_run: tuple[list[str], Path]) -> None:
    _, path = fake_run
    summary = BuiltinTool().read_summary(path, "loader-1")
    assert summary.loader == "loader-1"
    assert "fake" in summary.tool_version
    assert summary.measure_end - summary.measure_start == pytest.approx(1.5)
    # 2 s of schedule at 500 ops/s: every operation issued and completed; those completing in
    # the 1.5 s window are measured (how many depends on this machine's load, not on the code).
    raw = json.loads(path.read_text())
    assert raw["issued"] == raw["ops_total"] == 1000
    assert 0 < summary.ops <= 1000
    assert summary.errors == 0


@pytest.mark.parametrize(("content", "message"), [
    (None, "missing"),
    ("{truncated", "not valid JSON"),
    ("[]", "not a JSON object"),
    ('{"tool_version": "x", "measure_start": 1, "measure_end": 2, "ops": 1}',
     "'errors' is missing"),
    ('{"tool_version": "x", "measure_start": 1, "measure_end": 2, "ops": "many", '
     '"errors": 0, "error_samples": []}', "'ops' has a bad value"),
    ('{"phase": "populate"}', "phase 'populate'"),
])
def test_read_summary_errors_name_loader_and_file(tmp_path: Path, content: str | None,
                                                  message: str) -> None:
    path = tmp_path / "s.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(StressError, match=message) as info:
        BuiltinTool().read_summary(path, "loader-7")
    assert "loader loader-7" in str(info.value)
    assert str(path) in str(info.value)


def test_summary_json_is_what_the_runner_needs(fake_run: tuple[list[str], Path]) -> None:
    _, path = fake_run
    data = json.loads(path.read_text())
    for key in ("loader", "tool_version", "start_at", "measure_start", "measure_end",
                "target_rate", "ops", "achieved_rate", "errors", "error_samples",
                "max_lag_ms", "interrupted"):
        assert key in data, key


def test_a_summary_that_is_not_utf8_names_loader_and_file(
        fake_run: tuple[list[str], Path], tmp_path: Path) -> None:
    _, real = fake_run
    path = tmp_path / "s.json"
    path.write_bytes(real.read_bytes().replace(b'"', b'\xff', 1))
    with pytest.raises(StressError, match=r"not valid JSON \(not UTF-8: .*byte 0xff") as info:
        BuiltinTool().read_summary(path, "loader-7")
    assert f"loader loader-7: summary {path}: " in str(info.value)
