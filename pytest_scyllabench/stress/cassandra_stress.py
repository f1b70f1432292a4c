"""Apache cassandra-stress as a :class:`~pytest_scyllabench.stress.base.StressTool`.

The tool is cassandra-stress 4.0-alpha2, the only one on Maven Central that runs on Java 17
(see :mod:`~pytest_scyllabench.stress.cassandra_stress_dist` for where it comes from and how
it is cached). Locally it runs on the JDK :func:`~pytest_scyllabench.db.maven.find_java` picks
(17, else 11); a remote loader receives the packed tree with ``executor.put``, unpacks it under
``remote_root`` and needs a ``java`` (11 or 17) on its ``PATH``. ``loaders.tool_paths`` may
name a prebuilt tree instead (an unpacked Apache Cassandra binary tarball, the same path on
every loader), which is then used as it is. No JVM option is needed on
Java 17; the ``--add-exports``/``--add-opens`` of Cassandra's ``jvm11-clients.options`` are
passed anyway, as its ``tools/bin/cassandra-stress`` script does.

What a step becomes: cassandra-stress writes and reads its own table ``standard1`` (a blob
key and one blob column ``C0`` of ``row_size`` bytes) in the workload's keyspace, which it
creates with ``SimpleStrategy`` and the profile's replication factor; ``workload.table`` is
not used. Seeds ``1..partitions`` are the keys. ``zipfian`` has no equivalent and is refused
(by :meth:`CassandraStressTool.check_workload`, when the profile is loaded).
Requests are not retried and do not stop the run: failures are counted (``Total errors``);
reads of rows never written are not errors. It cannot start at the common start time: the
measured window is taken from its log (see :meth:`CassandraStressTool.summarize`), and with
several loaders each runs :data:`START_SKEW` seconds longer than warm-up plus duration, so
that the loaders' windows, started seconds apart, still overlap for the whole duration (the
common window is then longer than the step unless the merge cuts it to the step's duration).

Its HDR log (``-log hdrfile=``): format 1.3, ``#[BaseTime:`` and ``#[StartTime:`` the run's
start rounded down to the second, timestamps relative to it, one interval a second aligned
on wall-clock seconds, values in nanoseconds, tags ``<OP>-st`` (service time), ``<OP>-rt``
(response time from the intended start) and ``<OP>-wt`` (the wait between intended and actual
start), ``<OP>`` being ``WRITE`` or ``READ``. Its console prints a ``total,`` line per
interval (one per operation too in ``mixed``) and a ``Results:`` block at the end.
"""

from __future__ import annotations

import asyncio
import math
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pytest_scyllabench.errors import (
    CommandError,
    ConfigError,
    MissingDependencyError,
    StressError,
)
from pytest_scyllabench.stress.base import (
    Invocation,
    LoaderFiles,
    LoaderSummary,
    Progress,
    hosts_arg,
    workload_field,
)
from pytest_scyllabench.stress.cassandra_stress_dist import (
    MARKER,
    MAVEN_CENTRAL,
    ensure_tree,
    pack_tree,
)
from pytest_scyllabench.stress.step import Step, Workload

if TYPE_CHECKING:
    from pytest_scyllabench.execute.base import Executor
    from pytest_scyllabench.profile import LoaderSpec

Mode = Literal["fixed", "throttle"]

DEFAULT_VERSION = "4.0-alpha2"
#: Versions whose binary tarball is on Maven Central and that run on Java 17.
SUPPORTED_VERSIONS = ("4.0-alpha2",)
REMOTE_ROOT = "/tmp/pytest-scyllabench/tools"
REMOTE_TIMEOUT = 600.0
MAIN_CLASS = "org.apache.cassandra.stress.Stress"
#: From Cassandra 4.0's conf/jvm-clients.options and jvm11-clients.options.
JVM_OPTIONS = (
    "-Djdk.attach.allowAttachSelf=true",
    "--add-exports", "java.base/jdk.internal.misc=ALL-UNNAMED",
    "--add-exports", "java.base/jdk.internal.ref=ALL-UNNAMED",
    "--add-exports", "java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens", "java.base/java.lang.module=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.loader=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.ref=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.reflect=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.math=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.module=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.util.jar=ALL-UNNAMED",
)
#: Seconds several loaders' starts may lie apart (JVM start, connecting, its own 3 s of
#: sleeps): each runs this much longer so that their windows overlap for the whole step.
START_SKEW = 5.0
#: Seconds per HDR interval and progress line (``-log interval=``).
LOG_INTERVAL = 1
#: A last interval shorter than this fraction of LOG_INTERVAL is the run's tail, not measured.
COMPLETE_FRACTION = 0.95
#: Timestamps of the log have millisecond resolution (as in hdr.merge).
SLACK = 0.0005
#: Window bounds sit this far before a whole second of the interval grid (see summarize).
GRID_GUARD = 0.05
NATIVE_PROTOCOL = 4
POPULATE_THREADS = 64
#: Requests one connection may have in flight before the driver queues them.
MAX_PENDING = 128
#: Columns of a ``total,`` progress line: type, total ops, op/s, pk/s, row/s, mean, med, .95,
#: .99, .999, max, time, stderr, errors, gc: #, max ms, sum ms, sdv ms, mb.
_ROW_FIELDS = 19


