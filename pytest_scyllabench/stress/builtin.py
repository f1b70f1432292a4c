"""The built-in loader as a :class:`~pytest_scyllabench.stress.base.StressTool`.

Commands run ``<python> -m pytest_scyllabench.loader`` (``sys.executable`` by default, so the
loader runs in the plugin's own environment); progress lines and the summary file are the
JSON the loader writes (see :mod:`pytest_scyllabench.loader.phases`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_scyllabench import __version__
from pytest_scyllabench.errors import StressError
from pytest_scyllabench.loader.cli import DEFAULT_DRIVER
from pytest_scyllabench.loader.workload import workload_to_json
from pytest_scyllabench.stress.base import (
    Invocation,
    LoaderFiles,
    LoaderSummary,
    Progress,
    hosts_arg,
    read_json_object,
)
from pytest_scyllabench.stress.step import Step, Workload

if TYPE_CHECKING:
    from pytest_scyllabench.execute.base import Executor
    from pytest_scyllabench.profile import LoaderSpec

MODULE = "pytest_scyllabench.loader"
#: Concurrency of the populate phase (closed loop, not measured).
POPULATE_CONCURRENCY = 128


class BuiltinTool:
    """Drives ``python -m pytest_scyllabench.loader``; measures response time (open loop).

    Its tags are already ours (``write-rt``, ``read-st``...) and its values microseconds.
    """

    name = "builtin"
    measures_response_time = True
    hdr_value_ns = 1000.0

    def __init__(self, python: str | None = None, driver: str = DEFAULT_DRIVER,
                 datacenter: str | None = None, request_timeout: float | None = None) -> None:
        self._python = python or sys.executable
        self._driver = driver
        self._datacenter = datacenter
        self._request_timeout = request_timeout

    async def install(self, executor: Executor) -> None:
        """Nothing to install on this machine: the loader is part of the plugin.

        A remote loader host needs the plugin in its Python environment (the remote
        backends install it there before the first step).
        """

    def version(self) -> str:
        return f"pytest-scyllabench {__version__} builtin loader"

    def check_workload(self, workload: Workload) -> None:
        """Nothing to refuse: it runs every workload the profile schema accepts."""

    def _common(self, phase: str, workload: Workload, inv: Invocation) -> list[str]:
        argv = [self._python, "-m", MODULE, "--phase", phase,
                "--hosts", hosts_arg(inv.hosts), "--port", str(inv.port),
                "--driver", inv.driver or self._driver,
                "--workload-json", workload_to_json(workload),
                "--loader", inv.loader, "--index", str(inv.index), "--count", str(inv.count),
                "--replication-factor", str(inv.replication_factor)]
        if self._datacenter:
            argv += ["--datacenter", self._datacenter]
        if self._request_timeout is not None:
            argv += ["--request-timeout", f"{self._request_timeout:g}"]
        if inv.summary:
            argv += ["--summary", inv.summary]
        return argv

    def schema_command(self, workload: Workload, invocation: Invocation) -> list[str]:
        return self._common("schema", workload, invocation)

    def populate_command(self, workload: Workload, invocation: Invocation) -> list[str]:
        return [*self._common("populate", workload, invocation),
                "--concurrency", str(POPULATE_CONCURRENCY)]

    def step_command(self, step: Step, invocation: Invocation) -> list[str]:
        if not invocation.hdr_log:
            raise StressError(f"loader {invocation.loader}: step {step.id}: "
                              f"the built-in loader needs an HDR log path")
        return [
            *self._common("run", step.workload, invocation),
            "--rate", str(invocation.rate), "--duration", f"{step.duration:g}",
            "--warmup", f"{step.warmup:g}", "--concurrency", str(step.concurrency),
            "--connections", str(step.connections),
            "--start-at", f"{invocation.start_at:.3f}", "--hdr-log", invocation.hdr_log]

    def parse_progress(self, line: str, loader: str) -> Progress | None:
        text = line.strip()
        if not text.startswith("{"):
            return None
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            return None
        if not isinstance(data, dict) or data.get("event") != "progress":
            return None
        try:
            return Progress(loader=loader, elapsed=float(data["elapsed"]),
                            rate=float(data["rate"]), p99_ms=float(data["p99_ms"]),
                            errors=int(data["errors"]))
        except (KeyError, TypeError, ValueError):
            return None

    def canonical_tag(self, raw: str, step: Step) -> str | None:
        return raw if raw else None

    def summarize(self, loader: str, step: Step, files: LoaderFiles) -> LoaderSummary:
        """The summary file the loader wrote at the end of its run."""
        return self.read_summary(files.summary, loader)

    def read_summary(self, path: Path, loader: str) -> LoaderSummary:
        def bad(problem: str) -> StressError:
            return StressError(f"loader {loader}: summary {path}: {problem}")

        data = read_json_object(path, bad, missing="the loader did not finish its run")
        if data.get("phase", "run") != "run":
            raise bad(f"written by phase {data.get('phase')!r}, not by a run")
        return LoaderSummary(
            loader=loader,
            tool_version=_field(data, "tool_version", str, bad),
            measure_start=float(_field(data, "measure_start", (int, float), bad)),
            measure_end=float(_field(data, "measure_end", (int, float), bad)),
            ops=_field(data, "ops", int, bad),
            errors=_field(data, "errors", int, bad),
            error_samples=tuple(str(s) for s in _field(data, "error_samples", list, bad)),
        )


def create(spec: LoaderSpec) -> BuiltinTool:
    """The built-in loader with the profile's CQL driver and Python (default: ours)."""
    return BuiltinTool(python=spec.python or None, driver=spec.driver)


def _field(data: Mapping[str, Any], name: str, kind: type | tuple[type, ...],
           bad: Any) -> Any:
    if name not in data:
        raise bad(f"field {name!r} is missing")
    value = data[name]
    if isinstance(value, bool) or not isinstance(value, kind):
        raise bad(f"field {name!r} has a bad value {value!r}")
    return value
