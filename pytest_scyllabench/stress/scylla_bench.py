"""scylla-bench as a :class:`~pytest_scyllabench.stress.base.StressTool`.

Built from source with the Go toolchain through the Go module proxy, from the small wrapper
module shipped in ``scylla_bench_module/`` (it repeats scylla-bench's ``replace`` of gocql by
ScyllaDB's fork, which Go ignores in a dependency), into
``cache_dir()/tools/scylla-bench-v1.1.1/scylla-bench``. A remote loader host gets a copy under
the deployment's workdir, ``<workdir>/tools/scylla-bench-v1.1.1/scylla-bench``.

Not yet checked against a run of the real binary: the Go module proxy still refuses the
source archives of scylla-bench (403, rechecked 2026-11-24 for v1.1.1 and older versions), so
the console parsers follow the format strings of its source. hdrhistogram-go, which writes
the HDR log, is now served: the log reading is tested on a recording of its real writer,
v1.2.0 (the version v1.1.1 requires), called as scylla-bench calls it
(``tests/unit/data/hdrhistogram-go``).

What the tool does, read from its source (``pkg/results`` and ``main.go``; see the docstrings
of the methods below):

* ``-hdr-latency-file`` gets one line per tag every reporting period (about 1 s), written by
  hdrhistogram-go's ``HistogramLogWriter``: ``co-fixed`` (completion minus the *intended* start
  given by the ``-max-rate`` limiter: response time) and ``raw`` (service time), plus
  ``co-fixed-read``/``co-fixed-write``/``raw-read``/``raw-write`` in ``-mode mixed`` (some
  versions add a ``-latency`` suffix). Timestamps are seconds relative to a base time (the
  start, rounded down to a whole second) announced twice in the header, as
  ``#[Basetime: <s>`` (lowercase t in hdrhistogram-go v1.2.0; v1.4.0 writes ``BaseTime``) and
  ``#[StartTime: <s>``; :func:`~pytest_scyllabench.hdr.log.read_log` takes the relative
  timestamps from ``StartTime``. Values are in ``-hdr-latency-units`` (``us`` here).
* Its tags do not name the operation outside mixed mode: ``co-fixed`` of a ``-mode write`` run
  is write response time. :meth:`ScyllaBenchTool.canonical_tag` therefore needs the step.
* ``-max-rate`` is split over the ``-concurrency`` goroutines by integer division, a goroutine
  at 0 ops/s running unthrottled: the concurrency is lowered to a divisor of the loader's rate.
* ``-workload sequential`` starts every run at ``-partition-offset``: with several loaders
  each sweeps its own contiguous share of the keys (``uniform`` loaders draw from all of them).
* Every run first creates keyspace ``-keyspace`` (NetworkTopologyStrategy,
  ``-replication-factor``) and table ``-table (pk bigint, ck bigint, v blob)`` if missing;
  there is no schema-only mode.
* Console: a progress line per period (``time ops rows errors max 99.9th 99th 95th 90th median
  mean``, durations in Go's notation), then ``Results`` with ``Total ops:``, ``Total errors:``
  (only when non-zero) and the latency summary.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pytest_scyllabench.errors import (
    CommandError,
    ConfigError,
    MissingDependencyError,
    StressError,
)
from pytest_scyllabench.paths import cache_dir
from pytest_scyllabench.stress.base import (
    Invocation,
    LoaderFiles,
    LoaderSummary,
    Progress,
    log_window,
    workload_field,
)
from pytest_scyllabench.stress.step import Step, Workload, contiguous_share

if TYPE_CHECKING:
    from pytest_scyllabench.execute.base import Executor
    from pytest_scyllabench.profile import LoaderSpec

VERSION = "v1.1.1"
MODULE = "github.com/scylladb/scylla-bench"
#: Oldest Go that reads the ``go 1.25.0`` line of scylla-bench's go.mod.
MIN_GO = (1, 25)
BUILD_TIMEOUT = 1200.0
DEFAULT_CQL_PORT = 9042
#: Goroutines of the populate phase (closed loop, not measured).
POPULATE_CONCURRENCY = 128
#: Concurrency may be lowered to a divisor of the rate, but not below this share of it.
MIN_CONCURRENCY_SHARE = 4
#: Seconds run after the measured window: the period in progress when -duration ends is
#: not logged, so the log would stop up to one period early.
TAIL = 1.0

LatencyKind = Literal["co-fixed", "raw"]
_LATENCY_TYPE = {"co-fixed": "fixed-coordinated-omission", "raw": "raw"}
_HINT = ("install Go 1.25 or later (Debian package golang, or https://go.dev/dl), "
         "or give the tool a prebuilt scylla-bench binary")

# Go's time.Duration.String(): "0s", "144µs", "2.1s", "1m0.5s". re.ASCII: \d is 0-9 only
# (int() and float() would read other scripts' digits).
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?)(ns|us|µs|μs|ms|s|m|h)", re.ASCII)
_DURATION = re.compile(rf"(?:{_DURATION_PART.pattern})+", re.ASCII)
_UNIT_S = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0,
           "h": 3600.0}
_PROGRESS = re.compile(r"\s*(?P<time>\S+)\s+(?P<ops>\d+)\s+(?P<rows>\d+)\s+(?P<errors>\d+)"
                       r"(?:\s+(?P<max>\S+)\s+(?P<p999>\S+)\s+(?P<p99>\S+)(?:\s+\S+){4})?\s*",
                       re.ASCII)
_TOTAL_OPS = re.compile(r"Total ops:\s+(\d+)\s*", re.ASCII)
_TOTAL_ERRORS = re.compile(r"Total errors:\s+(\d+)\s*", re.ASCII)
_CRITICAL = "Following critical errors were caught during the run:"
_TAG = re.compile(r"(?P<kind>co-fixed|raw)(?:-(?P<op>read|write))?(?:-latency)?")


def go_duration(text: str) -> float | None:
    """Seconds in a duration printed by Go (``2.1s``, ``144µs``, ``1m5s``); ``None`` if not one."""
    if not _DURATION.fullmatch(text):
        return None
    return sum(float(number) * _UNIT_S[unit] for number, unit in _DURATION_PART.findall(text))


@dataclass(frozen=True)
class _Period:
    """One progress line: elapsed seconds at its end, operations and errors in it."""

    elapsed: float
    ops: int
    errors: int


class ScyllaBenchTool:
    """Drives scylla-bench at a fixed rate; its ``co-fixed`` latency is response time."""

    name = "scylla-bench"
    #: ``-hdr-latency-units us``.
    hdr_value_ns = 1000.0

    def __init__(self, binary: str | Path | None = None, *, allow_service_time: bool = False,
                 latency: LatencyKind = "co-fixed", request_timeout: float | None = None,
                 go: str = "go") -> None:
        if latency not in _LATENCY_TYPE:
            raise ConfigError(f"scylla-bench: latency must be one of {sorted(_LATENCY_TYPE)}, "
                              f"not {latency!r}")
        self._given = Path(binary) if binary is not None else None
        self._allow_service_time = allow_service_time
        self._latency = latency
        self._request_timeout = request_timeout
        self._go = go
        self._lock = asyncio.Lock()
        #: The program on each remote loader host (by executor host name), once uploaded.
        self._remote: dict[str, str] = {}

    @property
    def binary(self) -> Path:
        """The program on this machine: given, or built into the cache."""
        return self._given or cache_dir() / "tools" / f"scylla-bench-{VERSION}" / "scylla-bench"

    def binary_for(self, loader: str) -> str:
        """The program run on host ``loader``: its uploaded copy, else :attr:`binary`."""
        return self._remote.get(loader, str(self.binary))

    @staticmethod
    def remote_binary(workdir: str) -> str:
        """Where a remote loader host keeps its copy, under the deployment's workdir."""
        return f"{workdir.rstrip('/')}/tools/scylla-bench-{VERSION}/scylla-bench"

    @property
    def measures_response_time(self) -> bool:
        """``co-fixed`` latency at a fixed ``-max-rate`` is measured from the intended start."""
        return self._latency == "co-fixed"

    def version(self) -> str:
        return f"scylla-bench {VERSION}"

    # --- install ----------------------------------------------------------------------

    async def install(self, executor: Executor, workdir: str | None = None) -> None:
        """Build the binary into the cache (once), and copy it to a remote loader host.

        A remote host (``workdir`` set: the deployment's directory there, which its login
        user can write) gets it at :meth:`remote_binary`, uploaded beside it and renamed
        into place, so that a copy another session is running is replaced, not overwritten.
        """
        from pytest_scyllabench.execute.local import LocalExecutor

        async with self._lock:
            if self._given is not None:
                if not self._given.is_file():
                    raise MissingDependencyError(f"scylla-bench binary {self._given} not found")
            elif not self.binary.is_file():
                await self._build(LocalExecutor())
        if workdir is None:
            return
        remote = self.remote_binary(workdir)
        partial = f"{remote}.{executor.host}.partial"
        await executor.run(["mkdir", "-p", remote.rsplit("/", 1)[0]], timeout=60.0)
        await executor.put(self.binary, partial)
        await executor.run(["sh", "-c", f"chmod 755 {shlex.quote(partial)} && "
                                        f"mv -f {shlex.quote(partial)} {shlex.quote(remote)}"],
                           timeout=60.0)
        self._remote[executor.host] = remote

    async def _build(self, local: Executor) -> None:
        go = shutil.which(self._go)
        if go is None:
            raise MissingDependencyError(f"scylla-bench {VERSION} is built from source and "
                                         f"`{self._go}` is not on PATH: {_HINT}")
        found = await local.run([go, "env", "GOVERSION"], timeout=60.0)
        version = _go_version(found.stdout.strip())
        if version is not None and version < MIN_GO and not os.environ.get("GOTOOLCHAIN"):
            raise MissingDependencyError(f"scylla-bench {VERSION} needs Go 1.25 or later, "
                                         f"found {found.stdout.strip()}: {_HINT}")
        target = self.binary
        target.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".build-", dir=target.parent))
        try:
            module = resources.files("pytest_scyllabench.stress") / "scylla_bench_module"
            for name in ("go.mod", "go.sum"):
                (work / name).write_bytes((module / name).read_bytes())
            flags = " ".join(filter(None, [os.environ.get("GOFLAGS", ""), "-mod=mod"]))
            command = [go, "build", "-trimpath", "-o", str(work / "scylla-bench"), MODULE]
            try:
                await local.run(command, timeout=BUILD_TIMEOUT, cwd=str(work),
                                env={"GOFLAGS": flags})
            except CommandError as exc:
                raise MissingDependencyError(
                    f"scylla-bench {VERSION} could not be built with `go build` (module proxy: "
                    f"{os.environ.get('GOPROXY') or 'default'}); {_HINT}\n{exc}") from exc
            os.replace(work / "scylla-bench", target)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    # --- commands ---------------------------------------------------------------------

    def _common(self, workload: Workload, inv: Invocation) -> list[str]:
        _check_workload(workload)
        argv = [self.binary_for(inv.loader), "-nodes", _nodes(inv.hosts, inv.port),
                "-consistency-level", workload.consistency.lower(),
                "-replication-factor", str(inv.replication_factor),
                "-keyspace", workload.keyspace, "-table", workload.table,
                "-clustering-row-count", "1", "-clustering-row-size", str(workload.row_size),
                "-rows-per-request", "1"]
        if self._request_timeout is not None:
            argv += ["-timeout", _go_seconds(self._request_timeout)]
        return argv

    def check_workload(self, workload: Workload) -> None:
        """What :meth:`step_command` would refuse of ``workload``, the field named first.

        The profile schema has checked partitions and row_size before, so that what
        ``_check_workload`` refuses there is the key distribution.
        """
        try:
            _mode(Step(workload, rate=1, duration=1.0), "scylla-bench")
        except ConfigError as exc:
            raise ConfigError(f"workloads.{workload.name}.mix: {exc}") from None
        try:
            _check_workload(workload)
        except ConfigError as exc:
            raise ConfigError(f"workloads.{workload.name}.distribution: {exc}") from None

    def schema_command(self, workload: Workload, invocation: Invocation) -> list[str]:
        """Writes partition 0 once: scylla-bench creates keyspace and table before any mode."""
        return [*self._common(workload, invocation), "-mode", "write", "-workload", "sequential",
                "-partition-count", "1", "-iterations", "1", "-concurrency", "1",
                "-connection-count", "1", "-measure-latency=false"]

    def populate_command(self, workload: Workload, invocation: Invocation) -> list[str]:
        """This loader's contiguous share of the rows, each written once, unthrottled.

        A loader whose share is empty (more loaders than rows) runs ``true``.
        """
        rows = min(workload.populate or workload.partitions, workload.partitions)
        offset, count = contiguous_share(rows, invocation.index, invocation.count)
        if count == 0:
            return ["true"]
        return [*self._common(workload, invocation), "-mode", "write", "-workload", "sequential",
                "-partition-offset", str(offset), "-partition-count", str(count),
                "-iterations", "1", "-concurrency", str(min(POPULATE_CONCURRENCY, count)),
                "-measure-latency=false"]

    def step_command(self, step: Step, invocation: Invocation) -> list[str]:
        """Runs for warm-up, duration and :data:`TAIL`; :meth:`summarize` trims the warm-up."""
        where = f"step {step.id}: scylla-bench"
        if not invocation.hdr_log:
            raise StressError(f"loader {invocation.loader}: {where} needs an HDR log path")
        mode = _mode(step, where)
        if not self.measures_response_time and not self._allow_service_time:
            raise ConfigError(f"{where}: latency 'raw' records service time only; set "
                              f"allow_service_time to accept it")
        if invocation.rate <= 0 and not self._allow_service_time:
            raise ConfigError(f"{where}: rate {invocation.rate} for {invocation.loader}: without "
                              f"a rate scylla-bench runs a closed loop (service time only)")
        total = step.warmup + step.duration
        if step.duration <= 0 or total <= 0:
            raise ConfigError(f"{where}: duration must be positive, not {step.duration:g}")
        if step.connections < 1:
            raise ConfigError(f"{where}: connections must be at least 1, not {step.connections}")
        workload = "sequential" if step.workload.distribution == "sequential" else "uniform"
        if workload == "sequential":
            offset, count = _sequential_share(step.workload, invocation)
            keys = ["-partition-offset", str(offset), "-partition-count", str(count)]
            # Goroutine i sweeps keys offset + i * count // concurrency...: one without a key
            # of its own would write the key after the share, over and over.
            goroutines = _concurrency(step, invocation.rate, where, limit=count)
        else:
            keys = ["-partition-count", str(step.workload.partitions)]
            goroutines = _concurrency(step, invocation.rate, where)
        argv = [*self._common(step.workload, invocation), "-mode", mode, "-workload", workload,
                *keys, "-concurrency", str(goroutines),
                "-connection-count", str(step.connections),
                "-max-rate", str(max(invocation.rate, 0)), "-duration", _go_seconds(total + TAIL),
                "-hdr-latency-file", invocation.hdr_log, "-hdr-latency-units", "us",
                "-hdr-latency-sig", "3", "-latency-type", _LATENCY_TYPE[self._latency]]
        if workload == "sequential":
            argv += ["-iterations", "0"]  # loop over the partitions until -duration ends
        return argv

    # --- output -----------------------------------------------------------------------

    def canonical_tag(self, raw: str, step: Step | None = None) -> str | None:
        """``co-fixed`` -> ``<op>-rt``, ``raw`` -> ``<op>-st`` (``<op>-st`` only with latency raw).

        ``<op>`` is in the tag in mixed mode (``co-fixed-read``...), else it is the step's
        only operation: without ``step`` an untyped tag is ignored (``None``). Mixed mode's
        untyped tags sum both operations and are ignored too.
        """
        match = _TAG.fullmatch(raw)
        if match is None:
            return None
        operation = match["op"]
        if operation is None:
            if step is None or len(_operations(step.workload)) != 1:
                return None
            operation = _operations(step.workload)[0]
        if match["kind"] == "co-fixed":
            return f"{operation}-rt" if self._latency == "co-fixed" else None
        return f"{operation}-st"

    def parse_progress(self, line: str, loader: str) -> Progress | None:
        """A period line: ops in the period (about 1 s) as the rate, p99 of ``-latency-type``."""
        period = _PROGRESS.fullmatch(line)
        if period is None:
            return None
        elapsed = go_duration(period["time"])
        if elapsed is None:
            return None
        p99 = go_duration(period["p99"]) if period["p99"] else 0.0
        if p99 is None:
            return None
        return Progress(loader=loader, elapsed=elapsed, rate=float(period["ops"]),
                        p99_ms=p99 * 1000.0, errors=int(period["errors"]))

    def summarize(self, loader: str, step: Step, files: LoaderFiles) -> LoaderSummary:
        """Errors from the final summary; operations of the periods in the measured window.

        The window is the HDR log's span less the warm-up (:func:`log_window`). A period
        counts when its midpoint (console clock) lies after the warm-up: the console and the
        log start within a second of each other, which the merge's one-interval tolerance
        absorbs.
        """
        path = files.stdout

        def bad(problem: str) -> StressError:
            return StressError(f"loader {loader}: {path}: {problem}")

        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except FileNotFoundError as exc:
            raise bad("missing (scylla-bench wrote no output)") from exc
        except OSError as exc:
            raise bad(f"cannot be read: {exc}") from exc
        stripped = [line.strip() for line in lines]
        if "Results" not in stripped:
            raise bad("no final 'Results' section: the output is truncated "
                      "(scylla-bench did not finish)")
        end = stripped.index("Results")
        periods = _periods(lines[:end])
        total_ops = _field(stripped[end:], _TOTAL_OPS)
        if total_ops is None:
            raise bad("the final summary has no 'Total ops' line")
        # scylla-bench prints "Total errors:" only when there were errors.
        errors = _field(stripped[end:], _TOTAL_ERRORS) or 0
        if sum(p.ops for p in periods) > total_ops:
            raise bad(f"its periods add up to {sum(p.ops for p in periods)} operations, more "
                      f"than its total of {total_ops}")
        measure_start, measure_end = log_window(files.hdr_log, loader, step.warmup)
        measured = failed = 0
        previous = 0.0
        for period in periods:
            if (previous + period.elapsed) / 2 > step.warmup:
                measured += period.ops
                failed += period.errors
            previous = period.elapsed
        # The step is judged on the failures of its measured window, as on its operations;
        # a summary without periods (nothing to place in time) keeps its total.
        return LoaderSummary(loader=loader, tool_version=self.version(),
                             measure_start=measure_start, measure_end=measure_end,
                             ops=measured, errors=failed if periods else errors,
                             error_samples=_critical(lines[end:]))


