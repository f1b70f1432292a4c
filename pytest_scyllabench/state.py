"""The plugin's per-session state: settings, profile, the benchmark session and its results.

Kept in ``config.stash[STATE_KEY]``; hooks and fixtures reach everything through it.
"""

from __future__ import annotations

import dataclasses
import logging
import platform
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from pytest_scyllabench import machine
from pytest_scyllabench.baseline.compare import Comparison
from pytest_scyllabench.baseline.gate import BaselineGate
from pytest_scyllabench.baseline.rules import parse_rules
from pytest_scyllabench.baseline.store import DirectoryStore
from pytest_scyllabench.profile import Profile
from pytest_scyllabench.report import html, junit, terminal
from pytest_scyllabench.report.artifacts import TrialsDir
from pytest_scyllabench.report.charts import LatencyPoint, Vitals
from pytest_scyllabench.report.serialize import StepSummary, benchmark_of, summarize
from pytest_scyllabench.report.terminal import ProgressLine, StepInfo
from pytest_scyllabench.result import StepResult
from pytest_scyllabench.runner import StepRunner
from pytest_scyllabench.session import BenchSession, Cluster
from pytest_scyllabench.settings import Settings
from pytest_scyllabench.stress.base import Progress
from pytest_scyllabench.thresholds import Verdict

log = logging.getLogger(__name__)
STATE_KEY = pytest.StashKey["SessionState"]()


@dataclass(frozen=True)
class Recorded:
    """One finished step of one test, as the reports show it."""

    nodeid: str
    result: StepResult
    breaches: tuple[str, ...]
    summary: StepSummary
    result_json: Path
    #: The verdict of every latency limit applied to it.
    limits: tuple[Verdict, ...] = ()
    #: Vital signs of its measured window (metric -> host -> [(t, value)]), if monitored.
    vitals: Vitals | None = None
    #: ``write@100 run 2 of 3`` with repetitions, else the step's id.
    label: str = ""


