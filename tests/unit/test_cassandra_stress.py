"""CassandraStressTool: commands, tags, progress and summaries on recorded cassandra-stress output.

The data under ``data/cassandra-stress`` is real output of cassandra-stress 4.0-alpha2 against
Cassandra 5.0.9 (see its README.md); downloads are tested against a ``file://`` repository.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import tarfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from pytest_scyllabench.errors import (
    ConfigError,
    HdrLogError,
    MissingDependencyError,
    StressError,
)
from pytest_scyllabench.execute.base import CommandResult
from pytest_scyllabench.hdr.log import read_log
from pytest_scyllabench.hdr.merge import Window, common_window, window_intervals
from pytest_scyllabench.profile import LoaderSpec
from pytest_scyllabench.stress import cassandra_stress as cs
from pytest_scyllabench.stress import cassandra_stress_dist as dist
from pytest_scyllabench.stress.base import Invocation, LoaderFiles, StressTool
from pytest_scyllabench.stress.cassandra_stress import CassandraStressTool, parse_console
from pytest_scyllabench.stress.step import Step, Workload

DATA = Path(__file__).parent / "data" / "cassandra-stress"
HOME = "/opt/cs"
WRITE = Workload("write", {"write": 1.0}, partitions=20000, row_size=256, consistency="ONE",
                 keyspace="sbcs2", populate=20000)
MIXED = Workload("mixed", {"write": 0.25, "read": 0.75}, partitions=20000, row_size=256,
                 consistency="ONE", keyspace="sbcs2")


def tool(mode: cs.Mode = "fixed", allow_service_time: bool = False) -> CassandraStressTool:
    return CassandraStressTool(mode, allow_service_time=allow_service_time, heap="768M",
                               java="/jdk/bin/java", home=HOME)


def invocation(index: int = 1, count: int = 3, rate: int = 400) -> Invocation:
    return Invocation(loader=f"loader-{index + 1}", index=index, count=count,
                      hosts=("127.0.0.21", "127.0.0.22"), port=9043, rate=rate,
                      start_at=1_700_000_000.0, hdr_log="/out/l.hlog", summary="/out/l.json",
                      replication_factor=3)


def stress_args(argv: Sequence[str]) -> list[str]:
    """The arguments after the main class (the JVM part checked on its own)."""
    return list(argv[list(argv).index(cs.MAIN_CLASS) + 1:])


def option(args: Sequence[str], name: str) -> list[str]:
    """The words of ``-name`` up to the next option."""
    start = args.index(name) + 1
    end = next((i for i in range(start, len(args)) if args[i].startswith("-")), len(args))
    return list(args[start:end])


#: The step of write-800: one loader, 2 s + 7 s, run as ``duration=10s``.
RECORDED = Step(WRITE, rate=800, duration=7, warmup=2, concurrency=32, connections=1)


def files(name: str) -> LoaderFiles:
    return LoaderFiles(hdr_log=DATA / f"{name}.hlog", summary=DATA / "absent.json",
                       stdout=DATA / f"{name}.stdout")


# -- identity and JVM ------------------------------------------------------------------


def test_is_a_stress_tool() -> None:
    fixed: StressTool = tool()
    assert fixed.name == "cassandra-stress"
    assert fixed.measures_response_time is True
    assert fixed.hdr_value_ns == 1.0
    assert fixed.version() == f"cassandra-stress from {HOME}"
    assert CassandraStressTool().version() == "cassandra-stress 4.0-alpha2"
    assert tool("throttle").measures_response_time is False


def test_create_takes_the_profiles_opt_in_and_prebuilt_tree() -> None:
    created = cs.create(LoaderSpec(tool="cassandra-stress", allow_service_time=True))
    assert created._allow_service_time is True
    assert created.measures_response_time is True
    assert created.version() == "cassandra-stress 4.0-alpha2"
    prebuilt = cs.create(LoaderSpec(tool_paths={"cassandra-stress": "/opt/cassandra-5.0.2"}))
    assert prebuilt.version() == "cassandra-stress from /opt/cassandra-5.0.2"


@pytest.mark.parametrize(("kwargs", "field"), [({"mode": "closed"}, "mode"),
                                               ({"version": "5.0.6"}, "version")])
def test_constructor_refusals_name_the_field(kwargs: Mapping[str, str], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        CassandraStressTool(**kwargs)  # type: ignore[arg-type]


def test_jvm_part_of_the_command() -> None:
    argv = tool().step_command(Step(WRITE, rate=1200, duration=8, warmup=2), invocation())
    jvm = argv[:argv.index(cs.MAIN_CLASS)]
    assert jvm[0] == "/jdk/bin/java"
    assert "-Xms768M" in jvm and "-Xmx768M" in jvm
    assert jvm[jvm.index("-cp") + 1] == f"{HOME}/conf:{HOME}/tools/lib/stress.jar:{HOME}/lib/*"
    assert "-Dlogback.configurationFile=logback-tools.xml" in jvm
    assert "java.base/jdk.internal.misc=ALL-UNNAMED" in jvm


def test_commands_need_an_installed_tool() -> None:
    with pytest.raises(StressError, match="install"):
        CassandraStressTool().schema_command(WRITE, invocation())


# -- step command ----------------------------------------------------------------------


def test_step_command_maps_every_field() -> None:
    step = Step(WRITE, rate=1200, duration=7.5, warmup=2, concurrency=300, connections=2)
    args = stress_args(tool().step_command(step, invocation(rate=400)))
    # ceil(2 + 7.5) s, 1 s for the partial first interval, START_SKEW for 3 loaders
    assert args[:4] == ["write", "duration=16s", "no-warmup", "cl=ONE"]
    assert option(args, "-pop") == ["dist=uniform(1..20000)"]
    assert option(args, "-col") == ["n=FIXED(1)", "size=FIXED(256)"]
    assert option(args, "-schema") == ["keyspace=sbcs2", "replication(factor=3)"]
    assert option(args, "-node") == ["127.0.0.21,127.0.0.22"]
    assert option(args, "-port") == ["native=9043"]
    assert option(args, "-mode") == ["native", "cql3", "protocolVersion=4",
                                      "connectionsPerHost=2", "maxPending=150"]
    assert option(args, "-errors") == ["ignore", "retries=0", "skip-read-validation"]
    assert option(args, "-rate") == ["threads=300", "fixed=400/s"]
    assert option(args, "-log") == ["hdrfile=/out/l.hlog", "interval=1s"]


def test_read_and_mixed_operations() -> None:
    read = Workload("read", {"read": 1.0}, consistency="LOCAL_QUORUM")
    alone = invocation(index=0, count=1)
    args = stress_args(tool().step_command(Step(read, rate=300, duration=5), alone))
    assert args[:4] == ["read", "duration=11s", "no-warmup", "cl=LOCAL_QUORUM"]
    args = stress_args(tool().step_command(Step(MIXED, rate=300, duration=5), invocation()))
    assert args[:3] == ["mixed", "ratio(write=0.25,read=0.75)", "clustering=FIXED(1)"]
    only_write = Workload("w", {"write": 2.0, "read": 0.0})
    args = stress_args(tool().step_command(Step(only_write, rate=300, duration=5),
                                           invocation()))
    assert args[0] == "write"


def test_distributions() -> None:
    def pop(workload: Workload, inv: Invocation) -> list[str]:
        return option(stress_args(tool().step_command(Step(workload, rate=90, duration=5),
                                                      inv)), "-pop")

    gaussian = Workload("g", {"read": 1}, partitions=1000, distribution="gaussian",
                        gaussian_stddev=0.1)
    assert pop(gaussian, invocation()) == ["dist=gaussian(1..1000,500.5,100)"]
    sequential = Workload("s", {"write": 1}, partitions=10, distribution="sequential")
    shares = [pop(sequential, invocation(index=i, count=3, rate=30)) for i in range(3)]
    assert shares == [["seq=1..3"], ["seq=4..6"], ["seq=7..10"]]


def test_throttle_mode_is_refused_unless_service_time_is_accepted() -> None:
    step = Step(WRITE, rate=300, duration=5)
    with pytest.raises(ConfigError, match="allow_service_time"):
        tool("throttle").step_command(step, invocation())
    args = stress_args(tool("throttle", allow_service_time=True).step_command(step,
                                                                              invocation()))
    assert option(args, "-rate") == ["threads=128", "throttle=400/s"]


@pytest.mark.parametrize(("step", "rate", "field"), [
    (Step(Workload("z", {"read": 1}, distribution="zipfian"), 300, 5), 100, "distribution"),
    (Step(WRITE, 2, 5), 0, "rate"),
    (Step(Workload("e", {}), 300, 5), 100, "mix"),
    (Step(Workload("n", {"read": -1.0, "write": 1.0}), 300, 5), 100, "mix"),
    (Step(Workload("p", {"read": 1}, partitions=0), 300, 5), 100, "partitions"),
    (Step(Workload("s", {"read": 1}, partitions=1, distribution="sequential"), 300, 5), 100,
     "partitions"),
    (Step(Workload("g", {"read": 1}, distribution="gaussian", gaussian_stddev=0), 300, 5),
     100, "gaussian_stddev"),
    (Step(Workload("r", {"write": 1}, row_size=0), 300, 5), 100, "row_size"),
    (Step(WRITE, 300, 5, concurrency=0), 100, "concurrency"),
    (Step(WRITE, 300, 5, connections=0), 100, "connections"),
    (Step(WRITE, 300, 0), 100, "duration"),
])
def test_refusals_name_the_field(step: Step, rate: int, field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        tool().step_command(step, invocation(rate=rate))


# -- schema and populate ---------------------------------------------------------------


def test_schema_command_creates_the_schema_only() -> None:
    args = stress_args(tool().schema_command(WRITE, invocation()))
    assert args[:4] == ["write", "n=0", "no-warmup", "cl=ONE"]
    assert option(args, "-schema") == ["keyspace=sbcs2", "replication(factor=3)"]
    assert "-log" not in args


def test_populate_shares_cover_the_rows_once() -> None:
    seen: list[int] = []
    for index in range(3):
        args = stress_args(tool().populate_command(WRITE, invocation(index=index, count=3)))
        count = int(args[1].removeprefix("n="))
        first, _, last = option(args, "-pop")[0].removeprefix("seq=").partition("..")
        assert count == int(last) - int(first) + 1
        seen.extend(range(int(first), int(last) + 1))
        assert option(args, "-rate") == [f"threads={cs.POPULATE_THREADS}"]
    assert seen == list(range(1, 20001))


def test_populate_is_capped_at_partitions_and_may_be_empty() -> None:
    small = Workload("w", {"write": 1}, partitions=2, populate=5)
    args = stress_args(tool().populate_command(small, invocation(index=0, count=3)))
    assert args[:2] == ["write", "n=0"]  # 2 rows for 3 loaders: the first has none
    args = stress_args(tool().populate_command(small, invocation(index=2, count=3)))
    assert args[:2] == ["write", "n=1"]
    assert option(args, "-pop") == ["seq=2..2"]


# -- tags and progress -----------------------------------------------------------------


def test_canonical_tags_of_the_recorded_logs() -> None:
    tags = read_log(DATA / "mixed-300.hlog", "l").tags
    assert tags == {"READ-rt", "READ-st", "READ-wt", "WRITE-rt", "WRITE-st", "WRITE-wt"}
    assert {raw: tool().canonical_tag(raw) for raw in sorted(tags)} == {
        "READ-rt": "read-rt", "READ-st": "read-st", "READ-wt": None,
        "WRITE-rt": "write-rt", "WRITE-st": "write-st", "WRITE-wt": None}
    assert tool().canonical_tag("COUNTER_WRITE-rt") is None
    assert tool().canonical_tag("") is None


def test_throttle_mode_keeps_service_time_only() -> None:
    throttled = tool("throttle", allow_service_time=True)
    tags = read_log(DATA / "throttle-300.hlog", "l").tags
    assert {throttled.canonical_tag(raw) for raw in tags} == {"write-st", None}


def test_progress_lines_of_the_recorded_output() -> None:
    lines = (DATA / "mixed-300.stdout").read_text().splitlines()
    progress = [p for p in (tool().parse_progress(line, "loader-1") for line in lines) if p]
    assert len(progress) == 11
    first = progress[0]
    assert (first.loader, first.elapsed, first.rate, first.p99_ms, first.errors) == \
        ("loader-1", 1.0, 116.0, 102.7, 0)
    assert progress[-1].elapsed == 10.7
    errors = (DATA / "errors-300.stdout").read_text().splitlines()
    assert [p.errors for p in map(lambda line: tool().parse_progress(line, "l"), errors)
            if p] == [161, 287, 350, 356, 32]


def test_other_lines_are_not_progress() -> None:
    for line in ["READ,                                                    1097,     746,"
                 "     746,     746,   305.9,   345.5,   442.2,   462.9,   468.7,   468.7,"
                 "    2.0,  0.30158,      0,      0,       0,       0,       0,       0",
                 (DATA / "mixed-300.stdout").read_text().splitlines()[-1],
                 "type                                               total ops,    op/s,"
                 "    pk/s,   row/s,    mean,     med,     .95,     .99,    .999,     max,"
                 "   time,   stderr, errors,  gc: #,  max ms,  sum ms,  sdv ms,      mb",
                 "Results:", "", "total, x"]:
        assert tool().parse_progress(line, "l") is None


# -- the recorded HDR logs -------------------------------------------------------------


@pytest.mark.parametrize("name", ["write-800", "mixed-300", "errors-300", "two-1", "two-2"])
def test_read_log_reads_its_logs_and_counts_agree_with_stdout(name: str) -> None:
    log = read_log(DATA / f"{name}.hlog", "loader-1")
    assert log.version == "1.3"
    assert log.base_time == log.start_time and log.base_time % 1 == 0
    assert log.truncated_line is None
    console = parse_console((DATA / f"{name}.stdout").read_text(), "l", name)
    per_start: dict[float, int] = {}
    for interval in log.intervals:
        if interval.tag.endswith("-rt"):
            histogram = interval.decode()
            per_start[interval.start] = per_start.get(interval.start, 0) + \
                histogram.get_total_count()
            # values are nanoseconds: the logged max (milliseconds) is the decoded max / 1e6
            assert histogram.get_max_value() / 1e6 == pytest.approx(interval.logged_max,
                                                                   abs=0.002)
    counts = [per_start[start] for start in sorted(per_start)]
    deltas = [row.ops - previous.ops for previous, row in zip(
        (cs.ConsoleRow(0, 0, 0, 0, 0), *console.rows), console.rows, strict=False)]
    assert counts == deltas
    assert sum(counts) == console.rows[-1].ops


# -- summarize -------------------------------------------------------------------------


def test_recorded_runs_are_what_the_step_command_asks_today() -> None:
    args = stress_args(tool().step_command(RECORDED, invocation(index=0, count=1, rate=800)))
    assert args[1] == "duration=10s"
    settings = (DATA / "write-800.stdout").read_text()
    for line in ("Duration: 10 SECONDS", "No Warmup: true", "Consistency Level: ONE",
                 "Thread Count: 32", "OpsPer Sec: 800", "Distribution: Uniform:  min=1,max=20000",
                 "Size Distribution: Fixed:  key=256", "Count Distribution: Fixed:  key=1",
                 "Keyspace: sbcs2", "Replication Strategy Options: {replication_factor=1}",
                 "Protocol Version: V4", "Connections Per Host: 1", "Ignore: true",
                 "Tries: 1", "Nodes: [127.0.0.22]", "Native Port: 9042"):
        assert f"  {line}\n" in settings


def test_summarize_the_recorded_write_step() -> None:
    summary = tool().summarize("loader-1", RECORDED, files("write-800"))
    log = read_log(DATA / "write-800.hlog", "loader-1")
    first = min(interval.start for interval in log.intervals)
    # the first (partial) interval, then the 2 s warm-up
    assert summary.measure_start == pytest.approx(round(first) + 3 - cs.GRID_GUARD)
    assert summary.measure_end - summary.measure_start == pytest.approx(7.0)
    window = Window(summary.measure_start, summary.measure_end)
    logged = sum(i.decode().get_total_count() for i in window_intervals([log], window)
                 if i.tag == "WRITE-rt")
    assert summary.ops == logged == 5617
    assert (summary.errors, summary.loader) == (0, "loader-1")
    assert summary.tool_version == f"cassandra-stress from {HOME}"


def test_summarize_the_recorded_mixed_step() -> None:
    summary = tool().summarize("l", Step(MIXED, rate=300, duration=7, warmup=2),
                               files("mixed-300"))
    assert summary.ops == 2101
    assert summary.measure_end - summary.measure_start == pytest.approx(7.0)


def test_summarize_counts_the_errors_of_the_measured_window() -> None:
    summary = tool().summarize("l", Step(WRITE, rate=300, duration=3, warmup=1),
                               files("errors-300"))
    # Every write failed (Unavailable): 1,186 in all, of which the rows of the measured
    # window (after the partial first second and the 1 s warm-up) hold 350 + 356.
    assert "Total errors              :      1,186" in (DATA / "errors-300.stdout").read_text()
    assert summary.errors == 350 + 356
    assert summary.ops == summary.errors and summary.ops_include_errors
    assert "Unavailable" in (DATA / "errors-300.stderr").read_text()


def test_two_loaders_share_the_interval_grid() -> None:
    step = Step(Workload("m", {"write": 0.5, "read": 0.5}), rate=600, duration=6, warmup=2)
    summaries = [tool().summarize(f"loader-{i}", step, files(f"two-{i}")) for i in (1, 2)]
    logs = [read_log(DATA / f"two-{i}.hlog", f"loader-{i}") for i in (1, 2)]
    # Their timestamps differ by a millisecond (13.999 and 14.000) ...
    assert {round(log.intervals[0].start % 1, 3) for log in logs} == {0.0, 0.999}
    window = common_window(summaries)
    assert window.length == pytest.approx(5.0)  # 8 s run: partial first, 2 s warm-up, 5 s
    # ... yet the common window holds the same five intervals of each loader.
    for log, summary in zip(logs, summaries, strict=True):
        selected = [i for i in window_intervals([log], window) if i.tag.endswith("-rt")]
        assert len({round(i.start) for i in selected}) == 5
        assert sum(i.decode().get_total_count() for i in selected) == summary.ops


# -- bad output ------------------------------------------------------------------------


def _copy(tmp_path: Path, name: str, stdout: str | None = None,
          hlog: str | None = None) -> LoaderFiles:
    out, log = tmp_path / "out.txt", tmp_path / "log.hlog"
    out.write_text(stdout if stdout is not None else (DATA / f"{name}.stdout").read_text())
    log.write_text(hlog if hlog is not None else (DATA / f"{name}.hlog").read_text())
    return LoaderFiles(hdr_log=log, summary=tmp_path / "absent", stdout=out)


STEP = Step(WRITE, rate=800, duration=7, warmup=2)


def test_output_cut_before_the_results_block(tmp_path: Path) -> None:
    text = (DATA / "write-800.stdout").read_text()
    cut = _copy(tmp_path, "write-800", stdout=text[:text.index("Results:")])
    with pytest.raises(StressError, match=r"loader-3: .*out\.txt: no 'Results:' block"):
        tool().summarize("loader-3", STEP, cut)


def test_output_cut_inside_the_results_block(tmp_path: Path) -> None:
    text = (DATA / "write-800.stdout").read_text()
    cut = _copy(tmp_path, "write-800", stdout=text[:text.index("Total GC count")])
    with pytest.raises(StressError, match=r"loader-3: .*out\.txt: .*truncated"):
        tool().summarize("loader-3", STEP, cut)


def test_missing_output_and_log(tmp_path: Path) -> None:
    with pytest.raises(StressError, match=r"loader-3: .*missing"):
        tool().summarize("loader-3", STEP, LoaderFiles(tmp_path / "l.hlog", tmp_path / "s",
                                                       tmp_path / "absent.txt"))
    present = LoaderFiles(tmp_path / "absent.hlog", tmp_path / "s",
                          DATA / "write-800.stdout")
    with pytest.raises(HdrLogError, match=r"loader-3: .*absent\.hlog"):
        tool().summarize("loader-3", STEP, present)


def test_log_missing_intervals_of_the_output(tmp_path: Path) -> None:
    lines = (DATA / "write-800.hlog").read_text().splitlines(keepends=True)
    cut = _copy(tmp_path, "write-800", hlog="".join(lines[:-6]))  # two intervals fewer
    with pytest.raises(StressError, match=r"loader-3: .*11 progress lines but .*9 intervals"):
        tool().summarize("loader-3", STEP, cut)


def test_run_shorter_than_its_warm_up(tmp_path: Path) -> None:
    text = (DATA / "write-800.stdout").read_text()
    lines = (DATA / "write-800.hlog").read_text().splitlines(keepends=True)
    header = [line for line in lines if not line.startswith("Tag=")]
    rows = [line for line in text.splitlines(keepends=True)
            if line.startswith("total,")]
    short = text.replace("".join(rows), "".join(rows[:2]))
    cut = _copy(tmp_path, "write-800", stdout=short,
                hlog="".join(header + [line for line in lines if line.startswith("Tag=")][:6]))
    with pytest.raises(StressError, match=r"loader-3: .*stopped early"):
        tool().summarize("loader-3", STEP, cut)


def test_bad_total_in_results(tmp_path: Path) -> None:
    text = (DATA / "write-800.stdout").read_text().replace(
        "Total errors              :          0", "Total errors              :       lots")
    with pytest.raises(StressError, match="Total errors"):
        tool().summarize("loader-3", STEP, _copy(tmp_path, "write-800", stdout=text))


# -- download and cache ----------------------------------------------------------------


def _publish(path: Path, body: bytes, *, sha1: str | None = None,
             sha512: str | None = None) -> None:
    """``path`` in a fake repository, with the checksum files given beside it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    if sha1 is not None:
        path.with_name(path.name + ".sha1").write_text(sha1)
    if sha512 is not None:
        path.with_name(path.name + ".sha512").write_text(sha512)


