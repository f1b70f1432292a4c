"""Exporters: the JMX exporter agent inside Cassandra, and a node exporter on every host.

The JMX exporter (``io.prometheus.jmx:jmx_prometheus_javaagent``) runs inside each Cassandra
JVM, given by :func:`jmx_agent_jvm_option`; it is resolved from Maven Central into the cache::

    <cache>/jmx-exporter/<version>/jmx_prometheus_javaagent-<version>.jar
    <cache>/jmx-exporter/<version>/cassandra-jmx-exporter.yaml   the rules (CASSANDRA_JMX_RULES)
    <cache>/jmx-exporter/<version>/COMPLETE                       written last
    <cache>/jmx-exporter/<version>.lock                           held while resolving

Maven verifies the SHA-1 of the download (``--strict-checksums``) and we check that the jar
is a Java agent. The rules keep a few Cassandra MBeans (``includeObjectNames``) so that a
scrape every second stays cheap, and name them (all under ``cassandra_``)::

    cassandra_client_requests_total{operation}                 coordinator requests
    cassandra_client_request_latency_seconds_total{operation}  their summed latency
    cassandra_client_request_recent_latency_seconds{operation,quantile}  decaying quantiles
    cassandra_client_request_{timeouts,unavailables,failures}_total{operation}
    cassandra_compaction_pending_tasks, cassandra_compaction_completed_tasks,
    cassandra_compaction_bytes_compacted_total
    cassandra_thread_pool_{pending,active}_tasks{path,pool}, ..._blocked_tasks_total{path,pool}
    cassandra_storage_load_bytes, cassandra_storage_exceptions_total
    cassandra_commitlog_pending_tasks

``operation`` is Cassandra's scope as is: ``Read``, ``Write``, ``RangeSlice``, ``CASRead``...

:class:`NodeExporter` runs Debian's ``prometheus-node-exporter`` on a host through its
executor, with the cpu, diskstats, netdev, meminfo, loadavg and filesystem collectors only. As
Prometheus, it listens on a loopback, private or link-local address only
(:func:`~pytest_scyllabench.monitor.prometheus.listen_address_problem`, checked before anything
is installed or started).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pytest_scyllabench.cachelock import locked
from pytest_scyllabench.db.maven import run_maven
from pytest_scyllabench.errors import CommandError, MonitoringError
from pytest_scyllabench.execute.base import Executor, PortForward, RunningProcess
from pytest_scyllabench.execute.local import LocalExecutor
from pytest_scyllabench.monitor.client import (
    PrometheusClient,
    check_port_free,
    host_port,
    installed_version,
    wait_until_ready,
)

JMX_GROUP = "io.prometheus.jmx"
JMX_ARTIFACT = "jmx_prometheus_javaagent"
#: The newest release Maven Central serves here (1.1.0 and later were not found).
JMX_EXPORTER_VERSION = "1.0.1"
#: Port of the JMX exporter on each Cassandra node's own address.
JMX_EXPORTER_PORT = 7070
JMX_CONFIG_NAME = "cassandra-jmx-exporter.yaml"
NODE_EXPORTER_BINARY = "/usr/bin/prometheus-node-exporter"
NODE_EXPORTER_PACKAGE = "prometheus-node-exporter"
NODE_EXPORTER_PORT = 9100
NODE_COLLECTORS = ("cpu", "diskstats", "netdev", "meminfo", "loadavg", "filesystem")
MARKER = "COMPLETE"
RESOLVE_TIMEOUT = 600.0
LOCK_TIMEOUT = 900.0
STOP_GRACE = 10.0
_VERSION = re.compile(r"^[0-9A-Za-z.\-]+$")

_METRICS = "org.apache.cassandra.metrics"
_OPERATION = {"operation": "$1"}
_POOL = {"path": "$1", "pool": "$2"}
_MICROS = 0.000001


def _rule(bean: str, attribute: str, name: str, kind: str,
          labels: dict[str, str] | None = None, factor: float | None = None) -> dict[str, Any]:
    """A rule matching ``<domain><bean><>attribute`` (the exporter's form of an attribute)."""
    rule: dict[str, Any] = {"pattern": f"{_METRICS}<{bean}><>{attribute}", "name": name,
                            "type": kind}
    if factor is not None:
        rule["valueFactor"] = factor
    if labels:
        rule["labels"] = dict(labels)  # no YAML anchors for shared label maps
    return rule


_REQUEST = r"type=ClientRequest, scope=(\w+), name="
_POOLS = r"type=ThreadPools, path=(\w+), scope=([\w-]+), name="

#: The JMX exporter's configuration for Cassandra 5.0. Key order in patterns is the MBean's
#: (type, path, scope, name). Per consistency level scopes such as ``Read-ONE`` are left out
#: (``\w`` does not match the dash). The quantiles are Cassandra's decaying reservoir (recent
#: minutes); a window's mean latency comes from the two counters.
CASSANDRA_JMX_CONFIG: dict[str, Any] = {
    "lowercaseOutputName": True,
    "lowercaseOutputLabelNames": True,
    "includeObjectNames": [f"{_METRICS}:type={kind},*" for kind in
                           ("ClientRequest", "Compaction", "ThreadPools", "Storage",
                            "CommitLog")],
    "rules": [
        _rule(_REQUEST + "Latency", "Count", "cassandra_client_requests_total", "COUNTER",
              _OPERATION),
        _rule(_REQUEST + "TotalLatency", "Count",
              "cassandra_client_request_latency_seconds_total", "COUNTER", _OPERATION, _MICROS),
        _rule(_REQUEST + "Latency", "50thPercentile",
              "cassandra_client_request_recent_latency_seconds", "GAUGE",
              {**_OPERATION, "quantile": "0.5"}, _MICROS),
        _rule(_REQUEST + "Latency", "(95|99|999)thPercentile",
              "cassandra_client_request_recent_latency_seconds", "GAUGE",
              {**_OPERATION, "quantile": "0.$2"}, _MICROS),
        _rule(_REQUEST + "(Timeouts|Unavailables|Failures)", "Count",
              "cassandra_client_request_$2_total", "COUNTER", _OPERATION),
        _rule("type=Compaction, name=PendingTasks", "Value",
              "cassandra_compaction_pending_tasks", "GAUGE"),
        _rule("type=Compaction, name=CompletedTasks", "Value",
              "cassandra_compaction_completed_tasks", "GAUGE"),
        _rule("type=Compaction, name=BytesCompacted", "Count",
              "cassandra_compaction_bytes_compacted_total", "COUNTER"),
        _rule(_POOLS + "PendingTasks", "Value", "cassandra_thread_pool_pending_tasks", "GAUGE",
              _POOL),
        _rule(_POOLS + "ActiveTasks", "Value", "cassandra_thread_pool_active_tasks", "GAUGE",
              _POOL),
        _rule(_POOLS + "TotalBlockedTasks", "Count", "cassandra_thread_pool_blocked_tasks_total",
              "COUNTER", _POOL),
        _rule("type=Storage, name=Load", "Count", "cassandra_storage_load_bytes", "GAUGE"),
        _rule("type=Storage, name=Exceptions", "Count", "cassandra_storage_exceptions_total",
              "COUNTER"),
        _rule("type=CommitLog, name=PendingTasks", "Value", "cassandra_commitlog_pending_tasks",
              "GAUGE"),
    ],
}

#: :data:`CASSANDRA_JMX_CONFIG` as the YAML file the agent reads.
CASSANDRA_JMX_RULES = ("# JMX exporter rules for Cassandra 5.0, generated by pytest-scyllabench.\n"
                       + yaml.safe_dump(CASSANDRA_JMX_CONFIG, sort_keys=False, width=200))


# -- the JMX exporter agent -----------------------------------------------------------------


def jmx_agent_jvm_option(jar: Path | str, port: int, config: Path | str,
                         address: str | None = None) -> str:
    """``-javaagent:<jar>=[<address>:]<port>:<config>``, the JMX exporter in a Cassandra JVM.

    Give each node's own ``address`` when several local nodes share one port; without it
    the agent listens on every interface.
    """
    if not 0 < port < 65536:
        raise ValueError(f"invalid JMX exporter port {port}")
    where = host_port(address, port) if address else str(port)
    return f"-javaagent:{jar}={where}:{config}"


@dataclass(frozen=True)
class JmxAgent:
    """The JMX exporter agent, resolved on this machine, and the port it is to serve on.

    A database copies ``jar`` and ``rules`` to its hosts if they are other machines
    (:func:`install_jmx_agent`) and gives each node :func:`jmx_agent_jvm_option` with the
    node's own address, so that several local nodes share the port.
    """

    jar: Path
    rules: Path
    port: int = JMX_EXPORTER_PORT

    def jvm_option(self, address: str, *, jar: str | None = None,
                   rules: str | None = None) -> str:
        """The ``-javaagent:`` option of the node at ``address`` (paths on its host)."""
        return jmx_agent_jvm_option(jar or self.jar, self.port, rules or self.rules,
                                    address=address)


def jmx_agent_paths(cache: Path, version: str = JMX_EXPORTER_VERSION) -> tuple[Path, Path]:
    """Where the agent jar and its rules live in the cache (they may not exist yet)."""
    root = cache / "jmx-exporter" / version
    return root / f"{JMX_ARTIFACT}-{version}.jar", root / JMX_CONFIG_NAME


def _is_java_agent(jar: Path) -> bool:
    try:
        with zipfile.ZipFile(jar) as archive:
            manifest = archive.read("META-INF/MANIFEST.MF").decode(errors="replace")
    except (OSError, KeyError, zipfile.BadZipFile):
        return False
    return "Premain-Class:" in manifest


def cached_jmx_agent(cache: Path, version: str = JMX_EXPORTER_VERSION) -> Path | None:
    """The agent jar of ``version`` if a complete download is in the cache."""
    jar, _ = jmx_agent_paths(cache, version)
    if (jar.parent / MARKER).is_file() and jar.is_file():
        return jar
    return None


def write_jmx_rules(path: Path, rules: str = CASSANDRA_JMX_RULES) -> Path:
    """Write ``rules`` to ``path`` unless it holds them already (atomically; a running agent
    may read it)."""
    try:
        if path.read_text(encoding="utf-8") == rules:
            return path
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(rules, encoding="utf-8")
    partial.replace(path)
    return path


def _locked(path: Path, timeout: float) -> contextlib.AbstractAsyncContextManager[None]:
    """The cache lock of ``path`` (see :func:`pytest_scyllabench.cachelock.locked`)."""
    return locked(path, timeout, MonitoringError)


async def resolve_jmx_agent(cache: Path, version: str = JMX_EXPORTER_VERSION, *,
                            executor: LocalExecutor | None = None,
                            timeout: float = RESOLVE_TIMEOUT) -> tuple[Path, Path]:
    """The JMX exporter jar and its Cassandra rules, downloaded once per cache with Maven.

    The rules file is rewritten whenever :data:`CASSANDRA_JMX_RULES` changes.
    """
    if not _VERSION.match(version):
        raise MonitoringError(f"invalid JMX exporter version {version!r}")
    jar, config = jmx_agent_paths(cache, version)
    if cached_jmx_agent(cache, version) is None:
        await _download_jmx_agent(cache, version, executor, timeout)
    await asyncio.to_thread(write_jmx_rules, config)
    return jar, config


async def _download_jmx_agent(cache: Path, version: str, executor: LocalExecutor | None,
                              timeout: float) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise MonitoringError("Maven (`mvn`) is needed to download the JMX exporter; "
                              "`apt-get install maven`")
    executor = executor or LocalExecutor()
    jar, _ = jmx_agent_paths(cache, version)
    root = jar.parent
    async with _locked(root.with_name(f"{version}.lock"), LOCK_TIMEOUT):
        if cached_jmx_agent(cache, version) is not None:  # another session finished meanwhile
            return
        await asyncio.to_thread(_fresh_dir, root)
        command = [mvn, "-B", "-q", "-C", "-Dstyle.color=never",
                   "dependency:copy",
                   f"-Dartifact={JMX_GROUP}:{JMX_ARTIFACT}:{version}:jar",
                   f"-DoutputDirectory={root}"]
        await run_maven(executor, command, f"the JMX exporter {JMX_GROUP}:{JMX_ARTIFACT}:"
                        f"{version}", MonitoringError, timeout=timeout, cwd=root)
        if not await asyncio.to_thread(_is_java_agent, jar):
            raise MonitoringError(f"Maven finished but {jar} is missing or not a Java agent")
        (root / MARKER).write_text(f"{jar.name}\n", encoding="utf-8")


def _fresh_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)


