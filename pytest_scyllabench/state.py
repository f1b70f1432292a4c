"""The plugin's per-session state: settings, profile, the benchmark session and its results.

Kept in ``config.stash[STATE_KEY]``; hooks and fixtures reach everything through it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from pytest_scyllabench.profile import Profile
from pytest_scyllabench.report import html, junit, terminal
from pytest_scyllabench.report.artifacts import TrialsDir
from pytest_scyllabench.report.serialize import StepSummary, summarize
from pytest_scyllabench.result import StepResult
from pytest_scyllabench.runner import StepRunner
from pytest_scyllabench.session import BenchSession, Cluster
from pytest_scyllabench.settings import Settings
from pytest_scyllabench.stress.base import Progress

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

    def progress(self, progress: Progress) -> None:
        log.debug("%s: %.0fs %.0f ops/s p99 %.2f ms errors %d", progress.loader,
                  progress.elapsed, progress.rate, progress.p99_ms, progress.errors)

    def record(self, item: pytest.Item, result: StepResult, breaches: Sequence[str]) -> None:
        """Save a finished step at once (before the test may fail) and remember it."""
        tolerance = self.profile.rate_tolerance
        path = self.trials.write_result(result, test=item.nodeid, breaches=breaches,
                                        rate_tolerance=tolerance)
        summary = summarize(result, test=item.nodeid, breaches=breaches,
                            rate_tolerance=tolerance)
        self.records.append(Recorded(item.nodeid, result, tuple(breaches), summary, path))
        junit.record_properties(item, result, breaches, test=item.nodeid,
                                rate_tolerance=tolerance)

    def attach(self, item: pytest.Item, report: pytest.TestReport) -> None:
        """Add this test's steps to its pytest-html row."""
        mine = [r for r in self.records if r.nodeid == item.nodeid]
        if not mine:
            return
        extras = list(getattr(report, "extras", []))
        report_dir = self.html_report.parent if self.html_report else self.trials.path
        for recorded in mine:
            links = html.artifact_links(recorded.result, report_dir, recorded.result_json)
            extras.extend(html.step_extras(recorded.result, recorded.breaches, links,
                                           test=recorded.nodeid,
                                           rate_tolerance=self.profile.rate_tolerance))
        setattr(report, "extras", extras)  # noqa: B010  (pytest-html's attribute)

    def html_summary(self) -> list[str]:
        return html.summary_html(r.summary for r in self.records)

    def terminal_lines(self) -> list[str]:
        return terminal.summary_lines(r.summary for r in self.records)

    def finish(self, exit_status: int) -> None:
        """Record the exit status in session.json, if this session ran benchmarks."""
        if self._session_written:
            self.trials.finish_session(exit_status)

    def close(self) -> None:
        """Tear down whatever is still up; idempotent, a safety net behind the fixtures."""
        for failure in self.bench.close():
            log.warning(failure)


