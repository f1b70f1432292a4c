"""Monitoring in a session, without processes: the profile section, the watched hosts, the
JMX exporter option of each Cassandra node (local and remote) and the CLI's arguments."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_scyllabench import cli
from pytest_scyllabench.db import cassandra_config as cfg
from pytest_scyllabench.db.cassandra import CassandraCluster
from pytest_scyllabench.db.cassandra_remote import RemoteCassandraCluster
from pytest_scyllabench.db.maven import CassandraJars
from pytest_scyllabench.errors import DatabaseError, ProfileError
from pytest_scyllabench.execute.base import CommandResult
from pytest_scyllabench.execute.local import LocalExecutor
from pytest_scyllabench.monitor.exporters import (
    JMX_EXPORTER_PORT,
    NODE_EXPORTER_BINARY,
    NODE_EXPORTER_PORT,
    JmxAgent,
)
from pytest_scyllabench.monitor.plan import monitor_options, watched_hosts
from pytest_scyllabench.monitor.prometheus import PROMETHEUS_BINARY, PROMETHEUS_PORT, scrape_targets
from pytest_scyllabench.profile import DatabaseSpec, MonitoringSpec
from pytest_scyllabench.profile_schema import EMBEDDED, load_profile
from pytest_scyllabench.provision.base import Deployment, Host

REPO = Path(__file__).resolve().parents[2]
AGENT = JmxAgent(Path("/cache/jmx/agent.jar"), Path("/cache/jmx/rules.yaml"), 7070)


# -- the profile's monitoring section --------------------------------------------------------


def load(tmp_path: Path, monitoring: str) -> MonitoringSpec:
    path = tmp_path / "p.yaml"
    path.write_text(f"name: p\ndatabase: {{nodes: 1, replication_factor: 1}}\n{monitoring}")
    return load_profile(path).monitoring


def error_of(tmp_path: Path, monitoring: str) -> str:
    with pytest.raises(ProfileError) as info:
        load(tmp_path, monitoring)
    message = str(info.value)
    assert message.startswith(str(tmp_path / "p.yaml") + ": monitoring")
    return message


def test_monitoring_is_off_unless_asked(tmp_path: Path) -> None:
    spec = load(tmp_path, "")
    assert spec == MonitoringSpec()
    assert (spec.enabled, spec.required, spec.snapshots, spec.quiet_timeout) == (
        False, False, "per-test", 0.0)


def test_defaults_are_the_monitor_packages(tmp_path: Path) -> None:
    spec = MonitoringSpec()
    assert (spec.prometheus_port, spec.node_exporter_port, spec.jmx_exporter_port) == (
        PROMETHEUS_PORT, NODE_EXPORTER_PORT, JMX_EXPORTER_PORT)
    assert (spec.prometheus_binary, spec.node_exporter_binary) == (PROMETHEUS_BINARY,
                                                                    NODE_EXPORTER_BINARY)


@pytest.mark.parametrize("path", [EMBEDDED / "local.yaml"], ids=["embedded"])
def test_default_profiles_monitor_optionally(path: Path) -> None:
    spec = load_profile(path).monitoring
    assert spec.enabled and not spec.required


def test_a_full_section(tmp_path: Path) -> None:
    spec = load(tmp_path, "monitoring:\n  enabled: true\n  required: true\n"
                          "  scrape_interval: 1\n  snapshots: per-session\n"
                          "  quiet_timeout: 120\n  prometheus_port: 19090\n"
                          "  node_exporter_port: 19100\n  jmx_exporter_port: 17070\n"
                          "  prometheus_binary: /opt/prom/prometheus\n")
    assert spec == MonitoringSpec(enabled=True, required=True, scrape_interval=1.0,
                                  snapshots="per-session", quiet_timeout=120.0,
                                  prometheus_port=19090, node_exporter_port=19100,
                                  jmx_exporter_port=17070,
                                  prometheus_binary="/opt/prom/prometheus")


def test_bare_off_means_no_snapshots(tmp_path: Path) -> None:
    assert load(tmp_path, "monitoring: {snapshots: off}\n").snapshots == "off"


@pytest.mark.parametrize(("section", "problem"), [
    ("{enable: true}", "monitoring.enable: unknown key; expected one of"),
    ("{enabled: yes please}", "monitoring.enabled: must be true or false"),
    ("{snapshots: per-step}", "monitoring.snapshots: must be one of per-test, per-session, "
                              "off, got 'per-step'"),
    ("{scrape_interval: 0}", "monitoring.scrape_interval: must be between 0.1 and 300 seconds"),
    ("{scrape_interval: fast}", "monitoring.scrape_interval: must be a number"),
    ("{quiet_timeout: -1}", "monitoring.quiet_timeout: must be at least 0, got -1"),
    ("{prometheus_port: 70000}", "monitoring.prometheus_port: must be a TCP port (1-65535)"),
    ("{node_exporter_port: 9090}", "monitoring.node_exporter_port: must differ from "
                                   "monitoring.prometheus_port (9090)"),
    ("{jmx_exporter_port: 9100}", "monitoring.jmx_exporter_port: must differ from "
                                  "monitoring.node_exporter_port (9100)"),
    ("{prometheus_binary: ''}", "monitoring.prometheus_binary: must not be empty"),
    ("{reset_between_tests: true, snapshots: per-session}",
     "monitoring.reset_between_tests: needs snapshots: per-test"),
    ("true", "monitoring: must be a mapping, got a boolean"),
])
def test_bad_sections_name_file_and_field(tmp_path: Path, section: str, problem: str) -> None:
    assert problem in error_of(tmp_path, f"monitoring: {section}\n")


def test_options_follow_the_profile() -> None:
    spec = MonitoringSpec(enabled=True, required=True, scrape_interval=0.5,
                          reset_between_tests=True, quiet_timeout=30, prometheus_port=1,
                          node_exporter_port=2, prometheus_binary="/p", node_exporter_binary="/n")
    options = monitor_options(spec, 7070)
    assert (options.required, options.scrape_interval, options.prometheus_port,
            options.node_exporter_port, options.database_port, options.reset_after_snapshot,
            options.quiet_timeout, options.prometheus_binary, options.node_exporter_binary) == (
        True, 0.5, 1, 2, 7070, True, 30, "/p", "/n")


# -- the hosts a session watches -------------------------------------------------------------


def local_deployment(nodes: int = 3) -> Deployment:
    servers = tuple(Host(f"node{i}", f"127.0.0.{i}", LocalExecutor(f"127.0.0.{i}"))
                    for i in range(1, nodes + 1))
    loaders = (Host("loader-1", "127.0.0.1", LocalExecutor("local")),)
    return Deployment(servers=servers, loaders=loaders)


def test_local_nodes_share_one_node_exporter() -> None:
    watched = watched_hosts(local_deployment())
    hosts = [w.host for w in watched]
    assert [(h.name, h.address, h.roles, h.node_exporter) for h in hosts] == [
        ("node1", "127.0.0.1", ("db",), False),
        ("node2", "127.0.0.2", ("db",), False),
        ("node3", "127.0.0.3", ("db",), False),
        ("local", "127.0.0.1", ("loader", "monitor"), True),
    ]
    targets = scrape_targets(hosts, "cassandra", node_exporter_port=9100, database_port=7070)
    assert [(t.job, t.address, t.host, t.role) for t in targets] == [
        ("node", "127.0.0.1:9100", "local", "loader,monitor"),
        ("cassandra", "127.0.0.1:7070", "node1", "db"),
        ("cassandra", "127.0.0.2:7070", "node2", "db"),
        ("cassandra", "127.0.0.3:7070", "node3", "db"),
    ]


def test_remote_hosts_are_watched_once_per_machine() -> None:
    executor = LocalExecutor("x")
    deployment = Deployment(
        servers=(Host("node1", "10.0.0.1", executor), Host("node2", "10.0.0.2", executor)),
        loaders=(Host("loader-1", "10.0.0.9", executor), Host("loader-2", "10.0.0.2", executor)),
        workdir="/var/tmp/sb")
    hosts = [w.host for w in watched_hosts(deployment)]
    assert [(h.name, h.address, h.roles, h.node_exporter) for h in hosts] == [
        ("node1", "10.0.0.1", ("db",), True),
        ("node2", "10.0.0.2", ("db", "loader"), True),
        ("loader-1", "10.0.0.9", ("loader",), True),
    ]


# -- the JMX exporter in every Cassandra node ------------------------------------------------


def test_agent_option_names_the_nodes_own_address() -> None:
    assert AGENT.jvm_option("127.0.0.2") == (
        "-javaagent:/cache/jmx/agent.jar=127.0.0.2:7070:/cache/jmx/rules.yaml")
    assert AGENT.jvm_option("10.0.0.1", jar="/w/a.jar", rules="/w/r.yaml") == (
        "-javaagent:/w/a.jar=10.0.0.1:7070:/w/r.yaml")


def test_jvm_options_put_the_agent_after_jamm_and_before_extra(tmp_path: Path) -> None:
    node = cfg.node_layouts(["127.0.0.1"], tmp_path)[0]
    agent = AGENT.jvm_option(node.address)
    options = cfg.jvm_options(node, "1G", ["-Dextra=1"], Path("/j/jamm.jar"),
                              metrics_agent=agent)
    assert options.index("-javaagent:/j/jamm.jar") < options.index(agent) < options.index(
        "-Dextra=1")
    assert agent not in cfg.jvm_options(node, "1G", [], None)
    with pytest.raises(ValueError, match="not a -javaagent"):
        cfg.jvm_options(node, "1G", [], None, metrics_agent="/cache/agent.jar")


def local_cluster(tmp_path: Path, addresses: Sequence[str]) -> CassandraCluster:
    spec = DatabaseSpec(nodes=len(addresses), replication_factor=1)
    return CassandraCluster(spec, addresses, tmp_path / "cluster", tmp_path / "cache")


def test_each_local_node_gets_the_agent_on_its_address(tmp_path: Path) -> None:
    cluster = local_cluster(tmp_path, ["127.0.0.1", "127.0.0.2"])
    assert cluster.needs_jmx_agent
    before = cluster._fingerprint()
    assert cluster.export_metrics(AGENT) == 7070
    rendered = cluster._render(None, AGENT)
    assert [[o for o in options if "agent.jar" in o] for _, _, options in rendered] == [
        ["-javaagent:/cache/jmx/agent.jar=127.0.0.1:7070:/cache/jmx/rules.yaml"],
        ["-javaagent:/cache/jmx/agent.jar=127.0.0.2:7070:/cache/jmx/rules.yaml"],
    ]
    # A kept cluster is the same cluster whether monitoring is on or off.
    assert cluster._fingerprint() == before
    assert cluster.export_metrics(None) is None


def test_a_taken_agent_port_is_named(tmp_path: Path) -> None:
    address = "127.0.0.77"
    with socket.socket() as squatter:
        squatter.bind((address, 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        cluster = local_cluster(tmp_path, [address])
        cluster.export_metrics(JmxAgent(AGENT.jar, AGENT.rules, port))
        with pytest.raises(DatabaseError, match=rf"{address}:{port} \(JMX exporter, "
                                                r"monitoring.jmx_exporter_port\) is already "
                                                "in use"):
            cluster._check_ports_free()


class RecordingProcess:
    pid = 4242
    returncode = None

    async def wait(self, timeout: float | None = None) -> int:
        return 0

    async def terminate(self, grace: float = 10.0) -> int | None:
        return 0

    def stderr_tail(self, lines: int = 20) -> str:
        return ""


class RecordingExecutor:
    """Answers every command with success and records what it was asked."""

    def __init__(self, host: str) -> None:
        self._host = host
        self.puts: list[tuple[Path, str]] = []
        self.started: list[list[str]] = []
        #: Files written with ``sh -c 'cat > PATH'``, by path.
        self.files: dict[str, str] = {}

    @property
    def host(self) -> str:
        return self._host

    async def run(self, command: Sequence[str], *, timeout: float, check: bool = True,
                  env: Mapping[str, str] | None = None, cwd: str | None = None,
                  stdin: bytes | None = None) -> CommandResult:
        if stdin is not None and command[-1].startswith("cat > "):
            self.files[command[-1].removeprefix("cat > ").strip("'")] = stdin.decode()
        return CommandResult(self._host, tuple(command), 0, "", "")

    async def start(self, command: Sequence[str], **kwargs: Any) -> RecordingProcess:
        self.started.append(list(command))
        return RecordingProcess()

    async def put(self, local: Path, remote: str) -> None:
        self.puts.append((local, remote))

    async def get(self, remote: str, local: Path) -> None:
        pass

    async def close(self) -> None:
        pass


def installed_cluster(servers: Sequence[Host], tmp_path: Path) -> RemoteCassandraCluster:
    """A remote cluster on ``servers`` whose jars and Java are taken as found."""
    cluster = RemoteCassandraCluster(DatabaseSpec(nodes=len(servers), replication_factor=1),
                                     servers, "/var/tmp/sb", tmp_path / "cache",
                                     tmp_path / "local", cluster="p")
    cluster._jars = CassandraJars("5.0.9", tmp_path, (tmp_path / "cassandra.jar",))
    cluster._java = {host.name: "/usr/bin/java" for host in servers}
    return cluster


def test_remote_nodes_get_the_agent_copied_then_on_their_address(tmp_path: Path) -> None:
    executors = [RecordingExecutor("node1"), RecordingExecutor("node2")]
    cluster = installed_cluster([Host(e.host, f"10.0.0.{i}", e)
                                 for i, e in enumerate(executors, start=1)], tmp_path)
    assert cluster.export_metrics(AGENT) == 7070

    async def scenario() -> None:
        await cluster.configure()
        await cluster.start()

    asyncio.run(scenario())
    for index, executor in enumerate(executors, start=1):
        assert executor.puts == [(AGENT.jar, "/var/tmp/sb/jmx-exporter/agent.jar"),
                                 (AGENT.rules, "/var/tmp/sb/jmx-exporter/rules.yaml")]
        (command,) = executor.started
        assert (f"-javaagent:/var/tmp/sb/jmx-exporter/agent.jar=10.0.0.{index}:7070:"
                "/var/tmp/sb/jmx-exporter/rules.yaml") in command


def test_ec2_nodes_bind_their_private_address_and_are_probed_at_the_public_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On EC2 with public addresses: cassandra.yaml, the seeds, the metrics agent and the
    loaders' contact points use each instance's private address; only the readiness probe
    from this machine goes to the public one."""
    executors = [RecordingExecutor("node1"), RecordingExecutor("node2")]
    cluster = installed_cluster([Host(e.host, f"203.0.113.{i}", e, private_address=f"10.0.0.{i}")
                                 for i, e in enumerate(executors, start=1)], tmp_path)
    cluster.export_metrics(AGENT)
    probed: list[tuple[str, tuple[str, ...]]] = []

    class Probe:
        def __init__(self, address: str, port: int, expected: Sequence[str]) -> None:
            probed.append((address, tuple(expected)))

        def check(self) -> None:
            return None

        def close(self) -> None:
            pass

    monkeypatch.setattr("pytest_scyllabench.db.cassandra_remote.NodeProbe", Probe)

    async def scenario() -> None:
        await cluster.configure()
        await cluster.start()
        await cluster.wait_ready(10)

    asyncio.run(scenario())
    assert cluster.contact_points == ("10.0.0.1", "10.0.0.2")
    (path,) = [p for p in executors[1].files if p.endswith("cassandra.yaml")]
    written = yaml.safe_load(executors[1].files[path])
    assert (written["listen_address"], written["rpc_address"]) == ("10.0.0.2", "10.0.0.2")
    assert written["seed_provider"][0]["parameters"] == [
        {"seeds": "10.0.0.1:7000,10.0.0.2:7000"}]
    assert any(option.startswith("-javaagent:") and "=10.0.0.2:7070:" in option
               for option in executors[1].started[0])
    assert sorted(probed) == [("203.0.113.1", ("10.0.0.1", "10.0.0.2")),
                              ("203.0.113.2", ("10.0.0.1", "10.0.0.2"))]


def test_remote_nodes_without_monitoring_get_no_agent(tmp_path: Path) -> None:
    executor = RecordingExecutor("node1")
    cluster = installed_cluster([Host("node1", "10.0.0.1", executor)], tmp_path)

    async def scenario() -> None:
        await cluster.configure()
        await cluster.start()

    asyncio.run(scenario())
    assert executor.puts == []
    assert not any("-javaagent" in option for option in executor.started[0])


# -- the companion command -------------------------------------------------------------------


def test_serve_snapshot_rejects_a_bad_port(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["serve-snapshot", "x.tar.gz", "--port", "99999"])
    assert info.value.code == 2
    assert "port must be between 1 and 65535, got 99999" in capsys.readouterr().err


def test_serve_snapshot_of_a_missing_archive(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.tar.gz"
    assert cli.main(["serve-snapshot", str(missing)]) == 1
    assert capsys.readouterr().err == (f"scyllabench: error: {missing}: no such snapshot "
                                       "archive\n")
