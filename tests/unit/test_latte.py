"""LatteTool: command lines, tags, progress, summary, the HDR export and the build into the cache.

The files in ``data/latte`` were recorded with latte-cli 0.29.0 (built by ``cargo install``)
against one Cassandra 5.0.9 node, through :class:`LatteTool`'s own commands
(``Step(duration=10, warmup=2, concurrency=64)``, 20 000 partitions populated first):

* ``write-800``: writes at 800 ops/s; a server stall at 3-5 s drops the throughput to 577 and
  latte does not catch up (missed ticks are skipped).
* ``read-300``: reads at 300 ops/s.
* ``stopped-write-300``: writes at 300 ops/s (duration 6 s) with the node stopped after
  6 s: every request fails from then on, latte still exits 0 and reports 0 errors in its
  ``Errors`` column; failed requests are only in the samples' ``req_error_count``.

``*.out`` is the console (stdout), ``*.latte.hlog`` the output of ``latte hdr`` as written,
``*.latte.json`` the ``--output`` report with its base64 histograms and percentile lists
removed (they are large and unused here; the HDR export carries the same histograms).
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import stat
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from pytest_scyllabench.errors import (
    CommandError,
    ConfigError,
    HdrLogError,
    MissingDependencyError,
    StressError,
)
from pytest_scyllabench.execute.base import CommandResult
from pytest_scyllabench.hdr.log import read_log
from pytest_scyllabench.hdr.merge import LoaderOutput, Window, build_step_result, loader_count
from pytest_scyllabench.profile import LoaderSpec
from pytest_scyllabench.stress.base import Invocation, LoaderFiles, StressTool
from pytest_scyllabench.stress.latte import LEGEND, LatteTool, create
from pytest_scyllabench.stress.step import Step, Workload

DATA = Path(__file__).parent / "data" / "latte"
WRITE = Workload("kv-write", {"write": 1.0}, partitions=50_000, row_size=200,
                 consistency="LOCAL_QUORUM", keyspace="sbks", table="sbt", populate=10)
READ = Workload("kv-read", {"read": 1.0}, partitions=1000, distribution="sequential")
MIXED = Workload("kv-mixed", {"read": 0.8, "write": 0.2, }, consistency="ONE")
BINARY = "/opt/latte/bin/latte"


def invocation(rate: int = 800, port: int = 9042, hosts: tuple[str, ...] = ("127.0.0.21",),
               index: int = 0, count: int = 1, hdr_log: str = "/tmp/lt/loader-1.hlog",
               ) -> Invocation:
    return Invocation(loader="loader-1", index=index, count=count, hosts=hosts, port=port,
                      rate=rate, start_at=1_795_000_000.0, hdr_log=hdr_log,
                      summary="/tmp/lt/loader-1.summary.json", replication_factor=3)


def tool(**kwargs: object) -> LatteTool:
    return LatteTool(BINARY, allow_service_time=True, **kwargs)  # type: ignore[arg-type]


def options(argv: Sequence[str]) -> tuple[dict[str, list[str]], list[str]]:
    """clap's syntax: ``--name value`` (or ``-P value``), flags alone; then positionals."""
    flags = {"--quiet"}
    parsed: dict[str, list[str]] = {}
    positional: list[str] = []
    items = list(argv)
    while items:
        item = items.pop(0)
        if item.startswith("-"):
            parsed.setdefault(item, []).append("" if item in flags else items.pop(0))
        else:
            positional.append(item)
    return parsed, positional


def params(parsed: Mapping[str, list[str]]) -> dict[str, str]:
    return dict(value.split("=", 1) for value in parsed.get("-P", []))


def step_parts(argv: Sequence[str]) -> list[list[str]]:
    """The commands chained by the ``sh -c`` script of a step (``&&``, then ``> log``)."""
    import shlex

    assert argv[:2] == ["sh", "-c"] and len(argv) == 3
    parts: list[list[str]] = [[]]
    for word in shlex.split(argv[2]):
        if word == "&&":
            parts.append([])
        else:
            parts[-1].append(word)
    return parts


