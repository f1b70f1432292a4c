"""Our merge and percentiles agree exactly with Java's HistogramLogProcessor.

Needs ``java`` and the HdrHistogram jar (Debian: ``apt-get install libhdrhistogram-java``, or
set ``SCYLLABENCH_HDR_JAR``). The processor reads one file and one tag, so the loaders' lines are
also written to one time-sorted file for it; ours reads the per-loader files, through the
batched numpy pipeline (:mod:`pytest_scyllabench.hdr.pipeline`), in this process and in worker
processes. Logs in microseconds (the built-in loader) and in nanoseconds with the tool's own
tags (cassandra-stress: auto-resized histograms, relative timestamps, ``WRITE-rt``...).
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))

from test_hdr_support import LEGEND, T0, Line, latencies, write_lines

from pytest_scyllabench.hdr.log import read_log
from pytest_scyllabench.hdr.merge import (
    LoaderOutput,
    Window,
    build_step_result,
    merge_logs,
    values_at_percentiles,
)
from pytest_scyllabench.stress.base import LoaderSummary
from pytest_scyllabench.stress.step import Step, Workload

JAR = Path(os.environ.get("SCYLLABENCH_HDR_JAR", "/usr/share/java/hdrhistogram.jar"))
JAVA = shutil.which("java")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(JAVA is None, reason="java is not installed"),
    pytest.mark.skipif(not JAR.is_file(), reason=f"HdrHistogram jar not found at {JAR} "
                       f"(apt-get install libhdrhistogram-java, or set SCYLLABENCH_HDR_JAR)"),
]

#: Columns of the processor's CSV interval output that hold the accumulated totals.
TOTALS = ("Total_50%", "Total_90%", "Total_99%", "Total_99.9%", "Total_99.99%", "Total_Max")
QUANTILES = (50.0, 90.0, 99.0, 99.9, 99.99)
WINDOW = Window(T0 + 2, T0 + 8)


def _processor(log: Path, tag: str | None, start: float, end: float) -> dict[str, int]:
    """The accumulated totals of HistogramLogProcessor over ``[start, end]`` (offsets)."""
    command = [str(JAVA), "-cp", str(JAR), "org.HdrHistogram.HistogramLogProcessor",
               "-i", str(log), "-csv", "-outputValueUnitRatio", "1",
               "-start", f"{start:.3f}", "-end", f"{end:.3f}",
               "-o", str(log.with_suffix(".out"))]
    if tag:
        command += ["-tag", tag]
    subprocess.run(command, check=True, capture_output=True, timeout=60)
    rows = [line for line in log.with_suffix(".out").read_text().splitlines()
            if line and not line.startswith("#")]
    header = [name.strip('"') for name in rows[0].split(",")]
    last = dict(zip(header, rows[-1].split(","), strict=True))
    totals = {name: round(float(last[name])) for name in TOTALS}
    totals["Total_Count"] = int(last["Total_Count"])
    return totals


def _ours(histogram: Any) -> dict[str, int]:
    values = values_at_percentiles(histogram, QUANTILES)
    totals = dict(zip(TOTALS, [*values, histogram.get_max_value()], strict=True))
    totals["Total_Count"] = histogram.get_total_count()
    return totals


@pytest.fixture(scope="module")
def loaders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path], list[Line]]:
    """Two loaders (relative stamps, and absolute stamps 0.4 s later), and Java's joint file."""
    tmp = tmp_path_factory.mktemp("java")
    rng = random.Random(2024)
    a = [Line(tag, float(s), latencies(rng, rng.randint(900, 1100), median))
         for s in range(10) for tag, median in (("write-rt", 800.0), ("read-rt", 2500.0))]
    b = [Line(tag, T0 + s + 0.4, latencies(rng, rng.randint(900, 1100), median))
         for s in range(10) for tag, median in (("write-rt", 900.0), ("read-rt", 2000.0))]
    paths = [write_lines(tmp / "a.hlog", a, start_time=T0),
             write_lines(tmp / "b.hlog", b, start_time=T0)]
    absolute = [Line(line.tag, T0 + line.start, line.values) for line in a] + b
    absolute.sort(key=lambda line: line.start)
    joint = tmp / "joint.hlog"
    write_lines(joint, absolute, start_time=T0)
    # Java reads untagged lines when given no tag: the same lines without tags are all-rt.
    untagged = tmp / "untagged.hlog"
    write_lines(untagged, [Line(None, x.start, x.values) for x in absolute], start_time=T0)
    return joint, paths, absolute


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("tag", ["write-rt", "read-rt", "all-rt"])
def test_merged_percentiles_match_java(loaders: tuple[Path, list[Path], list[Line]],
                                       tag: str, workers: int) -> None:
    joint, paths, _ = loaders
    logs = [read_log(path, path.stem) for path in paths]
    merged = merge_logs(logs, WINDOW, workers=workers)
    java_file = joint if tag != "all-rt" else joint.with_name("untagged.hlog")
    # Java's range is inclusive at both ends and relative to StartTime; ours is [start, end).
    java = _processor(java_file, None if tag == "all-rt" else tag,
                      WINDOW.start - T0, WINDOW.end - T0 - 0.001)
    assert _ours(merged[tag]) == java
    assert java["Total_Count"] > 10_000


