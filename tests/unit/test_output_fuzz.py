"""The recorded output of real tools, fuzzed: each stress tool's parsers and the HDR log reader
and merge give a result or one of our errors naming the loader and the file, never another
exception, and a loader's odd output never loses what the other loaders measured.

The recordings of ``data/`` (cassandra-stress, latte, hdrhistogram-go as scylla-bench writes,
the built-in loader) are mutated with the seeded mutations of :mod:`test_fuzz_support`:
truncated at any byte, bytes that are not UTF-8, lines deleted, copied or swapped, numbers
replaced (negative, huge, NaN, exponents, other digits), payload characters flipped,
histograms corrupted inside their compression, header lines deleted or repeated, tags changed,
JSON reports with keys deleted or values replaced. Each case goes the runner's way: every
console line through ``parse_progress``, each loader's files through ``summarize``, then the
runner's merge of a step with a second loader whose files are intact. The regression tests
after the fuzzers are cases it found, each a traceback before.
"""

from __future__ import annotations

import functools
import math
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_fuzz_support import HDR_LOG, OUTPUT, mutate_json, mutate_output
from test_runner_merge import _latte
from test_scylla_bench import console

from pytest_scyllabench.errors import HdrLogError, LoaderFailed, StressError
from pytest_scyllabench.hdr.log import read_log
from pytest_scyllabench.hdr.merge import LoaderChecks, LoaderOutput, merged_latencies
from pytest_scyllabench.hdr.pipeline import merge
from pytest_scyllabench.hdr.window import Window
from pytest_scyllabench.runner import StepRunner
from pytest_scyllabench.stress.base import LoaderFiles, StressTool
from pytest_scyllabench.stress.builtin import BuiltinTool
from pytest_scyllabench.stress.cassandra_stress import CassandraStressTool
from pytest_scyllabench.stress.latte import LEGEND, LatteTool
from pytest_scyllabench.stress.scylla_bench import ScyllaBenchTool
from pytest_scyllabench.stress.step import Step, Workload

DATA = Path(__file__).parent / "data"
#: Cases per run of each fuzzer: every kind of mutation on every recording, in a few seconds.
LOG_CASES = 300
STEP_CASES = 200
MIXED = Workload("m", {"write": 0.5, "read": 0.5})
WRITE = Workload("w", {"write": 1.0})
READ = Workload("r", {"read": 1.0}, distribution="sequential")


@dataclass(frozen=True)
class Recording:
    """A recorded run and the step it ran, as two loaders of one step."""

    name: str
    tool: StressTool
    step: Step
    #: Writes loader ``name``'s files from the recording into a folder; returns them.
    write: Callable[[Path, str], LoaderFiles]


def _plain(folder: str, stem: str, hdr: str = ".hlog", out: str = ".stdout",
           summary: str = ".json") -> Callable[[Path, str], LoaderFiles]:
    def write(directory: Path, loader: str) -> LoaderFiles:
        files = LoaderFiles(hdr_log=directory / f"{loader}.hlog",
                            summary=directory / f"{loader}.json",
                            stdout=directory / f"{loader}.out")
        source = DATA / folder / stem
        for suffix, target in ((hdr, files.hdr_log), (out, files.stdout),
                               (summary, files.summary)):
            original = source.with_name(stem + suffix)
            if original.exists():
                target.write_bytes(original.read_bytes())
        return files
    return write


def _latte_files(stem: str) -> Callable[[Path, str], LoaderFiles]:
    def write(directory: Path, loader: str) -> LoaderFiles:
        files = _latte(directory, loader, stem)
        out = DATA / "latte" / f"{stem}.out"
        if out.exists():
            files.stdout.write_bytes(out.read_bytes())
        return files
    return write


