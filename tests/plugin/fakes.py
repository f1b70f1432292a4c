"""Fake backends for whole plugin sessions without Java: a database that only records calls,
and a stress tool whose "loader" is a small script writing a real HDR interval log."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytest_scyllabench.errors import StressError
from pytest_scyllabench.profile import DatabaseSpec
from pytest_scyllabench.stress.base import Invocation, LoaderFiles, LoaderSummary, Progress
from pytest_scyllabench.stress.step import Step, Workload

FAKE_LOADER = Path(__file__).with_name("fake_loader.py")
#: Every call of every FakeDatabase, appended to this file when set (for pytester runs).
JOURNAL_ENV = "FAKE_DB_JOURNAL"
#: Every install of the fake stress tool (``install <host>``), appended to this file when set.
TOOL_JOURNAL_ENV = "FAKE_TOOL_JOURNAL"

#: A one-node profile for the fake backends; ``{name}`` names its trial directories.
ONE_NODE_PROFILE = """
name: {name}
database: {{nodes: 1, replication_factor: 1}}
workloads:
  write: {{mix: {{write: 1}}}}
"""

#: A benchmark of one short step.
ONE_STEP_BENCH = """
def test_write(scyllabench_step):
    scyllabench_step("write", rate=100, duration=1, warmup=0)
"""


class FakeDatabase:
    """Records lifecycle calls; `FAKE_DB_FAIL=start` makes start fail."""

    def __init__(self, spec: DatabaseSpec, addresses: Sequence[str], workdir: Path,
                 cache: Path, *, keep: bool) -> None:
        self.spec = spec
        self.contact_points = tuple(addresses)
        self.port = 9042
        self.version = "fake-1.0"
        self.keep = keep
        self.adopt_problem: str | None = None

    def _journal(self, event: str) -> None:
        path = os.environ.get(JOURNAL_ENV)
        if path:
            with open(path, "a", encoding="utf-8") as out:
                out.write(event + "\n")

    needs_jmx_agent = False

    def export_metrics(self, agent: Any) -> int | None:
        self._journal("export_metrics")
        return None

    async def install(self) -> str:
        self._journal("install")
        return self.version

    async def configure(self) -> None:
        self._journal("configure")

    async def start(self) -> None:
        self._journal("start")
        if os.environ.get("FAKE_DB_FAIL") == "start":
            from pytest_scyllabench.errors import DatabaseError

            raise DatabaseError("node1 (127.0.0.1): exited with code 1 during start")

    async def wait_ready(self, timeout: float) -> None:
        self._journal("ready")

    async def stop(self) -> None:
        self._journal("stop")

    async def wipe(self) -> None:
        self._journal("wipe")

    async def adopt(self) -> bool:
        self._journal("adopt")
        return os.environ.get("FAKE_DB_RUNNING") == "1"

    def logs(self) -> list[Path]:
        return []


class FakeTool:
    """A stress tool whose loader writes latencies given by FAKE_LATENCY_MS (default 2 ms)."""

    name = "fake"
    measures_response_time = True
    hdr_value_ns = 1000.0

    async def install(self, executor: Any, workdir: str | None = None) -> None:
        path = os.environ.get(TOOL_JOURNAL_ENV)
        if path:
            with open(path, "a", encoding="utf-8") as out:
                out.write(f"install {executor.host}\n")

    def check_workload(self, workload: Workload) -> None:
        pass

    def canonical_tag(self, raw: str, step: Step) -> str | None:
        return raw or None

    def summarize(self, loader: str, step: Step, files: LoaderFiles) -> LoaderSummary:
        return self.read_summary(files.summary, loader)

    def version(self) -> str:
        return "fake-tool 1"

    def schema_command(self, workload: Workload, invocation: Invocation) -> list[str]:
        return [sys.executable, "-c", "pass"]

    def populate_command(self, workload: Workload, invocation: Invocation) -> list[str]:
        return [sys.executable, "-c", "pass"]

    def step_command(self, step: Step, invocation: Invocation) -> list[str]:
        operations = ",".join(op for op, weight in step.workload.mix.items() if weight > 0)
        return [sys.executable, str(FAKE_LOADER), invocation.loader, str(invocation.rate),
                str(invocation.start_at), str(step.warmup), str(step.duration), operations,
                invocation.hdr_log, invocation.summary]

    def parse_progress(self, line: str, loader: str) -> Progress | None:
        try:
            data: dict[str, Any] = json.loads(line)
        except ValueError:
            return None
        if data.get("event") != "progress":
            return None
        return Progress(loader=loader, elapsed=data["elapsed"], rate=data["rate"],
                        p99_ms=data["p99_ms"], errors=data["errors"])

    def read_summary(self, path: Path, loader: str) -> LoaderSummary:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise StressError(f"loader {loader}: {path}: no usable summary ({exc})") from exc
        return LoaderSummary(loader=loader, tool_version=data["tool_version"],
                             measure_start=data["measure_start"],
                             measure_end=data["measure_end"], ops=data["ops"],
                             errors=data["errors"])


def create_tool(spec: Any) -> FakeTool:
    return FakeTool()
