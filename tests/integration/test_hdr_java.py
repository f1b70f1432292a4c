"""Our merge and percentiles agree exactly with Java's HistogramLogProcessor.

Needs ``java`` and the HdrHistogram jar (Debian: ``apt-get install libhdrhistogram-java``, or
set ``SCYLLABENCH_HDR_JAR``). The processor reads one file and one tag, so the loaders' lines are
also written to one time-sorted file for it; ours reads the per-loader files.
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
from pytest_scyllabench.hdr.merge import Window, merge_logs, values_at_percentiles

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


@pytest.mark.parametrize("tag", ["write-rt", "read-rt", "all-rt"])
def test_merged_percentiles_match_java(loaders: tuple[Path, list[Path], list[Line]],
                                       tag: str) -> None:
    joint, paths, _ = loaders
    logs = [read_log(path, path.stem) for path in paths]
    merged = merge_logs(logs, WINDOW)
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