@dataclass(frozen=True)
class ConsoleRow:
    """One ``total,`` line of its console: an interval of the whole run."""

    #: Operations since the start (cumulative).
    ops: int
    rate: float
    p99_ms: float
    #: Seconds since the start of the run, at the end of this interval.
    elapsed: float
    #: Failed operations in this interval.
    errors: int


@dataclass(frozen=True)
class ConsoleReport:
    """Its console output: the progress lines and the final ``Results:`` block."""

    rows: tuple[ConsoleRow, ...]
    errors: int
    partitions: int


class CassandraStressTool:
    """Drives cassandra-stress (see the module docstring).

    ``home`` is a prebuilt tree to use instead of the download (``loaders.tool_paths``): an
    unpacked Apache Cassandra binary tarball of any version, or a tree this module built; the
    same path on every loader. ``java`` is the program to run it with (default: found at
    install). Both given, nothing is looked up (the unit tests build commands that way).
    """

    name = "cassandra-stress"
    #: Its HDR logs hold nanoseconds.
    hdr_value_ns = 1.0

    def __init__(self, mode: Mode = "fixed", version: str = DEFAULT_VERSION,
                 allow_service_time: bool = False, *, heap: str = "1G",
                 cache: Path | None = None, repository: str = MAVEN_CENTRAL,
                 remote_root: str = REMOTE_ROOT, java: str | None = None,
                 home: str | None = None, start_skew: float = START_SKEW) -> None:
        if mode not in ("fixed", "throttle"):
            raise ConfigError(f"cassandra-stress: mode {mode!r} is not 'fixed' or 'throttle'")
        if home is None and version not in SUPPORTED_VERSIONS:
            raise ConfigError(f"cassandra-stress: version {version!r} is not supported; "
                              f"supported: {', '.join(SUPPORTED_VERSIONS)} (the only binary "
                              f"distribution on Maven Central that runs on Java 17)")
        self._mode = mode
        self._version = version
        self._allow_service_time = allow_service_time
        self._heap = heap
        self._cache = cache
        self._repository = repository.rstrip("/")
        self._remote_root = remote_root
        self._java = java
        self._home = home
        self._start_skew = start_skew
        #: ``java`` program and install directory every command uses, once installed.
        self._placement = (java, home) if java and home else None

    @property
    def measures_response_time(self) -> bool:
        return self._mode == "fixed"

    def version(self) -> str:
        if self._home is not None:
            return f"cassandra-stress from {self._home}"
        return f"cassandra-stress {self._version}"

    # -- installation ---------------------------------------------------------------

    @property
    def cache_root(self) -> Path:
        from pytest_scyllabench.paths import cache_dir

        return (self._cache or cache_dir()) / "tools"

    async def install(self, executor: Executor, workdir: str | None = None) -> None:
        """Download, verify and unpack into the cache; copy to a remote host's ``remote_root``.

        With a prebuilt ``home``, only check that it is there. Idempotent.
        """
        from pytest_scyllabench.execute.local import LocalExecutor

        local = isinstance(executor, LocalExecutor)
        if self._java is not None:
            java = self._java
        elif local:
            java = await _local_java(self.version())
        else:
            java = await _remote_java(executor)
        if self._home is not None:
            await _check_tree(executor, self._home)
            home = self._home
        elif local:
            home = str(await asyncio.to_thread(ensure_tree, self._version, self.cache_root,
                                               self._repository))
        else:
            home = await self._install_remote(executor)
        placement = (java, home)
        if self._placement is not None and self._placement != placement:
            raise ConfigError(f"cassandra-stress: loader {executor.host} would run "
                              f"{placement[0]} in {placement[1]}, another loader "
                              f"{self._placement[0]} in {self._placement[1]}; the loaders of "
                              f"one tool must be all local or all remote")
        self._placement = placement

    async def _install_remote(self, executor: Executor) -> str:
        root = f"{self._remote_root}/cassandra-stress-{self._version}"
        done = await executor.run(["test", "-f", f"{root}/{MARKER}"], timeout=60,
                                  check=False)
        if done.exit_code == 0:
            return root
        home = await asyncio.to_thread(ensure_tree, self._version, self.cache_root,
                                       self._repository)
        packed = await asyncio.to_thread(pack_tree, home)
        await executor.run(["mkdir", "-p", root], timeout=60)
        await executor.put(packed, f"{root}.tar.gz")
        script = (f"tar -xzf {shlex.quote(root)}.tar.gz -C {shlex.quote(root)} "
                  f"&& rm -f {shlex.quote(root)}.tar.gz")
        await executor.run(["sh", "-c", script], timeout=REMOTE_TIMEOUT)
        return root

    def _jvm(self) -> list[str]:
        if self._placement is None:
            raise StressError("cassandra-stress: install() it before building commands")
        java, home = self._placement
        classpath = f"{home}/conf:{home}/tools/lib/stress.jar:{home}/lib/*"
        return [java, "-server", "-ea", f"-Xms{self._heap}", f"-Xmx{self._heap}",
                *JVM_OPTIONS, "-Dlogback.configurationFile=logback-tools.xml",
                "-cp", classpath, MAIN_CLASS]

    # -- commands -------------------------------------------------------------------

    def check_workload(self, workload: Workload) -> None:
        """Refuse throttle mode without the opt-in, and the workloads it cannot express."""
        if not self.measures_response_time and not self._allow_service_time:
            raise ConfigError(f"loaders.allow_service_time: cassandra-stress mode "
                              f"{self._mode!r} measures only service time; set "
                              f"loaders.allow_service_time: true to accept it (or use mode "
                              f"'fixed')")
        _check_workload(workload)

    def _options(self, workload: Workload, inv: Invocation, connections: int,
                 concurrency: int) -> list[str]:
        _check_workload(workload)
        if not inv.hosts:
            raise ConfigError(f"loader {inv.loader}: cassandra-stress: no hosts to connect to")
        if inv.replication_factor < 1:
            raise ConfigError(f"cassandra-stress: replication_factor "
                              f"{inv.replication_factor} must be at least 1")
        pending = max(MAX_PENDING, math.ceil(concurrency / connections))
        return ["-col", "n=FIXED(1)", f"size=FIXED({workload.row_size})",
                "-schema", f"keyspace={workload.keyspace}",
                f"replication(factor={inv.replication_factor})",
                "-node", hosts_arg(inv.hosts), "-port", f"native={inv.port}",
                "-mode", "native", "cql3", f"protocolVersion={NATIVE_PROTOCOL}",
                f"connectionsPerHost={connections}", f"maxPending={pending}"]

    def schema_command(self, workload: Workload, invocation: Invocation) -> list[str]:
        """``write n=0``: cassandra-stress creates its keyspace and table, and does nothing else."""
        return [*self._jvm(), "write", "n=0", "no-warmup", f"cl={workload.consistency}",
                *self._options(workload, invocation, 1, 1), "-rate", "threads=1"]

    def populate_command(self, workload: Workload, invocation: Invocation) -> list[str]:
        """Writes seeds ``a..b``, this loader's share of ``1..min(populate, partitions)``."""
        rows = min(workload.populate or workload.partitions, workload.partitions)
        first = rows * invocation.index // invocation.count
        last = rows * (invocation.index + 1) // invocation.count
        if last <= first:  # more loaders than rows: this one has none to write
            return self.schema_command(workload, invocation)
        return [*self._jvm(), "write", f"n={last - first}", "no-warmup",
                f"cl={workload.consistency}", "-pop", f"seq={first + 1}..{last}",
                *self._options(workload, invocation, 1, POPULATE_THREADS),
                "-rate", f"threads={POPULATE_THREADS}"]

    def step_command(self, step: Step, invocation: Invocation) -> list[str]:
        workload = step.workload
        self.check_workload(workload)
        if invocation.rate < 1:
            raise ConfigError(f"step {step.id}: rate {step.rate} leaves loader "
                              f"{invocation.loader} {invocation.rate} ops/s; cassandra-stress "
                              f"reads a rate of 0 as unlimited")
        if step.concurrency < 1 or step.connections < 1:
            raise ConfigError(f"step {step.id}: concurrency ({step.concurrency}) and "
                              f"connections ({step.connections}) must be at least 1")
        if step.warmup < 0 or step.duration <= 0:
            raise ConfigError(f"step {step.id}: duration ({step.duration:g}) must be positive "
                              f"and warmup ({step.warmup:g}) not negative")
        if not invocation.hdr_log:
            raise StressError(f"loader {invocation.loader}: step {step.id}: cassandra-stress "
                              f"needs an HDR log path")
        # One second more: the first interval of its log is partial (see summarize).
        seconds = math.ceil(step.warmup + step.duration) + LOG_INTERVAL
        if invocation.count > 1:
            seconds += math.ceil(self._start_skew)
        return [*self._jvm(), *_operation(step), f"duration={seconds}s", "no-warmup",
                f"cl={workload.consistency}", "-pop", _population(step, invocation),
                *self._options(workload, invocation, step.connections, step.concurrency),
                "-errors", "ignore", "retries=0", "skip-read-validation",
                "-rate", f"threads={step.concurrency}", f"{self._mode}={invocation.rate}/s",
                "-log", f"hdrfile={invocation.hdr_log}", f"interval={LOG_INTERVAL}s"]

    # -- output ---------------------------------------------------------------------

    def canonical_tag(self, raw: str, step: Step | None = None) -> str | None:
        """``WRITE-rt`` -> ``write-rt``, ``READ-st`` -> ``read-st``; wait times are ignored.

        ``throttle=`` is documented as "no implied schedule" and its console reports service
        time, so in that mode ``-rt`` is ignored and the results are service time. (4.0-alpha2
        in fact paces both modes with one schedule and logs ``-rt`` against it either way.)
        """
        operation, _, kind = raw.rpartition("-")
        if operation not in ("WRITE", "READ") or kind not in ("rt", "st"):
            return None
        if kind == "rt" and not self.measures_response_time:
            return None
        return f"{operation.lower()}-{kind}"

    def parse_progress(self, line: str, loader: str) -> Progress | None:
        """A ``total,`` line; ``errors`` counts the failures of that interval only."""
        row = parse_row(line)
        if row is None:
            return None
        return Progress(loader=loader, elapsed=row.elapsed, rate=row.rate,
                        p99_ms=row.p99_ms, errors=row.errors)

    def summarize(self, loader: str, step: Step, files: LoaderFiles) -> LoaderSummary:
        """Window from the log; its operations and errors from the console's interval rows.

        cassandra-stress cannot start at the common start time, so its window is taken from
        its log. The log's intervals lie on whole wall-clock seconds, the first one starting
        on the second before the first operation: it is partial, and the warm-up is counted
        from the end of it. The window runs from the first interval starting ``step.warmup``
        seconds or more after that, to the end of the last complete interval. Timestamps are
        rounded to the millisecond on each loader's clock (a loader logs 14.000, another
        13.999): both bounds are the whole second of the grid less :data:`GRID_GUARD`, so that
        every loader's intervals fall on the same side of them. The window's operations are
        counted from the console lines, which pair one to one with the log's intervals, so
        that the merge checks the log against an independent count.
        """
        from pytest_scyllabench.hdr.log import read_log

        console = read_console(files.stdout, loader)
        log = read_log(files.hdr_log, loader)
        spans = sorted({(i.start, i.end) for i in log.intervals
                        if self.canonical_tag(i.tag) is not None})
        if not spans:
            raise StressError(f"loader {loader}: {files.hdr_log}: the HDR log holds no "
                              f"WRITE or READ interval")
        if len(spans) != len(console.rows):
            raise StressError(f"loader {loader}: {files.stdout} has {len(console.rows)} "
                              f"progress lines but {files.hdr_log} has {len(spans)} intervals "
                              f"(one of them is incomplete)")
        first = spans[0][0]
        threshold = round(first) + LOG_INTERVAL + step.warmup - 1e-6
        starts = [round(start) for start, _ in spans if round(start) >= threshold]
        ends = [round(end) for start, end in spans
                if end - start >= COMPLETE_FRACTION * LOG_INTERVAL - SLACK]
        if not starts or not ends or not max(ends) > starts[0]:
            raise StressError(f"loader {loader}: {files.hdr_log}: the log spans "
                              f"{spans[-1][1] - first:.1f} s, no complete interval after the "
                              f"{step.warmup:g} s warm-up (cassandra-stress stopped early)")
        measure_start = starts[0] - GRID_GUARD
        measure_end = max(ends) - GRID_GUARD
        ops, failed, previous = 0, 0, 0
        for (start, _), row in zip(spans, console.rows, strict=True):
            if row.ops < previous:
                raise StressError(f"loader {loader}: {files.stdout}: its operations since the "
                                  f"start go back from {previous} to {row.ops} at "
                                  f"{row.elapsed:g} s (not cassandra-stress progress lines)")
            if measure_start - SLACK <= start < measure_end - SLACK:
                ops += row.ops - previous
                failed += row.errors
            previous = row.ops
        # Judged on the failures of the measured window, as on its operations (``Results:``
        # counts the warm-up's too). Its op counts include the failed operations (with
        # ``-errors ignore`` a failed write is still an op: errors-300 has as many of each).
        return LoaderSummary(loader=loader, tool_version=self.version(),
                             measure_start=measure_start, measure_end=measure_end, ops=ops,
                             errors=failed, ops_include_errors=True)