def test_is_a_stress_tool() -> None:
    latte: StressTool = LatteTool()
    assert latte.name == "latte"
    assert latte.version() == "latte 0.29.0"
    assert latte.hdr_value_ns == 1.0  # nanoseconds
    assert latte.measures_response_time is False


# --- commands -----------------------------------------------------------------------------


def test_step_command_maps_every_field(tmp_path: Path) -> None:
    step = Step(WRITE, rate=2400, duration=10, warmup=2.5, concurrency=64, connections=3)
    run, export, legend = step_parts(tool(request_timeout=2.0).step_command(
        step, invocation(rate=800, hosts=("127.0.0.21", "127.0.0.22"))))
    assert run[:4] == [BINARY, "--log-file", "/tmp/lt/loader-1.latte.log", "run"]
    parsed, positional = options(run[4:])
    assert params(parsed) == {
        "keyspace": '"sbks"', "table": '"sbt"', "replication_factor": "3",
        "partitions": "50000", "row_size": "200", "sequential": "false", "loader": "0",
        "loaders": "1"}
    del parsed["-P"]
    assert parsed == {
        "--quiet": [""], "--rate": ["800"], "--warmup": ["0"],
        "--duration": ["12500ms"],  # warm-up + duration at the rate, trimmed by summarize
        "--sampling": ["1000ms"], "--threads": ["1"], "--concurrency": ["64"],
        "--connections": ["3"], "--consistency": ["LOCAL_QUORUM"],
        "--output": ["/tmp/lt/loader-1.latte.json"], "--functions": ["write:1"],
        "--request-timeout": ["2000ms"]}
    assert positional == [str(LatteTool().workload_script), "127.0.0.21:9042",
                          "127.0.0.22:9042"]
    assert export == [BINARY, "--log-file", os.devnull, "hdr", "/tmp/lt/loader-1.latte.json",
                      "--output", "/tmp/lt/loader-1.latte.hlog"]
    assert legend[:3] == ["awk", "-v", f"legend={LEGEND}"]
    assert legend[-3:] == ["/tmp/lt/loader-1.latte.hlog", ">", "/tmp/lt/loader-1.hlog"]


def test_mixed_weights_and_sequential_keys_of_a_second_loader() -> None:
    run = step_parts(tool(threads=2).step_command(
        Step(MIXED, rate=1000, duration=5, concurrency=100),
        invocation(rate=333, index=1, count=3)))[0]
    parsed, _ = options(run[4:])
    assert parsed["--functions"] == ["read:0.8", "write:0.2"]
    assert (parsed["--threads"], parsed["--concurrency"]) == (["2"], ["50"])  # per thread
    assert parsed["--consistency"] == ["ONE"]
    got = params(parsed)
    assert (got["loader"], got["loaders"], got["sequential"]) == ("1", "3", "false")
    sequential = params(options(step_parts(tool().step_command(
        Step(READ, rate=100, duration=5), invocation(rate=100)))[0][4:])[0])
    assert (sequential["sequential"], sequential["partitions"]) == ("true", "1000")


def test_addresses_carry_the_port_and_bracket_ipv6() -> None:
    run = step_parts(tool().step_command(Step(WRITE, rate=100, duration=5),
                                         invocation(port=19042, hosts=("10.0.0.1", "::1"))))[0]
    assert run[-2:] == ["10.0.0.1:19042", "[::1]:19042"]


def test_paths_are_quoted_for_the_shell(tmp_path: Path) -> None:
    log = str(tmp_path / "a dir" / "it's.hlog")
    argv = tool().step_command(Step(WRITE, rate=100, duration=5), invocation(hdr_log=log))
    parts = step_parts(argv)
    assert parts[0][parts[0].index("--output") + 1] == str(tmp_path / "a dir" / "it's.latte.json")
    assert parts[2][-1] == log