def _fake_tarball(version: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        def add(name: str, body: bytes = b"x", kind: bytes = tarfile.REGTYPE) -> None:
            member = tarfile.TarInfo(f"apache-cassandra-{version}/{name}")
            member.size, member.type = len(body), kind
            archive.addfile(member, io.BytesIO(body))

        for name in ("lib/a.jar", "lib/HdrHistogram-2.1.9.jar", "tools/lib/stress.jar",
                     "conf/logback-tools.xml", "conf/cassandra.yaml", "bin/cassandra",
                     "lib/../../evil.jar", "LICENSE.txt"):
            add(name)
        add("lib/link.jar", b"", tarfile.SYMTYPE)
    return buffer.getvalue()


def test_download_is_checked_against_the_published_checksum(tmp_path: Path) -> None:
    body = b"artifact bytes"
    url = (tmp_path / "repo" / "a.jar").as_uri()
    _publish(tmp_path / "repo" / "a.jar", body,
             sha1=hashlib.sha1(body).hexdigest() + "  a.jar\n")
    assert dist.download_verified(url, tmp_path / "got.jar").read_bytes() == body
    (tmp_path / "repo" / "a.jar.sha1").write_text("0" * 40)
    with pytest.raises(StressError, match=r"a\.jar: sha1 .* does not match the published 0+"):
        dist.download_verified(url, tmp_path / "bad.jar")
    assert not (tmp_path / "bad.jar").exists()


def test_sha512_is_preferred_to_sha1(tmp_path: Path) -> None:
    body = b"artifact bytes"
    path = tmp_path / "repo" / "b.jar"
    _publish(path, body, sha1="0" * 40,
             sha512=hashlib.sha512(body).hexdigest())
    assert dist.download_verified(path.as_uri(), tmp_path / "got").read_bytes() == body
    path.with_name("b.jar.sha512").write_text("f" * 128)
    with pytest.raises(StressError, match="sha512"):
        dist.download_verified(path.as_uri(), tmp_path / "got")


def test_missing_checksum_artifact_or_pinned_mismatch(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "repo" / "c.jar"
    _publish(path, b"c")
    with pytest.raises(StressError, match=r"no \.sha512 or \.sha1"):
        dist.download_verified(path.as_uri(), tmp_path / "got")
    path.with_name("c.jar.sha1").write_text(hashlib.sha1(b"c").hexdigest())
    monkeypatch.setitem(dist.PINNED_SHA1, "c.jar", "1" * 40)
    with pytest.raises(StressError, match=r"not the recorded 1+"):
        dist.download_verified(path.as_uri(), tmp_path / "got")
    path.unlink()
    with pytest.raises(StressError, match="not found"):
        dist.download_verified(path.as_uri(), tmp_path / "got")


def test_parse_checksum() -> None:
    digest = hashlib.sha1(b"x").hexdigest()
    assert dist.parse_checksum(f"{digest.upper()}  apache.tar.gz\n", "sha1") == digest
    for bad in ("", "nothex" * 8, digest[:-1]):
        with pytest.raises(StressError, match="not a sha1 checksum"):
            dist.parse_checksum(bad, "sha1")


def _fake_repository(tmp_path: Path, version: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(dist, "PINNED_SHA1", {})
    repo = (tmp_path / "repo").as_uri()
    tarball_url, jar_url = dist.artifact_urls(version, repo)
    for url, body in ((tarball_url, _fake_tarball(version)), (jar_url, b"hdr")):
        _publish(tmp_path / "repo" / url.removeprefix(repo + "/"), body,
                 sha1=hashlib.sha1(body).hexdigest())
    return repo


def test_ensure_tree_builds_the_cache_once(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    repo = _fake_repository(tmp_path, "4.0-alpha2", monkeypatch)
    cache = tmp_path / "cache" / "tools"
    home = dist.ensure_tree("4.0-alpha2", cache, repo)
    assert home == cache / "cassandra-stress-4.0-alpha2"
    found = sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file())
    assert found == ["LICENSE.txt", "conf/logback-tools.xml", "lib/HdrHistogram-2.1.12.jar",
                     "lib/a.jar", "tools/lib/stress.jar"]
    assert (home / "lib" / "HdrHistogram-2.1.12.jar").read_bytes() == b"hdr"
    assert [p.name for p in cache.iterdir()] == [home.name]  # no scratch directory left
    # Cached: the repository is not asked again.
    for path in (tmp_path / "repo").rglob("*.gz"):
        path.unlink()
    assert dist.ensure_tree("4.0-alpha2", cache, repo) == home
    packed = dist.pack_tree(home)
    with tarfile.open(packed) as archive:
        assert "tools/lib/stress.jar" in archive.getnames()


def test_a_corrupt_download_leaves_no_tree(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    repo = _fake_repository(tmp_path, "4.0-alpha2", monkeypatch)
    tarball_url, _ = dist.artifact_urls("4.0-alpha2", repo)
    path = tmp_path / "repo" / tarball_url.removeprefix(repo + "/")
    path.write_bytes(path.read_bytes() + b"tampered")
    cache = tmp_path / "cache"
    with pytest.raises(StressError, match="does not match"):
        dist.ensure_tree("4.0-alpha2", cache, repo)
    assert list(cache.iterdir()) == []


# -- install ---------------------------------------------------------------------------


class FakeRemote:
    """An executor of another host: records what it is asked."""

    host = "loader-host"

    def __init__(self, java_exit: int = 0, installed: bool = False) -> None:
        self.java_exit = java_exit
        self.installed = installed
        self.commands: list[list[str]] = []
        self.puts: list[tuple[Path, str]] = []

    async def run(self, command: Sequence[str], **_: object) -> CommandResult:
        self.commands.append(list(command))
        code = 0
        if command[0] == "java":
            code = self.java_exit
        elif command[0] == "test":
            code = 0 if self.installed else 1
        return CommandResult(self.host, tuple(command), code, "", "")

    async def put(self, local: Path, remote: str) -> None:
        self.puts.append((local, remote))


def test_install_on_a_remote_loader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = _fake_repository(tmp_path, "4.0-alpha2", monkeypatch)
    stress = CassandraStressTool(cache=tmp_path / "cache", repository=repo,
                                 remote_root="/srv/tools")
    remote = FakeRemote()
    asyncio.run(stress.install(remote))  # type: ignore[arg-type]
    root = "/srv/tools/cassandra-stress-4.0-alpha2"
    assert remote.puts == [(tmp_path / "cache" / "tools" / "cassandra-stress-4.0-alpha2.tar.gz",
                            f"{root}.tar.gz")]
    assert remote.commands[-1][:2] == ["sh", "-c"] and f"-C {root}" in remote.commands[-1][2]
    argv = stress.schema_command(WRITE, invocation())
    assert argv[0] == "java" and f"{root}/tools/lib/stress.jar" in argv[argv.index("-cp") + 1]
    again = FakeRemote(installed=True)
    asyncio.run(stress.install(again))  # type: ignore[arg-type]
    assert again.puts == []


def test_install_needs_java(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = _fake_repository(tmp_path, "4.0-alpha2", monkeypatch)
    stress = CassandraStressTool(cache=tmp_path / "cache", repository=repo)
    with pytest.raises(MissingDependencyError, match=r"loader-host: .*java"):
        asyncio.run(stress.install(FakeRemote(java_exit=127)))  # type: ignore[arg-type]

    async def no_java() -> str:
        raise MissingDependencyError("no java found; install a Java 17 JDK")

    monkeypatch.setattr(cs, "_local_java", lambda version: no_java())
    from pytest_scyllabench.execute.local import LocalExecutor

    with pytest.raises(MissingDependencyError, match="Java 17"):
        asyncio.run(stress.install(LocalExecutor()))


def test_install_a_prebuilt_tree(tmp_path: Path) -> None:
    stress = CassandraStressTool(home="/opt/apache-cassandra-5.0.2", cache=tmp_path)
    remote = FakeRemote(installed=True)
    asyncio.run(stress.install(remote))  # type: ignore[arg-type]
    assert remote.puts == [] and not list(tmp_path.iterdir())  # nothing downloaded
    assert remote.commands[-1] == ["test", "-f", "/opt/apache-cassandra-5.0.2/tools/lib/"
                                                 "stress.jar"]
    argv = stress.step_command(Step(WRITE, rate=300, duration=5), invocation())
    assert argv[0] == "java" and argv[argv.index("-cp") + 1].startswith("/opt/apache-cassandra")
    with pytest.raises(ConfigError, match=r"loader-host: loaders\.tool_paths\.cassandra-stress"):
        asyncio.run(CassandraStressTool(home="/nowhere").install(
            FakeRemote(installed=False)))  # type: ignore[arg-type]


def test_empty_output(tmp_path: Path) -> None:
    with pytest.raises(StressError, match=r"loader-3: .*out\.txt: no 'Results:' block"):
        tool().summarize("loader-3", STEP, _copy(tmp_path, "write-800", stdout=""))


def test_progress_lines_with_an_extra_column_are_an_unexpected_format(tmp_path: Path) -> None:
    text = (DATA / "write-800.stdout").read_text()
    wider = "".join(line.rstrip("\n") + ",       7\n" if line.startswith("total,") else line
                    for line in text.splitlines(keepends=True))
    assert all(cs.parse_row(line) is None for line in wider.splitlines())
    with pytest.raises(StressError, match=r"loader-3: .*out\.txt: none of its 11 'total,' "
                                          r"lines has the 19 comma-separated fields of "
                                          r"cassandra-stress 4\.0-alpha2 \(unexpected format\)"):
        tool().summarize("loader-3", STEP, _copy(tmp_path, "write-800", stdout=wider))


def test_bytes_that_are_not_utf8_leave_the_recorded_numbers(tmp_path: Path) -> None:
    """A stray byte (a log line of the driver, say) is read as U+FFFD, not a crash."""
    raw = (DATA / "write-800.stdout").read_bytes()
    assert b"Results:" in raw
    files = _copy(tmp_path, "write-800")
    files.stdout.write_bytes(raw.replace(b"Results:", b"\xff\xfe stray\nResults:", 1))
    odd = cs.read_console(files.stdout, "loader-3")
    assert odd == parse_console(raw.decode(), "loader-3", files.stdout)
    assert len(odd.rows) == 11 and odd.errors == 0
