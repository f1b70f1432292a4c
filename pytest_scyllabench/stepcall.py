"""The callable behind the ``scyllabench_step`` fixture: one step of one test."""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import pytest

from pytest_scyllabench.backends import STRESS_TOOLS
from pytest_scyllabench.errors import ConfigError, LoaderFailed
from pytest_scyllabench.markers import marker_thresholds
from pytest_scyllabench.result import StepResult
from pytest_scyllabench.runner import StepRunner
from pytest_scyllabench.session import Cluster
from pytest_scyllabench.state import SessionState
from pytest_scyllabench.stress.step import Step
from pytest_scyllabench.thresholds import check, check_rate, parse_thresholds
from pytest_scyllabench.units import parse_duration


class StepWarning(UserWarning):
    """Something odd in a step's data that did not invalidate it (e.g. a truncated log line)."""


#: Scaled durations are never shorter than this, seconds.
MIN_DURATION = 1.0


class StepCall:
    """Runs a step, saves it at once, then fails the test on a breach."""

    def __init__(self, state: SessionState, cluster: Cluster, item: pytest.Item) -> None:
        self._state = state
        self._cluster = cluster
        self._item = item

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
        step = self.build_step(workload, rate=rate, duration=duration, warmup=warmup,
                               concurrency=concurrency, connections=connections, name=name)
        if tool is not None and tool not in STRESS_TOOLS:
            raise ConfigError(f"scyllabench_step: tool must be one of "
                              f"{', '.join(sorted(STRESS_TOOLS))}, got {tool!r}")
        state, bench = self._state, self._state.bench
        limits = {**parse_thresholds(state.profile.thresholds), **marker_thresholds(self._item),
                  **parse_thresholds(thresholds or {})}
        step_dir = state.trials.step_dir(self._item.nodeid, step.id)
        runner = StepRunner(self._cluster, state.profile)
        stress_tool = bench.run(runner.tool(tool))
        bench.run(runner.prepare(step.workload, state.trials.path / "populate", stress_tool))
        try:
            result = bench.run(runner.run(step, step_dir, on_progress=state.progress,
                                          tool=stress_tool))
        except LoaderFailed as exc:
            if exc.partial is not None:
                state.record(self._item, exc.partial, [str(exc)])
            pytest.fail(f"{step.id}: {exc}", pytrace=False)
        breaches = [str(b) for b in check(result, limits)]
        missed = check_rate(result, state.profile.rate_tolerance)
        if missed is not None:
            breaches.insert(0, str(missed))
        state.record(self._item, result, breaches)
        for warning in result.warnings:
            warnings.warn(f"{step.id}: {warning}", StepWarning, stacklevel=2)
        if breaches:
            pytest.fail("\n".join(breaches), pytrace=False)
        return result

    def build_step(self, workload: str, *, rate: int, duration: float | str,
                   warmup: float | str, concurrency: int | None, connections: int | None,
                   name: str | None) -> Step:
        """Validate the call's arguments into a :class:`Step` (ConfigError naming the field)."""
        profile, scale = self._state.profile, self._state.settings.duration_scale
        if workload not in profile.workloads:
            raise ConfigError(f"scyllabench_step: workload {workload!r} is not in profile "
                              f"{profile.name!r}; known: {', '.join(sorted(profile.workloads))}")
        if isinstance(rate, bool) or not isinstance(rate, int) or rate < 1:
            raise ConfigError(f"scyllabench_step: rate must be a positive integer (ops/s), "
                              f"got {rate!r}")
        for field, value in (("concurrency", concurrency), ("connections", connections)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 1):
                raise ConfigError(f"scyllabench_step: {field} must be a positive integer, "
                                  f"got {value!r}")
        measured = max(MIN_DURATION, parse_duration(duration, "scyllabench_step: duration")
                       * scale)
        warm = parse_duration(warmup, "scyllabench_step: warmup") * scale
        return Step(
            workload=profile.workloads[workload], rate=rate, duration=measured, warmup=warm,
            concurrency=concurrency or profile.loaders.concurrency,
            connections=connections or profile.loaders.connections,
            name=name or f"{workload}@{rate}",
        )


