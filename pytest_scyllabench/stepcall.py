"""The callable behind the ``scyllabench_step`` fixture: one step of one test."""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import pytest

from pytest_scyllabench import machine
from pytest_scyllabench.backends import STRESS_TOOLS
from pytest_scyllabench.baseline.record import Identity, environment_of, record_from_results
from pytest_scyllabench.baseline.store import BaselineMissing
from pytest_scyllabench.errors import ConfigError, LoaderFailed, MonitoringError
from pytest_scyllabench.markers import marker_rule_layers, marker_thresholds
from pytest_scyllabench.profile import Profile
from pytest_scyllabench.report.charts import Vitals
from pytest_scyllabench.result import StepResult
from pytest_scyllabench.runner import StepRunner
from pytest_scyllabench.session import Cluster
from pytest_scyllabench.state import SessionState
from pytest_scyllabench.stepargs import build_step, call_thresholds, check_tool
from pytest_scyllabench.stress.base import StressTool
from pytest_scyllabench.stress.step import Step
from pytest_scyllabench.thresholds import check_rate, evaluate, parse_thresholds


class StepWarning(UserWarning):
    """Something odd in a step's data that did not invalidate it (e.g. a truncated log line)."""


def _bad_argument(excinfo: pytest.ExceptionInfo[BaseException]) -> bool:
    """pytest hides the call's frame from the traceback of a bad argument (``ConfigError``)."""
    return excinfo.errisinstance(ConfigError)


