"""What a local Cassandra 5.0 node is given: cassandra.yaml, logback.xml and the JVM command.

Pure functions, no I/O: :mod:`pytest_scyllabench.db.cassandra` writes and runs what they build.

Decisions worth knowing:

* Tokens are computed here, not allocated by Cassandra: node ``i`` of ``n`` gets every
  ``n``-th of ``num_tokens * n`` evenly spaced Murmur3 tokens. The ring is balanced and
  deterministic, and all nodes can start at once (no node waits to learn the ring first).
* Every node is a seed and ``auto_bootstrap`` is off: a fresh cluster has no data to stream.
* JVM options follow Cassandra 5.0's ``jvm-server.options`` and ``jvm17-server.options``
  (G1, the JPMS ``--add-exports``/``--add-opens`` list, Netty properties) and ``cassandra-env.sh``
  (the jamm agent, local-only JMX), minus ``-XX:+AlwaysPreTouch`` and ``-XX:+UseNUMA``, which
  slow the start of small local nodes for no benefit.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import yaml

CLUSTER_NAME = "scyllabench"
DATACENTER = "datacenter1"
NATIVE_PORT = 9042
STORAGE_PORT = 7000
NUM_TOKENS = 16
MAIN_CLASS = "org.apache.cassandra.service.CassandraDaemon"
#: Directories of a node under its own directory, with the cassandra.yaml key naming each.
DATA_DIRS = {"data_file_directories": "data", "commitlog_directory": "commitlog",
             "saved_caches_directory": "saved_caches", "hints_directory": "hints",
             "cdc_raw_directory": "cdc_raw"}
#: Data directories inside one of those unless the profile's settings move them: the system
#: keyspaces' (in the first data directory), wiped with the others when moved.
MOVABLE_DIRS = ("local_system_data_file_directory",)

#: The 4.0 names of settings the generated file gives under their 5.0 names. Cassandra 5.0
#: still reads the old names but refuses a file holding both spellings of one setting.
OLD_NAMES = {"commitlog_sync_period_in_ms": "commitlog_sync_period",
             "commitlog_segment_size_in_mb": "commitlog_segment_size",
             "commitlog_total_space_in_mb": "commitlog_total_space"}

_MIN_TOKEN = -(2**63)
_TOKEN_SPACE = 2**64

GC_OPTIONS = (
    "-XX:+UseG1GC",
    "-XX:+ParallelRefProcEnabled",
    "-XX:MaxTenuringThreshold=1",
    "-XX:G1HeapRegionSize=16m",
    "-XX:G1RSetUpdatingPauseTimePercent=5",
    "-XX:MaxGCPauseMillis=300",
    "-XX:InitiatingHeapOccupancyPercent=70",
)

GENERAL_OPTIONS = (
    "-ea",
    "-da:net.openhft...",
    "-XX:+UseThreadPriorities",
    "-XX:+HeapDumpOnOutOfMemoryError",
    "-XX:+ExitOnOutOfMemoryError",
    "-Xss256k",
    "-XX:+UseTLAB",
    "-XX:+ResizeTLAB",
    "-XX:+PerfDisableSharedMem",
    "-Djava.net.preferIPv4Stack=true",
)

#: Java 17 module access Cassandra 5.0 needs (jvm17-server.options).
JPMS_OPTIONS = (
    "-Djdk.attach.allowAttachSelf=true",
    "--add-exports", "java.base/jdk.internal.misc=ALL-UNNAMED",
    "--add-exports", "java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED",
    "--add-exports", "java.rmi/sun.rmi.registry=ALL-UNNAMED",
    "--add-exports", "java.rmi/sun.rmi.server=ALL-UNNAMED",
    "--add-exports", "java.sql/java.sql=ALL-UNNAMED",
    "--add-exports", "java.base/java.lang.ref=ALL-UNNAMED",
    "--add-exports", "jdk.unsupported/sun.misc=ALL-UNNAMED",
    "--add-exports", "jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED",
    "--add-exports", "jdk.attach/sun.tools.attach=ALL-UNNAMED",
    "--add-opens", "java.base/java.lang.module=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.loader=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.ref=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.reflect=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.math=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.module=ALL-UNNAMED",
    "--add-opens", "java.base/jdk.internal.util.jar=ALL-UNNAMED",
    "--add-opens", "jdk.management/com.sun.management.internal=ALL-UNNAMED",
    "--add-opens", "java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens", "java.base/java.io=ALL-UNNAMED",
    "--add-opens", "java.base/java.lang.reflect=ALL-UNNAMED",
    "--add-opens", "jdk.compiler/com.sun.tools.javac=ALL-UNNAMED",
    "--add-opens", "java.base/java.lang=ALL-UNNAMED",
    "--add-opens", "java.base/java.util=ALL-UNNAMED",
    "--add-opens", "java.base/java.nio=ALL-UNNAMED",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Dio.netty.allocator.useCacheForAllThreads=true",
    "-Dio.netty.allocator.maxOrder=11",
)

#: Start-up shortcuts for a fresh local cluster (ccm uses the same ones).
FAST_START_OPTIONS = (
    "-Dcassandra.skip_wait_for_gossip_to_settle=0",
)


@dataclass(frozen=True)
class NodeLayout:
    """Where one node keeps its files: ``<workdir>/node<i>/{conf,data,...,logs}``."""

    index: int
    address: str
    root: Path

    @property
    def name(self) -> str:
        return f"node{self.index}"

    @property
    def conf(self) -> Path:
        return self.root / "conf"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def yaml_path(self) -> Path:
        return self.conf / "cassandra.yaml"

    @property
    def logback_path(self) -> Path:
        return self.conf / "logback.xml"

    @property
    def system_log(self) -> Path:
        return self.logs / "system.log"

    @property
    def stdout_log(self) -> Path:
        return self.logs / "stdout.log"

    @property
    def data_dirs(self) -> tuple[Path, ...]:
        return tuple(self.root / name for name in DATA_DIRS.values())

    @property
    def jmx_port(self) -> int:
        return jmx_port(self.address)

    def __str__(self) -> str:
        return f"{self.name} ({self.address})"


def node_layouts(addresses: Sequence[str], workdir: Path) -> tuple[NodeLayout, ...]:
    return tuple(NodeLayout(i, address, workdir / f"node{i}")
                 for i, address in enumerate(addresses, start=1))


def jmx_port(address: str) -> int:
    """Local-only JMX port of the node at ``address``: 7100 + its last octet (127.0.0.2: 7102).

    Derived from the address, not the node index, so that clusters on different loopback
    ranges (127.0.0.1.. and 127.0.0.21..) never collide on 127.0.0.1, where JMX listens.
    """
    return 7100 + int(ipaddress.IPv4Address(address)) % 256


def tokens(index: int, nodes: int, num_tokens: int = NUM_TOKENS) -> list[int]:
    """Evenly interleaved Murmur3 tokens of node ``index`` (1-based) of ``nodes``."""
    if not 1 <= index <= nodes:
        raise ValueError(f"node index {index} out of 1..{nodes}")
    total = num_tokens * nodes
    step = _TOKEN_SPACE // total
    return [_MIN_TOKEN + (vnode * nodes + index - 1) * step for vnode in range(num_tokens)]


def merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated with ``overrides``; mappings merge recursively, anything else replaces."""
    merged = dict(base)
    for key, value in overrides.items():
        current = merged.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            merged[key] = merge(current, value)
        else:
            merged[key] = value
    return merged


