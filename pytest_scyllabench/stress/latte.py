"""latte (``latte-cli`` on crates.io) as a :class:`~pytest_scyllabench.stress.base.StressTool`.

Built from source with ``cargo install latte-cli --version 0.29.0 --locked`` into
``cache_dir()/tools/latte-0.29.0/bin/latte`` (niced, its target directory a temporary one
under the cache). It runs our own Rune workload, ``latte_workloads/kv.rn`` (copied into
``cache_dir()/tools/latte-workloads/`` at install): the built-in loader's table
``(pk bigint PRIMARY KEY, v blob)``, functions ``write`` and ``read`` mixed by
``-f write:W -f read:R``, keys uniform (hashed cycle number) or sequential. A remote loader
host gets both under the deployment's workdir, ``<workdir>/tools/latte-0.29.0/latte`` and
``<workdir>/tools/latte-workloads/kv.rn`` (its login user can write there, not in this
machine's cache path).

What the tool does, read from the 0.29.0 source (``src/main.rs``, ``src/exec``, ``src/stats``)
and checked on recorded runs (``tests/unit/data/latte``):

* Service time only. ``--rate`` paces calls with a tokio interval that *skips* missed ticks,
  and a call's latency runs from the moment ``buffer_unordered`` starts it (at most
  ``--concurrency`` in flight), not from its tick: a stall that fills the concurrency
  delays and drops calls without charging them the wait (coordinated omission; upstream
  issue pkolaczk/latte#120, fixed only in ScyllaDB's fork). :attr:`LatteTool.measures_response_time`
  is false and :meth:`LatteTool.check_workload` refuses (when the profile is loaded) unless
  ``loaders.allow_service_time``.
* Its warm-up (``--warmup``) runs *unthrottled*: steps run with ``--warmup 0`` for warm-up
  plus duration at the rate, and :meth:`LatteTool.summarize` trims the warm-up
  (:func:`~pytest_scyllabench.stress.base.log_window`).
* ``latte run --output report.json`` saves every 1 s sample (``--sampling``) with its
  histograms; ``latte hdr report.json --output log`` exports them as an HDR interval log:
  tags ``cycles`` (one call of the workload function: our operation) and ``requests`` (each
  CQL request), values in nanoseconds, ``#[StartTime:`` and ``#[BaseTime:`` both the run's
  start (epoch seconds) and interval timestamps relative to it, to the millisecond;
  ``Interval_Max`` in milliseconds (``#[MaxValueDivisor: 1000000.000]``). It writes no
  legend line, which :func:`~pytest_scyllabench.hdr.log.read_log` requires before the first
  interval, so the step command inserts one (``awk``) after the header comments.
* The export has no per-function histograms: a mixed step's ``cycles`` are all operations
  together (``all-st``).
* A failed query does not fail the call in 0.29.0 (``Context::execute_inner`` records the
  error and returns ``Ok``): the report's ``error_count`` (calls) stays 0 and failed requests
  are counted per sample in ``req_error_count``; the run stops only on other script errors.
* Console (stdout): the run configuration, one line per sample (``time cycles errors
  throughput`` and the latency percentiles min 25 50 75 90 99 99.9 max in ms), then summary
  tables. ``info:`` and ``error:`` lines go to stderr.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import shlex
import shutil
import struct
import tempfile
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    read_json_object,
    workload_field,
)
from pytest_scyllabench.stress.step import Step, Workload

if TYPE_CHECKING:
    from pytest_scyllabench.execute.base import Executor
    from pytest_scyllabench.profile import LoaderSpec

VERSION = "0.29.0"
CRATE = "latte-cli"
WORKLOAD = "kv.rn"
BUILD_TIMEOUT = 3600.0
#: Concurrency of the populate phase (closed loop, not measured).
POPULATE_CONCURRENCY = 128
#: Seconds per sample of the run, hence per interval of the HDR log.
SAMPLING = 1.0
#: The legend line of an HDR interval log (``latte hdr`` writes none).
LEGEND = '"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"'
_HINT = ("install Rust with rustup (https://rustup.rs, puts cargo on PATH) and the Debian "
         "packages build-essential pkg-config libssl-dev, or give the tool a prebuilt latte "
         "binary (loaders.tool_paths.latte)")
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,47}")
_VERSION_OUT = re.compile(r"(\d+\.\d+\.\d+\S*)\s*$")
#: A sample line: time, cycles, errors, throughput, then 8 latencies in ms.
_SAMPLE_FIELDS = 12
#: Slack of the measured window's start, ms (log timestamps are whole milliseconds).
_SLACK_MS = 0.5
#: A sample's ``time_s`` (seconds since the start of the run) beyond this is not a time.
_MAX_TIME_S = 1e11


class LatteTool:
    """Drives ``latte run`` on our Rune workload; its latency is service time only."""

    name = "latte"
    #: ``latte hdr`` records nanoseconds.
    hdr_value_ns = 1.0
    #: 0.29.0 measures each call from its actual start (see the module docstring).
    measures_response_time = False

    def __init__(self, binary: str | Path | None = None, *, allow_service_time: bool = False,
                 request_timeout: float | None = None, threads: int = 1,
                 cargo: str = "cargo") -> None:
        if threads < 1:
            raise ConfigError(f"latte: threads must be at least 1, not {threads}")
        if request_timeout is not None and not request_timeout > 0:
            raise ConfigError(f"latte: request_timeout must be positive, not {request_timeout}")
        self._given = Path(binary) if binary is not None else None
        self._allow_service_time = allow_service_time
        self._request_timeout = request_timeout
        self._threads = threads
        self._cargo = cargo
        self._version = VERSION
        self._lock = asyncio.Lock()
        #: The program and the workload on each remote loader host (by executor host name),
        #: once uploaded.
        self._remote: dict[str, tuple[str, str]] = {}

    @property
    def binary(self) -> Path:
        """The program on this machine: given, or built into the cache."""
        return self._given or cache_dir() / "tools" / f"latte-{VERSION}" / "bin" / "latte"

    @property
    def workload_script(self) -> Path:
        """Our Rune workload on this machine, copied out of the package at install."""
        return cache_dir() / "tools" / "latte-workloads" / WORKLOAD

    def binary_for(self, loader: str) -> str:
        """The program run on host ``loader``: its uploaded copy, else :attr:`binary`."""
        remote = self._remote.get(loader)
        return remote[0] if remote else str(self.binary)

    def script_for(self, loader: str) -> str:
        """The workload run on host ``loader``: its uploaded copy, else :attr:`workload_script`."""
        remote = self._remote.get(loader)
        return remote[1] if remote else str(self.workload_script)

    @staticmethod
    def remote_binary(workdir: str) -> str:
        """Where a remote loader host keeps its copy, under the deployment's workdir."""
        return f"{workdir.rstrip('/')}/tools/latte-{VERSION}/latte"

    @staticmethod
    def remote_script(workdir: str) -> str:
        """Where a remote loader host keeps the workload, under the deployment's workdir."""
        return f"{workdir.rstrip('/')}/tools/latte-workloads/{WORKLOAD}"

    def version(self) -> str:
        return f"latte {self._version}"

    # --- install ----------------------------------------------------------------------

    async def install(self, executor: Executor, workdir: str | None = None) -> None:
        """Build the binary into the cache (once) and copy it and the workload to a remote host.

        A given binary is not built; its ``--version`` becomes :meth:`version`. A remote host
        (``workdir`` set: the deployment's directory there, which its login user can write)
        gets them at :meth:`remote_binary` and :meth:`remote_script`, each uploaded beside its
        place and renamed into it, so that copies another session is running are replaced,
        not overwritten.
        """
        from pytest_scyllabench.execute.local import LocalExecutor

        async with self._lock:
            local = LocalExecutor()
            if self._given is not None:
                if not self._given.is_file():
                    raise MissingDependencyError(f"latte binary {self._given} not found")
                found = await local.run([str(self._given), "--version"], timeout=60.0)
                match = _VERSION_OUT.search(found.stdout.strip())
                if match is not None:
                    self._version = match[1]
            elif not self.binary.is_file():
                await self._build(local)
            _write_if_changed(self.workload_script, _script_bytes())
        if workdir is None:
            return
        binary, script = self.remote_binary(workdir), self.remote_script(workdir)
        partial_binary = f"{binary}.{executor.host}.partial"
        partial_script = f"{script}.{executor.host}.partial"
        await executor.run(["mkdir", "-p", binary.rsplit("/", 1)[0], script.rsplit("/", 1)[0]],
                           timeout=60.0)
        await executor.put(self.binary, partial_binary)
        await executor.put(self.workload_script, partial_script)
        quoted = [shlex.quote(path) for path in (partial_binary, binary, partial_script, script)]
        await executor.run(["sh", "-c", f"chmod 755 {quoted[0]} && mv -f {quoted[0]} {quoted[1]}"
                                        f" && mv -f {quoted[2]} {quoted[3]}"], timeout=60.0)
        self._remote[executor.host] = (binary, script)

    async def _build(self, local: Executor) -> None:
        cargo = shutil.which(self._cargo) or _rustup_cargo(self._cargo)
        if cargo is None:
            raise MissingDependencyError(f"latte {VERSION} is built from source and "
                                         f"`{self._cargo}` is not on PATH: {_HINT}")
        root = self.binary.parent.parent
        scratch = cache_dir() / "tmp"
        scratch.mkdir(parents=True, exist_ok=True)
        target = Path(tempfile.mkdtemp(prefix="latte-build-", dir=scratch))
        nice = shutil.which("nice")
        command = [*([nice, "-n", "15"] if nice else []), cargo, "install", CRATE,
                   "--version", VERSION, "--locked", "--root", str(root)]
        try:
            await local.run(command, timeout=BUILD_TIMEOUT, env={"CARGO_TARGET_DIR": str(target)})
        except CommandError as exc:
            raise MissingDependencyError(f"latte {VERSION} could not be built with `cargo "
                                         f"install`; {_HINT}\n{exc}") from exc
        finally:
            shutil.rmtree(target, ignore_errors=True)
        if not self.binary.is_file():
            raise MissingDependencyError(f"`cargo install {CRATE}` left no {self.binary}")

    # --- commands ---------------------------------------------------------------------

    def check_workload(self, workload: Workload) -> None:
        """Refuse without the service-time opt-in, and the workloads our script cannot run."""
        if not self._allow_service_time:
            raise ConfigError(f"loaders.allow_service_time: latte {VERSION} measures service "
                              f"time only (each call from its actual start, missed rate ticks "
                              f"skipped: coordinated omission); set "
                              f"loaders.allow_service_time: true to accept it")
        _check_workload(workload)

    def _params(self, workload: Workload, inv: Invocation, **extra: object) -> list[str]:
        """``-P name=value`` for the script (values are Rune expressions: strings quoted)."""
        _check_workload(workload)
        values: dict[str, object] = {
            "keyspace": f'"{workload.keyspace}"', "table": f'"{workload.table}"',
            "replication_factor": inv.replication_factor, "partitions": workload.partitions,
            "row_size": workload.row_size,
            "sequential": "true" if workload.distribution == "sequential" else "false",
            "loader": inv.index, "loaders": inv.count, **extra}
        argv = []
        for name, value in values.items():
            argv += ["-P", f"{name}={value}"]
        return argv

    def _connection(self, inv: Invocation) -> list[str]:
        """Options of every command that connects, then the workload and the contact points."""
        if inv.replication_factor < 1:
            raise ConfigError(f"loader {inv.loader}: replication_factor must be at least 1, "
                              f"not {inv.replication_factor}")
        if not inv.hosts:
            raise ConfigError(f"loader {inv.loader}: no hosts to connect to")
        argv = []
        if self._request_timeout is not None:
            argv += ["--request-timeout", _duration(self._request_timeout)]
        return [*argv, self.script_for(inv.loader), *_addresses(inv.hosts, inv.port)]

    def schema_command(self, workload: Workload, invocation: Invocation) -> list[str]:
        """``latte schema``: keyspace (SimpleStrategy) and table if missing; drops nothing."""
        return [self.binary_for(invocation.loader), "--log-file", os.devnull, "schema",
                *self._params(workload, invocation), *self._connection(invocation)]

    def populate_command(self, workload: Workload, invocation: Invocation) -> list[str]:
        """``latte load`` of this loader's contiguous share of the rows, unthrottled.

        The script has no ``erase`` function, so nothing is truncated first. A loader whose
        share is empty (more loaders than rows) runs ``true``.
        """
        rows = min(workload.populate or workload.partitions, workload.partitions)
        first = rows * invocation.index // invocation.count
        count = rows * (invocation.index + 1) // invocation.count - first
        if count <= 0:
            return ["true"]
        log = _beside(invocation.hdr_log, ".latte.log") if invocation.hdr_log else os.devnull
        return [self.binary_for(invocation.loader), "--log-file", log, "load", "--quiet",
                "--threads", str(self._threads),
                "--concurrency", str(min(POPULATE_CONCURRENCY, count)),
                "--consistency", workload.consistency,
                *self._params(workload, invocation, populate_offset=first,
                              populate_count=count),
                *self._connection(invocation)]

    def step_command(self, step: Step, invocation: Invocation) -> list[str]:
        """``sh -c 'latte run ... && latte hdr ... && awk ...'``: the run, then its HDR log.

        Runs warm-up plus duration at the rate with ``--warmup 0`` (latte's own warm-up is
        unthrottled); writes ``<log>.latte.json`` (report), ``<log>.latte.log`` (latte's
        log), ``<log>.latte.hlog`` (its export) and the HDR log with a legend line.
        """
        where = f"step {step.id}: latte"
        if not invocation.hdr_log:
            raise StressError(f"loader {invocation.loader}: {where} needs an HDR log path")
        self.check_workload(step.workload)
        functions = _functions(step.workload)
        if invocation.rate < 0:
            raise ConfigError(f"{where}: rate must not be negative, not {invocation.rate} "
                              f"for {invocation.loader}")
        if not step.duration > 0:
            raise ConfigError(f"{where}: duration must be positive, not {step.duration:g}")
        if step.warmup < 0:
            raise ConfigError(f"{where}: warmup must not be negative, not {step.warmup:g}")
        if step.concurrency < 1:
            raise ConfigError(f"{where}: concurrency must be at least 1, not {step.concurrency}")
        if step.connections < 1:
            raise ConfigError(f"{where}: connections must be at least 1, not {step.connections}")
        hdr_log = invocation.hdr_log
        report = _beside(hdr_log, ".latte.json")
        exported = _beside(hdr_log, ".latte.hlog")
        binary = self.binary_for(invocation.loader)
        run = [binary, "--log-file", _beside(hdr_log, ".latte.log"), "run", "--quiet",
               *(["--rate", str(invocation.rate)] if invocation.rate > 0 else []),
               "--warmup", "0", "--duration", _duration(step.warmup + step.duration),
               "--sampling", _duration(SAMPLING), "--threads", str(self._threads),
               "--concurrency", str(max(1, math.ceil(step.concurrency / self._threads))),
               "--connections", str(step.connections),
               "--consistency", step.workload.consistency, "--output", report]
        for function in functions:
            run += ["--functions", function]
        run += [*self._params(step.workload, invocation), *self._connection(invocation)]
        export = [binary, "--log-file", os.devnull, "hdr", report,
                  "--output", exported]
        legend = ["awk", "-v", f"legend={LEGEND}",
                  "!done && !/^#/ { print legend; done = 1 } { print }", exported]
        script = " && ".join([shlex.join(run), shlex.join(export),
                              f"{shlex.join(legend)} > {shlex.quote(hdr_log)}"])
        return ["sh", "-c", script]

    # --- output -----------------------------------------------------------------------

    def canonical_tag(self, raw: str, step: Step) -> str | None:
        """``cycles`` -> ``<op>-st`` (``all-st`` for a mixed step); ``requests`` is ignored.

        A call of our workload functions is one operation; the export does not split calls by
        function, so a mixed step has only the latency over all its operations.
        """
        if raw != "cycles":
            return None
        operations = _operations(step.workload)
        return f"{operations[0]}-st" if len(operations) == 1 else "all-st"

    def parse_progress(self, line: str, loader: str) -> Progress | None:
        """A sample line: throughput of the sample as the rate, its p99."""
        values = _sample_line(line)
        if values is None:
            return None
        return Progress(loader=loader, elapsed=values[0], rate=values[3], p99_ms=values[9],
                        errors=int(values[2]))

    def summarize(self, loader: str, step: Step, files: LoaderFiles) -> LoaderSummary:
        """Calls and failed requests of the samples in the measured window, from the report.

        The window is the HDR log's span less the warm-up (:func:`log_window`); a sample
        counts when its start, as the export writes it (whole milliseconds), lies in it: the
        rule of the merge, so the counts agree with the log. Operations are calls, failed or
        not (the log records both, so the summary says ``ops_include_errors``); errors are the
        failed requests (0.29.0 never fails a call for a failed query), or the failed calls if
        more.
        """
        report = Path(_beside(str(files.hdr_log), ".latte.json"))
        data = _read_report(report, loader)
        result = data["result"]
        samples = result["log"]
        measure_start, measure_end = log_window(files.hdr_log, loader, step.warmup)
        first = _stamp_ms(samples[0]["time_s"])
        measured = [s for s in samples
                    if _stamp_ms(s["time_s"]) - first >= step.warmup * 1000.0 - _SLACK_MS]
        ops = sum(s["cycle_count"] for s in measured)
        failed_calls = sum(s["cycle_error_count"] for s in measured)
        failed_requests = sum(s["req_error_count"] for s in measured)
        return LoaderSummary(loader=loader, tool_version=self.version(),
                             measure_start=measure_start, measure_end=measure_end, ops=ops,
                             errors=max(failed_calls, failed_requests),
                             error_samples=tuple(sorted(map(str, result["errors"])))[:5],
                             ops_include_errors=True)