@functools.cache
def _scylla_bench_console() -> bytes:
    """Console of scylla-bench's format strings with the periods of the hdrhistogram-go log
    (its operations per period: the ``co-fixed`` counts), so that the counts agree."""
    log = read_log(DATA / "hdrhistogram-go" / "mixed-1000.hlog", "x")
    first = float(log.starts.min())
    periods = [(f"{interval.end - first:.3f}s", interval.decode().get_total_count(), 0)
               for interval in log.intervals if interval.tag == "co-fixed"]
    return console(periods, sum(ops for _, ops, _ in periods), 0).encode()


def _scylla_bench(directory: Path, loader: str) -> LoaderFiles:
    files = _plain("hdrhistogram-go", "mixed-1000")(directory, loader)
    files.stdout.write_bytes(_scylla_bench_console())
    return files


RECORDINGS = (
    Recording("cassandra-stress two", CassandraStressTool(home="/opt/cs"),
              Step(MIXED, rate=600, duration=6, warmup=2), _plain("cassandra-stress", "two-1")),
    Recording("cassandra-stress write-800", CassandraStressTool(home="/opt/cs"),
              Step(WRITE, rate=1600, duration=7, warmup=2),
              _plain("cassandra-stress", "write-800")),
    Recording("cassandra-stress errors-300", CassandraStressTool(home="/opt/cs"),
              Step(WRITE, rate=600, duration=3, warmup=1),
              _plain("cassandra-stress", "errors-300")),
    Recording("latte read-300", LatteTool(allow_service_time=True),
              Step(READ, rate=600, duration=10, warmup=2), _latte_files("read-300")),
    Recording("latte write-800", LatteTool(allow_service_time=True),
              Step(WRITE, rate=1600, duration=10, warmup=2), _latte_files("write-800")),
    Recording("latte stopped-write-300", LatteTool(allow_service_time=True),
              Step(WRITE, rate=600, duration=6, warmup=2), _latte_files("stopped-write-300")),
    Recording("scylla-bench (hdrhistogram-go log)", ScyllaBenchTool(),
              Step(MIXED, rate=2000, duration=5, warmup=2), _scylla_bench),
    Recording("builtin mixed-400", BuiltinTool(),
              Step(MIXED, rate=800, duration=3, warmup=1), _plain("builtin", "mixed-400")),
)

def _with_legend(path: Path) -> bytes:
    """latte's export with the legend line its step's script inserts (see ``_latte``)."""
    lines = path.read_bytes().splitlines(keepends=True)
    first = next(n for n, line in enumerate(lines) if not line.startswith(b"#"))
    return b"".join([*lines[:first], LEGEND.encode() + b"\n", *lines[first:]])


#: Every recorded HDR log as its tool leaves it, with the tag mapping of that tool.
LOGS: dict[str, tuple[bytes, Callable[[str], str | None] | None]] = {
    **{f"cassandra-stress/{path.name}": (path.read_bytes(), functools.partial(
        CassandraStressTool(home="/opt/cs").canonical_tag, step=None))
       for path in sorted((DATA / "cassandra-stress").glob("*.hlog"))},
    **{f"latte/{path.name}": (_with_legend(path), functools.partial(
        LatteTool().canonical_tag, step=Step(WRITE, 1, 1)))
       for path in sorted((DATA / "latte").glob("*.hlog"))},
    "hdrhistogram-go/mixed-1000.hlog": (
        (DATA / "hdrhistogram-go" / "mixed-1000.hlog").read_bytes(),
        functools.partial(ScyllaBenchTool().canonical_tag, step=Step(MIXED, 1, 1))),
    "builtin/mixed-400.hlog": ((DATA / "builtin" / "mixed-400.hlog").read_bytes(), None),
}


def _names_loader_and_file(message: str, loader: str, paths: list[Path]) -> None:
    assert loader in message, message
    assert any(str(path) in message for path in paths), message


# --- HDR logs ------------------------------------------------------------------------------