def create(spec: LoaderSpec) -> ScyllaBenchTool:
    """scylla-bench built from source, refusing service-time runs unless the profile allows."""
    return ScyllaBenchTool(spec.tool_paths.get("scylla-bench"),
                           allow_service_time=spec.allow_service_time)


# --- helpers ----------------------------------------------------------------------------


def _operations(workload: Workload) -> list[str]:
    return sorted(op for op, weight in workload.mix.items() if weight > 0)


def _mode(step: Step, where: str) -> str:
    mix = {op: weight for op, weight in step.workload.mix.items() if weight > 0}
    if set(mix) == {"write"} or set(mix) == {"read"}:
        return next(iter(mix))
    if set(mix) == {"read", "write"} and mix["read"] == mix["write"]:
        return "mixed"  # alternates writes and reads, 50/50
    raise ConfigError(f"{where} cannot run mix {dict(step.workload.mix)}: it writes, reads, or "
                      f"alternates the two 50/50 (-mode mixed); use the builtin tool for "
                      f"other mixes")


def _check_workload(workload: Workload) -> None:
    where = f"workload {workload.name}: scylla-bench"
    if workload.distribution not in ("uniform", "sequential"):
        raise ConfigError(f"{where} cannot draw keys with distribution "
                          f"{workload.distribution!r}: it has only uniform and sequential "
                          f"(-workload); use the builtin tool")
    if workload.partitions < 1:
        raise ConfigError(f"{where}: partitions must be at least 1, not {workload.partitions}")
    if workload.row_size < 1:
        raise ConfigError(f"{where}: row_size must be at least 1 byte, not {workload.row_size}")


