"""ScyllaBenchTool: command lines, tags, progress, summary and the build into the cache.

No scylla-bench output recorded from a real run is available yet (the Go module proxy here
refuses scylla-bench's module archives; a log of hdrhistogram-go's real writer is tested in
test_scylla_bench_hdrgo.py), so the console text below is made with scylla-bench's own
format strings (``withLatencyLineFmt`` = ``"\\n%5v %7v %7v %6v %-6v ..."`` and
``PrintTotalResults`` of ``pkg/results``) and the HDR log with the header lines of
hdrhistogram-go's ``HistogramLogWriter`` as scylla-bench calls it.
Replace them with recorded files once a binary can be built.
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hdrh.histogram import HdrHistogram

from pytest_scyllabench.errors import (
    CommandError,
    ConfigError,
    MissingDependencyError,
    StressError,
)
from pytest_scyllabench.execute.base import CommandResult
from pytest_scyllabench.hdr.log import read_log
from pytest_scyllabench.profile import LoaderSpec
from pytest_scyllabench.stress.base import Invocation, LoaderFiles, StressTool
from pytest_scyllabench.stress.scylla_bench import (
    ScyllaBenchTool,
    create,
    go_duration,
)
from pytest_scyllabench.stress.step import Step, Workload

WRITE = Workload("kv-write", {"write": 1.0}, partitions=50_000, row_size=200,
                 consistency="LOCAL_QUORUM", keyspace="sbks", table="sbt", populate=10)
READ = Workload("kv-read", {"read": 1.0}, partitions=1000, distribution="sequential")
MIXED = Workload("kv-mixed", {"read": 0.5, "write": 0.5})
BASE = 1_775_000_000  # whole seconds: scylla-bench rounds its base time down


def invocation(rate: int = 800, port: int = 9042, hosts: tuple[str, ...] = ("127.0.0.21",),
               index: int = 0, count: int = 1) -> Invocation:
    return Invocation(loader="loader-1", index=index, count=count, hosts=hosts, port=port,
                      rate=rate, start_at=BASE + 3.0, hdr_log="/tmp/sb/loader-1.hlog",
                      summary="/tmp/sb/loader-1.json", replication_factor=3)


def flags(argv: Sequence[str]) -> dict[str, str]:
    """Go's flag syntax: ``-name value``, or ``-name=value`` for booleans."""
    parsed: dict[str, str] = {}
    items = list(argv[1:])
    while items:
        item = items.pop(0)
        assert item.startswith("-"), item
        name, equal, value = item[1:].partition("=")
        assert name not in parsed, f"-{name} given twice"
        parsed[name] = value if equal else items.pop(0)
    return parsed


def test_is_a_stress_tool(tmp_path: Path) -> None:
    tool: StressTool = ScyllaBenchTool(tmp_path / "sb")
    assert tool.name == "scylla-bench"
    assert tool.version() == "scylla-bench v1.1.1"
    assert tool.hdr_value_ns == 1000.0
    assert tool.measures_response_time is True
    assert ScyllaBenchTool(latency="raw").measures_response_time is False


def test_step_command_maps_every_field(tmp_path: Path) -> None:
    step = Step(WRITE, rate=2400, duration=10, warmup=2.5, concurrency=64, connections=3)
    tool = ScyllaBenchTool(tmp_path / "sb", request_timeout=2.0)
    argv = tool.step_command(step, invocation(rate=800))
    assert argv[0] == str(tmp_path / "sb")
    assert flags(argv) == {
        "nodes": "127.0.0.21", "consistency-level": "local_quorum",
        "replication-factor": "3", "keyspace": "sbks", "table": "sbt",
        "clustering-row-count": "1", "clustering-row-size": "200", "rows-per-request": "1",
        "timeout": "2000ms", "mode": "write", "workload": "uniform",
        "partition-count": "50000", "concurrency": "50",  # 64 does not divide 800
        "connection-count": "3", "max-rate": "800", "duration": "13500ms",  # + 1 s tail
        "hdr-latency-file": "/tmp/sb/loader-1.hlog", "hdr-latency-units": "us",
        "hdr-latency-sig": "3", "latency-type": "fixed-coordinated-omission",
    }


