"""Fixtures: the session's cluster (provision, configure, monitoring, teardown), the step
runner, whose teardown takes the test's Prometheus snapshot, and the wait for a quiet cluster."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Generator
from pathlib import Path

import pytest

from pytest_scyllabench.errors import MonitoringWarning
from pytest_scyllabench.monitor.stack import QUIET_TIMEOUT
from pytest_scyllabench.profile import Profile
from pytest_scyllabench.provision.base import Host
from pytest_scyllabench.session import BenchSession, Cluster
from pytest_scyllabench.settings import Settings
from pytest_scyllabench.state import STATE_KEY, SessionState
from pytest_scyllabench.stepcall import StepCall
from pytest_scyllabench.teardown import sigterm_as_interrupt


def _state(config: pytest.Config) -> SessionState:
    return config.stash[STATE_KEY]


def _warn_monitoring(bench: BenchSession) -> None:
    """Show monitoring failures tolerated since the last call (pytest's warnings summary)."""
    for warning in bench.new_monitoring_warnings():
        warnings.warn(warning, MonitoringWarning, stacklevel=2)


def _terminal_announcer(config: pytest.Config) -> Callable[[str], None] | None:
    """Backends' progress lines (a cost estimate, deletions) on pytest's terminal, shown at
    once even while a fixture's output is captured; ``None`` without a terminal reporter."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None:
        return None

    def announce(text: str) -> None:
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            writer = config.get_terminal_writer()
            if writer.width_of_current_line:  # after -q's progress dots
                writer.line()
            reporter.write_line(text)

    return announce


def _refuse_xdist_worker(config: pytest.Config) -> None:
    """A pytest-xdist worker would start a cluster of its own, and its load would disturb the
    other workers' steps: benchmarks error out before anything is provisioned (tests that use
    no cluster still run in parallel)."""
    worker = getattr(config, "workerinput", None)
    if worker is not None:
        pytest.fail(f"pytest-scyllabench: benchmarks cannot run under pytest-xdist (worker "
                    f"{worker.get('workerid', '?')} of {worker.get('workercount', '?')}): each "
                    f"worker would start its own cluster and load it at the same time as the "
                    f"others; run them with -n 0 or -p no:xdist", pytrace=False)


@pytest.fixture(scope="session")
def scyllabench_settings(pytestconfig: pytest.Config) -> Settings:
    """The resolved settings of this session."""
    return _state(pytestconfig).settings


@pytest.fixture(scope="session")
def scyllabench_profile(pytestconfig: pytest.Config) -> Profile:
    """The validated deployment profile of this session."""
    return _state(pytestconfig).profile


@pytest.fixture(scope="session")
def scyllabench_trial_dir(pytestconfig: pytest.Config) -> Path:
    """This session's ``trials/<profile>/<timestamp>/`` directory (created), for a test's
    own artifacts."""
    return _state(pytestconfig).trials.path


@pytest.fixture(scope="session")
def scyllabench_session(pytestconfig: pytest.Config) -> Generator[BenchSession, None, None]:
    """The benchmark session: one event loop and the teardown of everything it creates.

    Teardown runs at the end of the session, on errors in setup, on Ctrl-C and on SIGTERM.
    """
    _refuse_xdist_worker(pytestconfig)
    state = _state(pytestconfig)
    announce = _terminal_announcer(pytestconfig)
    if announce is not None:
        state.bench.announce = announce
    restore = sigterm_as_interrupt()
    try:
        yield state.bench
    finally:
        try:
            failures = state.bench.close()
        finally:  # even when teardown was abandoned (a third interrupt)
            restore()
        _warn_monitoring(state.bench)
        for failure in failures:
            warnings.warn(failure, stacklevel=1)


@pytest.fixture(scope="session")
def scyllabench_cluster(pytestconfig: pytest.Config,
                        scyllabench_session: BenchSession) -> Cluster:
    """A ready cluster with its loaders, started once per session."""
    state = _state(pytestconfig)
    cluster = scyllabench_session.cluster(state.trials.path)
    state.note_cluster(cluster)
    _warn_monitoring(scyllabench_session)
    pytestconfig.hook.pytest_scyllabench_cluster_ready(
        cluster=cluster, trial_dir=state.trials.path, config=pytestconfig)
    state.warm_up(cluster)
    return cluster


@pytest.fixture(scope="session")
def scyllabench_loaders(scyllabench_cluster: Cluster) -> tuple[Host, ...]:
    """The loader hosts of the session (on the local backend, processes on this machine)."""
    return scyllabench_cluster.deployment.loaders


@pytest.fixture
def scyllabench_step(request: pytest.FixtureRequest, pytestconfig: pytest.Config,
                     scyllabench_cluster: Cluster) -> Generator[StepCall, None, None]:
    """Run one throughput step: ``scyllabench_step("write", rate=2000, duration="30s")``.

    Returns a :class:`~pytest_scyllabench.result.StepResult`. Latency limits come from the
    ``scyllabench_thresholds`` marker and the call's ``thresholds=``; a breach, or a step that
    misses its target rate, fails the test after the result is saved.

    After the test (passed or failed), with ``monitoring.snapshots: per-test``, Prometheus's
    TSDB is snapshotted into ``<trial>/<test>/prometheus.tar.gz``, recorded in
    ``BenchSession.snapshots[nodeid]`` for the report.
    """
    state = _state(pytestconfig)
    yield StepCall(state, scyllabench_cluster, request.node)
    nodeid = request.node.nodeid
    if (state.profile.monitoring.snapshots == "per-test"
            and scyllabench_cluster.monitoring is not None):
        state.bench.snapshot_test(nodeid, state.trials.test_dir(nodeid))
    _warn_monitoring(state.bench)


@pytest.fixture
def scyllabench_quiet(pytestconfig: pytest.Config,
                      scyllabench_cluster: Cluster) -> float | None:
    """Wait until no compaction is pending on any node before the test; the seconds waited.

    The limit is the profile's ``monitoring.quiet_timeout`` (120 s when it is 0). Not settled
    in time: a ``MonitoringWarning`` (``MonitoringError`` with ``monitoring.required``).
    With monitoring off or down there is nothing to ask: a warning, and ``None``.
    """
    state = _state(pytestconfig)
    monitoring = scyllabench_cluster.monitoring
    if monitoring is None:
        warnings.warn("scyllabench_quiet: monitoring is off (monitoring.enabled: false in the "
                      "profile); not waiting for compactions to settle", MonitoringWarning,
                      stacklevel=2)
        return None
    timeout = state.profile.monitoring.quiet_timeout or QUIET_TIMEOUT
    waited = state.bench.run(monitoring.wait_quiet(timeout))
    _warn_monitoring(state.bench)
    if waited is None and not monitoring.up:
        warnings.warn("scyllabench_quiet: monitoring is down; not waiting for compactions to "
                      "settle", MonitoringWarning, stacklevel=2)
    return waited