def create(spec: LoaderSpec) -> CassandraStressTool:
    """cassandra-stress at a fixed rate (a prebuilt tree if ``loaders.tool_paths`` names one)."""
    return CassandraStressTool(allow_service_time=spec.allow_service_time,
                               home=spec.tool_paths.get("cassandra-stress"))


# -- step mapping -----------------------------------------------------------------------

#: Key distributions it can draw (``-pop dist=`` and ``seq=``).
DISTRIBUTIONS = ("uniform", "gaussian", "sequential")


def _check_workload(workload: Workload) -> None:
    """``ConfigError`` naming the field of a workload cassandra-stress cannot express."""

    def refuse(field: str, problem: str) -> ConfigError:
        return ConfigError(f"{workload_field(workload, field)}: cassandra-stress {problem}")

    mix = workload.mix
    if (set(mix) - {"write", "read"} or any(weight < 0 for weight in mix.values())
            or not any(weight > 0 for weight in mix.values())):
        raise refuse("mix", f"cannot run mix {dict(mix)}: it weighs write and read, with "
                            f"weights not negative and one of them positive")
    if workload.distribution not in DISTRIBUTIONS:
        raise refuse("distribution", f"cannot draw keys with distribution "
                                     f"{workload.distribution!r}: it has "
                                     f"{', '.join(DISTRIBUTIONS)}; use the builtin tool")
    if workload.distribution == "gaussian" and not workload.gaussian_stddev > 0:
        raise refuse("gaussian_stddev", f"needs a positive standard deviation, not "
                                        f"{workload.gaussian_stddev:g}")
    if workload.partitions < 1:
        raise refuse("partitions", f"needs at least 1 partition, not {workload.partitions}")
    if workload.row_size < 1:
        raise refuse("row_size", f"needs rows of at least 1 byte, not {workload.row_size}")


