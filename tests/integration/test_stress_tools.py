"""Every stress tool that can be installed here, against one real local Cassandra node.

One pytest session (one cluster) runs the built-in loader and cassandra-stress at two rates
each, with two loaders, and each step yields percentiles and achieved throughput through the
same result type. scylla-bench cannot be built on this machine (the Go module proxy refuses its
source), so it runs only when ``SCYLLABENCH_SCYLLA_BENCH`` names a prebuilt binary.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from procs import processes_matching

pytestmark = pytest.mark.integration

SCYLLA_BENCH = os.environ.get("SCYLLABENCH_SCYLLA_BENCH", "")
TOOLS = ["builtin", "cassandra-stress"] + (["scylla-bench"] if SCYLLA_BENCH else [])
RATES = (200, 400)

PROFILE = """
name: it-tools
provisioner: local
local: {{first_address: 127.0.0.1}}
database: {{nodes: 1, replication_factor: 1, heap: 1G}}
loaders: {{count: 2, concurrency: 16, tool_paths: {{{paths}}}}}
rate_tolerance: 0.1
workloads:
  write: {{mix: {{write: 1}}, partitions: 10000, row_size: 100, consistency: ONE}}
"""

BENCH = f"""
import pytest

@pytest.mark.parametrize("tool", {TOOLS!r})
@pytest.mark.parametrize("rate", {list(RATES)!r})
def test_write(scyllabench_step, tool, rate):
    result = scyllabench_step("write", rate=rate, duration="6s", warmup="2s", tool=tool)
    assert result.latency("write").count > 0
"""


def test_every_tool_yields_the_same_result_type(tmp_path: Path) -> None:
    paths = f"scylla-bench: {SCYLLA_BENCH}" if SCYLLA_BENCH else ""
    (tmp_path / "it-tools.yaml").write_text(PROFILE.format(paths=paths))
    (tmp_path / "test_bench.py").write_text(BENCH)
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA",
         f"--scyllabench-profile={tmp_path / 'it-tools.yaml'}",
         f"--scyllabench-output={tmp_path / 'trials'}", str(tmp_path / "test_bench.py")],
        cwd=tmp_path, capture_output=True, text=True, timeout=1200)
    out = completed.stdout + completed.stderr
    assert completed.returncode == 0, out
    assert not processes_matching("CassandraDaemon", "/clusters/it-tools/"), out
    assert not processes_matching("org.apache.cassandra.stress.Stress"), out

    trial = (tmp_path / "trials" / "it-tools" / "latest").resolve()
    results = [json.loads(p.read_text()) for p in sorted(trial.glob("*/*/result.json"))]
    by_tool = {(r["loaders"][0]["tool"], r["target_rate"]) for r in results}
    assert by_tool == {(tool, float(rate)) for tool in TOOLS for rate in RATES}
    for result in results:
        where = f"{result['loaders'][0]['tool']} {result['step']}"
        assert len(result["loaders"]) == 2, where
        assert result["achieved_rate"] == pytest.approx(result["target_rate"], rel=0.1), where
        latency = result["latency_ms"]["write-rt"]
        assert latency["count"] == result["ops"] > 0, where
        # Milliseconds whatever the tool's unit: a local write takes well under a second.
        assert 0.01 < latency["p50"] <= latency["p99"] <= latency["max"] < 5000, where
        assert result["service_time_only"] is False, where
        assert all(loader["tool_version"] for loader in result["loaders"]), where
