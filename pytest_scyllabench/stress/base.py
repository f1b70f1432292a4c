"""The stress-tool interface: one step description in, one command line and its output out.

A tool is installed on each loader host through that host's executor, turns a
:class:`~pytest_scyllabench.stress.step.Step` into its own command line, and after the run
gives a :class:`LoaderSummary` (operations, errors and the measured window) from what it left
in :class:`LoaderFiles`. Its HDR log is merged by :mod:`pytest_scyllabench.hdr.merge`, which
needs two facts from the tool: what each of its tags means (:meth:`StressTool.canonical_tag`)
and the unit of its recorded values (:attr:`StressTool.hdr_value_ns`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pytest_scyllabench.stress.step import Step, Workload

if TYPE_CHECKING:
    from pytest_scyllabench.execute.base import Executor


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
class LoaderFiles:
    """Where one loader writes during a step (paths on the loader's host)."""

    hdr_log: Path
    #: A summary file the tool writes itself (the built-in loader); others leave it absent.
    summary: Path
    #: The tool's console output.
    stdout: Path


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
    #: Whether ``ops`` (and the log's counted tags) include the failed operations (latte
    #: logs every call, failed or not); otherwise the attempted operations are ops + errors.
    ops_include_errors: bool = False


class StressTool(Protocol):
    """A load generator driven from a :class:`Step`."""

    #: The name profiles and steps select it by (``builtin``, ``scylla-bench``...).
    name: str

    @property
    def measures_response_time(self) -> bool:
        """Whether its HDR log holds response time measured from the intended start.

        A configuration measuring only service time (closed loop, a throttle) is refused by
        :meth:`step_command` unless the profile opted in; the report then marks its results.
        """

    @property
    def hdr_value_ns(self) -> float:
        """Nanoseconds per value recorded in its HDR log (1000.0 for microseconds)."""

    def check_workload(self, workload: Workload) -> None:
        """Refuse a workload this tool, as the profile configured it, cannot run.

        ``ConfigError`` whose message starts with the field it blames, in the profile's
        terms: ``workloads.<name>.distribution: cassandra-stress cannot ...`` (see
        :func:`workload_field`), or ``loaders.allow_service_time: ...`` for a tool that
        measures only service time. Called for every workload of a profile when it is loaded,
        with the profile's tool, and before a step naming another tool installs it or
        populates; the command builders call it too.
        """

    async def install(self, executor: Executor, workdir: str | None = None) -> None:
        """Make the tool runnable on the executor's host (idempotent, cached).

        ``workdir``: the deployment's directory on a remote host, which its login user can
        write, for what the tool uploads there; ``None`` when the host is this machine.
        """

    def version(self) -> str:
        """The tool's version, recorded with every result."""

    def schema_command(self, workload: Workload, invocation: Invocation) -> list[str]:
        """Command that creates the keyspace and table of ``workload`` (idempotent)."""

    def populate_command(self, workload: Workload, invocation: Invocation) -> list[str]:
        """Command that writes ``workload.populate`` rows before reads (this loader's share)."""

    def step_command(self, step: Step, invocation: Invocation) -> list[str]:
        """Command that runs ``step`` as this loader, writing the HDR log.

        Raises ``ConfigError`` naming the field when the step cannot be expressed.
        """

    def canonical_tag(self, raw: str, step: Step) -> str | None:
        """Our tag (``write-rt``, ``read-st``...) for one of its HDR tags; ``None``: ignore it.

        ``step`` says what ran, for tools whose tags do not name the operation.
        """

    def parse_progress(self, line: str, loader: str) -> Progress | None:
        """Parse one stdout line; ``None`` when it is not a progress line."""

    def summarize(self, loader: str, step: Step, files: LoaderFiles) -> LoaderSummary:
        """Operations, errors and measured window of a finished run.

        ``StressError`` naming the loader and the file when the output is missing or bad.
        """


def workload_field(workload: Workload, field: str) -> str:
    """Where a workload's field is in a profile, as errors name it: ``workloads.<name>.<field>``."""
    return f"workloads.{workload.name}.{field}"


def hosts_arg(hosts: Sequence[str]) -> str:
    return ",".join(hosts)


def log_window(hdr_log: Path, loader: str, warmup: float) -> tuple[float, float]:
    """The measured window of a tool that cannot start on time: its log's span, less warm-up.

    Starts ``warmup`` seconds after the first interval of the log, ends with its last one.
    ``StressError`` (an ``HdrLogError``) naming loader and file when the log is unusable.
    """
    from pytest_scyllabench.errors import StressError
    from pytest_scyllabench.hdr.log import read_log

    log = read_log(hdr_log, loader)
    if not log.intervals:
        raise StressError(f"loader {loader}: {hdr_log}: the HDR log holds no interval")
    first = min(interval.start for interval in log.intervals)
    last = max(interval.end for interval in log.intervals)
    start = first + warmup
    if not last > start:
        raise StressError(f"loader {loader}: {hdr_log}: the log spans {last - first:.1f} s, "
                          f"not more than the {warmup:g} s warm-up (the tool stopped early)")
    return start, last


def read_json_object(path: Path, bad: Callable[[str], Exception], *, missing: str,
                     invalid: str = "not valid JSON",
                     not_object: str = "not a JSON object") -> dict[str, Any]:
    """The JSON object a tool left in ``path``; ``bad(problem)`` is raised when it is unusable.

    ``missing`` says why the file may be absent; ``invalid`` (followed by the parser's
    message) and ``not_object`` word the other problems for the tool's file.
    """
    import json

    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise bad(f"missing ({missing})") from exc
    except OSError as exc:
        raise bad(f"cannot be read: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise bad(f"{invalid} (not UTF-8: {exc})") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise bad(f"{invalid} ({exc})") from exc
    if not isinstance(data, dict):
        raise bad(not_object)
    return data