def test_relative_log_window_matches_java(loaders: tuple[Path, list[Path], list[Line]]) -> None:
    _, paths, _ = loaders
    merged = merge_logs([read_log(paths[0], "a")], WINDOW)
    java = _processor(paths[0], "read-rt", WINDOW.start - T0, WINDOW.end - T0 - 0.001)
    assert _ours(merged["read-rt"]) == java


def test_legend_constant_matches_java_writer() -> None:
    assert LEGEND.startswith('"StartTimestamp","Interval_Length"')


def test_java_rounds_the_percentile_count_up(tmp_path: Path) -> None:
    # 1006 exact values: Java's p90 is the 906th value; hdrh's own rounding would give 905.
    log = write_lines(tmp_path / "exact.hlog", [Line("w-rt", T0, list(range(1, 1007)))],
                      start_time=T0)
    java = _processor(log, "w-rt", 0.0, 1.0)
    merged = merge_logs([read_log(log, "l")], Window(T0, T0 + 1))
    assert java["Total_90%"] == 906
    assert _ours(merged["w-rt"]) == java


# --- nanoseconds, the tool's own tags ------------------------------------------------------

NS = 1.0
#: cassandra-stress's recorders resize as values grow: one shape, several highest values.
RESIZED = [(1, 67_108_863, 3), (1, 134_217_727, 3), (1, 268_435_455, 3), (1, 2_147_483_647, 3)]


def _stress_tag(raw: str) -> str | None:
    operation, _, kind = raw.partition("-")
    return None if kind == "wt" else f"{operation.lower()}-{kind}"


def _joint(path: Path, logs: list[Path], loaders: list[str]) -> Path:
    """Every line of ``logs`` with absolute timestamps, time-sorted: the processor's input."""
    rows = []
    for log_path, loader in zip(logs, loaders, strict=True):
        log = read_log(log_path, loader)
        rows += [(i.start, f"Tag={i.tag},{i.start:.3f},{i.length:.3f},{i.logged_max:.3f},"
                           f"{i.payload}") for i in log.intervals]
    rows.sort(key=lambda row: row[0])
    header = ["#[Histogram log format version 1.3]",
              f"#[StartTime: {T0:.3f} (seconds since epoch), joint]",
              "#[BaseTime: 0.000 (seconds since epoch)]", LEGEND]
    path.write_text("\n".join(header + [text for _, text in rows]) + "\n")
    return path


@pytest.fixture(scope="module")
def nanosecond_logs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """Two loaders in nanoseconds: one relative to its StartTime (as cassandra-stress writes,
    with a BaseTime), one absolute; histograms of one shape and varying highest value."""
    tmp = tmp_path_factory.mktemp("java-ns")
    rng = random.Random(77)
    paths = []
    for number in range(2):
        lines = []
        for second in range(10):
            for raw, median in (("WRITE-rt", 900_000.0), ("WRITE-st", 600_000.0),
                                ("READ-rt", 2_400_000.0), ("WRITE-wt", 10_000.0)):
                values = latencies(rng, rng.randint(300, 700), median)
                fits = next(n for n, (_, top, _) in enumerate(RESIZED) if top >= max(values))
                layout = RESIZED[max(fits, second % len(RESIZED))]
                start = second + 0.25 * number if number == 0 else T0 + second + 0.6
                lines.append(Line(raw, start, values, layout=layout))
        base = T0 if number == 0 else None
        paths.append(write_lines(tmp / f"cs-{number}.hlog", lines, start_time=T0,
                                 base_time=base))
    joint = _joint(tmp / "joint.hlog", paths, ["cs-0", "cs-1"])
    return joint, paths


