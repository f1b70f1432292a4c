"""Run one throughput step on every loader at once and merge what they measured."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from pytest_scyllabench.errors import CommandError, StressError
from pytest_scyllabench.execute.base import RunningProcess
from pytest_scyllabench.hdr.merge import LoaderOutput, build_step_result
from pytest_scyllabench.profile import Profile
from pytest_scyllabench.provision.base import Host
from pytest_scyllabench.report.artifacts import LoaderFiles, TrialsDir
from pytest_scyllabench.result import StepResult
from pytest_scyllabench.session import Cluster
from pytest_scyllabench.stress.base import Invocation, Progress
from pytest_scyllabench.stress.step import Step, Workload

#: Seconds between launching the loaders and their common start time.
START_LEAD = 2.0
#: Extra seconds a loader may take beyond its planned run before it is killed.
EXIT_GRACE = 60.0
SCHEMA_TIMEOUT = 180.0

ProgressSink = Callable[[Progress], None]


class StepRunner:
    """Prepares schemas and data once per session and runs steps on all loaders together."""

    def __init__(self, cluster: Cluster, profile: Profile) -> None:
        self._cluster = cluster
        self._profile = profile

    def _invocation(self, host: Host, index: int, rate: int, start_at: float,
                    files: LoaderFiles | None) -> Invocation:
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

    async def prepare(self, workload: Workload, scratch: Path) -> None:
        """Create the workload's table and populate it, once per session."""
        cluster, tool = self._cluster, self._cluster.tool
        key = (workload.keyspace, workload.table)
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
            async with asyncio.TaskGroup() as group:
                for index, host in enumerate(loaders):
                    files = TrialsDir.loader_files(scratch, f"populate-{host.name}")
                    command = tool.populate_command(
                        workload, self._invocation(host, index, 0, time.time(), files))
                    group.create_task(host.executor.run(command, timeout=timeout))
            cluster.populated[key] = workload.populate

    async def warm_up(self, scale: float, directory: Path) -> StepResult | None:
        """Run the profile's warm-up load once (not judged); ``None`` if it has none."""
        spec = self._profile.warmup
        if not spec.workload:
            return None
        workload = self._profile.workloads[spec.workload]
        await self.prepare(workload, directory / "populate")
        step = Step(workload=workload, rate=spec.rate, duration=max(5.0, spec.seconds * scale),
                    warmup=0.0, concurrency=self._profile.loaders.concurrency,
                    connections=self._profile.loaders.connections,
                    name=f"warm-up {spec.workload}@{spec.rate}")
        return await self.run(step, directory)

    async def run(self, step: Step, step_dir: Path,
                  on_progress: ProgressSink | None = None) -> StepResult:
        """Run ``step`` on every loader, wait for all, and merge their logs."""
        cluster, tool = self._cluster, self._cluster.tool
        loaders = cluster.deployment.loaders
        step_dir.mkdir(parents=True, exist_ok=True)
        began = time.monotonic()
        start_at = time.time() + START_LEAD
        rates = step.per_loader_rate(len(loaders))
        files = [TrialsDir.loader_files(step_dir, host.name) for host in loaders]
        processes: list[RunningProcess] = []
        try:
            for index, host in enumerate(loaders):
                invocation = self._invocation(host, index, rates[index], start_at, files[index])
                sink = self._progress_sink(tool.parse_progress, host.name, on_progress)
                processes.append(await host.executor.start(
                    tool.step_command(step, invocation), stdout_path=str(files[index].stdout),
                    on_stdout=sink))
            budget = START_LEAD + step.warmup + step.duration + EXIT_GRACE
            codes = await asyncio.gather(*(p.wait(timeout=budget) for p in processes),
                                         return_exceptions=True)
        finally:
            for process in processes:
                await process.terminate(grace=5.0)
        self._check_exits(loaders, processes, codes, files)
        outputs = [
            LoaderOutput(name=host.name, host=host.address, tool=tool.name,
                         summary=tool.read_summary(files[i].summary, host.name),
                         hdr_log=files[i].hdr_log, output=files[i].stdout,
                         target_rate=rates[i], exit_code=0)
            for i, host in enumerate(loaders)
        ]
        result = build_step_result(step, outputs,
                                   service_time_only=not tool.measures_response_time)
        result.overhead = max(0.0, time.monotonic() - began - step.duration)
        result.artifacts = step_dir
        return result

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
                     codes: Sequence[int | BaseException], files: Sequence[LoaderFiles]) -> None:
        problems: list[str] = []
        for host, process, code, loader_files_ in zip(loaders, processes, codes, files,
                                                      strict=True):
            if isinstance(code, CommandError):
                problems.append(f"{host.name}: {code}")
            elif isinstance(code, BaseException):
                raise code
            elif code != 0:
                problems.append(f"{host.name} exited with code {code} (output: "
                                f"{loader_files_.stdout})\n{process.stderr_tail(10)}")
        if problems:
            raise StressError("loader failed during the step; the other loaders' files are "
                              "kept in the trials directory:\n" + "\n".join(problems))