def cassandra_yaml(node: NodeLayout, seeds: Sequence[str], nodes: int,
                   overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The settings of one node, with ``overrides`` (the profile's ``settings``) merged last.

    ``initial_token`` is computed from the final ``num_tokens`` unless overridden itself. A
    default the overrides rename (an :data:`OLD_NAMES` key) or make invalid (the sync period
    of a ``batch`` or ``group`` commit log, which 5.0 refuses) is left out.
    """
    base: dict[str, Any] = {
        "cluster_name": CLUSTER_NAME,
        "num_tokens": NUM_TOKENS,
        "partitioner": "org.apache.cassandra.dht.Murmur3Partitioner",
        "auto_bootstrap": False,
        "seed_provider": [{
            "class_name": "org.apache.cassandra.locator.SimpleSeedProvider",
            "parameters": [{"seeds": ",".join(f"{seed}:{STORAGE_PORT}" for seed in seeds)}],
        }],
        "listen_address": node.address,
        "rpc_address": node.address,
        "storage_port": STORAGE_PORT,
        "native_transport_port": NATIVE_PORT,
        "start_native_transport": True,
        "endpoint_snitch": "SimpleSnitch",
        "data_file_directories": [str(node.root / DATA_DIRS["data_file_directories"])],
        **{key: str(node.root / name) for key, name in DATA_DIRS.items()
           if key != "data_file_directories"},
        "commitlog_sync": "periodic",
        "commitlog_sync_period": "10000ms",
        "commitlog_segment_size": "32MiB",
        # Several nodes share one disk: cap what each may hold in commit log segments.
        "commitlog_total_space": "1024MiB",
        "authenticator": "AllowAllAuthenticator",
        "authorizer": "AllowAllAuthorizer",
        # Small machine: one compaction and one flush thread per node.
        "concurrent_compactors": 1,
        "memtable_flush_writers": 1,
        "disk_optimization_strategy": "ssd",
    }
    for old, new in OLD_NAMES.items():
        if old in overrides:
            del base[new]
    if overrides.get("commitlog_sync", "periodic") != "periodic":
        base.pop("commitlog_sync_period", None)
    settings = merge(base, overrides)
    if "initial_token" not in overrides:
        count = int(settings.get("num_tokens") or NUM_TOKENS)
        settings["initial_token"] = ",".join(str(t) for t in tokens(node.index, nodes, count))
    return settings


def render_yaml(settings: Mapping[str, Any]) -> str:
    header = "# Generated by pytest-scyllabench; edits are overwritten at the next start.\n"
    return header + yaml.safe_dump(dict(settings), sort_keys=False, default_flow_style=False)


def logback_xml(logs: Path) -> str:
    """INFO and above to ``logs/system.log`` (rolled at 50 MiB); no debug.log, no console."""
    directory = escape(str(logs))
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by pytest-scyllabench. -->
<configuration scan="false">
  <appender name="SYSTEMLOG" class="ch.qos.logback.core.rolling.RollingFileAppender">
    <file>{directory}/system.log</file>
    <filter class="ch.qos.logback.classic.filter.ThresholdFilter">
      <level>INFO</level>
    </filter>
    <rollingPolicy class="ch.qos.logback.core.rolling.FixedWindowRollingPolicy">
      <fileNamePattern>{directory}/system.log.%i.zip</fileNamePattern>
      <minIndex>1</minIndex>
      <maxIndex>5</maxIndex>
    </rollingPolicy>
    <triggeringPolicy class="ch.qos.logback.core.rolling.SizeBasedTriggeringPolicy">
      <maxFileSize>50MB</maxFileSize>
    </triggeringPolicy>
    <encoder>
      <pattern>%-5level [%thread] %date{{ISO8601}} %F:%L - %msg%n</pattern>
    </encoder>
  </appender>
  <root level="INFO">
    <appender-ref ref="SYSTEMLOG"/>
  </root>
</configuration>
"""


def jvm_options(node: NodeLayout, heap: str, extra: Sequence[str],
                jamm: Path | None, *, metrics_agent: str | None = None) -> list[str]:
    """Every JVM option of a node except the classpath and the main class.

    ``metrics_agent`` is the node's whole ``-javaagent:`` option of the JMX exporter (see
    ``monitor.exporters.JmxAgent.jvm_option``), after jamm's. ``extra`` (the profile's
    ``jvm_options``) comes last, so it wins where the JVM lets the last occurrence of an
    option win (``-Xmx``, ``-XX:`` flags, ``-D`` properties).
    """
    options = [*GENERAL_OPTIONS, f"-Xms{heap}", f"-Xmx{heap}",
               f"-XX:HeapDumpPath={node.root}", *GC_OPTIONS, *JPMS_OPTIONS]
    if jamm is not None:
        options.append(f"-javaagent:{jamm}")
    if metrics_agent is not None:
        if not metrics_agent.startswith("-javaagent:"):
            raise ValueError(f"not a -javaagent: option: {metrics_agent!r}")
        options.append(metrics_agent)
    options += [
        f"-Dcassandra.jmx.local.port={node.jmx_port}",
        f"-Dcassandra.config=file://{node.yaml_path}",
        f"-Dlogback.configurationFile=file://{node.logback_path}",
        f"-Dcassandra.logdir={node.logs}",
        f"-Dcassandra.storagedir={node.root}",
        f"-Dcassandra.triggers_dir={node.conf / 'triggers'}",
        "-Dcassandra-foreground=yes",
        *FAST_START_OPTIONS,
        *extra,
    ]
    return options


def java_command(java: Path, options: Sequence[str], classpath: str, node: NodeLayout) -> list[str]:
    """The whole command line of a node; its conf directory leads the classpath."""
    return [str(java), *options, "-cp", f"{node.conf}:{classpath}", MAIN_CLASS]


def fingerprint(version: str, addresses: Sequence[str], yamls: Sequence[str],
                options: Sequence[Sequence[str]]) -> str:
    """A digest of everything that makes one cluster differ from another.

    Paths to the JDK and the jar cache are left out, so a later session can compare before
    resolving anything.
    """
    payload = json.dumps({"version": version, "addresses": list(addresses),
                          "yaml": list(yamls), "jvm": [list(o) for o in options]},
                         sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()
