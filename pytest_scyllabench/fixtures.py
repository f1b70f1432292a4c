"""Fixtures: the session's cluster (provision, configure, teardown) and the step runner."""

from __future__ import annotations

import warnings
from collections.abc import Generator

import pytest

from pytest_scyllabench.profile import Profile
from pytest_scyllabench.provision.base import Host
from pytest_scyllabench.session import BenchSession, Cluster
from pytest_scyllabench.settings import Settings
from pytest_scyllabench.state import STATE_KEY, SessionState
from pytest_scyllabench.stepcall import StepCall
from pytest_scyllabench.teardown import sigterm_as_interrupt


def _state(config: pytest.Config) -> SessionState:
    return config.stash[STATE_KEY]


@pytest.fixture(scope="session")
def scyllabench_settings(pytestconfig: pytest.Config) -> Settings:
    """The resolved settings of this session."""
    return _state(pytestconfig).settings


@pytest.fixture(scope="session")
def scyllabench_profile(pytestconfig: pytest.Config) -> Profile:
    """The validated deployment profile of this session."""
    return _state(pytestconfig).profile


@pytest.fixture(scope="session")
def scyllabench_session(pytestconfig: pytest.Config) -> Generator[BenchSession, None, None]:
    """The benchmark session: one event loop and the teardown of everything it creates.

    Teardown runs at the end of the session, on errors in setup, on Ctrl-C and on SIGTERM.
    """
    state = _state(pytestconfig)
    restore = sigterm_as_interrupt()
    try:
        yield state.bench
    finally:
        failures = state.bench.close()
        restore()
        for failure in failures:
            warnings.warn(failure, stacklevel=1)


@pytest.fixture(scope="session")
def scyllabench_cluster(pytestconfig: pytest.Config,
                        scyllabench_session: BenchSession) -> Cluster:
    """A ready cluster with its loaders, started once per session."""
    state = _state(pytestconfig)
    cluster = scyllabench_session.cluster(state.trials.path)
    state.note_cluster(cluster)
    state.warm_up(cluster)
    return cluster


@pytest.fixture(scope="session")
def scyllabench_loaders(scyllabench_cluster: Cluster) -> tuple[Host, ...]:
    """The loader hosts of the session (on the local backend, processes on this machine)."""
    return scyllabench_cluster.deployment.loaders


@pytest.fixture
def scyllabench_step(request: pytest.FixtureRequest, pytestconfig: pytest.Config,
                     scyllabench_cluster: Cluster) -> StepCall:
    """Run one throughput step: ``scyllabench_step("write", rate=2000, duration="30s")``.

    Returns a :class:`~pytest_scyllabench.result.StepResult`. Latency limits come from the
    ``scyllabench_thresholds`` marker and the call's ``thresholds=``; a breach, or a step that
    misses its target rate, fails the test after the result is saved.
    """
    state = _state(pytestconfig)
    return StepCall(state, scyllabench_cluster, request.node)

