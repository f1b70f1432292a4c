"""Prometheus's lifetime in a session, without processes: where it may listen (checked before
anything starts), and a Prometheus that ends mid-session (reported once, as a warning or a
``MonitoringError`` when monitoring is required)."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from test_monitor_placement import ScriptedExecutor

from pytest_scyllabench.errors import CommandTimeout, MonitoringError
from pytest_scyllabench.monitor import stack
from pytest_scyllabench.monitor.prometheus import (
    Prometheus,
    check_listen_address,
    listen_address_problem,
    prometheus_config,
)
from pytest_scyllabench.monitor.stack import Monitoring, MonitorOptions
from pytest_scyllabench.teardown import TeardownStack

# -- where Prometheus may listen ---------------------------------------------------------------


@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.0.5", "::1", "10.0.0.5",
                                     "172.31.255.1", "192.168.1.10", "fd12:3456::1",
                                     "169.254.10.1", "fe80::1"])
def test_loopback_private_and_link_local_addresses_are_allowed(address: str) -> None:
    assert listen_address_problem(address) is None


@pytest.mark.parametrize(("address", "problem"), [
    ("52.1.2.3", "neither a loopback nor a private address"),
    ("100.64.0.1", "neither a loopback nor a private address"),  # carrier-grade NAT
    ("2600:1f18::1", "neither a loopback nor a private address"),
    ("::ffff:8.8.8.8", "neither a loopback nor a private address"),
    ("0.0.0.0", "the unspecified address, which listens on every interface"),
    ("::", "the unspecified address"),
    ("monitor.example.com", "not an IP address"),
])
def test_public_and_unspecified_addresses_are_refused(address: str, problem: str) -> None:
    found = listen_address_problem(address)
    assert found is not None and found.startswith(problem)


def test_a_public_address_is_refused_before_anything_runs() -> None:
    executor = ScriptedExecutor(lambda command: (0, "prometheus, version 2.45.3"))
    prometheus = Prometheus(executor, "/w", address="52.1.2.3", install=True)
    with pytest.raises(MonitoringError) as info:
        asyncio.run(prometheus.start(prometheus_config([], 1.0)))
    assert str(info.value) == ("monitor1: refusing to run Prometheus listening on 52.1.2.3: "
                               "neither a loopback nor a private address (it may be reachable "
                               "from the internet)")
    assert executor.commands == [] and executor.forwards == [] and executor.puts == []


def test_host_names_are_checked_by_what_they_resolve_to(
        monkeypatch: pytest.MonkeyPatch) -> None:
    asyncio.run(check_listen_address("monitor1", "localhost"))
    table = {"mon.internal": "10.1.2.3", "mon.example.com": "52.1.2.3"}

    def getaddrinfo(host: str, *args: Any, **kwargs: Any) -> list[Any]:
        if host not in table:
            raise socket.gaierror(-2, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (table[host], 0))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    asyncio.run(check_listen_address("monitor1", "mon.internal"))
    with pytest.raises(MonitoringError, match=r"^monitor1: refusing to run Prometheus listening "
                                              r"on mon.example.com: it resolves to 52.1.2.3, "
                                              r"neither a loopback nor a private address"):
        asyncio.run(check_listen_address("monitor1", "mon.example.com"))
    with pytest.raises(MonitoringError, match=r"^monitor1: .* on mon.nowhere: a host name that "
                                              r"cannot be resolved here .*Name or service not "
                                              r"known.*give the host's private IP address"):
        asyncio.run(check_listen_address("monitor1", "mon.nowhere"))


def test_a_refused_address_is_a_warning_in_optional_mode(tmp_path: Path) -> None:
    monitoring = Monitoring(MonitorOptions(), hosts=[], database=None,
                            prometheus_executor=ScriptedExecutor(lambda c: (0, "")),
                            workdir="/w", prometheus_address="0.0.0.0")
    assert asyncio.run(monitoring.start(TeardownStack())) is False
    (warning,) = monitoring.warnings
    assert warning.startswith("monitoring start failed (benchmarks go on without it): "
                              "monitor1: refusing to run Prometheus listening on 0.0.0.0")
    required = Monitoring(MonitorOptions(required=True), hosts=[], database=None,
                          prometheus_executor=ScriptedExecutor(lambda c: (0, "")),
                          workdir="/w", prometheus_address="0.0.0.0")
    with pytest.raises(MonitoringError, match="refusing to run Prometheus"):
        asyncio.run(required.start(TeardownStack()))


# -- a Prometheus that ends mid-session -------------------------------------------------------


@dataclass
class FakeProcess:
    """Runs until ``returncode`` is set; ``ends_on_wait``: the end is noticed by ``wait``."""

    returncode: int | None = None
    ends_on_wait: int | None = None
    pid: int = 4242
    stderr: str = ("ts=1 level=info msg=starting\n"
                   "ts=2 level=error msg=\"opening storage failed\" err=\"disk full\"")

    async def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None and self.ends_on_wait is not None:
            self.returncode = self.ends_on_wait
        if self.returncode is None:
            raise CommandTimeout("monitor1", "prometheus", timeout or 0.0)
        return self.returncode

    async def terminate(self, grace: float = 10.0) -> int | None:
        return self.returncode

    def stderr_tail(self, lines: int = 20) -> str:
        return "\n".join(self.stderr.splitlines()[-lines:])


def started(monkeypatch: pytest.MonkeyPatch, process: FakeProcess, *,
            required: bool = False) -> Monitoring:
    """A Monitoring whose Prometheus was started (as ``process``) and scraped once."""
    monitoring = Monitoring(MonitorOptions(required=required), hosts=[], database=None,
                            prometheus_executor=ScriptedExecutor(lambda c: (0, "")),
                            workdir="/w", prometheus_address="10.0.0.5")
    prometheus = monitoring.prometheus

    async def start(config: dict[str, Any], timeout: float) -> float:
        prometheus._process = process
        return 0.1

    async def targets_up(timeout: float) -> None:
        pass

    monkeypatch.setattr(prometheus, "start", start)
    monkeypatch.setattr(prometheus, "wait_targets_up", targets_up)
    assert asyncio.run(monitoring.start(TeardownStack())) is True
    assert monitoring.up
    return monitoring


def test_a_prometheus_that_exited_is_a_warning_once(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    process = FakeProcess()
    monitoring = started(monkeypatch, process)
    process.returncode = 1
    assert asyncio.run(monitoring.snapshot(tmp_path)) is None
    (warning,) = monitoring.warnings
    assert warning == (
        "monitoring stopped (benchmarks go on without it): Prometheus on monitor1 "
        "(10.0.0.5:9090) exited with code 1 during the session; last lines of its stderr:\n"
        "ts=1 level=info msg=starting\n"
        "ts=2 level=error msg=\"opening storage failed\" err=\"disk full\"")
    assert not monitoring.up
    assert asyncio.run(monitoring.vitals(0.0, 10.0)) is None
    assert asyncio.run(monitoring.wait_quiet(5)) is None
    assert asyncio.run(monitoring.snapshot(tmp_path)) is None
    assert len(monitoring.warnings) == 1


def test_a_prometheus_that_exited_fails_required_monitoring_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    process = FakeProcess(stderr="")
    monitoring = started(monkeypatch, process, required=True)
    process.returncode = 2
    with pytest.raises(MonitoringError) as info:
        asyncio.run(monitoring.vitals(0.0, 10.0))
    assert str(info.value) == ("Prometheus on monitor1 (10.0.0.5:9090) exited with code 2 "
                               "during the session (it wrote nothing to stderr)")
    assert asyncio.run(monitoring.wait_quiet(5)) is None  # not raised again
    assert monitoring.warnings == []


def test_a_query_failing_because_prometheus_just_died_names_its_end(
        monkeypatch: pytest.MonkeyPatch) -> None:
    process = FakeProcess(ends_on_wait=137)  # dead, not yet noticed when the query starts
    monitoring = started(monkeypatch, process)

    async def refused(*args: Any, **kwargs: Any) -> None:
        raise MonitoringError("http://127.0.0.1:45123/api/v1/query_range: connection refused")

    monkeypatch.setattr(stack, "collect_vitals", refused)
    assert asyncio.run(monitoring.vitals(0.0, 10.0)) is None
    (warning,) = monitoring.warnings
    assert warning.startswith("monitoring stopped (benchmarks go on without it): Prometheus on "
                              "monitor1 (10.0.0.5:9090) exited with code 137 during the session")
    assert "connection refused" not in warning


def test_a_failed_query_of_a_running_prometheus_stays_a_query_failure(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monitoring = started(monkeypatch, FakeProcess())

    async def bad(*args: Any, **kwargs: Any) -> None:
        raise MonitoringError("query failed: bad_data")

    monkeypatch.setattr(stack, "collect_vitals", bad)
    assert asyncio.run(monitoring.vitals(0.0, 10.0)) is None
    assert monitoring.warnings == ["monitoring queries failed (benchmarks go on without it): "
                                   "query failed: bad_data"]
    assert monitoring.up


def test_an_unscraped_database_is_not_waited_for_before_every_step(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # database=None: the JMX exporter could not be had (optional mode), nothing exports
    # pending compactions; waiting would cost the whole limit before each step.
    monitoring = started(monkeypatch, FakeProcess())
    asked: list[float] = []

    async def wait_quiet(client: Any, timeout: float, **kwargs: Any) -> float:
        asked.append(timeout)
        raise MonitoringError(f"compactions did not settle within {timeout:g} s; last seen: "
                              f"no pending-compaction series (is the database scraped?)")

    monkeypatch.setattr(stack, "wait_quiet", wait_quiet)
    assert asyncio.run(monitoring.wait_quiet(300)) is None
    assert asyncio.run(monitoring.wait_quiet(300)) is None
    assert asked == []
    assert monitoring.warnings == ["monitoring: the database is not scraped, so pending "
                                   "compactions cannot be watched; not waiting for them to "
                                   "settle"]
    assert monitoring.up
