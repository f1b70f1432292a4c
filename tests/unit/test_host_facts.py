"""The database servers' facts on remote deployments: read through each server's executor at
cluster start (in parallel, bounded, ``unknown`` for a host that does not answer), summarized in
the report's environment and used for the baseline's identity."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from pytest_scyllabench import backends, machine
from pytest_scyllabench.errors import ProvisionError
from pytest_scyllabench.execute.base import CommandResult
from pytest_scyllabench.profile_schema import load_profile
from pytest_scyllabench.provision.base import Deployment, Host
from pytest_scyllabench.settings import resolve
from pytest_scyllabench.state import SessionState
from pytest_scyllabench.stepcall import machine_of

#: ``sh -c FACTS_SCRIPT`` run on a Debian 12 machine (2 AMD EPYC CPUs, 24 GiB).
RECORDED = (Path(__file__).parent / "data" / "host-facts" / "debian12-epyc.txt").read_text()
EPYC = {"cpus": "2 x AMD EPYC", "memory": "24 GiB", "kernel": "Linux 6.18.44-fc-v595"}
#: An arm64 server: its /proc/cpuinfo has no ``model name``.
ARM = (f"Linux 6.1.0-18-arm64\n{machine.SECTION}\n4\n{machine.SECTION}\n"
       f"processor\t: 0\nBogoMIPS\t: 243.75\nCPU part\t: 0xd0c\n{machine.SECTION}\n"
       f"MemTotal:       16309272 kB\n{machine.SECTION}\n")


class FactsHost:
    """A server answering the facts command with ``output``, or failing as told."""

    def __init__(self, name: str, output: str = RECORDED, *, fails: bool = False,
                 hangs: bool = False) -> None:
        self.host, self.output, self.fails, self.hangs = name, output, fails, hangs
        self.calls: list[tuple[str, ...]] = []

    async def run(self, command: Sequence[str], *, timeout: float, check: bool = True,
                  env: Mapping[str, str] | None = None, cwd: str | None = None,
                  stdin: bytes | None = None) -> CommandResult:
        self.calls.append(tuple(command))
        if self.fails:
            raise ProvisionError(f"{self.host} (10.0.0.9): cannot connect over SSH: "
                                 "Connection refused")
        if self.hangs:
            await asyncio.sleep(3600)
        return CommandResult(self.host, tuple(command), 0, self.output, "")

    async def close(self) -> None:
        pass


def servers(*executors: FactsHost) -> tuple[Host, ...]:
    return tuple(Host(e.host, f"10.0.0.{i + 1}", e)  # type: ignore[arg-type]
                 for i, e in enumerate(executors))


# -- parsing and summaries -------------------------------------------------------------------


def test_facts_are_parsed_from_the_recorded_output_with_this_machine_s_parsers() -> None:
    assert machine.parse_facts(RECORDED) == EPYC
    assert machine.parse_facts(ARM) == {"cpus": "4 x unknown", "memory": "16 GiB",
                                        "kernel": "Linux 6.1.0-18-arm64"}
    assert machine.parse_facts("") == machine.unknown_facts()
    assert machine.describe_facts(machine.unknown_facts()) == "unknown"


def test_identical_hosts_collapse_and_the_identity_leaves_the_kernel_out() -> None:
    same = {"node1": EPYC, "node2": EPYC, "node3": EPYC}
    assert machine.summarize(same) == "3 x (2 x AMD EPYC, 24 GiB, Linux 6.18.44-fc-v595)"
    assert machine.identity(same) == {"cpus": "2 x AMD EPYC", "memory": "24 GiB"}
    other_kernel = {**same, "node3": {**EPYC, "kernel": "Linux 6.1.0"}}
    assert machine.identity(other_kernel) == machine.identity(same)
    mixed = {"node1": EPYC, "node2": machine.unknown_facts(), "node3": EPYC}
    assert machine.summarize(mixed) == ("2 x (2 x AMD EPYC, 24 GiB, Linux 6.18.44-fc-v595) + "
                                        "1 x (unknown)")
    assert machine.identity(mixed) == {"cpus": "2 x (2 x AMD EPYC) + 1 x (unknown)",
                                       "memory": "2 x (24 GiB) + 1 x (unknown)"}


def test_every_host_is_read_at_once_and_a_silent_one_is_unknown(
        caplog: pytest.LogCaptureFixture) -> None:
    good, dropped, hung = FactsHost("node1"), FactsHost("node2", fails=True), \
        FactsHost("node3", hangs=True)
    with caplog.at_level("WARNING", logger="pytest_scyllabench.machine"):
        found = asyncio.run(machine.read_hosts(servers(good, dropped, hung), timeout=0.2))
    assert sorted(caplog.messages) == [
        "node2: cannot read its CPUs, memory and kernel: node2 (10.0.0.9): cannot connect over "
        "SSH: Connection refused",
        "node3: cannot read its CPUs, memory and kernel: no answer within 0.2 s"]
    assert found == {"node1": EPYC, "node2": machine.unknown_facts(),
                     "node3": machine.unknown_facts()}
    assert good.calls == [("sh", "-c", machine.FACTS_SCRIPT)]
    for word in ("uname -sr", "nproc", "cat /proc/cpuinfo", "cat /proc/meminfo"):
        assert word in machine.FACTS_SCRIPT


# -- in a session ------------------------------------------------------------------------------

PROFILE = """
name: remote-facts
database: {nodes: 3, replication_factor: 3}
workloads:
  write: {mix: {write: 1}}