def test_sequential_reads_loop_until_the_duration_ends() -> None:
    step = Step(READ, rate=1000, duration=30, warmup=0, concurrency=100)
    got = flags(ScyllaBenchTool().step_command(step, invocation(rate=1000)))
    assert (got["mode"], got["workload"], got["iterations"]) == ("read", "sequential", "0")
    assert (got["concurrency"], got["max-rate"], got["duration"]) == ("100", "1000", "31000ms")
    assert got["consistency-level"] == "quorum"


def test_a_half_and_half_mix_is_mixed_mode() -> None:
    got = flags(ScyllaBenchTool().step_command(Step(MIXED, rate=500, duration=5), invocation()))
    assert got["mode"] == "mixed"


def test_nodes_carry_a_port_other_than_9042() -> None:
    argv = ScyllaBenchTool().step_command(
        Step(WRITE, rate=100, duration=5, concurrency=10),
        invocation(rate=100, port=19042, hosts=("127.0.0.21", "::1")))
    assert flags(argv)["nodes"] == "127.0.0.21:19042,[::1]:19042"


def test_a_rate_below_the_concurrency_runs_one_goroutine_per_operation_per_second() -> None:
    got = flags(ScyllaBenchTool().step_command(Step(WRITE, rate=40, duration=5, concurrency=128),
                                               invocation(rate=40)))
    assert (got["concurrency"], got["max-rate"]) == ("40", "40")


@pytest.mark.parametrize(("step", "rate", "field"), [
    (Step(Workload("m", {"read": 0.8, "write": 0.2}), rate=100, duration=5), 100, "mix"),
    (Step(Workload("z", {"read": 1.0}, distribution="zipfian"), rate=100, duration=5), 100,
     "distribution"),
    (Step(Workload("g", {"read": 1.0}, distribution="gaussian"), rate=100, duration=5), 100,
     "distribution"),
    (Step(Workload("r", {"write": 1.0}, row_size=0), rate=100, duration=5), 100, "row_size"),
    (Step(Workload("p", {"write": 1.0}, partitions=0), rate=100, duration=5), 100, "partitions"),
    (Step(WRITE, rate=0, duration=5), 0, "rate"),
    (Step(WRITE, rate=997, duration=5, concurrency=128), 997, "concurrency"),
    (Step(WRITE, rate=100, duration=5, concurrency=0), 100, "concurrency"),
    (Step(WRITE, rate=100, duration=0), 100, "duration"),
    (Step(WRITE, rate=100, duration=5, connections=0), 100, "connections"),
])
def test_steps_it_cannot_express_are_refused_naming_the_field(step: Step, rate: int,
                                                              field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        ScyllaBenchTool().step_command(step, invocation(rate=rate))


def test_service_time_only_needs_the_opt_in() -> None:
    step = Step(WRITE, rate=0, duration=5, concurrency=16)
    with pytest.raises(ConfigError, match="service time"):
        ScyllaBenchTool(latency="raw").step_command(Step(WRITE, rate=100, duration=5),
                                                    invocation(rate=100))
    got = flags(ScyllaBenchTool(allow_service_time=True).step_command(step, invocation(rate=0)))
    assert (got["max-rate"], got["concurrency"]) == ("0", "16")
    assert create(LoaderSpec(tool="scylla-bench", allow_service_time=True)).step_command(
        step, invocation(rate=0))


def test_a_step_needs_an_hdr_log() -> None:
    bare = Invocation(loader="loader-3", index=0, count=1, hosts=("h",), port=9042, rate=10,
                      start_at=0.0, hdr_log="", summary="", replication_factor=1)
    with pytest.raises(StressError, match="loader-3"):
        ScyllaBenchTool().step_command(Step(WRITE, rate=10, duration=5), bare)


def test_unknown_latency_kind_is_refused() -> None:
    with pytest.raises(ConfigError, match="latency"):
        ScyllaBenchTool(latency="p99")  # type: ignore[arg-type]


def test_schema_command_writes_one_row_so_that_scylla_bench_creates_the_schema() -> None:
    got = flags(ScyllaBenchTool().schema_command(WRITE, invocation()))
    assert (got["mode"], got["workload"], got["partition-count"]) == ("write", "sequential", "1")
    assert (got["keyspace"], got["table"], got["replication-factor"]) == ("sbks", "sbt", "3")
    assert got["measure-latency"] == "false"
    assert "max-rate" not in got and "hdr-latency-file" not in got


def test_populate_splits_the_rows_over_the_loaders() -> None:
    tool = ScyllaBenchTool()
    shares = [flags(tool.populate_command(WRITE, invocation(index=i, count=3))) for i in range(3)]
    assert [(s["partition-offset"], s["partition-count"]) for s in shares] == [
        ("0", "4"), ("4", "3"), ("7", "3")]
    assert {(s["mode"], s["workload"], s["iterations"]) for s in shares} == {
        ("write", "sequential", "1")}
    assert [s["concurrency"] for s in shares] == ["4", "3", "3"]
    assert "max-rate" not in shares[0]
    assert tool.populate_command(WRITE, invocation(index=11, count=12)) == ["true"]
    whole = flags(tool.populate_command(READ, invocation()))  # populate 0: every partition
    assert (whole["partition-count"], whole["concurrency"]) == ("1000", "128")


# --- tags ---------------------------------------------------------------------------------


def test_tags_take_their_operation_from_the_step() -> None:
    tool = ScyllaBenchTool()
    write, read = Step(WRITE, rate=1, duration=1), Step(READ, rate=1, duration=1)
    mixed = Step(MIXED, rate=1, duration=1)
    assert tool.canonical_tag("co-fixed", write) == "write-rt"
    assert tool.canonical_tag("raw", write) == "write-st"
    assert tool.canonical_tag("co-fixed", read) == "read-rt"
    assert tool.canonical_tag("raw", read) == "read-st"
    assert tool.canonical_tag("co-fixed-read", mixed) == "read-rt"
    assert tool.canonical_tag("co-fixed-write", mixed) == "write-rt"
    assert tool.canonical_tag("raw-read-latency", mixed) == "read-st"
    assert tool.canonical_tag("raw-write", None) == "write-st"
    assert tool.canonical_tag("co-fixed", mixed) is None  # both operations summed
    assert tool.canonical_tag("co-fixed") is None  # no step: the operation is unknown
    assert tool.canonical_tag("example_hdr", write) is None
    assert tool.canonical_tag("", write) is None
    raw_only = ScyllaBenchTool(latency="raw")
    assert raw_only.canonical_tag("co-fixed", write) is None
    assert raw_only.canonical_tag("raw", write) == "write-st"


# --- console ------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "seconds"), [
    ("0s", 0.0), ("1s", 1.0), ("2.1s", 2.1), ("144µs", 144e-6), ("144μs", 144e-6),
    ("12ms", 0.012), ("1.5ms", 0.0015), ("500ns", 5e-7), ("1m0.5s", 60.5), ("1h2m3s", 3723.0),
])
def test_go_durations(text: str, seconds: float) -> None:
    assert go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "time", "12", "1x", "ms", "1s2"])
