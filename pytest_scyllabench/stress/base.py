"""The stress-tool interface: one step description in, one command line and its output out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pytest_scyllabench.stress.step import Step, Workload


@dataclass(frozen=True)
class Invocation:
    """Where and how one loader runs one step."""

    #: Loader name used in messages and file names, e.g. ``loader-1``.
    loader: str
    index: int
    count: int
    #: CQL contact points and port.
    hosts: tuple[str, ...]
    port: int
    #: Operations per second for this loader (its share of the step's rate).
    rate: int
    #: Absolute time (epoch seconds) at which every loader starts its warm-up together.
    start_at: float
    #: Files written on the loader host.
    hdr_log: str
    summary: str
    replication_factor: int
    #: Tool-specific choice, e.g. the CQL driver of the built-in loader.
    driver: str = ""


@dataclass(frozen=True)
class Progress:
    """One line of live progress from a running loader."""

    loader: str
    elapsed: float
    rate: float
    p99_ms: float
    errors: int


@dataclass(frozen=True)
class LoaderSummary:
    """A loader's own account of its run, read after it exits."""

    loader: str
    tool_version: str
    #: Epoch seconds bounding the measured window (after warm-up).
    measure_start: float
    measure_end: float
    ops: int
    errors: int
    error_samples: tuple[str, ...] = ()


class StressTool(Protocol):
    """A load generator driven from a :class:`Step`."""

    name: str
    #: Whether its HDR log holds response time measured from the intended start.
    measures_response_time: bool

    def version(self) -> str:
        """The tool's version, recorded with every result."""

    def schema_command(self, workload: Workload, invocation: Invocation) -> list[str]:
        """Command that creates the keyspace and table of ``workload`` (idempotent)."""

    def populate_command(self, workload: Workload, invocation: Invocation) -> list[str]:
        """Command that writes ``workload.populate`` rows before reads (this loader's share)."""

    def step_command(self, step: Step, invocation: Invocation) -> list[str]:
        """Command that runs ``step`` as this loader, writing the HDR log and summary."""

    def parse_progress(self, line: str, loader: str) -> Progress | None:
        """Parse one stdout line; ``None`` when it is not a progress line."""

    def read_summary(self, path: Path, loader: str) -> LoaderSummary:
        """Read the summary file a run left; ``StressError`` naming loader and file if bad."""


def hosts_arg(hosts: Sequence[str]) -> str:
    return ",".join(hosts)