"""


class FakeDatabase:
    needs_jmx_agent = False
    version = "fake-1.0"
    contact_points = ("10.0.0.1",)
    port = 9042

    def export_metrics(self, agent: Any) -> int | None:
        return None

    async def install(self) -> str:
        return self.version

    async def configure(self) -> None: ...

    async def start(self) -> None: ...

    async def wait_ready(self, timeout: float) -> None: ...

    async def stop(self) -> None: ...

    async def wipe(self) -> None: ...

    def logs(self) -> list[Path]:
        return []


class FakeProvisioner:
    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment

    async def provision(self) -> Deployment:
        return self.deployment

    async def release(self) -> None: ...


def started_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                  deployment: Deployment) -> SessionState:
    monkeypatch.setenv("SCYLLABENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(machine, "FACTS_TIMEOUT", 0.2)
    monkeypatch.setattr(backends, "provisioner", lambda profile, trial: FakeProvisioner(
        deployment))
    monkeypatch.setattr(backends, "database", lambda *args, **kwargs: FakeDatabase())
    (tmp_path / "remote.yaml").write_text(PROFILE)
    state = SessionState(resolve({}, {}, {}, tmp_path), load_profile(tmp_path / "remote.yaml"))
    state.bench.cluster(tmp_path / "trial")
    return state


def test_a_remote_deployment_s_servers_are_in_the_environment_and_the_identity(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never failing the session: a server that does not answer is ``unknown``."""
    hosts = servers(FactsHost("node1"), FactsHost("node2"), FactsHost("node3", hangs=True))
    loader = servers(FactsHost("loader-1", ARM))
    state = started_state(tmp_path, monkeypatch,
                          Deployment(servers=hosts, loaders=loader, workdir="/var/tmp/sb"))
    try:
        cluster = state.bench.current_cluster
        assert cluster is not None
        assert cluster.host_facts == {"node1": EPYC, "node2": EPYC,
                                      "node3": machine.unknown_facts()}
        assert loader[0].executor.calls == []  # type: ignore[attr-defined]  # servers only
        environment = dict(state.environment())
        assert environment["servers"] == ("2 x (2 x AMD EPYC, 24 GiB, Linux 6.18.44-fc-v595) + "
                                          "1 x (unknown)")
        assert "this machine" in environment
        assert machine_of(state.profile, cluster) == {
            "cpus": "2 x (2 x AMD EPYC) + 1 x (unknown)",
            "memory": "2 x (24 GiB) + 1 x (unknown)"}
    finally:
        assert state.bench.close() == []


def test_servers_on_this_machine_are_not_read(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    hosts = servers(FactsHost("node1"))
    state = started_state(tmp_path, monkeypatch,
                          Deployment(servers=hosts, loaders=hosts, workdir=None))
    try:
        cluster = state.bench.current_cluster
        assert cluster is not None and cluster.host_facts == {}
        assert hosts[0].executor.calls == []  # type: ignore[attr-defined]
        assert "servers" not in dict(state.environment())
        assert machine_of(state.profile, cluster) == machine.describe()  # local provisioner
    finally:
        assert state.bench.close() == []