def create(spec: LoaderSpec) -> LatteTool:
    """latte built from source, refusing its service-time runs unless the profile allows."""
    return LatteTool(spec.tool_paths.get("latte"), allow_service_time=spec.allow_service_time)


# --- helpers ----------------------------------------------------------------------------


def _script_bytes() -> bytes:
    return (resources.files("pytest_scyllabench.stress") / "latte_workloads" / WORKLOAD
            ).read_bytes()


def _write_if_changed(path: Path, content: bytes) -> None:
    """Write ``content`` atomically unless ``path`` already holds it."""
    try:
        if path.read_bytes() == content:
            return
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".kv-", dir=path.parent)
    with os.fdopen(handle, "wb") as out:
        out.write(content)
    os.replace(temporary, path)


def _rustup_cargo(name: str) -> str | None:
    """``~/.cargo/bin/cargo`` when rustup installed it but the shell profile is not loaded."""
    candidate = Path.home() / ".cargo" / "bin" / name
    return str(candidate) if name == "cargo" and os.access(candidate, os.X_OK) else None


def _operations(workload: Workload) -> list[str]:
    return sorted(op for op, weight in workload.mix.items() if weight > 0)


def _functions(workload: Workload) -> list[str]:
    """``--function name:weight`` values (our script has one function per operation), for a
    mix :func:`_check_workload` accepted."""
    mix = {op: weight for op, weight in workload.mix.items() if weight > 0}
    return [f"{op}:{mix[op]:g}" for op in sorted(mix)]


