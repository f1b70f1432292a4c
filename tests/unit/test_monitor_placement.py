"""Where a session's Prometheus runs and how it is reached, without processes: the place chosen
from the deployment, the hosts watched with a monitor host, and installing Prometheus there."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pytest_scyllabench.errors import MissingDependencyError, MonitoringError
from pytest_scyllabench.execute.base import CommandResult
from pytest_scyllabench.execute.local import LocalExecutor
from pytest_scyllabench.execute.packages import apt_install, apt_install_script
from pytest_scyllabench.monitor.exporters import NodeExporter
from pytest_scyllabench.monitor.plan import prometheus_place, watched_hosts
from pytest_scyllabench.monitor.prometheus import Prometheus, prometheus_config
from pytest_scyllabench.provision.base import Deployment, Host

CACHE = Path("/cache")
Answer = Callable[[tuple[str, ...]], tuple[int, str]]


@dataclass
class FakeForward:
    local_address: str = "127.0.0.1"
    local_port: int = 45123
    closed: int = 0

    async def accepting(self) -> bool:
        return False

    async def close(self) -> None:
        self.closed += 1


class ExitedProcess:
    pid = 1
    returncode = 1

    async def wait(self, timeout: float | None = None) -> int:
        return 1

    async def terminate(self, grace: float = 10.0) -> int | None:
        return 1

    def stderr_tail(self, lines: int = 20) -> str:
        return "something went wrong"


@dataclass
class ScriptedExecutor:
    """Answers each command with ``answer(command)`` and records commands and forwards."""

    answer: Answer
    host: str = "monitor1"
    commands: list[tuple[str, ...]] = field(default_factory=list)
    forwards: list[tuple[str, int, FakeForward]] = field(default_factory=list)
    puts: list[str] = field(default_factory=list)

    async def run(self, command: Sequence[str], *, timeout: float, check: bool = True,
                  env: Mapping[str, str] | None = None, cwd: str | None = None,
                  stdin: bytes | None = None) -> CommandResult:
        argv = tuple(command)
        self.commands.append(argv)
        code, out = self.answer(argv)
        return CommandResult(self.host, argv, code, out, "")

    async def start(self, command: Sequence[str], **kwargs: Any) -> ExitedProcess:
        self.commands.append(("start", *command))
        return ExitedProcess()

    async def put(self, local: Path, remote: str) -> None:
        self.puts.append(remote)

    async def get(self, remote: str, local: Path) -> None:
        raise AssertionError("not expected")

    async def forward_port(self, address: str, port: int) -> FakeForward:
        forward = FakeForward()
        self.forwards.append((address, port, forward))
        return forward

    async def close(self) -> None:
        pass


def host(name: str, address: str, private: str = "") -> Host:
    return Host(name, address, LocalExecutor(name), private_address=private)


def remote(monitor: Host | None, workdir: str | None = "/var/tmp/sb") -> Deployment:
    return Deployment(servers=(host("node1", "10.0.0.1"),), loaders=(host("loader-1", "10.0.0.2"),),
                      workdir=workdir, monitor=monitor)


# -- where Prometheus runs -------------------------------------------------------------------


def test_a_local_deployment_runs_prometheus_here() -> None:
    place = prometheus_place(remote(None, workdir=None), "42-ab", CACHE)
    assert isinstance(place.executor, LocalExecutor)
    assert (place.workdir, place.address, place.install) == (
        "/cache/prometheus/42-ab", "127.0.0.1", False)


def test_remote_hosts_without_a_monitor_host_run_prometheus_here() -> None:
    place = prometheus_place(remote(None), "42-ab", CACHE)
    assert isinstance(place.executor, LocalExecutor)
    assert place.workdir == "/cache/prometheus/42-ab" and not place.install


def test_the_monitor_host_runs_prometheus_on_its_private_address() -> None:
    monitor = host("monitor-1", "203.0.113.7", private="10.0.0.5")
    place = prometheus_place(remote(monitor), "42-ab", CACHE)
    assert place.executor is monitor.executor
    assert (place.workdir, place.address, place.install) == (
        "/var/tmp/sb/prometheus/42-ab", "10.0.0.5", True)
    plain = host("monitor1", "10.0.0.9")
    assert prometheus_place(remote(plain), "s", CACHE).address == "10.0.0.9"


def test_the_monitor_host_is_watched_too() -> None:
    hosts = [w.host for w in watched_hosts(remote(host("monitor1", "10.0.0.3")))]
    assert [(h.name, h.address, h.roles, h.node_exporter) for h in hosts] == [
        ("node1", "10.0.0.1", ("db",), True),
        ("loader-1", "10.0.0.2", ("loader",), True),
        ("monitor1", "10.0.0.3", ("monitor",), True),
    ]


def test_a_monitor_on_a_loader_machine_shares_its_exporter() -> None:
    deployment = remote(host("monitor1", "10.0.0.2"))
    hosts = [w.host for w in watched_hosts(deployment)]
    assert [(h.name, h.roles) for h in hosts] == [("node1", ("db",)),
                                                  ("loader-1", ("loader", "monitor"))]


def test_watched_hosts_listen_on_private_addresses() -> None:
    deployment = Deployment(servers=(host("node1", "203.0.113.1", private="10.0.0.1"),),
                            loaders=(host("loader-1", "203.0.113.2", private="10.0.0.2"),),
                            workdir="/w", monitor=host("monitor-1", "203.0.113.3", "10.0.0.3"))
    assert [w.host.address for w in watched_hosts(deployment)] == [
        "10.0.0.1", "10.0.0.2", "10.0.0.3"]


# -- installing it -------------------------------------------------------------------------


def test_the_apt_script_installs_and_stops_the_packaged_service() -> None:
    script = apt_install_script(["prometheus"], services_off=["prometheus"]).splitlines()
    assert script[0] == "set -e"
    assert "export DEBIAN_FRONTEND=noninteractive" in script
    assert script.index("apt-get update -q") < script.index(
        "apt-get install -y -q --no-install-recommends prometheus")
    assert script[-1] == "systemctl disable --now prometheus >/dev/null 2>&1 || true"
    with pytest.raises(ValueError):
        apt_install_script([])


def os_answer(system: str, uid: str) -> Answer:
    def answer(command: tuple[str, ...]) -> tuple[int, str]:
        if command[:2] == ("sh", "-c") and "os-release" in command[2]:
            return 0, system
        if command == ("id", "-u"):
            return 0, uid
        return 0, ""

    return answer


def test_a_login_user_other_than_root_installs_through_sudo() -> None:
    executor = ScriptedExecutor(os_answer("ubuntu debian", "1000"))
    asyncio.run(apt_install(executor, ["prometheus"]))
    assert executor.commands[-1][:4] == ("sudo", "-n", "sh", "-c")
    root = ScriptedExecutor(os_answer("debian", "0"))
    asyncio.run(apt_install(root, ["prometheus"]))
    assert root.commands[-1][:2] == ("sh", "-c") and "apt-get install" in root.commands[-1][2]


def test_a_system_without_apt_is_refused() -> None:
    executor = ScriptedExecutor(os_answer("rocky rhel centos fedora", "0"))
    with pytest.raises(MissingDependencyError, match="monitor1: cannot install prometheus "
                                                     "there: not a Debian or Ubuntu system"):
        asyncio.run(apt_install(executor, ["prometheus"]))
    assert not any("apt-get" in " ".join(c) for c in executor.commands)


def missing_then_installed(binary: str = "/usr/bin/prometheus",
                           version: str = "prometheus, version 2.45.3") -> ScriptedExecutor:
    installed: list[bool] = []

    def answer(command: tuple[str, ...]) -> tuple[int, str]:
        if command == (binary, "--version"):
            return (0, version) if installed else (127, "")
        if command[:2] == ("sh", "-c") and "apt-get install" in command[2]:
            installed.append(True)
        return os_answer("debian", "0")(command)

    return ScriptedExecutor(answer)


def test_a_missing_prometheus_is_installed_then_reached_through_a_forward() -> None:
    executor = missing_then_installed()
    prometheus = Prometheus(executor, "/w/prometheus/s", address="10.0.0.5", port=9090,
                            install=True)
    with pytest.raises(MonitoringError, match="exited with code 1"):
        asyncio.run(prometheus.start(prometheus_config([], 1.0), timeout=5))
    assert prometheus.version == "prometheus, version 2.45.3"
    (address, port, forward), = executor.forwards
    assert (address, port) == ("10.0.0.5", 9090)
    assert prometheus.client.base_url == "http://127.0.0.1:45123"
    assert forward.closed == 1  # the failed start closed it
    started = [c for c in executor.commands if c[0] == "start"]
    assert started and "--web.listen-address=10.0.0.5:9090" in started[0]
    assert "--web.enable-admin-api" in started[0]
    assert executor.puts == ["/w/prometheus/s/prometheus.yml"]
    asyncio.run(prometheus.remove_data())
    assert executor.commands[-1] == ("rm", "-rf", "/w/prometheus/s")


def test_without_install_a_missing_prometheus_is_named() -> None:
    executor = missing_then_installed()
    prometheus = Prometheus(executor, "/w", address="10.0.0.5")
    with pytest.raises(MonitoringError, match="monitor1: Prometheus is not installed"):
        asyncio.run(prometheus.start(prometheus_config([], 1.0)))
    assert executor.forwards == []
    assert not any("apt-get" in " ".join(c) for c in executor.commands)


def test_a_failed_install_is_a_monitoring_error() -> None:
    def answer(command: tuple[str, ...]) -> tuple[int, str]:
        if command[0] == "/usr/bin/prometheus":
            return 127, ""
        return os_answer("fedora", "0")(command)

    prometheus = Prometheus(ScriptedExecutor(answer), "/w", address="10.0.0.5", install=True)
    with pytest.raises(MonitoringError, match=r"installing Debian's `prometheus` failed: "
                                              r".*not a Debian or Ubuntu system"):
        asyncio.run(prometheus.start(prometheus_config([], 1.0)))


def test_a_missing_node_exporter_is_installed_then_checked_through_a_forward() -> None:
    executor = missing_then_installed("/usr/bin/prometheus-node-exporter",
                                      "node_exporter, version 1.5.0")
    exporter = NodeExporter(executor, "10.0.0.7", 9100, install=True)
    with pytest.raises(MonitoringError, match="exited with code 1"):
        asyncio.run(exporter.start(timeout=5))
    assert exporter.version == "node_exporter, version 1.5.0"
    (script,) = [c[2] for c in executor.commands if c[:2] == ("sh", "-c") and "apt-get" in c[2]]
    assert "prometheus-node-exporter" in script
    assert "systemctl disable --now prometheus-node-exporter" in script
    (address, port, forward), = executor.forwards
    assert (address, port) == ("10.0.0.7", 9100)
    assert forward.closed == 1  # the failed start closed it
    started = [c for c in executor.commands if c[0] == "start"]
    assert started and "--web.listen-address=10.0.0.7:9100" in started[0]


def test_without_install_a_missing_node_exporter_is_named() -> None:
    executor = missing_then_installed("/usr/bin/prometheus-node-exporter")
    with pytest.raises(MonitoringError, match="monitor1: the node exporter is not installed"):
        asyncio.run(NodeExporter(executor, "10.0.0.7").start())
    assert executor.forwards == []
    assert not any("apt-get" in " ".join(c) for c in executor.commands)
