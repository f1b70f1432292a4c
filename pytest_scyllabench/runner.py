"""Run one throughput step on every loader at once and merge what they measured."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_scyllabench import backends
from pytest_scyllabench.db.base import NodeWatch
from pytest_scyllabench.errors import (
    CommandError,
    HdrLogError,
    LoaderFailed,
    ScyllaBenchError,
    StressError,
)
from pytest_scyllabench.execute.base import RunningProcess
from pytest_scyllabench.hdr.merge import (
    LoaderChecks,
    LoaderOutput,
    Window,
    common_window,
    merge_step,
)
from pytest_scyllabench.profile import Profile
from pytest_scyllabench.provision.base import Host
from pytest_scyllabench.report.artifacts import TrialsDir
from pytest_scyllabench.result import StepResult
from pytest_scyllabench.session import Cluster
from pytest_scyllabench.stress.base import Invocation, LoaderFiles, Progress, StressTool
from pytest_scyllabench.stress.step import Step, Workload

#: Seconds between launching the loaders and their common start time.
START_LEAD = 2.0
#: Extra seconds a loader may take beyond its planned run before it is killed.
EXIT_GRACE = 60.0
SCHEMA_TIMEOUT = 180.0
#: How far a loader's measured window may lie outside the step's run as this machine timed it
#: (clocks of loader hosts, tools that start late) before the loader's data is taken for
#: damaged (a corrupt base time in its log...), seconds.
SCHEDULE_SLACK = 60.0

ProgressSink = Callable[[Progress], None]


@dataclass(frozen=True)
class RemoteFiles:
    """The files of one loader as paths on its host; ``scratch`` is ``None`` when that host
    is this machine (the paths are then the trials directory's own)."""

    host: Host
    scratch: str | None
    files: LoaderFiles

    @property
    def hdr_log(self) -> Path:
        return self.files.hdr_log

    @property
    def summary(self) -> Path:
        return self.files.summary

    @property
    def stdout(self) -> Path:
        return self.files.stdout


class StepRunner:
    """Prepares schemas and data once per session and runs steps on all loaders together."""

    def __init__(self, cluster: Cluster, profile: Profile) -> None:
        self._cluster = cluster
        self._profile = profile

    def _invocation(self, host: Host, index: int, rate: int, start_at: float,
                    files: LoaderFiles | RemoteFiles | None) -> Invocation:
        loaders = self._cluster.deployment.loaders
        database = self._cluster.database
        return Invocation(
            loader=host.name, index=index, count=len(loaders),
            hosts=tuple(database.contact_points), port=database.port, rate=rate,
            start_at=start_at,
            hdr_log=str(files.hdr_log) if files else "",
            summary=str(files.summary) if files else "",
            replication_factor=self._profile.database.replication_factor,
            driver=self._profile.loaders.driver,
        )

    async def tool(self, name: str | None = None,
                   workload: Workload | None = None) -> StressTool:
        """The stress tool ``name`` (default: the profile's), installed on every loader host
        (once per machine, however many loader processes it runs).

        Tools are created and installed once per session; a step naming another tool than the
        profile's installs that one before its first step, after checking that it can run
        ``workload`` (a ``ConfigError`` naming the field, before anything is built).
        """
        cluster = self._cluster
        name = name or self._profile.loaders.tool
        tool = cluster.tools.get(name)
        if tool is None:
            tool = backends.stress_tool(name, self._profile.loaders)
            if workload is not None:
                tool.check_workload(workload)
            cluster.tools[name] = tool
        # Once per machine: the processes of one loader host (``loaders.processes``) share
        # it, and two installs must never run on one machine at once.
        missing: dict[str, Host] = {}
        for host in cluster.deployment.loaders:
            if (name, host.machine_name) not in cluster.installed:
                missing.setdefault(host.machine_name, host)
        if missing:
            async with asyncio.TaskGroup() as group:
                for host in missing.values():
                    group.create_task(tool.install(host.executor, cluster.deployment.workdir))
            cluster.installed.update((name, machine) for machine in missing)
        return tool

    async def prepare(self, workload: Workload, scratch: Path,
                      tool: StressTool | None = None) -> None:
        """Create the workload's table and populate it, once per session and tool."""
        cluster = self._cluster
        tool = tool or await self.tool()
        tool.check_workload(workload)  # a step's own tool: refused before schema and data
        key = (tool.name, workload.keyspace, workload.table)
        loaders = cluster.deployment.loaders
        if key not in cluster.schemas:
            first = loaders[0]
            command = tool.schema_command(workload, self._invocation(first, 0, 0, time.time(),
                                                                     None))
            await first.executor.run(command, timeout=SCHEMA_TIMEOUT)
            cluster.schemas.add(key)
        if workload.populate > cluster.populated.get(key, 0):
            scratch.mkdir(parents=True, exist_ok=True)
            timeout = SCHEMA_TIMEOUT + workload.populate / 200
            placed = [self._remote_files(host, scratch, TrialsDir.loader_files(
                scratch, f"populate-{host.name}")) for host in loaders]
            await self._make_scratch(placed)
            async with asyncio.TaskGroup() as group:
                for index, host in enumerate(loaders):
                    command = tool.populate_command(
                        workload, self._invocation(host, index, 0, time.time(), placed[index]))
                    group.create_task(host.executor.run(command, timeout=timeout))
            await self._fetch(placed, [TrialsDir.loader_files(scratch, f"populate-{host.name}")
                                       for host in loaders])
            cluster.populated[key] = workload.populate

    async def warm_up(self, scale: float, directory: Path) -> StepResult | None:
        """Run the profile's warm-up load once (not judged); ``None`` if it has none."""
        spec = self._profile.warmup
        if not spec.workload:
            return None
        workload = self._profile.workloads[spec.workload]
        await self.prepare(workload, directory / "populate", await self.tool())
        step = Step(workload=workload, rate=spec.rate, duration=max(5.0, spec.seconds * scale),
                    warmup=0.0, concurrency=self._profile.loaders.concurrency,
                    connections=self._profile.loaders.connections,
                    name=f"warm-up {spec.workload}@{spec.rate}")
        return await self.run(step, directory, judged=False)

    async def run(self, step: Step, step_dir: Path, on_progress: ProgressSink | None = None,
                  tool: StressTool | None = None, *, judged: bool = True) -> StepResult:
        """Run ``step`` on every loader with ``tool`` (default: the profile's), merge the logs.

        A step that is not ``judged`` (the warm-up) fails only for loaders that exited badly
        or left unreadable logs, not for the checks of :meth:`_merge`. ``LoaderFailed`` is
        raised only for loaders whose data is damaged or missing; problems of the whole step
        (too many failed operations, a loader below its share of the rate...) are the
        returned result's ``problems``.
        """
        cluster = self._cluster
        tool = tool or await self.tool()
        loaders = cluster.deployment.loaders
        began = time.monotonic()
        start_at = time.time() + START_LEAD
        rates = step.per_loader_rate(len(loaders))
        files = [TrialsDir.loader_files(step_dir, host.name) for host in loaders]
        remote = [self._remote_files(host, step_dir, files[index])
                  for index, host in enumerate(loaders)]
        # Every command is built (and so validated) before any loader starts.
        commands = [tool.step_command(step, self._invocation(host, index, rates[index], start_at,
                                                             remote[index]))
                    for index, host in enumerate(loaders)]
        step_dir.mkdir(parents=True, exist_ok=True)
        processes: list[RunningProcess] = []
        try:
            await self._make_scratch(remote)
            for index, host in enumerate(loaders):
                sink = self._progress_sink(tool.parse_progress, host.name, on_progress)
                processes.append(await host.executor.start(
                    commands[index], stdout_path=str(remote[index].stdout), on_stdout=sink))
            budget = START_LEAD + step.warmup + step.duration + EXIT_GRACE
            codes = await asyncio.gather(*(p.wait(timeout=budget) for p in processes),
                                         return_exceptions=True)
        finally:
            for process in processes:
                await process.terminate(grace=5.0)
            await self._fetch(remote, files)
        problems = self._check_exits(loaders, processes, codes, files)
        outputs: list[LoaderOutput] = []
        for index, host in enumerate(loaders):
            if host.name in problems:
                continue
            try:
                summary = tool.summarize(host.name, step, files[index])
            except StressError as exc:
                problems[host.name] = str(exc)
                continue
            outputs.append(LoaderOutput(
                name=host.name, host=host.address, tool=tool.name, summary=summary,
                hdr_log=files[index].hdr_log, output=files[index].stdout,
                target_rate=rates[index], exit_code=0,
                canonical_tag=functools.partial(tool.canonical_tag, step=step),
                value_unit_ns=tool.hdr_value_ns))
        outputs = self._on_schedule(outputs, start_at, time.time(), problems)
        # Merging a long step takes seconds: off the event loop, which serves progress lines.
        checks = LoaderChecks(duration=step.duration,
                              rate_tolerance=self._profile.rate_tolerance) if judged else None
        result = await asyncio.to_thread(self._merge, step, outputs, tool, problems, checks)
        if result is not None:
            result.overhead = max(0.0, time.monotonic() - began - step.duration)
            result.artifacts = step_dir
        down = await self._down_nodes(step) if judged else []
        if result is not None:
            result.problems.extend(down)
        return self._outcome(result, problems, down)

    async def _down_nodes(self, step: Step) -> list[str]:
        """The database's nodes that are gone after ``step``, one line each (a check that
        fails is one line too: what was measured must not be lost to it)."""
        database = self._cluster.database
        if not isinstance(database, NodeWatch):
            return []
        try:
            return [f"after {step.id}: {line}" for line in await database.down_nodes()]
        except (ScyllaBenchError, OSError) as exc:
            return [f"after {step.id}: could not check the database nodes: {exc}"]

    @staticmethod
    def _outcome(result: StepResult | None, problems: dict[str, str],
                 down: Sequence[str] = ()) -> StepResult:
        """``result``, or ``LoaderFailed`` (carrying it) when some loaders' data was unusable.

        ``problems`` are the loaders' only; the step's own are ``result.problems`` (``down``,
        the nodes found down, among them; named by the error when no result was left).
        """
        if problems:
            raise LoaderFailed([f"{name}: {problem.removeprefix(f'loader {name}: ')}"
                                for name, problem in problems.items()]
                               + (list(down) if result is None else []), partial=result)
        if result is None:  # _merge returns a result or names the loaders that failed
            raise StressError("no loader left a result to merge")
        return result

    def _remote_files(self, host: Host, step_dir: Path, files: LoaderFiles) -> RemoteFiles:
        """Where ``host`` writes ``files``: the same paths here, or a scratch directory there.

        Loader hosts of a remote deployment write under ``<workdir>/loaders/<host>/<step>``;
        ``_fetch`` copies the files into the trials directory after the step.
        """
        workdir = self._cluster.deployment.workdir
        if workdir is None:
            return RemoteFiles(host, None, files)
        scratch = f"{workdir}/loaders/{host.name}/{step_dir.parent.name}-{step_dir.name}"
        return RemoteFiles(host, scratch, LoaderFiles(
            hdr_log=Path(scratch, files.hdr_log.name), summary=Path(scratch, files.summary.name),
            stdout=Path(scratch, files.stdout.name)))

    @staticmethod
    async def _make_scratch(placed: Sequence[RemoteFiles]) -> None:
        for entry in placed:
            if entry.scratch is not None:
                await entry.host.executor.run(["rm", "-rf", entry.scratch], timeout=SCHEMA_TIMEOUT)
                await entry.host.executor.run(["mkdir", "-p", entry.scratch],
                                              timeout=SCHEMA_TIMEOUT)

    @staticmethod
    async def _fetch(placed: Sequence[RemoteFiles], files: Sequence[LoaderFiles]) -> None:
        """Copy what remote loaders wrote into the trials directory; a missing file is skipped
        (the summary check reports it), and the scratch directory is removed."""
        for entry, local in zip(placed, files, strict=True):
            if entry.scratch is None:
                continue
            for remote_path, local_path in ((entry.files.hdr_log, local.hdr_log),
                                            (entry.files.summary, local.summary),
                                            (entry.files.stdout, local.stdout)):
                with contextlib.suppress(CommandError):
                    await entry.host.executor.get(str(remote_path), local_path)
            with contextlib.suppress(CommandError):
                await entry.host.executor.run(["rm", "-rf", entry.scratch],
                                              timeout=SCHEMA_TIMEOUT)

    @staticmethod
    def _on_schedule(outputs: list[LoaderOutput], started: float, ended: float,
                     problems: dict[str, str]) -> list[LoaderOutput]:
        """The loaders whose measured window meets the step's run (``started`` to ``ended``,
        this machine's clock, give or take :data:`SCHEDULE_SLACK`); the others join
        ``problems``, so that one loader's damaged times do not cost the others' data."""
        kept: list[LoaderOutput] = []
        for output in outputs:
            summary = output.summary
            if (summary.measure_end < started - SCHEDULE_SLACK
                    or summary.measure_start > ended + SCHEDULE_SLACK):
                problems[output.name] = (
                    f"loader {output.name}: {output.hdr_log}: its measured window "
                    f"[{summary.measure_start:.3f}, {summary.measure_end:.3f}] lies outside "
                    f"the step's run [{started:.3f}, {ended:.3f}] (epoch seconds) by more "
                    f"than {SCHEDULE_SLACK:g} s")
            else:
                kept.append(output)
        return kept

    @staticmethod
    def _merge(step: Step, outputs: list[LoaderOutput], tool: StressTool,
               problems: dict[str, str], checks: LoaderChecks | None) -> StepResult | None:
        """Merge the usable loaders; a loader whose data fails the checks joins ``problems``.

        A corrupt or truncated log, a log that stopped early, a count that disagrees with
        the loader's own (:func:`~pytest_scyllabench.hdr.merge.merge_step`): the step is
        merged again from the other loaders (or, when every loader is at fault, kept as
        measured). Problems of the whole step (a short common window, a loader below its
        share of the rate, too many failed operations) are the result's ``problems``: every
        loader's data stands. Loaders' windows that do not overlap are a ``StressError``
        (under ``step`` in ``problems`` when some loader failed too: no result). Without
        ``checks`` only corrupt logs count.
        """
        while outputs:
            try:
                window = common_window([output.summary for output in outputs])
                # Tools that cannot start on time run longer; every loader is judged on the
                # step's duration from the common start.
                window = Window(window.start, min(window.end, window.start + step.duration))
                merged = merge_step(step, outputs, window,
                                    service_time_only=not tool.measures_response_time,
                                    checks=checks)
            except HdrLogError as exc:
                if exc.loader not in {output.name for output in outputs}:
                    raise
                problems[exc.loader] = str(exc)
                outputs = [output for output in outputs if output.name != exc.loader]
                continue
            except StressError as exc:
                # The loaders' data cannot be combined (windows do not overlap...).
                if not problems:
                    raise
                problems["step"] = str(exc)
                return None
            if merged.faults:
                problems.update(merged.faults)
                kept = [output for output in outputs if output.name not in merged.faults]
                if kept:
                    outputs = kept
                    continue
                # Every loader is at fault (all stopped early...): what they measured is
                # still saved with the failed step.
            result = merged.result
            result.measure_start = window.start
            return result
        return None

    @staticmethod
    def _progress_sink(parse: Callable[[str, str], Progress | None], loader: str,
                       on_progress: ProgressSink | None) -> Callable[[str], None] | None:
        if on_progress is None:
            return None

        def sink(line: str) -> None:
            progress = parse(line, loader)
            if progress is not None:
                on_progress(progress)

        return sink

    @staticmethod
    def _check_exits(loaders: Sequence[Host], processes: Sequence[RunningProcess],
                     codes: Sequence[int | BaseException],
                     files: Sequence[LoaderFiles]) -> dict[str, str]:
        """Loaders that failed (timed out or exited non-zero) -> what went wrong."""
        problems: dict[str, str] = {}
        for host, process, code, loader_files in zip(loaders, processes, codes, files,
                                                     strict=True):
            if isinstance(code, CommandError):
                problems[host.name] = str(code)
            elif isinstance(code, BaseException):
                raise code
            elif code != 0:
                problems[host.name] = (f"exited with code {code} (output: "
                                       f"{loader_files.stdout})\n{process.stderr_tail(10)}")
        return problems