def _check_workload(workload: Workload) -> None:
    """``ConfigError`` naming the field of a workload our Rune script cannot run."""

    def refuse(field: str, problem: str) -> ConfigError:
        return ConfigError(f"{workload_field(workload, field)}: latte {problem}")

    positive = {op for op, weight in workload.mix.items() if weight > 0}
    if not positive or positive - {"write", "read"}:
        raise refuse("mix", f"cannot run mix {dict(workload.mix)}: its workload has the "
                            f"operations write and read, with positive weights")
    if workload.distribution not in ("uniform", "sequential"):
        raise refuse("distribution", f"cannot draw keys with distribution "
                                     f"{workload.distribution!r}: its workload has uniform "
                                     f"and sequential; use the builtin tool")
    if workload.partitions < 1:
        raise refuse("partitions", f"needs at least 1 partition, not {workload.partitions}")
    if workload.row_size < 1:
        raise refuse("row_size", f"needs rows of at least 1 byte, not {workload.row_size}")
    for field, value in (("keyspace", workload.keyspace), ("table", workload.table)):
        if not _IDENTIFIER.fullmatch(value):
            raise refuse(field, f"needs a plain CQL identifier (a letter, then letters, "
                                f"digits or _; 48 at most), not {value!r}")


def _addresses(hosts: Sequence[str], port: int) -> list[str]:
    """``host:port`` for the driver's known nodes (``[v6]:port`` for IPv6)."""
    return [f"[{h}]:{port}" if ":" in h and not h.startswith("[") else f"{h}:{port}"
            for h in hosts]


