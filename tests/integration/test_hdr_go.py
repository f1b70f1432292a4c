"""The Go program of ``hdrgo/`` built and run afresh: hdrhistogram-go v1.2.0's own writer.

It writes an interval log the way scylla-bench does and prints what hdrhistogram-go computes
over it (see ``hdrgo/main.go``). Checked here: that it reproduces the recording in
``tests/unit/data/hdrhistogram-go`` byte for byte from the flags in its JSON, that our reading
of fresh logs (mixed and write mode) agrees with Go's merge and percentiles
(:func:`test_scylla_bench_hdrgo.check_against_go`), and, when Java's HdrHistogram is
installed, with Java's HistogramLogProcessor. Needs ``go`` (1.23 or later) and the Go module
proxy; the build runs in a temporary copy of ``hdrgo/`` with Go's default caches under ``~``.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))

from test_hdr_java import JAR, JAVA, _ours, _processor
from test_scylla_bench_hdrgo import LOG, SUMMARY, WRITE, check_against_go, go_output, whole

from pytest_scyllabench.hdr.histogram import Histogram
from pytest_scyllabench.hdr.log import read_log
from pytest_scyllabench.hdr.merge import merge_logs
from pytest_scyllabench.stress.scylla_bench import ScyllaBenchTool
from pytest_scyllabench.stress.step import Step

GO = shutil.which("go")
SOURCE = Path(__file__).resolve().parent / "hdrgo"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(GO is None, reason="go is not installed (it builds tests/integration/"
                       "hdrgo, hdrhistogram-go's writer)"),
]


@pytest.fixture(scope="module")
def hdrgo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The program, built from a copy of ``hdrgo/`` (the repository is left untouched)."""
    work = tmp_path_factory.mktemp("hdrgo")
    for name in ("go.mod", "go.sum", "main.go"):
        shutil.copy(SOURCE / name, work / name)
    flags = " ".join(filter(None, [os.environ.get("GOFLAGS", ""), "-mod=mod"]))
    done = subprocess.run([str(GO), "build", "-trimpath", "-o", str(work / "hdrgo"), "."],
                          cwd=work, env={**os.environ, "GOFLAGS": flags}, capture_output=True,
                          text=True, timeout=900, check=False)
    assert done.returncode == 0, f"go build failed:\n{done.stderr[-3000:]}"
    return work / "hdrgo"


def run(binary: Path, out: Path, *, tz: str | None = None,
        **flags: str | int) -> tuple[Path, dict[str, Any]]:
    """Run the program with ``-name value`` flags; the log and the parsed JSON."""
    hlog, summary = out.with_suffix(".hlog"), out.with_suffix(".json")
    argv = [str(binary), "-hlog", str(hlog), "-json", str(summary)]
    argv += [str(item) for name, value in flags.items()
             for item in (f"-{name.replace('_', '-')}", value)]
    env = {**os.environ, **({"TZ": tz} if tz is not None else {})}
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    return hlog, json.loads(summary.read_text(encoding="utf-8"))


def test_the_recording_is_reproduced(hdrgo: Path, tmp_path: Path) -> None:
    recorded = go_output(SUMMARY)
    hlog, fresh = run(hdrgo, tmp_path / "again", tz="UTC", seed=recorded["seed"],
                      periods=recorded["periods"], rate=recorded["rate"],
                      mode=recorded["mode"], start_ms=recorded["start_ms"])
    assert fresh["writer"] == recorded["writer"]
    assert {**fresh, "go": ""} == {**recorded, "go": ""}, (
        f"the recording was made with {recorded['go']}, this is {fresh['go']}: if Go's "
        f"random numbers changed, record again (tests/unit/data/hdrhistogram-go/README.md)")
    assert hlog.read_bytes() == LOG.read_bytes()


@pytest.mark.parametrize(("mode", "seed"), [("mixed", 7), ("write", 8)])
def test_fresh_logs_agree_with_hdrhistogram_go(hdrgo: Path, tmp_path: Path, mode: str,
                                               seed: int) -> None:
    hlog, go = run(hdrgo, tmp_path / mode, seed=seed, periods=6, rate=1500, mode=mode)
    merged = check_against_go(hlog, go)
    if mode == "write":
        assert set(go["tags"]) == {"co-fixed", "raw"}  # per-operation tags only when used
        step = Step(WRITE, rate=1500, duration=5)
        tagged = read_log(hlog, "loader-1", canonical_tag=functools.partial(
            ScyllaBenchTool().canonical_tag, step=step))
        ours = merge_logs([tagged], whole(tagged))
        assert set(ours) == {"write-rt", "write-st", "all-rt", "all-st"}
        assert ours["write-rt"].counts.tolist() == merged["co-fixed"].counts.tolist()
        assert ours["write-st"].counts.tolist() == (
            Histogram.decode(go["tags"]["raw"]["merged"]).counts.tolist())


@pytest.mark.skipif(JAVA is None or not JAR.is_file(),
                    reason=f"java or the HdrHistogram jar ({JAR}) is missing "
                           f"(apt-get install libhdrhistogram-java)")
def test_java_reads_the_go_log_as_we_do(hdrgo: Path, tmp_path: Path) -> None:
    hlog, go = run(hdrgo, tmp_path / "java", seed=11, periods=5, rate=1200, mode="mixed")
    log = read_log(hlog, "loader-1")
    merged = merge_logs([log], whole(log))
    for tag, expected in go["tags"].items():
        java = _processor(hlog, tag, 0.0, 100_000.0)
        assert _ours(merged[tag]) == java, tag
        assert (java["Total_Count"], java["Total_Max"]) == (expected["count"],
                                                            expected["max"])