def _stress_outputs(paths: list[Path], window: Window) -> list[LoaderOutput]:
    return [LoaderOutput(
        name=path.stem, host="h", tool="cassandra-stress", hdr_log=path,
        summary=LoaderSummary(loader=path.stem, tool_version="x", measure_start=window.start,
                              measure_end=window.end, ops=0, errors=0),
        canonical_tag=_stress_tag, value_unit_ns=NS) for path in paths]


STEP = Step(workload=Workload(name="mixed", mix={"write": 0.5, "read": 0.5}), rate=100,
            duration=6.0)


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize(("raw", "ours"), [("WRITE-rt", "write-rt"), ("WRITE-st", "write-st"),
                                            ("READ-rt", "read-rt")])
def test_nanosecond_logs_match_java(nanosecond_logs: tuple[Path, list[Path]], raw: str,
                                    ours: str, workers: int) -> None:
    joint, paths = nanosecond_logs
    result = build_step_result(STEP, _stress_outputs(paths, WINDOW), WINDOW, workers=workers)
    java = _processor(joint, raw, WINDOW.start - T0, WINDOW.end - T0 - 0.001)
    assert _ours(result.histograms[ours]) == java
    assert java["Total_Count"] > 3000
    # Milliseconds from nanoseconds.
    assert result.latency(*ours.split("-"))["max"] == java["Total_Max"] / 1e6
    assert "all-wt" not in result.histograms and result.value_unit_ns == NS


CASSANDRA_STRESS = Path(__file__).resolve().parents[1] / "unit" / "data" / "cassandra-stress"


@pytest.mark.skipif(not (CASSANDRA_STRESS / "two-1.hlog").is_file(),
                    reason="recorded cassandra-stress logs are not in tests/unit/data")
@pytest.mark.parametrize(("raw", "ours"), [("WRITE-rt", "write-rt"), ("READ-rt", "read-rt"),
                                            ("READ-st", "read-st")])
def test_recorded_cassandra_stress_logs_match_java(tmp_path: Path, raw: str,
                                                   ours: str) -> None:
    paths = [CASSANDRA_STRESS / "two-1.hlog", CASSANDRA_STRESS / "two-2.hlog"]
    logs = [read_log(path, path.stem) for path in paths]
    start = min(log.starts.min() for log in logs)
    end = max(log.starts.max() for log in logs) + 1
    window = Window(start, end)
    result = build_step_result(STEP, _stress_outputs(paths, window), window)
    joint = tmp_path / "joint.hlog"
    rows = sorted((i.start, f"Tag={i.tag},{i.start:.3f},{i.length:.3f},{i.logged_max:.3f},"
                            f"{i.payload}") for log in logs for i in log.intervals)
    header = ["#[Histogram log format version 1.3]",
              f"#[StartTime: {start:.3f} (seconds since epoch), joint]",
              "#[BaseTime: 0.000 (seconds since epoch)]", LEGEND]
    joint.write_text("\n".join(header + [text for _, text in rows]) + "\n")
    java = _processor(joint, raw, 0.0, end - start)
    assert _ours(result.histograms[ours]) == java
    assert java["Total_Count"] > 100


def test_coarse_first_mixed_layouts_match_java(tmp_path: Path) -> None:
    # Java's accumulator copies the first histogram's layout; when that is the coarsest, its
    # result is ours (the finer histograms convert exactly into it).
    rng = random.Random(8)
    coarse = [Line("w-rt", T0 + s, latencies(rng, 500), layout=(1, 60_000_000, 2))
              for s in range(4)]
    fine = [Line("w-rt", T0 + s + 0.3, latencies(rng, 500)) for s in range(4)]
    paths = [write_lines(tmp_path / "coarse.hlog", coarse, start_time=T0),
             write_lines(tmp_path / "fine.hlog", fine, start_time=T0)]
    joint = _joint(tmp_path / "joint.hlog", paths, ["coarse", "fine"])
    merged = merge_logs([read_log(p, p.stem) for p in paths], Window(T0, T0 + 4))
    assert _ours(merged["w-rt"]) == _processor(joint, "w-rt", 0.0, 3.999)


# --- the perf script -----------------------------------------------------------------------

PERF_SCRIPT = Path(__file__).resolve().parents[2] / "perf" / "hdr_pipeline.py"


def test_perf_script_quick_run_agrees_with_java() -> None:
    # No timing is asserted: the script has to run, time both and agree exactly.
    done = subprocess.run([sys.executable, str(PERF_SCRIPT), "--quick"], capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    for tag in ("write-rt", "write-st", "read-rt", "read-st"):
        assert f"  {tag}: agree (Total_50% .. Total_Max, Total_Count " in done.stdout
    assert "ratio java/ours: best " in done.stdout