def _operation(step: Step) -> list[str]:
    """The command and its ratio, for a mix :func:`_check_workload` accepted."""
    mix = step.workload.mix
    write, read = mix.get("write", 0.0), mix.get("read", 0.0)
    if write > 0 and read > 0:
        # clustering=FIXED(1): each operation drawn on its own, not in runs of one kind.
        return ["mixed", f"ratio(write={_number(write)},read={_number(read)})",
                "clustering=FIXED(1)"]
    return ["write"] if write > 0 else ["read"]


def _population(step: Step, inv: Invocation) -> str:
    """``-pop`` for a workload :func:`_check_workload` accepted."""
    workload = step.workload
    partitions = workload.partitions
    if workload.distribution == "uniform":
        return f"dist=uniform(1..{partitions})"
    if workload.distribution == "gaussian":
        mean = (partitions + 1) / 2
        return (f"dist=gaussian(1..{partitions},{_number(mean)},"
                f"{_number(workload.gaussian_stddev * partitions)})")
    # Sequential: each loader sweeps its own share of the keys, wrapping; together, all.
    first = partitions * inv.index // inv.count
    last = partitions * (inv.index + 1) // inv.count
    if last <= first:
        raise ConfigError(f"{workload_field(workload, 'partitions')}: {partitions} leaves "
                          f"loader {inv.loader} no key of a sequential distribution")
    return f"seq={first + 1}..{last}"