def _sequential_share(workload: Workload, inv: Invocation) -> tuple[int, int]:
    """``(offset, count)``: this loader's contiguous share of the keys of a sequential step.

    Every loader would otherwise sweep the same keys in the same order (scylla-bench starts
    each run at ``-partition-offset``); the shares, split as the populate phase splits its
    rows, cover every key once.
    """
    partitions = workload.partitions
    offset, count = contiguous_share(partitions, inv.index, inv.count)
    if count < 1:
        raise ConfigError(f"{workload_field(workload, 'partitions')}: {partitions} leaves "
                          f"loader {inv.loader} no key of a sequential distribution over "
                          f"{inv.count} loaders")
    return offset, count


def _concurrency(step: Step, rate: int, where: str, limit: int | None = None) -> int:
    """The largest divisor of ``rate`` not above the step's concurrency (0 rate: unchanged),
    nor above ``limit`` when given (the keys of a sequential share)."""
    if step.concurrency < 1:
        raise ConfigError(f"{where}: concurrency must be at least 1, not {step.concurrency}")
    wanted = step.concurrency if limit is None else max(1, min(step.concurrency, limit))
    if rate <= 0:
        return wanted
    best = max(d for d in range(1, min(wanted, rate) + 1) if rate % d == 0)
    if rate >= wanted and best * MIN_CONCURRENCY_SHARE < wanted:
        raise ConfigError(f"{where}: concurrency {wanted} does not divide the loader's rate "
                          f"{rate} and its largest divisor below it is {best}: scylla-bench "
                          f"gives each goroutine max-rate/concurrency ops/s (integer division); "
                          f"choose a rate or concurrency with a large common divisor")
    return best