async def install_jmx_agent(executor: Executor, jar: Path, config: Path,
                            remote_dir: str) -> tuple[str, str]:
    """Copy the agent and its rules to a database host; their paths there."""
    remote_jar, remote_config = f"{remote_dir}/{jar.name}", f"{remote_dir}/{config.name}"
    await executor.put(jar, remote_jar)
    await executor.put(config, remote_config)
    return remote_jar, remote_config


# -- the node exporter ----------------------------------------------------------------------


def node_exporter_command(address: str, port: int, binary: str = NODE_EXPORTER_BINARY,
                          collectors: Sequence[str] = NODE_COLLECTORS) -> list[str]:
    """The command line of a node exporter with only ``collectors`` enabled."""
    return [binary, f"--web.listen-address={host_port(address, port)}",
            "--collector.disable-defaults", *(f"--collector.{name}" for name in collectors),
            "--log.level=warn"]


class NodeExporter:
    """A ``prometheus-node-exporter`` on one host, listening on ``address:port``.

    Its readiness is checked through the executor's way to that port (an SSH port forward on
    a remote host, whose exporter may listen on an address only its network reaches), so
    that this machine needs no more than SSH. ``install``: install Debian's package when the
    binary is missing. ``stop`` is idempotent and safe before ``start``: register it first.
    """

    def __init__(self, executor: Executor, address: str, port: int = NODE_EXPORTER_PORT, *,
                 binary: str = NODE_EXPORTER_BINARY,
                 collectors: Sequence[str] = NODE_COLLECTORS, install: bool = False) -> None:
        self.executor = executor
        self.address = address
        self.port = port
        self.binary = binary
        self.collectors = tuple(collectors)
        self.install = install
        self.version: str | None = None
        self._process: RunningProcess | None = None
        self._forward: PortForward | None = None

    def __repr__(self) -> str:
        return f"NodeExporter({self.executor.host!r}, {self.target!r})"

    @property
    def target(self) -> str:
        """``address:port``, as Prometheus scrapes it."""
        return host_port(self.address, self.port)

    @property
    def what(self) -> str:
        return f"node exporter on {self.executor.host} ({self.target})"

    async def start(self, timeout: float = 30.0) -> float:
        """Start it and wait until ``/metrics`` serves CPU samples; the seconds it took."""
        # prometheus.py imports this module's ports: imported here, not at the top.
        from pytest_scyllabench.monitor.prometheus import check_listen_address

        if self._process is not None:
            raise MonitoringError(f"{self.what} is already started")
        await check_listen_address(self.executor.host, self.address,
                                   service="the node exporter")
        self.version = await installed_version(
            self.executor, self.binary, NODE_EXPORTER_PACKAGE, "the node exporter",
            install=self.install, default_binary=NODE_EXPORTER_BINARY)
        try:
            return await self._launch(timeout)
        except BaseException:
            await self.stop()
            raise

    async def _launch(self, timeout: float) -> float:
        try:
            self._forward = forward = await self.executor.forward_port(self.address, self.port)
        except CommandError as exc:
            raise MonitoringError(f"cannot reach the {self.what} from here: {exc}") from exc
        await check_port_free("the node exporter", self.executor.host, self.address, self.port,
                              reach=forward)
        try:
            self._process = await self.executor.start(
                node_exporter_command(self.address, self.port, self.binary, self.collectors))
        except CommandError as exc:
            raise MonitoringError(f"cannot start the {self.what}: {exc}") from exc
        client = PrometheusClient.at(forward.local_address, forward.local_port, timeout=5.0)

        async def probe() -> None:
            if "node_cpu_seconds_total" not in await client.get_text("/metrics"):
                raise MonitoringError(f"{self.what}: /metrics has no node_cpu_seconds_total")

        seconds = await wait_until_ready(self._process, probe, timeout, self.what)
        await self._close_forward()
        return seconds

    async def _close_forward(self) -> None:
        forward, self._forward = self._forward, None
        if forward is not None:
            await forward.close()

    async def stop(self) -> None:
        """Stop it (SIGTERM, then SIGKILL); idempotent."""
        process, self._process = self._process, None
        try:
            if process is not None:
                await process.terminate(STOP_GRACE)
        finally:
            await self._close_forward()