def test_not_go_durations(text: str) -> None:
    assert go_duration(text) is None


def period_line(elapsed: str, ops: int, errors: int, latencies: Sequence[str]) -> str:
    """A line of ``withLatencyLineFmt``: ``%5v %7v %7v %6v`` then seven ``%-6v`` and ``%v``."""
    return (f"{elapsed:>5} {ops:>7} {ops:>7} {errors:>6} "
            + " ".join(f"{value:<6}" for value in latencies) + " ")


LATENCIES = ("9.8ms", "6.1ms", "2.3ms", "1.1ms", "900µs", "512µs", "640µs")


def test_progress_lines() -> None:
    tool = ScyllaBenchTool()
    got = tool.parse_progress(period_line("2.1s", 801, 2, LATENCIES), "loader-2")
    assert got is not None
    assert (got.loader, got.elapsed, got.rate, got.errors) == ("loader-2", 2.1, 801.0, 2)
    assert got.p99_ms == pytest.approx(2.3)
    bare = tool.parse_progress(f"{'1s':>5} {300:>7} {300:>7} {0:>6}", "l")
    assert bare is not None and (bare.rate, bare.p99_ms) == (300.0, 0.0)


@pytest.mark.parametrize("line", [
    "", "Configuration", "Concurrency:\t\t 50", "Partition count:\t 50000",
    period_line("time", 0, 0, LATENCIES).replace(" 0 ", " ops/s ", 1),
    " time   ops/s  rows/s errors max    99.9th 99th   95th   90th   median mean   ",
    "Total ops:\t 8000", "  max:\t\t 9.8ms ", "Hdr memory consumption:\t 1234 bytes",
])
def test_other_lines_are_not_progress(line: str) -> None:
    assert ScyllaBenchTool().parse_progress(line, "l") is None