def log_cases(count: int, seed: int = 20261124) -> Iterator[tuple[int, str, bytes, str]]:
    """(number, name of the recorded log, its mutated bytes, description)."""
    names = sorted(LOGS)
    for number in range(count):
        rng = random.Random(seed * 100_019 + number)
        name = rng.choice(names)
        text, what = mutate_output(LOGS[name][0], rng, HDR_LOG)
        yield number, name, text, f"case {number}: {name}: {what}"


def check_log(path: Path, loader: str, canonical: Callable[[str], str | None] | None) -> None:
    """Read the log and merge all of it; an error must be ours and name loader and file."""
    try:
        log = read_log(path, loader, canonical_tag=canonical)
        if len(log.payloads):
            # As long as a step (the runner never merges more than its duration).
            first = float(log.starts.min())
            window = Window(first, first + 60.0)
            merged = merge([log], window)
            for latency in merged_latencies(merged.histograms).values():
                assert all(math.isfinite(v) for v in latency.values_ms.values())
    except HdrLogError as exc:
        assert exc.loader == loader and exc.path == str(path)
        assert len(str(exc).splitlines()) == 1, str(exc)
    except StressError as exc:
        _names_loader_and_file(str(exc), loader, [path])


def test_fuzzed_hdr_logs_read_and_merge_or_name_loader_and_file(tmp_path: Path) -> None:
    for number, name, text, description in log_cases(LOG_CASES):
        path = tmp_path / f"{number}.hlog"
        path.write_bytes(text)
        try:
            check_log(path, "loader-9", LOGS[name][1])
        except BaseException as exc:
            raise AssertionError(f"{description}: {type(exc).__name__}: {exc}") from exc


# --- a step of two loaders -----------------------------------------------------------------


def run_step(directory: Path, recording: Recording,
             mutate: Callable[[LoaderFiles], object]) -> None:
    """Loader-1's files mutated, loader-2's intact: progress, summaries, the runner's merge."""
    tool, step = recording.tool, recording.step
    files = {}
    for loader in ("loader-1", "loader-2"):
        (directory / loader).mkdir(parents=True)
        files[loader] = recording.write(directory / loader, loader)
    mutate(files["loader-1"])
    for loader, loader_files in files.items():
        if loader_files.stdout.exists():
            text = loader_files.stdout.read_bytes().decode(errors="replace")
            for line in text.splitlines():
                progress = tool.parse_progress(line, loader)
                if progress is not None:
                    assert progress.loader == loader
    problems: dict[str, str] = {}
    outputs = []
    for loader, loader_files in files.items():
        try:
            summary = tool.summarize(loader, step, loader_files)
        except StressError as exc:
            _names_loader_and_file(str(exc), loader, [
                loader_files.hdr_log, loader_files.stdout, loader_files.summary,
                loader_files.hdr_log.with_name(f"{loader}.latte.json")])
            assert loader == "loader-1", str(exc)
            problems[loader] = str(exc)
            continue
        outputs.append(LoaderOutput(
            name=loader, host="127.0.0.1", tool=tool.name, summary=summary,
            hdr_log=loader_files.hdr_log, output=loader_files.stdout,
            target_rate=step.rate / 2, canonical_tag=functools.partial(tool.canonical_tag,
                                                                        step=step),
            value_unit_ns=tool.hdr_value_ns))
    try:
        result = StepRunner._merge(step, outputs, tool, problems,
                                   LoaderChecks(step.duration, 0.05))
    except StressError as exc:
        # Windows apart (a base time changed): which loader is wrong is not known, and the
        # step fails naming each one's window, by design (see test_runner_merge).
        assert "measured windows do not overlap: loader-1 [" in str(exc), str(exc)
        assert not problems
        return
    for loader, problem in problems.items():
        assert loader == "loader-1", problem
    # loader-2's data is never lost to loader-1's output.
    assert result is not None and "loader-2" in [run.name for run in result.loaders]
    for latency in merged_latencies(result.histograms).values():
        assert all(math.isfinite(v) for v in latency.values_ms.values())
    try:
        StepRunner._outcome(result, problems)
    except LoaderFailed as exc:
        assert exc.partial is result


