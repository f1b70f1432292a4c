"""perf/hdr_pipeline.py still runs: a small smoke run of ours (Java's side is in integration)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "perf" / "hdr_pipeline.py"


def test_quick_run_without_java(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--no-java", "--workdir",
                           str(tmp_path)], capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert "logs: 2 loaders x 20 s" in done.stdout
    assert "tags all-rt all-st read-rt read-st write-rt write-st, 30 series points" in done.stdout
    assert "java: skipped (--no-java)" in done.stdout
    # A second run reuses the logs.
    again = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--no-java", "--workdir",
                            str(tmp_path)], capture_output=True, text=True, timeout=300,
                           check=False)
    assert again.returncode == 0 and "(reused," in again.stdout