# --- summary ------------------------------------------------------------------------------


def console(periods: Sequence[tuple[str, int, int]], total_ops: int, total_errors: int,
            critical: Sequence[str] = ()) -> str:
    """stdout of a run: configuration, period lines, ``PrintTotalResults``."""
    text = "Configuration\nMode:\t\t\t write\nConcurrency:\t\t 50\n"
    text += "\n time   ops/s  rows/s errors max    99.9th 99th   95th   90th   median mean   "
    for elapsed, ops, errors in periods:
        text += "\n" + period_line(elapsed, ops, errors, LATENCIES)
    text += f"\nResults\nTime (avg):\t 12.5s\nTotal ops:\t {total_ops}\n"
    text += f"Total rows:\t {total_ops}\n"
    if total_errors:
        text += f"Total errors:\t {total_errors}\n"
    text += f"Operations/s:\t {total_ops / 12.5}\nRows/s:\t\t {total_ops / 12.5}\n"
    for name in ("raw latency", "c-o fixed latency"):
        text += (f"{name} :\n  max:\t\t 9.8ms \n  99.9th:\t 6.1ms \n  99th:\t\t 2.3ms \n"
                 f"  95th:\t\t 1.1ms \n  90th:\t\t 900µs \n  median:\t 512µs \n"
                 f"  mean:\t\t 640µs\n")
    if critical:
        text += "\nFollowing critical errors were caught during the run:\n"
        text += "".join(f"    {line}\n" for line in critical)
    return text