def mutate_files(files: LoaderFiles, rng: random.Random) -> str:
    """One of a loader's files mutated (its log twice as often); what was done."""
    report = files.hdr_log.with_name(files.hdr_log.stem + ".latte.json")
    choices = [(files.hdr_log, HDR_LOG), (files.hdr_log, HDR_LOG), (files.stdout, OUTPUT),
               (files.summary, None), (report, None)]
    path, kinds = rng.choice([choice for choice in choices if choice[0].exists()])
    if kinds is None:
        text, what = mutate_json(path.read_bytes(), rng)
    else:
        text, what = mutate_output(path.read_bytes(), rng, kinds)
    path.write_bytes(text)
    return f"{path.name}: {what}"


def test_fuzzed_tool_output_gives_a_result_or_names_loader_and_file(tmp_path: Path) -> None:
    for number in range(STEP_CASES):
        rng = random.Random(20261125 * 100_043 + number)
        recording = rng.choice(RECORDINGS)
        done: list[str] = []

        def mutate(files: LoaderFiles, rng: random.Random = rng,
                   done: list[str] = done) -> None:
            done.append(mutate_files(files, rng))

        try:
            run_step(tmp_path / str(number), recording, mutate)
        except BaseException as exc:
            raise AssertionError(f"case {number}: {recording.name}: {' '.join(done)}: "
                                 f"{type(exc).__name__}: {exc}") from exc


def test_fuzzers_are_deterministic() -> None:
    first = [description for *_, description in log_cases(20)]
    assert first == [description for *_, description in log_cases(20)]
    assert len(set(first)) > 15


@pytest.mark.parametrize("recording", RECORDINGS, ids=[r.name for r in RECORDINGS])
def test_the_recordings_merge_as_two_loaders(tmp_path: Path, recording: Recording) -> None:
    run_step(tmp_path, recording, lambda files: None)



# --- regressions: cases the fuzzers found ---------------------------------------------------

BUILTIN_LOG = DATA / "builtin" / "mixed-400.hlog"


@pytest.mark.parametrize("field", [0, 1, 2])
@pytest.mark.parametrize("number", ["1e400", "nan", "-inf", "1e300"])
def test_a_number_of_an_interval_that_is_no_time_is_named(tmp_path: Path, field: int,
                                                          number: str) -> None:
    # An infinite timestamp made the merge's window infinite: OverflowError.
    lines = BUILTIN_LOG.read_text(encoding="utf-8").splitlines(keepends=True)
    columns = lines[5].split(",")
    columns[1 + field] = number
    lines[5] = ",".join(columns)
    path = tmp_path / "l.hlog"
    path.write_text("".join(lines), encoding="utf-8")
    if field == 2 and number == "1e300":  # the logged max is in the writer's unit: kept
        assert read_log(path, "loader-1").logged_max[1] == 1e300
        return
    problem = (r"negative interval length -inf" if (field, number) == (1, "-inf") else
               r"number out of range \(NaN, infinite, or a time beyond 1e\+11 s\)")
    with pytest.raises(HdrLogError, match=rf"^loader loader-1: {path}: line 6: {problem}"):
        read_log(path, "loader-1")


@pytest.mark.parametrize("header", ["StartTime", "BaseTime"])
def test_a_header_time_that_is_no_time_is_named(tmp_path: Path, header: str) -> None:
    text = BUILTIN_LOG.read_text(encoding="utf-8")
    path = tmp_path / "l.hlog"
    path.write_text(re.sub(rf"#\[{header}: [\d.]+", f"#[{header}: -inf", text),
                    encoding="utf-8")
    with pytest.raises(HdrLogError, match=rf"^loader loader-1: {path}: line \d: bad {header} "
                                          rf"header \(NaN, infinite, or beyond 1e\+11 s\)"):
        read_log(path, "loader-1")


BUILTIN_SUMMARY = DATA / "builtin" / "mixed-400.json"