def _nodes(hosts: Sequence[str], port: int) -> str:
    if port == DEFAULT_CQL_PORT:
        return ",".join(hosts)
    return ",".join(f"[{h}]:{port}" if ":" in h and not h.startswith("[") else f"{h}:{port}"
                    for h in hosts)


def _go_seconds(seconds: float) -> str:
    """A duration Go's ``time.ParseDuration`` reads, to the millisecond."""
    return f"{round(seconds * 1000)}ms"


def _go_version(text: str) -> tuple[int, int] | None:
    match = re.match(r"go(\d+)\.(\d+)", text)
    return (int(match[1]), int(match[2])) if match else None


def _periods(lines: Sequence[str]) -> list[_Period]:
    periods = []
    for line in lines:
        match = _PROGRESS.fullmatch(line)
        elapsed = go_duration(match["time"]) if match else None
        if match is not None and elapsed is not None:
            periods.append(_Period(elapsed, int(match["ops"]), int(match["errors"])))
    return periods


def _field(lines: Sequence[str], pattern: re.Pattern[str]) -> int | None:
    for line in lines:
        match = pattern.fullmatch(line)
        if match is not None:
            return int(match[1])
    return None


def _critical(lines: Sequence[str], limit: int = 5) -> tuple[str, ...]:
    stripped = [line.strip() for line in lines]
    if _CRITICAL not in stripped:
        return ()
    after = lines[stripped.index(_CRITICAL) + 1:]
    samples = []
    for line in after:
        if not line.startswith("    "):
            break
        samples.append(line.strip())
    return tuple(samples[:limit])