def _number(value: float) -> str:
    """A decimal without exponent or trailing zeros, as cassandra-stress parses it."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text or "0"


# -- console output ---------------------------------------------------------------------


def parse_row(line: str) -> ConsoleRow | None:
    """The ``total,`` progress line of an interval; ``None`` for any other line."""
    fields = [field.strip() for field in line.split(",")]
    if len(fields) != _ROW_FIELDS or fields[0] != "total":
        return None
    counts = fields[1], fields[13]
    if not all(count.isascii() and count.isdigit() for count in counts):
        return None  # int() would take "-3", "1_000" and other scripts' digits
    try:
        elapsed = float(fields[11])
        row = ConsoleRow(ops=int(fields[1]), rate=float(fields[2]), p99_ms=float(fields[8]),
                         elapsed=elapsed, errors=int(fields[13]))
    except ValueError:
        return None
    # Latencies of an interval without operations print as NaN; its time is always a time.
    return row if math.isfinite(elapsed) and elapsed >= 0 else None


def parse_console(text: str, loader: str, path: Path | str) -> ConsoleReport:
    """Progress lines and the ``Results:`` block; StressError naming loader and file."""
    lines = text.splitlines()
    rows = tuple(row for row in map(parse_row, lines) if row is not None)
    try:
        results = lines.index("Results:")
    except ValueError:
        raise StressError(f"loader {loader}: {path}: no 'Results:' block (cassandra-stress "
                          f"did not finish, or its output is truncated)") from None
    block: dict[str, str] = {}
    for line in lines[results + 1:]:
        key, colon, value = line.partition(":")
        if colon:
            block[key.strip()] = value.strip()
    if "Total operation time" not in block:
        raise StressError(f"loader {loader}: {path}: the 'Results:' block is truncated "
                          f"(no 'Total operation time')")
    if not rows:
        odd = [line for line in lines if line.startswith("total,")]
        if odd:
            raise StressError(f"loader {loader}: {path}: none of its {len(odd)} 'total,' lines "
                              f"has the {_ROW_FIELDS} comma-separated fields of cassandra-stress "
                              f"{DEFAULT_VERSION} (unexpected format): {odd[0][:120]!r}")
        raise StressError(f"loader {loader}: {path}: no progress line ('total, ...')")
    return ConsoleReport(rows=rows, errors=_total(block, "Total errors", loader, path),
                         partitions=_total(block, "Total partitions", loader, path))


def _total(block: Mapping[str, str], key: str, loader: str, path: Path | str) -> int:
    """``Total errors : 1,216 [READ: 1,216]`` -> 1216."""
    value = block.get(key, "").split("[")[0].replace(",", "").strip()
    if not (value.isascii() and value.isdigit()):
        raise StressError(f"loader {loader}: {path}: bad or missing {key!r} in 'Results:' "
                          f"({block.get(key)!r})")
    return int(value)


def read_console(path: Path, loader: str) -> ConsoleReport:
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError as exc:
        raise StressError(f"loader {loader}: {path}: missing (cassandra-stress wrote no "
                          f"output)") from exc
    except OSError as exc:
        raise StressError(f"loader {loader}: {path}: cannot be read: {exc}") from exc
    return parse_console(text, loader, path)


# -- installation -----------------------------------------------------------------------


async def _local_java(tool: str) -> str:
    from pytest_scyllabench.db.maven import find_java

    try:
        runtime = await find_java()
    except MissingDependencyError as exc:
        raise MissingDependencyError(f"{tool} needs Java 17 or 11: {exc}") from exc
    return str(runtime.java)


async def _remote_java(executor: Executor) -> str:
    """``java`` if the host has one on its ``PATH``."""
    hint = f"{executor.host}: cassandra-stress needs a Java 11 or 17 `java` on the PATH"
    try:
        result = await executor.run(["java", "-version"], timeout=60, check=False)
    except CommandError as exc:
        raise MissingDependencyError(f"{hint}: {exc}") from exc
    if result.exit_code != 0:
        raise MissingDependencyError(f"{hint} (`java -version` exited with "
                                     f"{result.exit_code})")
    return "java"


async def _check_tree(executor: Executor, home: str) -> None:
    """A prebuilt tree must hold ``tools/lib/stress.jar``."""
    found = await executor.run(["test", "-f", f"{home}/{MARKER}"], timeout=60, check=False)
    if found.exit_code != 0:
        raise ConfigError(f"{executor.host}: loaders.tool_paths.cassandra-stress: {home} has "
                          f"no {MARKER} (expected an unpacked Apache Cassandra binary tarball)")
