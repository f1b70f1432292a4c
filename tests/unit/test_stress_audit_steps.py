"""Audit of step descriptions turned into command lines, and of console parsing, per tool.

Each test here failed before the fix it names: loaders of a sequential scylla-bench step
sweeping the same keys, cassandra-stress progress rows of garbage accepted, and the built-in
loader's durations cut to six significant digits.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from pytest_scyllabench.errors import ConfigError, StressError
from pytest_scyllabench.stress import cassandra_stress as cs
from pytest_scyllabench.stress.base import Invocation, LoaderFiles
from pytest_scyllabench.stress.builtin import BuiltinTool
from pytest_scyllabench.stress.scylla_bench import ScyllaBenchTool
from pytest_scyllabench.stress.step import Step, Workload

CS_DATA = Path(__file__).parent / "data" / "cassandra-stress"
SEQUENTIAL = Workload("seq", {"write": 1.0}, partitions=1001, distribution="sequential")


def invocation(index: int, count: int, rate: int = 500) -> Invocation:
    return Invocation(loader=f"loader-{index + 1}", index=index, count=count,
                      hosts=("127.0.0.21",), port=9042, rate=rate, start_at=1_700_000_000.0,
                      hdr_log="/tmp/l.hlog", summary="/tmp/l.json", replication_factor=1)


def go_flags(argv: Sequence[str]) -> dict[str, str]:
    parsed: dict[str, str] = {}
    items = list(argv[1:])
    while items:
        name, equal, value = items.pop(0)[1:].partition("=")
        parsed[name] = value if equal else items.pop(0)
    return parsed


def option_value(argv: Sequence[str], name: str) -> str:
    return argv[list(argv).index(name) + 1]


# -- scylla-bench: a sequential step's keys are split over the loaders ------------------------


def test_scylla_bench_sequential_loaders_sweep_disjoint_shares_covering_every_key() -> None:
    step = Step(SEQUENTIAL, rate=1000, duration=10, concurrency=100)
    tool = ScyllaBenchTool()
    keys: list[int] = []
    for index in range(2):
        got = go_flags(tool.step_command(step, invocation(index, 2)))
        offset, count = int(got["partition-offset"]), int(got["partition-count"])
        keys += range(offset, offset + count)
    assert sorted(keys) == list(range(1001))  # each key once: none dropped, none twice


def test_scylla_bench_sequential_share_of_one_loader_is_every_key() -> None:
    got = go_flags(ScyllaBenchTool().step_command(Step(SEQUENTIAL, rate=1000, duration=10,
                                                       concurrency=100), invocation(0, 1)))
    assert (got.get("partition-offset", "0"), got["partition-count"]) == ("0", "1001")


def test_scylla_bench_sequential_with_more_loaders_than_keys_is_refused() -> None:
    small = Workload("tiny", {"write": 1.0}, partitions=2, distribution="sequential")
    with pytest.raises(ConfigError, match=r"^workloads\.tiny\.partitions: .*loader-3"):
        ScyllaBenchTool().step_command(Step(small, rate=30, duration=5, concurrency=10),
                                       invocation(2, 3, rate=10))


def test_scylla_bench_uniform_loaders_still_draw_from_every_key() -> None:
    uniform = Workload("u", {"write": 1.0}, partitions=1001)
    got = go_flags(ScyllaBenchTool().step_command(Step(uniform, rate=1000, duration=10,
                                                       concurrency=100), invocation(1, 2)))
    assert got["partition-count"] == "1001" and "partition-offset" not in got


# -- cassandra-stress: progress rows that are not numbers ------------------------------------


ROW = ("total,        1194,     898,     898,     898,    84.3,    54.9,   167.9,   185.6,"
       "   198.0,   198.0,    2.0,  0.36447,      {errors},      0,       0,       0,       0,"
       "       0")


def test_a_recorded_progress_row_parses() -> None:
    row = cs.parse_row(ROW.format(errors="0"))
    assert row is not None and (row.ops, row.errors, row.elapsed) == (1194, 0, 2.0)


@pytest.mark.parametrize("line", [
    ROW.format(errors="-3"),                                   # negative failures
    ROW.format(errors="1_000"),                                # Python's digit grouping
    ROW.format(errors="\u0661\u0662"),                         # Arabic-Indic digits
    ROW.replace("1194", "-1194").format(errors="0"),           # negative total
    ROW.replace("    2.0,", "    nan,").format(errors="0"),    # no time
    ROW.replace("    2.0,", "    inf,").format(errors="0"),
])
def test_progress_rows_of_garbage_are_not_progress(line: str) -> None:
    assert cs.parse_row(line) is None


def test_a_total_in_results_of_other_digits_is_a_stress_error(tmp_path: Path) -> None:
    text = (CS_DATA / "write-800.stdout").read_text().replace(
        "Total errors              :          0", "Total errors              :          \u00b2")
    with pytest.raises(StressError, match="Total errors"):
        cs.parse_console(text, "loader-3", tmp_path / "out.txt")


def test_a_cumulative_total_that_goes_back_is_a_stress_error(tmp_path: Path) -> None:
    text = (CS_DATA / "write-800.stdout").read_text()
    rows = [line for line in text.splitlines() if line.startswith("total,")]
    fields = rows[5].split(",")
    fields[1] = "     12"  # fewer operations since the start than the row before
    (tmp_path / "out.txt").write_text(text.replace(rows[5], ",".join(fields)))
    (tmp_path / "log.hlog").write_text((CS_DATA / "write-800.hlog").read_text())
    files = LoaderFiles(hdr_log=tmp_path / "log.hlog", summary=tmp_path / "absent",
                        stdout=tmp_path / "out.txt")
    tool = cs.CassandraStressTool(java="/jdk/bin/java", home="/opt/cs")
    workload = Workload("write", {"write": 1.0}, partitions=20000)
    with pytest.raises(StressError, match=r"loader-2: .*out\.txt"):
        tool.summarize("loader-2", Step(workload, rate=800, duration=7, warmup=2), files)


# -- builtin: durations keep their digits -----------------------------------------------------


@pytest.mark.parametrize("seconds", [123456.7, 10.1234567, 1234567.0])
def test_builtin_durations_are_passed_exactly(seconds: float) -> None:
    step = Step(Workload("w", {"write": 1.0}), rate=10, duration=seconds, warmup=seconds / 7)
    argv = BuiltinTool(python="python3").step_command(step, invocation(0, 1, rate=10))
    assert float(option_value(argv, "--duration")) == seconds
    assert float(option_value(argv, "--warmup")) == seconds / 7


def test_scylla_bench_sequential_runs_no_more_goroutines_than_keys_in_its_share() -> None:
    # scylla-bench gives goroutine i of a sequential run rows offset + i * keys // concurrency;
    # with more goroutines than keys, the extra ones write the key after the share, over and
    # over (a key of the next loader, or none of the workload's).
    few = Workload("few", {"write": 1.0}, partitions=50, distribution="sequential")
    got = go_flags(ScyllaBenchTool().step_command(Step(few, rate=1000, duration=5,
                                                       concurrency=128), invocation(0, 1, 1000)))
    assert got["concurrency"] == "50" and 1000 % 50 == 0
    shared = go_flags(ScyllaBenchTool().step_command(Step(few, rate=1000, duration=5,
                                                          concurrency=128),
                                                     invocation(1, 2, 500)))
    assert (shared["partition-count"], shared["concurrency"]) == ("25", "25")


# -- scylla-bench: numbers are ASCII digits ---------------------------------------------------


@pytest.mark.parametrize("line", [
    "   2s     \u0668\u0660\u0661     801      2 ",          # Arabic-Indic operations
    "   \u0662s     801     801      2 ",                     # ... and time
    "   2s     801     801      2 9.8ms  6.1ms  \u0662.3ms 1.1ms  900µs  512µs  640µs ",
])
def test_scylla_bench_progress_of_other_digits_is_not_progress(line: str) -> None:
    assert ScyllaBenchTool().parse_progress(line, "l") is None


def test_scylla_bench_totals_of_other_digits_are_not_totals(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    out.write_text("Configuration\n   1s     10     10      0 \n\nResults\n"
                   "Total ops:    \u0661\u0660\n")
    files = LoaderFiles(hdr_log=tmp_path / "absent.hlog", summary=tmp_path / "absent.json",
                        stdout=out)
    with pytest.raises(StressError, match="Total ops"):
        ScyllaBenchTool().summarize("l", Step(SEQUENTIAL, rate=10, duration=1, warmup=0), files)