def hdr_log(intervals: Sequence[tuple[float, float, int]]) -> str:
    """A log as scylla-bench writes it: ``co-fixed`` then ``raw`` each period, relative times."""
    iso = datetime.fromtimestamp(BASE, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = ("#[Histogram log format version 1.3]\n#Logging op latencies for Cassandra Stress\n"
            f"#[Basetime: {BASE} (seconds since epoch)]\n"
            f"#[StartTime: {BASE} (seconds since epoch), {iso}]\n"
            '"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"\n')
    for start, length, count in intervals:
        for tag, value in (("co-fixed", 1500), ("raw", 700)):
            histogram = HdrHistogram(50, 15_000_000, 3)
            histogram.record_value(value, count)
            payload = histogram.encode().decode()
            text += (f"Tag={tag},{start:f},{length:f},{histogram.get_max_value() / 1e6:f},"
                     f"{payload}\n")
    return text


def files(tmp_path: Path, stdout: str | None, log: str | None) -> LoaderFiles:
    result = LoaderFiles(hdr_log=tmp_path / "loader-1.hlog", summary=tmp_path / "absent.json",
                         stdout=tmp_path / "loader-1.out")
    if stdout is not None:
        result.stdout.write_text(stdout, encoding="utf-8")
    if log is not None:
        result.hdr_log.write_text(log, encoding="utf-8")
    return result


PERIODS = [("1s", 790, 0), ("2s", 805, 1), ("3s", 800, 0), ("4s", 800, 0), ("5.1s", 820, 0)]
INTERVALS = [(0.004, 1.001, 790), (1.005, 1.0, 805), (2.005, 1.0, 800), (3.005, 1.0, 800),
             (4.005, 1.1, 820)]


def test_summarize_reads_the_window_from_the_log_and_counts_from_the_console(
        tmp_path: Path) -> None:
    step = Step(WRITE, rate=800, duration=3, warmup=2)
    where = files(tmp_path, console(PERIODS, total_ops=4400, total_errors=1,
                                    critical=["too many errors", "timeout"]),
                  hdr_log(INTERVALS))
    summary = ScyllaBenchTool().summarize("loader-1", step, where)
    assert summary.loader == "loader-1"
    assert summary.tool_version == "scylla-bench v1.1.1"
    assert summary.measure_start == pytest.approx(BASE + 0.004 + 2)
    assert summary.measure_end == pytest.approx(BASE + 4.005 + 1.1)
    assert summary.ops == 800 + 800 + 820  # periods ending at 3 s, 4 s and 5.1 s
    assert summary.errors == 0  # its one failure was in the warm-up (the period ending at 2 s)
    assert summary.error_samples == ("too many errors", "timeout")


def test_summarize_counts_the_errors_of_the_measured_window(tmp_path: Path) -> None:
    periods = [("1s", 790, 7), ("2s", 805, 1), ("3s", 800, 2), ("4s", 800, 0), ("5.1s", 820, 3)]
    where = files(tmp_path, console(periods, total_ops=4400, total_errors=13),
                  hdr_log(INTERVALS))
    summary = ScyllaBenchTool().summarize("loader-1", Step(WRITE, rate=800, duration=3,
                                                            warmup=2), where)
    assert summary.errors == 2 + 0 + 3


def test_the_log_is_readable_and_agrees_with_the_console(tmp_path: Path) -> None:
    where = files(tmp_path, console(PERIODS, 4400, 0), hdr_log(INTERVALS))
    log = read_log(where.hdr_log, "loader-1")
    assert log.tags == {"co-fixed", "raw"}
    assert log.start_time == BASE  # from StartTime: the lowercase "Basetime" is a comment
    assert log.base_time == BASE  # relative timestamps
    first = log.intervals[0]
    assert (first.start, first.end) == pytest.approx((BASE + 0.004, BASE + 1.005))
    step = Step(WRITE, rate=800, duration=3, warmup=2)
    summary = ScyllaBenchTool().summarize("loader-1", step, where)
    logged = sum(interval.decode().get_total_count()
                 for interval in log.select({"co-fixed"}, summary.measure_start,
                                            summary.measure_end))
    assert logged == summary.ops
    values = log.intervals[0].decode()
    assert values.get_value_at_percentile(50) == pytest.approx(1500, rel=5e-3)  # microseconds
    assert summary.errors == 0


@pytest.mark.parametrize(("stdout", "problem"), [
    (None, "missing"),
    ("Configuration\n" + period_line("1s", 10, 0, LATENCIES), "truncated"),
    ("Results\nTime (avg):\t 1s\n", "Total ops"),
    (console(PERIODS, total_ops=100, total_errors=0), "more than its total"),
])
def test_bad_console_output_names_loader_and_file(tmp_path: Path, stdout: str | None,
                                                  problem: str) -> None:
    where = files(tmp_path, stdout, hdr_log(INTERVALS))
    with pytest.raises(StressError, match=problem) as caught:
        ScyllaBenchTool().summarize("loader-1", Step(WRITE, rate=800, duration=3, warmup=2),
                                    where)
    assert "loader loader-1" in str(caught.value)
    assert str(where.stdout) in str(caught.value)


@pytest.mark.parametrize(("log", "problem"), [
    (None, "no such file"),
    ("", "empty file"),
    (hdr_log([]), "no interval"),
    (hdr_log(INTERVALS[:1]), "warm-up"),
])
def test_bad_hdr_log_names_loader_and_file(tmp_path: Path, log: str | None,
                                           problem: str) -> None:
    where = files(tmp_path, console(PERIODS, 4400, 0), log)
    with pytest.raises(StressError, match=problem) as caught:
        ScyllaBenchTool().summarize("loader-1", Step(WRITE, rate=800, duration=3, warmup=2),
                                    where)
    assert "loader-1" in str(caught.value) and str(where.hdr_log) in str(caught.value)


# --- install ------------------------------------------------------------------------------

FAKE_GO = """#!/bin/sh
echo "$*" >> "{calls}"
if [ "$1" = env ]; then echo {version}; exit 0; fi
if [ -n "{fail}" ]; then echo "{fail}" >&2; exit 1; fi
test -f go.mod && grep -q 'scylladb/gocql v1.17.3' go.mod || exit 3
echo "GOFLAGS=$GOFLAGS" >> "{calls}"
printf '#!/bin/sh\\necho built\\n' > "$4" && chmod 755 "$4"
"""


def fake_go(tmp_path: Path, version: str = "go1.26.8", fail: str = "") -> Path:
    script = tmp_path / "bin" / "go"
    script.parent.mkdir(exist_ok=True)
    script.write_text(FAKE_GO.format(calls=tmp_path / "calls", version=version, fail=fail))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SCYLLABENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GOFLAGS", "-buildvcs=false")
    monkeypatch.delenv("GOTOOLCHAIN", raising=False)
    return tmp_path / "cache"


def test_install_builds_once_into_the_cache(tmp_path: Path, cache: Path) -> None:
    from pytest_scyllabench.execute.local import LocalExecutor

    go = fake_go(tmp_path)
    tool = ScyllaBenchTool(go=str(go))
    asyncio.run(tool.install(LocalExecutor()))
    binary = cache / "tools" / "scylla-bench-v1.1.1" / "scylla-bench"
    assert tool.binary == binary
    assert binary.read_text().endswith("echo built\n") and os.access(binary, os.X_OK)
    assert [p.name for p in binary.parent.iterdir()] == ["scylla-bench"]  # no build dir left
    calls = (tmp_path / "calls").read_text().splitlines()
    assert calls[0] == "env GOVERSION"
    assert calls[1].startswith("build -trimpath -o ")
    assert calls[1].endswith(" github.com/scylladb/scylla-bench")
    assert calls[2] == "GOFLAGS=-buildvcs=false -mod=mod"
    asyncio.run(ScyllaBenchTool(go=str(go)).install(LocalExecutor()))
    assert len((tmp_path / "calls").read_text().splitlines()) == 3  # cached: not rebuilt


def test_install_without_go_says_what_to_install(cache: Path) -> None:
    from pytest_scyllabench.execute.local import LocalExecutor

    with pytest.raises(MissingDependencyError, match=r"Go 1\.25 or later .*golang"):
        asyncio.run(ScyllaBenchTool(go="no-such-go-here").install(LocalExecutor()))


def test_install_refuses_an_old_go(tmp_path: Path, cache: Path) -> None:
    from pytest_scyllabench.execute.local import LocalExecutor

    with pytest.raises(MissingDependencyError, match=r"go1\.22\.2"):
        asyncio.run(ScyllaBenchTool(go=str(fake_go(tmp_path, "go1.22.2")))
                    .install(LocalExecutor()))


def test_a_failed_build_says_why(tmp_path: Path, cache: Path) -> None:
    from pytest_scyllabench.execute.local import LocalExecutor

    go = fake_go(tmp_path, fail="reading scylla-bench/@v/v1.1.1.zip: 403 Forbidden")
    with pytest.raises(MissingDependencyError, match="403 Forbidden") as caught:
        asyncio.run(ScyllaBenchTool(go=str(go)).install(LocalExecutor()))
    assert isinstance(caught.value.__cause__, CommandError)
    assert not (cache / "tools" / "scylla-bench-v1.1.1" / "scylla-bench").exists()
    assert list((cache / "tools" / "scylla-bench-v1.1.1").iterdir()) == []


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


def test_install_copies_a_given_binary_under_the_remote_workdir(tmp_path: Path) -> None:
    """Not at this machine's path (a non-root user cannot write /root/.cache there): under the
    deployment's workdir, renamed into place; the loader's commands then run that copy."""
    binary = tmp_path / "scylla-bench"
    binary.write_text("#!/bin/sh\n")
    remote = RemoteHost()
    tool = ScyllaBenchTool(binary)
    asyncio.run(tool.install(remote, "/var/tmp/sb/"))  # type: ignore[arg-type]
    target = "/var/tmp/sb/tools/scylla-bench-v1.1.1/scylla-bench"
    partial = f"{target}.loader-host-2.partial"
    assert remote.calls == [
        ("mkdir", "-p", "/var/tmp/sb/tools/scylla-bench-v1.1.1"),
        ("put", str(binary), partial),
        ("sh", "-c", f"chmod 755 {partial} && mv -f {partial} {target}")]
    remote_run = tool.schema_command(WRITE, replace(invocation(), loader="loader-host-2"))
    local_run = tool.schema_command(WRITE, invocation())
    assert (remote_run[0], local_run[0]) == (target, str(binary))
    with pytest.raises(MissingDependencyError, match="not found"):
        asyncio.run(ScyllaBenchTool(tmp_path / "absent").install(remote))  # type: ignore[arg-type]


def test_install_uploads_nothing_when_the_host_is_this_machine(tmp_path: Path) -> None:
    binary = tmp_path / "scylla-bench"
    binary.write_text("#!/bin/sh\n")
    remote = RemoteHost()
    asyncio.run(ScyllaBenchTool(binary).install(remote, None))  # type: ignore[arg-type]
    assert remote.calls == []