class SessionState:
    """Everything one pytest session of benchmarks shares."""

    def __init__(self, settings: Settings, profile: Profile) -> None:
        self.settings = settings
        self.profile = profile
        self.bench = BenchSession(settings, profile)
        self.trials = TrialsDir(settings.output, profile.name)
        self.records: list[Recorded] = []
        #: Where the pytest-html report goes (links in it are relative to its directory).
        self.html_report: Path | None = None
        self._session_written = False
        #: The live progress line of the terminal (``None``: quiet, or no terminal reporter).
        self.live: ProgressLine | None = None
        #: (node id, step) -> the point of the baseline it was compared with: drawn dashed
        #: on its benchmark's latency/throughput chart.
        self.baseline_points: dict[tuple[str, str], LatencyPoint] = {}
        #: Further environment facts for the report (``instance types``...), by label.
        self.facts: dict[str, str] = {}
        #: Baseline comparison and saving, as the options ask (no side effect here).
        self.baseline = BaselineGate(
            DirectoryStore(settings.baseline_dir), compare_with=settings.compare,
            save_as=settings.save, rules=parse_rules(settings.rules),
            fail_missing=settings.fail_missing_baseline, save_sessions=settings.save_sessions)
        #: (nodeid, step) -> lines of its baseline comparison, for the reports.
        self.comparisons: dict[tuple[str, str], list[str]] = {}
        self._group_sizes: Counter[str] = Counter()
        self._test: str | None = None
        self._planned: tuple[str, str, float] | None = None

    def note_cluster(self, cluster: Cluster) -> None:
        """Record the cluster's figures in session.json once it is ready."""
        self.trials.start_session()
        self.trials.update_session(
            nodes=len(cluster.deployment.servers),
            versions={self.profile.database.kind: cluster.version,
                      **{f"stress:{tool.name}": tool.version()
                         for tool in cluster.tools.values()}})
        self._session_written = True
        log.info("cluster of %d nodes ready in %.1f s (reused: %s)",
                 len(cluster.deployment.servers), cluster.start_seconds, cluster.reused)

    def warm_up(self, cluster: Cluster) -> None:
        """Run the profile's warm-up load on a cluster this session started."""
        if cluster.reused or not self.profile.warmup.workload:
            return
        runner = StepRunner(cluster, self.profile)
        result = self.bench.run(runner.warm_up(self.settings.duration_scale,
                                               self.trials.path / "warm-up"))
        if result is not None:
            log.info("warm-up: %.0f ops/s, p99 %.1f ms", result.achieved_rate,
                     result.percentiles["p99"])

    # --- live progress ---------------------------------------------------------------------

    def note_items(self, nodeids: Iterable[str]) -> None:
        """The collected tests that run steps: a benchmark's count is its steps' ``m``."""
        self._group_sizes = Counter(benchmark_of(nodeid) for nodeid in nodeids)

    def begin_test(self, nodeid: str) -> None:
        """A test starts: the steps' progress that follows is this test's."""
        self._end_live()
        self._test = nodeid

    def step_started(self, nodeid: str, step: str, seconds: float) -> None:
        """Name the step about to run and its planned seconds (warm-up included), so that
        the live line shows the remaining time; optional."""
        self._end_live()
        self._planned = (nodeid, step, seconds)

    def _step_info(self) -> StepInfo:
        test = self._test or (self._planned[0] if self._planned else "")
        group = benchmark_of(test)
        per_test = Counter(r.nodeid for r in self.records if benchmark_of(r.nodeid) == group)
        index = sum(per_test.values()) + 1
        size = self._group_sizes.get(group, 0)
        # Parametrized tests of one step each: the benchmark has as many steps as tests.
        total = size if size > 1 and index <= size and max(per_test.values(),
                                                           default=0) <= 1 else None
        step, seconds = "", None
        if self._planned is not None and self._planned[0] == test:
            _, step, seconds = self._planned
        return StepInfo(test=test, index=index, total=total, step=step, seconds=seconds)

    def progress(self, progress: Progress) -> None:
        """The sink of the loaders' progress: the debug log and the live line."""
        log.debug("%s: %.0fs %.0f ops/s p99 %.2f ms errors %d", progress.loader,
                  progress.elapsed, progress.rate, progress.p99_ms, progress.errors)
        if self.live is None:
            return
        if not self.live.active:
            self.live.begin_step(self._step_info())
        self.live.update(progress)

    def _end_live(self) -> None:
        self._planned = None
        if self.live is not None:
            self.live.end_step()

    def record(self, item: pytest.Item, result: StepResult, breaches: Sequence[str], *,
               limits: Sequence[Verdict] = (), vitals: Vitals | None = None,
               label: str | None = None) -> None:
        """Save a finished run of a step at once (before the test may fail), remember it for
        the reports and tell the ``pytest_scyllabench_step_result`` hook."""
        tolerance = self.profile.rate_tolerance
        path = self.trials.write_result(result, test=item.nodeid, breaches=breaches,
                                        rate_tolerance=tolerance, limits=limits)
        summary = summarize(result, test=item.nodeid, breaches=breaches,
                            rate_tolerance=tolerance, limits=limits)
        label = label or result.step
        if label != result.step:  # repetitions: each run is a row of its own
            summary = dataclasses.replace(summary, step=label)
        self._end_live()
        self.records.append(Recorded(item.nodeid, result, tuple(breaches), summary, path,
                                     tuple(limits), vitals, label))
        junit.record_properties(item, result, breaches, test=item.nodeid,
                                rate_tolerance=tolerance)
        item.ihook.pytest_scyllabench_step_result(item=item, result=result,
                                                  breaches=tuple(breaches), result_json=path)

    def note_comparison(self, item: pytest.Item, comparison: Comparison) -> None:
        """Remember a step's baseline comparison for the terminal and HTML reports, and the
        baseline's point for the latency/throughput chart."""
        key = (item.nodeid, comparison.identity.step)
        self.comparisons[key] = comparison.lines()
        baseline = self.baseline.baseline_records.get(comparison.identity)
        point = None if baseline is None else LatencyPoint.from_record(baseline)
        if point is not None:
            self.baseline_points[key] = point

    # --- reports ---------------------------------------------------------------------------

    def attach(self, item: pytest.Item, report: pytest.TestReport) -> None:
        """Add this test's steps to its pytest-html row."""
        self._end_live()
        mine = [r for r in self.records if r.nodeid == item.nodeid]
        if not mine or self.html_report is None:
            return
        extras = list(getattr(report, "extras", []))
        report_dir = self.html_report.parent
        last = {(r.nodeid, r.result.step): r for r in mine}  # a comparison goes under it
        for recorded in mine:
            key = (recorded.nodeid, recorded.result.step)
            links = html.artifact_links(recorded.result, report_dir, recorded.result_json)
            extras.extend(html.step_extras(
                recorded.result, recorded.breaches, links, test=recorded.nodeid,
                rate_tolerance=self.profile.rate_tolerance, vitals=recorded.vitals,
                comparison=self.comparisons.get(key, ()) if last[key] is recorded else (),
                limits=recorded.limits, label=recorded.label))
        setattr(report, "extras", extras)  # noqa: B010  (pytest-html's attribute)

    def environment(self) -> list[tuple[str, str]]:
        """What the results depend on: database, tools, deployment, its servers (when they
        are other machines), this machine."""
        profile, record = self.profile, self.trials.session
        versions = dict(record.versions)
        database = profile.database
        facts = [("profile", f"{profile.name} ({profile.provisioner} provisioner)"),
                 ("database", f"{database.kind} "
                              f"{versions.get(database.kind, database.version)}")]
        nodes = record.nodes if record.nodes is not None else database.nodes
        facts.append(("nodes", f"{nodes}, replication factor {database.replication_factor}"))
        loaders = len(profile.static.loaders) if profile.static else profile.loaders.count
        processes = profile.loaders.processes
        each = f"{processes} processes of " if processes > 1 else ""
        facts.append(("loaders", f"{loaders} x {each}{profile.loaders.tool} "
                                 f"(concurrency {profile.loaders.concurrency})"))
        tools = sorted((name.removeprefix("stress:"), version)
                       for name, version in versions.items() if name.startswith("stress:"))
        if tools:
            facts.append(("stress tools", ", ".join(f"{n} {v}" for n, v in tools)))
        types = _instance_types(profile)
        if types and "instance types" not in self.facts:
            facts.append(("instance types", types))
        facts += sorted(self.facts.items())
        cluster = self.bench.current_cluster
        if cluster is not None and cluster.host_facts:
            facts.append(("servers", machine.summarize(cluster.host_facts)))
        uname = platform.uname()
        here = machine.describe()
        facts.append(("this machine", f"{here['cpus']}, {here['memory']}, {uname.system} "
                                      f"{uname.release} {uname.machine}"))
        facts.append(("python", f"{platform.python_implementation()} "
                                f"{platform.python_version()}"))
        plugins = [f"{name} {versions[name]}" for name in
                   ("pytest-scyllabench", "pytest", "pytest-html", "hdrhistogram")
                   if name in versions]
        if plugins:
            facts.append(("packages", ", ".join(plugins)))
        return facts

    def html_summary(self) -> list[str]:
        baselines: dict[str, list[LatencyPoint]] = {}
        for (nodeid, _), point in self.baseline_points.items():
            baselines.setdefault(benchmark_of(nodeid), []).append(point)
        report_dir = self.html_report.parent if self.html_report is not None else Path(".")
        snapshots = {nodeid: html.relative_href(path, report_dir)
                     for nodeid, path in self.bench.snapshots.items()}
        session = self.bench.session_snapshot
        return html.summary_html((r.summary for r in self.records),
                                 environment=self.environment(), baselines=baselines,
                                 baseline_name=self.baseline.baseline_name,
                                 snapshots=snapshots,
                                 session_snapshot=(None if session is None else
                                                   html.relative_href(session, report_dir)),
                                 notes=self._notes())

    def _notes(self) -> list[str]:
        """Warnings the reader of the report must see: monitoring failures tolerated."""
        cluster = self.bench.current_cluster
        return cluster.monitoring_warnings if cluster is not None else []

    def terminal_lines(self) -> list[str]:
        lines = terminal.summary_lines(r.summary for r in self.records)
        baseline = [*self.baseline.notes,
                    *(line for lines in self.comparisons.values() for line in lines)]
        if baseline:
            lines += ["", f"scyllabench baseline {self.settings.compare}:", *baseline]
        saved = self.settings.save
        if saved and self.baseline.saved:
            lines.append(f"scyllabench: saved baseline {saved!r} in {self.settings.baseline_dir}")
            lines += self.baseline.save_notes
        return lines

    def finish(self, exit_status: int) -> None:
        """Record the exit status in session.json, if this session ran benchmarks."""
        if self._session_written:
            self.trials.finish_session(exit_status)
        self.baseline.save()

    def close(self) -> None:
        """Tear down whatever is still up; idempotent, a safety net behind the fixtures."""
        for failure in self.bench.close():
            log.warning(failure)


def _instance_types(profile: Profile) -> str:
    """``servers i4i.xlarge, loaders c6i.2xlarge`` when the profile provisions cloud hosts."""
    cloud = getattr(profile, "aws", None)
    types = [(role, getattr(getattr(cloud, role, None), "instance_type", None))
             for role in ("servers", "loaders")]
    return ", ".join(f"{role} {kind}" for role, kind in types if isinstance(kind, str))