class StepCall:
    """Runs a step, saves it at once, then fails the test on a breach."""

    def __init__(self, state: SessionState, cluster: Cluster, item: pytest.Item) -> None:
        self._state = state
        self._cluster = cluster
        self._item = item

    def __repr__(self) -> str:
        return f"<scyllabench_step of {self._item.nodeid}>"

    def __call__(
        self,
        workload: str,
        *,
        rate: int,
        duration: float | str = 30.0,
        warmup: float | str = 5.0,
        concurrency: int | None = None,
        connections: int | None = None,
        thresholds: Mapping[str, str | float] | None = None,
        name: str | None = None,
        tool: str | None = None,
    ) -> StepResult:
        __tracebackhide__ = _bad_argument  # shows the test's call, not our frames
        state, bench = self._state, self._state.bench
        try:
            step = build_step(state.profile, state.settings.duration_scale, workload,
                              rate=rate, duration=duration, warmup=warmup,
                              concurrency=concurrency, connections=connections, name=name)
            check_tool(tool, STRESS_TOOLS)
            step.per_loader_rate(len(self._cluster.deployment.loaders))  # 1 op/s each at least
            limits = {**parse_thresholds(state.profile.thresholds),
                      **marker_thresholds(self._item), **call_thresholds(thresholds)}
            runner = StepRunner(self._cluster, state.profile)
            stress_tool = bench.run(runner.tool(tool, step.workload))
            # A tool kept from an earlier step was checked against that step's workload only.
            stress_tool.check_workload(step.workload)
        except ConfigError as exc:
            raise ConfigError(str(exc)) from None
        bench.run(runner.prepare(step.workload, state.trials.path / "populate", stress_tool))
        repeat = state.settings.repeat
        results: list[StepResult] = []
        failures: list[str] = []
        reached = True
        for run in range(1, repeat + 1):
            label = step.id if repeat == 1 else f"{step.id} run {run} of {repeat}"
            result = self._run_once(runner, step, stress_tool, label)
            vitals, breaches = self._vitals(result)
            verdicts = evaluate(result, limits)
            breaches += [verdict.breach for verdict in verdicts if verdict.breach is not None]
            missed = check_rate(result, state.profile.rate_tolerance)
            if missed is not None or result.problems:  # not a result to keep as a baseline
                breaches[:0] = [*([str(missed)] if missed is not None else []),
                                *result.problems]
                reached = False
            results.append(result)
            for warning in result.warnings:
                warnings.warn(f"{label}: {warning}", StepWarning, stacklevel=2)
            try:
                if run == repeat:  # the last run is saved with its baseline comparison
                    breaches += self._compare(step, results, reached=reached)
            finally:  # saved even when the comparison fails
                state.record(self._item, result, breaches, limits=verdicts, vitals=vitals,
                             label=label)
            failures += breaches if repeat == 1 else [f"{label}: {line}" for line in breaches]
        if failures:
            pytest.fail("\n".join(failures), pytrace=False)
        return results[-1]

    def _run_once(self, runner: StepRunner, step: Step, tool: StressTool,
                  label: str) -> StepResult:
        """One run of ``step``; a failed loader saves what the others measured, then fails."""
        state = self._state
        step_dir = state.trials.step_dir(self._item.nodeid, label)
        monitoring = self._cluster.monitoring
        if monitoring is not None:  # pending compactions would skew the step (if configured)
            state.bench.run(monitoring.wait_quiet())
        state.step_started(self._item.nodeid, label, step.warmup + step.duration)
        try:
            return state.bench.run(runner.run(step, step_dir, on_progress=state.progress,
                                              tool=tool))
        except LoaderFailed as exc:
            also = list(exc.partial.problems) if exc.partial is not None else []
            if exc.partial is not None:
                state.record(self._item, exc.partial, [str(exc), *also], label=label)
            pytest.fail("\n".join([f"{label}: {exc}", *also]), pytrace=False)

    def _vitals(self, result: StepResult) -> tuple[Vitals | None, list[str]]:
        """The vital signs of the step's measured window; a monitoring failure in required
        mode becomes a breach of the step (its result is saved all the same)."""
        monitoring = self._cluster.monitoring
        if monitoring is None or not result.measure_start:
            return None, []
        try:
            vitals = self._state.bench.run(monitoring.vitals(
                result.measure_start, result.measure_start + result.duration))
        except MonitoringError as exc:
            return None, [f"monitoring (required) failed: {exc}"]
        return vitals or None, []

    def _compare(self, step: Step, results: list[StepResult], *, reached: bool) -> list[str]:
        """Keep the step for the saved baseline and compare it; regressions, one line each."""
        state, cluster, item = self._state, self._cluster, self._item
        gate = state.baseline
        if gate.compare_with is None and gate.save_as is None:
            return []
        identity = Identity(state.profile.name, item.nodeid, step.id)
        environment = environment_of(
            results[0], database=state.profile.database.kind, database_version=cluster.version,
            nodes=len(cluster.deployment.servers), instance_types=instance_types(state.profile),
            extra=machine_of(state.profile, cluster),
            loader_processes=state.profile.loaders.processes)
        params = getattr(getattr(item, "callspec", None), "params", {})
        layers = marker_rule_layers(item)
        record = record_from_results(identity, environment, results, params=params,
                                     rules=layers)
        if reached:
            gate.keep(record)
        try:
            comparison = gate.check(record, layers)
        except BaselineMissing as exc:
            return [str(exc)]
        if comparison is None:
            return []
        state.note_comparison(item, comparison)
        mismatch = comparison.mismatch_message()
        if mismatch:
            warnings.warn(f"{step.id}: {mismatch}", StepWarning, stacklevel=3)
        return [str(change) for change in comparison.regressions]


def machine_of(profile: Profile, cluster: Cluster | None = None) -> dict[str, str]:
    """The CPUs and memory the nodes run on: the servers' when they are other machines
    (static, aws: read at cluster start), else this machine's (local, docker)."""
    if cluster is not None and cluster.host_facts:
        return machine.identity(cluster.host_facts)
    return machine.describe() if profile.provisioner in ("local", "docker") else {}


def instance_types(profile: Profile) -> list[str]:
    """The server instance types of the deployment, where the profile knows them."""
    if profile.aws is not None:
        return [profile.aws.servers.instance_type]
    return []