@pytest.mark.parametrize(("field", "value"), [
    ("measure_end", -9223372036854775809), ("measure_end", 1795503714.0),
    ("measure_start", "NaN"), ("measure_end", "Infinity"), ("ops", -1), ("errors", -5),
    ("measure_end", 10**400),  # float(): OverflowError
])
def test_builtin_summary_with_odd_window_or_counts_names_loader_and_file(
        tmp_path: Path, field: str, value: object) -> None:
    # A window ending before it starts failed the merge of every loader (no overlap),
    # losing the other loaders' results.
    text = BUILTIN_SUMMARY.read_text(encoding="utf-8")
    path = tmp_path / "s.json"
    path.write_text(re.sub(rf'"{field}": [^,]+', f'"{field}": {value}', text), encoding="utf-8")
    with pytest.raises(StressError) as info:
        BuiltinTool().read_summary(path, "loader-7")
    assert str(info.value).startswith(f"loader loader-7: summary {path}: ")
    assert field in str(info.value) or "measured window" in str(info.value)


@pytest.mark.parametrize("value", ["-1e400", "1e400", "NaN"])
def test_builtin_progress_with_a_count_beyond_an_integer_is_no_progress(value: str) -> None:
    # int(-inf): OverflowError.
    line = ('{"event":"progress","loader":"loader-1","elapsed":1.0,"rate":400.0,'
            f'"p99_ms":2.4,"errors":{value}}}')
    assert BuiltinTool().parse_progress(line, "loader-1") is None


def test_a_log_cut_early_fails_its_loader_only(tmp_path: Path) -> None:
    # Its window (its log's span less the warm-up) shrank the common window to 1 ms, where
    # the intact loader had no interval: its count "disagreed" and it failed too.
    recording = next(r for r in RECORDINGS if r.name == "latte write-800")
    tool, step = recording.tool, recording.step
    files = [recording.write(tmp_path / name, name) for name in ("loader-1", "loader-2")
             if not (tmp_path / name).mkdir()]
    text = files[0].hdr_log.read_bytes()
    files[0].hdr_log.write_bytes(text[:text.index(b"Tag=cycles,2.001")])
    outputs = [LoaderOutput(
        name=name, host="h", tool=tool.name, summary=tool.summarize(name, step, loader_files),
        hdr_log=loader_files.hdr_log, target_rate=800,
        canonical_tag=functools.partial(tool.canonical_tag, step=step),
        value_unit_ns=tool.hdr_value_ns) for name, loader_files in zip(
            ("loader-1", "loader-2"), files, strict=True)]
    assert outputs[0].summary.measure_end - outputs[0].summary.measure_start < 0.01
    problems: dict[str, str] = {}
    result = StepRunner._merge(step, outputs, tool, problems, LoaderChecks(step.duration))
    assert list(problems) == ["loader-1"] and "stopped early" in problems["loader-1"]
    assert result is not None and [run.name for run in result.loaders] == ["loader-2"]
    assert result.duration == pytest.approx(10.0, abs=0.01)


@pytest.mark.parametrize("value", ["Infinity", "NaN", "1e300", "1" + "0" * 400])
def test_latte_sample_time_that_is_no_time_is_named(tmp_path: Path, value: str) -> None:
    # int(inf) and float32 packing of 1e300: OverflowError; int(nan): ValueError.
    recording = next(r for r in RECORDINGS if r.name == "latte write-800")
    files = recording.write(tmp_path, "loader-1")
    report = files.hdr_log.with_name("loader-1.latte.json")
    text = report.read_text(encoding="utf-8")
    report.write_text(re.sub(r'"time_s": [^,\n]+', f'"time_s": {value}', text, count=1),
                      encoding="utf-8")
    with pytest.raises(StressError, match=rf"^loader loader-1: {report}: sample 0: field "
                                          r"'time_s' has a bad value"):
        recording.tool.summarize("loader-1", recording.step, files)