@pytest.mark.parametrize(("step", "rate", "field"), [
    (Step(Workload("z", {"read": 1.0}, distribution="zipfian"), rate=100, duration=5), 100,
     "distribution"),
    (Step(Workload("g", {"read": 1.0}, distribution="gaussian"), rate=100, duration=5), 100,
     "distribution"),
    (Step(Workload("r", {"write": 1.0}, row_size=0), rate=100, duration=5), 100, "row_size"),
    (Step(Workload("p", {"write": 1.0}, partitions=0), rate=100, duration=5), 100, "partitions"),
    (Step(Workload("k", {"write": 1.0}, keyspace="bad-name"), rate=100, duration=5), 100,
     "keyspace"),
    (Step(Workload("t", {"write": 1.0}, table='kv"; DROP'), rate=100, duration=5), 100,
     "table"),
    (Step(Workload("m", {"write": 0.0}), rate=100, duration=5), 100, "mix"),
    (Step(WRITE, rate=100, duration=5), -1, "rate"),
    (Step(WRITE, rate=100, duration=0), 100, "duration"),
    (Step(WRITE, rate=100, duration=5, warmup=-1), 100, "warmup"),
    (Step(WRITE, rate=100, duration=5, concurrency=0), 100, "concurrency"),
    (Step(WRITE, rate=100, duration=5, connections=0), 100, "connections"),
])
def test_steps_it_cannot_express_are_refused_naming_the_field(step: Step, rate: int,
                                                              field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        tool().step_command(step, invocation(rate=rate))


def test_service_time_needs_the_opt_in() -> None:
    step = Step(WRITE, rate=100, duration=5)
    with pytest.raises(ConfigError, match="allow_service_time"):
        LatteTool(BINARY).step_command(step, invocation(rate=100))
    with pytest.raises(ConfigError, match="allow_service_time"):
        create(LoaderSpec(tool="latte")).step_command(step, invocation(rate=100))
    allowed = create(LoaderSpec(tool="latte", allow_service_time=True,
                                tool_paths={"latte": BINARY}))
    run = step_parts(allowed.step_command(step, invocation(rate=0)))[0]
    assert run[0] == BINARY and "--rate" not in run  # rate 0: closed loop, when allowed


def test_a_step_needs_an_hdr_log() -> None:
    with pytest.raises(StressError, match=r"loader-1.*HDR log"):
        tool().step_command(Step(WRITE, rate=10, duration=5), invocation(hdr_log=""))


def test_bad_constructor_arguments_are_refused() -> None:
    with pytest.raises(ConfigError, match="threads"):
        LatteTool(threads=0)
    with pytest.raises(ConfigError, match="request_timeout"):
        LatteTool(request_timeout=0.0)


def test_schema_command_runs_the_schema_function() -> None:
    argv = tool().schema_command(WRITE, invocation())
    assert argv[:4] == [BINARY, "--log-file", os.devnull, "schema"]
    parsed, positional = options(argv[4:])
    assert set(parsed) == {"-P"}
    got = params(parsed)
    assert (got["keyspace"], got["table"], got["replication_factor"]) == ('"sbks"', '"sbt"', "3")
    assert positional == [str(LatteTool().workload_script), "127.0.0.21:9042"]
    with pytest.raises(ConfigError, match="distribution"):
        tool().schema_command(Workload("z", {"read": 1.0}, distribution="zipfian"),
                              invocation())


def test_populate_splits_the_rows_over_the_loaders() -> None:
    latte = tool()
    shares = [options(latte.populate_command(WRITE, invocation(index=i, count=3))[4:])[0]
              for i in range(3)]
    assert [(params(s)["populate_offset"], params(s)["populate_count"]) for s in shares] == [
        ("0", "3"), ("3", "3"), ("6", "4")]
    assert [s["--concurrency"] for s in shares] == [["3"], ["3"], ["4"]]
    assert all("--rate" not in s for s in shares)  # unthrottled
    assert shares[0]["--consistency"] == ["LOCAL_QUORUM"]
    argv = latte.populate_command(WRITE, invocation())
    assert argv[:5] == [BINARY, "--log-file", "/tmp/lt/loader-1.latte.log", "load", "--quiet"]
    assert latte.populate_command(WRITE, invocation(index=0, count=12)) == ["true"]
    whole = options(latte.populate_command(READ, invocation())[4:])[0]  # populate 0: all
    assert (params(whole)["populate_count"], whole["--concurrency"]) == ("1000", ["128"])


# --- tags ---------------------------------------------------------------------------------


def test_cycles_are_the_steps_operation_in_service_time() -> None:
    latte = LatteTool()
    write, read = Step(WRITE, rate=1, duration=1), Step(READ, rate=1, duration=1)
    mixed = Step(MIXED, rate=1, duration=1)
    assert latte.canonical_tag("cycles", write) == "write-st"
    assert latte.canonical_tag("cycles", read) == "read-st"
    assert latte.canonical_tag("cycles", mixed) == "all-st"  # the export does not split them
    assert latte.canonical_tag("requests", write) is None
    assert latte.canonical_tag("x.cycles", write) is None
    assert latte.canonical_tag("", write) is None


# --- console ------------------------------------------------------------------------------


def test_progress_lines_of_a_real_run() -> None:
    latte = LatteTool()
    lines = (DATA / "write-800.out").read_text(encoding="utf-8").splitlines()
    progress = [p for p in (latte.parse_progress(line, "loader-2") for line in lines) if p]
    assert len(progress) == 12  # one per second of the 12 s run
    assert [p.elapsed for p in progress[:2]] == [1.002, 2.002]
    assert progress[-1].elapsed == 12.001
    first = progress[0]
    assert (first.loader, first.rate, first.p99_ms, first.errors) == ("loader-2", 799.0, 4.9, 0)
    stall = progress[4]  # the 5th second: throughput 580 op/s, p99 43.7 ms
    assert (stall.rate, stall.p99_ms) == (580.0, 43.7)


def test_the_errors_column_counts_failed_calls_not_failed_requests() -> None:
    lines = (DATA / "stopped-write-300.out").read_text(encoding="utf-8").splitlines()
    progress = [p for p in (LatteTool().parse_progress(line, "l") for line in lines) if p]
    assert len(progress) == 8 and {p.errors for p in progress} == {0}


@pytest.mark.parametrize("line", [
    "", "LOG ═══", "    Time    Cycles    Errors    Thrpt.     ──── Latency [ms/op] ────",
    "     [s]      [op]      [op]    [op/s]             Min        25        50        75"
    "        90        99      99.9       Max",
    "          Cycles      [op]       9243", "      Throughput    [op/s]        770 ± 65",
    "          99.9                62.718 ± 42.551", "     Concurrency     [req]         64",
    "   1.002       800         0       799             0.2       0.5       0.6",
    "info: Saved report to /tmp/x.json",
])
def test_other_lines_are_not_progress(line: str) -> None:
    assert LatteTool().parse_progress(line, "l") is None


# --- the HDR export and the summary -------------------------------------------------------

FAKE_LATTE = """#!/bin/sh
# Stands for latte: "run" copies a recorded report to --output and prints its console,
# "hdr" copies the recorded export to --output.
echo "$*" >> "{calls}"
while [ "$#" -gt 0 ]; do
  case "$1" in
    run) mode=run ;;
    hdr) mode=hdr ;;
    --output) out="$2"; shift ;;
  esac
  shift
done
if [ -n "{fail}" ] && [ "$mode" = "{fail}" ]; then echo "error: failed" >&2; exit 128; fi
if [ "$mode" = run ]; then cp "{data}.latte.json" "$out"; cat "{console}"; fi
if [ "$mode" = hdr ]; then cp "{data}.latte.hlog" "$out"; fi
"""


def run_step(tmp_path: Path, recording: str, step: Step, fail: str = "",
             ) -> tuple[LoaderFiles, subprocess.CompletedProcess[str]]:
    """Run the step's real ``sh -c`` script with a stand-in latte replaying a recording."""
    fake = tmp_path / "bin" / "latte"
    fake.parent.mkdir(parents=True)
    console = DATA / f"{recording}.out"
    fake.write_text(FAKE_LATTE.format(
        calls=tmp_path / "calls", data=DATA / recording, fail=fail,
        console=console if console.exists() else os.devnull))
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    files = LoaderFiles(hdr_log=tmp_path / "step" / "loader-1.hlog",
                        summary=tmp_path / "step" / "loader-1.summary.json",
                        stdout=tmp_path / "step" / "loader-1.out")
    files.hdr_log.parent.mkdir()
    argv = LatteTool(fake, allow_service_time=True).step_command(
        step, invocation(rate=step.rate, hdr_log=str(files.hdr_log)))
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    files.stdout.write_text(done.stdout, encoding="utf-8")
    return files, done


WRITE_800 = Step(WRITE, rate=800, duration=10, warmup=2)
READ_300 = Step(READ, rate=300, duration=10, warmup=2)
STOPPED = Step(WRITE, rate=300, duration=6, warmup=2)


def test_latte_export_lacks_the_legend_our_reader_needs() -> None:
    text = (DATA / "write-800.latte.hlog").read_text(encoding="utf-8")
    assert text.splitlines()[:4] == [
        "#[Logged with Latte 0.29.0]",
        "#[StartTime: 1795462201.078 (seconds since epoch)]",
        "#[BaseTime: 1795462201.078 (seconds since epoch)]",
        "#[MaxValueDivisor: 1000000.000]"]
    assert text.splitlines()[4].startswith("Tag=cycles,0.000,1.001,8.716,HISTF")
    with pytest.raises(HdrLogError, match="before the legend line"):
        read_log(DATA / "write-800.latte.hlog", "loader-1")


def test_the_step_script_leaves_a_readable_log_with_the_legend(tmp_path: Path) -> None:
    files, done = run_step(tmp_path, "write-800", WRITE_800)
    assert done.returncode == 0, done.stderr
    calls = (tmp_path / "calls").read_text().splitlines()
    assert [call.split()[2] for call in calls] == ["run", "hdr"]
    lines = files.hdr_log.read_text(encoding="utf-8").splitlines()
    assert lines[4] == LEGEND
    exported = (DATA / "write-800.latte.hlog").read_text(encoding="utf-8").splitlines()
    assert lines[:4] + lines[5:] == exported  # nothing else changed
    log = read_log(files.hdr_log, "loader-1")
    assert log.tags == {"cycles", "requests"}
    assert log.start_time == log.base_time == 1795462201.078  # relative timestamps
    first = log.intervals[0]
    assert (first.start, first.length, first.logged_max) == pytest.approx(
        (1795462201.078, 1.001, 8.716), abs=1e-6)  # Interval_Max in ms
    values = first.decode()
    assert values.get_max_value() == pytest.approx(8.716e6, rel=1e-3)  # nanoseconds
    assert values.get_value_at_percentile(99) == pytest.approx(4.9e6, rel=0.05)  # console p99


@pytest.mark.parametrize(("recording", "step", "ops"), [
    ("write-800", WRITE_800, 7643), ("read-300", READ_300, 2977), ("stopped-write-300",
                                                                    STOPPED, 1763)])
def test_summary_counts_agree_with_the_log_and_the_report(tmp_path: Path, recording: str,
                                                          step: Step, ops: int) -> None:
    files, done = run_step(tmp_path, recording, step)
    assert done.returncode == 0, done.stderr
    summary = LatteTool().summarize("loader-1", step, files)
    report = json.loads((DATA / f"{recording}.latte.json").read_text())["result"]
    log = read_log(files.hdr_log, "loader-1")
    first = min(interval.start for interval in log.intervals)
    assert summary.measure_start == pytest.approx(first + step.warmup, abs=1e-6)
    assert summary.measure_end == pytest.approx(max(i.end for i in log.intervals), abs=1e-6)
    assert summary.measure_end - summary.measure_start == pytest.approx(
        step.duration, abs=0.01)
    assert summary.ops == ops
    window = Window(summary.measure_start, summary.measure_end)
    assert loader_count(log, window, frozenset({"cycles"})) == summary.ops
    assert sum(i.decode().get_total_count() for i in log.intervals
               if i.tag == "cycles") == report["cycle_count"]  # the whole run
    assert summary.tool_version == "latte 0.29.0"


def test_failed_requests_are_the_errors(tmp_path: Path) -> None:
    files, _ = run_step(tmp_path / "stopped", "stopped-write-300", STOPPED)
    summary = LatteTool().summarize("loader-1", STOPPED, files)
    report = json.loads((DATA / "stopped-write-300.latte.json").read_text())["result"]
    assert report["error_count"] == 0  # latte counts failed calls, and none failed
    assert summary.errors == 38 + 300 + 298  # failed requests of the measured samples
    assert len(summary.error_samples) == 3
    assert any("Connection refused" in sample for sample in summary.error_samples)
    clean, _ = run_step(tmp_path / "clean", "read-300", READ_300)
    assert LatteTool().summarize("loader-1", READ_300, clean).errors == 0


@pytest.mark.parametrize(("step", "tags"), [
    (WRITE_800, {"write-st", "all-st"}),
    (Step(MIXED, rate=800, duration=10, warmup=2), {"all-st"}),  # the tags of a mixed step
])
def test_the_step_merge_reads_latte_logs(tmp_path: Path, step: Step, tags: set[str]) -> None:
    files, _ = run_step(tmp_path, "write-800", step)
    latte = LatteTool()
    summary = latte.summarize("loader-1", step, files)
    log = read_log(files.hdr_log, "loader-1")
    highest = {i.decode().highest_trackable_value for i in log.intervals if i.tag == "cycles"}
    assert len(highest) > 1  # auto-resizing histograms: each interval has its own layout
    output = LoaderOutput(name="loader-1", host="127.0.0.1", tool=latte.name, summary=summary,
                          hdr_log=files.hdr_log, target_rate=800.0,
                          canonical_tag=functools.partial(latte.canonical_tag, step=step),
                          value_unit_ns=latte.hdr_value_ns)
    result = build_step_result(step, [output], service_time_only=True)
    assert set(result.histograms) == tags
    assert result.ops == summary.ops == 7643 and result.warnings == []
    latency = result.latency("all", "st")
    assert 0.4 < latency.values_ms["p50"] < 0.8  # the console's medians: 0.5 to 0.8 ms
    assert latency.values_ms["max"] == pytest.approx(75.2, abs=0.1)  # the stall at 3-4 s


def test_a_failed_run_leaves_no_log_and_fails_the_script(tmp_path: Path) -> None:
    files, done = run_step(tmp_path, "write-800", WRITE_800, fail="run")
    assert done.returncode == 128
    assert not files.hdr_log.exists()
    assert [c.split()[2] for c in (tmp_path / "calls").read_text().splitlines()] == ["run"]
    with pytest.raises(StressError, match="missing") as caught:
        LatteTool().summarize("loader-1", WRITE_800, files)
    assert "loader loader-1" in str(caught.value)


def test_a_failed_export_fails_the_script(tmp_path: Path) -> None:
    files, done = run_step(tmp_path, "write-800", WRITE_800, fail="hdr")
    assert done.returncode == 128
    assert not files.hdr_log.exists()
    with pytest.raises(HdrLogError, match="no such file"):
        LatteTool().summarize("loader-1", WRITE_800, files)


def replace_report(files: LoaderFiles, text: str) -> Path:
    report = files.hdr_log.with_name("loader-1.latte.json")
    report.write_text(text, encoding="utf-8")
    return report


def real_report() -> str:
    return (DATA / "write-800.latte.json").read_text(encoding="utf-8")


def edited(change: str) -> str:
    data = json.loads(real_report())
    if change == "no samples":
        data["result"]["log"] = []
    elif change == "bad count":
        data["result"]["log"][3]["cycle_count"] = -5
    elif change == "no result":
        del data["result"]
    return json.dumps(data)


@pytest.mark.parametrize(("text", "problem"), [
    (real_report()[:len(real_report()) // 2], "not valid JSON"),
    ("", "not valid JSON"),
    (edited("no samples"), "no samples"),
    (edited("bad count"), "sample 3: field 'cycle_count'"),
    (edited("no result"), "not a latte report"),
])
def test_a_bad_report_names_loader_and_file(tmp_path: Path, text: str, problem: str) -> None:
    files, _ = run_step(tmp_path, "write-800", WRITE_800)
    report = replace_report(files, text)
    with pytest.raises(StressError, match=problem) as caught:
        LatteTool().summarize("loader-1", WRITE_800, files)
    assert "loader loader-1" in str(caught.value) and str(report) in str(caught.value)


def test_a_log_cut_mid_line_loses_its_last_interval_only(tmp_path: Path) -> None:
    files, _ = run_step(tmp_path, "write-800", WRITE_800)
    text = files.hdr_log.read_text(encoding="utf-8")
    files.hdr_log.write_text(text[:-200], encoding="utf-8")  # a killed writer
    log = read_log(files.hdr_log, "loader-1")
    assert log.truncated_line == 29 and len(log.intervals) == 23
    summary = LatteTool().summarize("loader-1", WRITE_800, files)
    assert summary.measure_end == pytest.approx(1795462201.078 + 12.001, abs=1e-3)


def test_a_run_shorter_than_its_warmup_is_refused(tmp_path: Path) -> None:
    files, _ = run_step(tmp_path, "write-800", WRITE_800)
    with pytest.raises(StressError, match="warm-up"):
        LatteTool().summarize("loader-1", Step(WRITE, rate=800, duration=10, warmup=13), files)


# --- install ------------------------------------------------------------------------------

FAKE_CARGO = """#!/bin/sh
echo "$*" >> "{calls}"
echo "CARGO_TARGET_DIR=$CARGO_TARGET_DIR" >> "{calls}"
test -d "$CARGO_TARGET_DIR" || exit 3
if [ -n "{fail}" ]; then echo "{fail}" >&2; exit 101; fi
root=$7
mkdir -p "$root/bin" && printf '#!/bin/sh\\necho built\\n' > "$root/bin/latte"
chmod 755 "$root/bin/latte"
"""


def fake_cargo(tmp_path: Path, fail: str = "") -> Path:
    script = tmp_path / "bin" / "cargo"
    script.parent.mkdir(exist_ok=True)
    script.write_text(FAKE_CARGO.format(calls=tmp_path / "calls", fail=fail))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SCYLLABENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_install_builds_once_into_the_cache(tmp_path: Path, cache: Path) -> None:
    from pytest_scyllabench.execute.local import LocalExecutor

    latte = LatteTool(cargo=str(fake_cargo(tmp_path)))
    asyncio.run(latte.install(LocalExecutor()))
    root = cache / "tools" / "latte-0.29.0"
    assert latte.binary == root / "bin" / "latte"
    assert latte.binary.read_text().endswith("echo built\n")
    calls = (tmp_path / "calls").read_text().splitlines()
    assert calls[0] == f"install latte-cli --version 0.29.0 --locked --root {root}"
    target = Path(calls[1].removeprefix("CARGO_TARGET_DIR="))
    assert target.parent == cache / "tmp" and not target.exists()  # removed after the build
    script = cache / "tools" / "latte-workloads" / "kv.rn"
    assert latte.workload_script == script
    assert "pub async fn write(ctx, i)" in script.read_text()
    asyncio.run(LatteTool(cargo=str(fake_cargo(tmp_path))).install(LocalExecutor()))
    assert len((tmp_path / "calls").read_text().splitlines()) == 2  # cached: not rebuilt


def test_install_without_cargo_names_rustup(cache: Path) -> None:
    from pytest_scyllabench.execute.local import LocalExecutor

    with pytest.raises(MissingDependencyError, match=r"no-such-cargo.*rustup.*libssl-dev"):
        asyncio.run(LatteTool(cargo="no-such-cargo").install(LocalExecutor()))


def test_a_failed_build_says_why(tmp_path: Path, cache: Path) -> None:
    from pytest_scyllabench.execute.local import LocalExecutor

    cargo = fake_cargo(tmp_path, fail="Could not find directory of OpenSSL installation")
    with pytest.raises(MissingDependencyError, match="OpenSSL") as caught:
        asyncio.run(LatteTool(cargo=str(cargo)).install(LocalExecutor()))
    assert isinstance(caught.value.__cause__, CommandError)
    assert not (cache / "tools" / "latte-0.29.0" / "bin" / "latte").exists()
    assert list((cache / "tmp").iterdir()) == []


def test_a_given_binary_is_not_built_and_gives_its_version(tmp_path: Path,
                                                           cache: Path) -> None:
    from pytest_scyllabench.execute.local import LocalExecutor

    binary = tmp_path / "latte"
    binary.write_text("#!/bin/sh\necho 'Cassandra Latency and Throughput Tester 0.29.1'\n")
    binary.chmod(0o755)
    latte = LatteTool(binary, cargo="no-such-cargo")
    asyncio.run(latte.install(LocalExecutor()))
    assert latte.binary == binary and latte.version() == "latte 0.29.1"
    assert latte.workload_script.is_file()
    with pytest.raises(MissingDependencyError, match="not found"):
        asyncio.run(LatteTool(tmp_path / "absent").install(LocalExecutor()))


class RemoteHost:
    """An executor of another host: records what install sends to it."""

    host = "loader-host-2"

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    async def put(self, local: Path, remote: str) -> None:
        self.calls.append(("put", str(local), remote))

    async def run(self, command: Sequence[str], *, timeout: float, check: bool = True,
                  env: Mapping[str, str] | None = None, cwd: str | None = None,
                  stdin: bytes | None = None) -> CommandResult:
        self.calls.append(tuple(command))
        return CommandResult(self.host, tuple(command), 0, "", "")


def test_install_copies_binary_and_workload_under_the_remote_workdir(tmp_path: Path,
                                                                   cache: Path) -> None:
    """Not at this machine's cache path (a non-root user cannot write /root/.cache there):
    under the deployment's workdir, each renamed into place; the loader's commands then run
    those copies, other loaders this machine's."""
    binary = tmp_path / "latte"
    binary.write_text("#!/bin/sh\necho 'Cassandra Latency and Throughput Tester 0.29.0'\n")
    binary.chmod(0o755)
    remote = RemoteHost()
    latte = LatteTool(binary, allow_service_time=True)
    asyncio.run(latte.install(remote, "/var/tmp/sb/"))  # type: ignore[arg-type]
    target = "/var/tmp/sb/tools/latte-0.29.0/latte"
    script = "/var/tmp/sb/tools/latte-workloads/kv.rn"
    partial, partial_script = f"{target}.loader-host-2.partial", f"{script}.loader-host-2.partial"
    assert remote.calls == [
        ("mkdir", "-p", "/var/tmp/sb/tools/latte-0.29.0", "/var/tmp/sb/tools/latte-workloads"),
        ("put", str(binary), partial), ("put", str(latte.workload_script), partial_script),
        ("sh", "-c", f"chmod 755 {partial} && mv -f {partial} {target} && "
                     f"mv -f {partial_script} {script}")]
    there = replace(invocation(), loader="loader-host-2")
    schema = latte.schema_command(WRITE, there)
    assert schema[0] == target and script in schema and str(latte.workload_script) not in schema
    run, export, _ = step_parts(latte.step_command(Step(WRITE, rate=10, duration=1), there))
    assert (run[0], export[0]) == (target, target) and script in run
    populate = latte.populate_command(WRITE, there)
    assert populate[0] == target and script in populate
    here = latte.schema_command(WRITE, invocation())
    assert here[0] == str(binary) and str(latte.workload_script) in here


def test_install_uploads_nothing_when_the_hosts_are_this_machine(tmp_path: Path,
                                                                 cache: Path) -> None:
    binary = tmp_path / "latte"
    binary.write_text("#!/bin/sh\necho 'Cassandra Latency and Throughput Tester 0.29.0'\n")
    binary.chmod(0o755)
    remote = RemoteHost()
    asyncio.run(LatteTool(binary).install(remote, None))  # type: ignore[arg-type]
    assert remote.calls == []


def test_a_report_that_is_not_utf8_names_loader_and_file(tmp_path: Path) -> None:
    files, _ = run_step(tmp_path, "write-800", WRITE_800)
    report = replace_report(files, "")
    report.write_bytes(real_report().encode()[:500] + b"\xe9t\xe9" + real_report().encode()[500:])
    with pytest.raises(StressError, match=r"not valid JSON, truncated\? \(not UTF-8") as caught:
        LatteTool().summarize("loader-1", WRITE_800, files)
    assert f"loader loader-1: {report}: " in str(caught.value)