def _duration(seconds: float) -> str:
    """A duration latte's ``parse_duration`` reads, to the millisecond."""
    return f"{round(seconds * 1000)}ms"


def _beside(hdr_log: str, suffix: str) -> str:
    """A file next to the HDR log: ``loader-1.hlog`` -> ``loader-1<suffix>``."""
    path = Path(hdr_log)
    return str(path.with_name(path.stem + suffix))


def _stamp_ms(time_s: float) -> int:
    """A sample's start as ``latte hdr`` writes it: ``(time_s * 1000.0) as u64`` in f32."""
    single = struct.unpack("f", struct.pack("f", float(time_s)))[0]
    return int(struct.unpack("f", struct.pack("f", single * 1000.0))[0])


def _sample_line(line: str) -> list[float] | None:
    fields = line.split()
    if len(fields) != _SAMPLE_FIELDS:
        return None
    try:
        values = [float(field) for field in fields]
    except ValueError:
        return None
    return values if all(math.isfinite(v) for v in values[:4]) else None


def _read_report(path: Path, loader: str) -> Mapping[str, Any]:
    """The report JSON, checked for the fields :meth:`LatteTool.summarize` uses."""

    def bad(problem: str) -> StressError:
        return StressError(f"loader {loader}: {path}: {problem}")

    report = read_json_object(path, bad, missing="latte did not finish its run",
                              invalid="not valid JSON, truncated?",
                              not_object="not a latte report (not a JSON object)")
    result = report.get("result")
    if not isinstance(result, dict):
        raise bad("not a latte report (no 'result' object)")
    samples = result.get("log")
    if not isinstance(samples, list) or not samples:
        raise bad("the report has no samples (run with --drop-sampling-log, or no sample "
                  "was taken)")
    if not isinstance(result.get("errors"), list):
        raise bad("the report's 'errors' is not a list")
    for number, sample in enumerate(samples):
        if not isinstance(sample, dict):
            raise bad(f"sample {number} is not an object")
        for field in ("cycle_count", "cycle_error_count", "req_error_count"):
            value = sample.get(field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise bad(f"sample {number}: field {field!r} has a bad value {value!r}")
        value = sample.get("time_s")
        # NaN fails the comparison; an integer beyond a float compares without converting.
        if (isinstance(value, bool) or not isinstance(value, int | float)
                or not -_MAX_TIME_S < value < _MAX_TIME_S):
            shown = repr(value) if len(repr(value)) < 40 else repr(value)[:40] + "..."
            raise bad(f"sample {number}: field 'time_s' has a bad value {shown}")
    return report
