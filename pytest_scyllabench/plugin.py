"""The pytest plugin: options, markers and hooks. The logic lives in importable modules."""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from pytest_scyllabench import settings as settings_module
from pytest_scyllabench.backends import STRESS_TOOLS
from pytest_scyllabench.baseline.store import BaselineError
from pytest_scyllabench.errors import ConfigError
from pytest_scyllabench.fixtures import (  # noqa: F401  (fixtures are found by name)
    scyllabench_cluster,
    scyllabench_loaders,
    scyllabench_profile,
    scyllabench_quiet,
    scyllabench_session,
    scyllabench_settings,
    scyllabench_step,
    scyllabench_trial_dir,
)
from pytest_scyllabench.markers import (
    MARKER,
    REGRESSION_MARKER,
    MarkerWarning,
    runs_steps,
    validate_markers,
)
from pytest_scyllabench.preflight import check_item, direct_params
from pytest_scyllabench.profile_schema import find_profile, load_profile
from pytest_scyllabench.report.terminal import progress_line
from pytest_scyllabench.session import check_options
from pytest_scyllabench.state import STATE_KEY, SessionState

MARKERS = (
    f"{MARKER}(**limits): latency limits for every step of this test, e.g. "
    f"@pytest.mark.{MARKER}(p99='20ms', p999='50ms', read_p99='10ms'); a breach fails the test",
    f"{REGRESSION_MARKER}(*rules, **rules): baseline rules of this test, overriding "
    f"--scyllabench-rules per metric, e.g. @pytest.mark.{REGRESSION_MARKER}('p99:+5%', "
    f"throughput=None)",
)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_scyllabench import hookspec

    pluginmanager.add_hookspecs(hookspec)


def pytest_addoption(parser: pytest.Parser) -> None:
    settings_module.add_options(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    for line in MARKERS:
        config.addinivalue_line("markers", line)
    cli = {option.dest: config.getoption(option.dest) for option in settings_module.OPTIONS}
    ini = {option.ini: config.getini(option.ini) for option in settings_module.OPTIONS}
    try:
        settings = settings_module.resolve(cli, ini, os.environ, Path(config.rootpath))
        profile = load_profile(find_profile(settings.profile, settings.rootdir))
        check_options(settings, profile)
        own_html = settings_module.wants_html_report(
            settings, html_plugin=config.pluginmanager.hasplugin("html"),
            running=not (config.option.collectonly
                         or getattr(config.option, "setupplan", False)))
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    state = SessionState(settings, profile)
    try:
        state.baseline.open()  # a missing baseline is known before anything is provisioned
    except BaselineError as exc:
        raise pytest.UsageError(f"--{settings_module.PREFIX}-compare: {exc}") from None
    config.stash[STATE_KEY] = state
    if own_html and not getattr(config.option, "htmlpath", None):
        config.option.htmlpath = str(state.trials.directory() / "report.html")
        config.option.self_contained_html = True
    if getattr(config.option, "htmlpath", None):
        state.html_report = Path(config.option.htmlpath).absolute()


def pytest_collection_finish(session: pytest.Session) -> None:
    """Validate the markers of the selected tests (after -k, -m, --lf deselected theirs) and
    the step arguments their source tells (:mod:`.preflight`), before anything is
    provisioned; count the steps of each benchmark for the live line."""
    state = session.config.stash.get(STATE_KEY, None)
    for item in session.items:
        try:
            validate_markers(item)
            if state is not None and runs_steps(item) and isinstance(item, pytest.Function):
                check_item(state.profile, item.function, direct_params(item), STRESS_TOOLS)
        except ConfigError as exc:
            raise pytest.UsageError(f"{item.nodeid}: {exc}") from None
        except MarkerWarning as exc:  # made an error by -W error or filterwarnings
            raise pytest.UsageError(str(exc)) from None
    if state is not None:
        state.note_items(item.nodeid for item in session.items if runs_steps(item))


def pytest_sessionstart(session: pytest.Session) -> None:
    state = session.config.stash.get(STATE_KEY, None)
    if state is not None:
        state.live = progress_line(session.config)


def pytest_runtest_setup(item: pytest.Item) -> None:
    state = item.config.stash.get(STATE_KEY, None)
    if state is not None:
        state.begin_test(item.nodeid)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[
        None, pytest.TestReport, pytest.TestReport]:
    report = yield
    state = item.config.stash.get(STATE_KEY, None)
    if state is not None and report.when == "call":
        state.attach(item, report)
    return report


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_summary(prefix: list[Any], summary: list[Any], postfix: list[Any],
                                session: pytest.Session) -> None:
    state = session.config.stash.get(STATE_KEY, None)
    if state is not None:
        prefix.extend(state.html_summary())


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int,
                            config: pytest.Config) -> None:
    state = config.stash.get(STATE_KEY, None)
    if state is not None:
        for line in state.terminal_lines():
            terminalreporter.write_line(line)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = session.config.stash.get(STATE_KEY, None)
    if state is not None:
        state.finish(int(exitstatus))


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(STATE_KEY, None)
    if state is not None:
        state.close()
