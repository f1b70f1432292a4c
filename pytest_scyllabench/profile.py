"""Deployment profiles: the typed model. Loading and validation live in ``profile_schema``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pytest_scyllabench.db.scylla_config import DockerSpec, ScyllaSpec
from pytest_scyllabench.execute.ssh_options import SshOptions
from pytest_scyllabench.provision.aws_spec import AwsSpec
from pytest_scyllabench.stress.step import Workload

DatabaseKind = Literal["cassandra", "scylla"]


@dataclass(frozen=True)
class DatabaseSpec:
    """The database to run and how to configure it."""

    kind: DatabaseKind = "cassandra"
    version: str = "5.0.9"
    nodes: int = 3
    replication_factor: int = 3
    #: JVM heap of each node (``-Xms``/``-Xmx``), e.g. ``1G``. Cassandra only.
    heap: str = "1G"
    #: Overrides merged into the generated ``cassandra.yaml`` / ``scylla.yaml``.
    settings: Mapping[str, Any] = field(default_factory=dict)
    #: Extra JVM options appended after ours. Cassandra only.
    jvm_options: tuple[str, ...] = ()
    #: Seconds allowed for the whole cluster to become ready.
    start_timeout: float = 600.0


@dataclass(frozen=True)
class LocalSpec:
    """Nodes on this machine, on consecutive loopback addresses (as ccm does)."""

    #: Address of node 1; node i gets the i-th following address.
    first_address: str = "127.0.0.1"


@dataclass(frozen=True)
class HostSpec:
    """One existing machine of a static deployment."""

    name: str
    address: str


#: Where the static backend keeps jars, node directories and loader scratch files on each host.
STATIC_WORKDIR = "/var/tmp/pytest-scyllabench"


@dataclass(frozen=True)
class StaticSpec:
    """Existing hosts reached over SSH: one database node per server, one loader per loader host.

    The built-in loader runs on the loader hosts from ``<loader_python>`` when that Python
    already has this version of pytest-scyllabench and its CQL driver, else from a virtual
    environment the session makes under the workdir (see ``stress/builtin.py``).
    """

    ssh: SshOptions
    servers: tuple[HostSpec, ...]
    loaders: tuple[HostSpec, ...]
    #: Runs Prometheus (installed there if missing) when monitoring is on; none: this machine.
    monitor: HostSpec | None = None
    #: Seconds a remote command (install, configure, stop...) may take.
    command_timeout: float = 600.0
    #: Directory on every host (created if missing) for jars, node files and loader files.
    workdir: str = STATIC_WORKDIR
    loader_python: str = "python3"


@dataclass(frozen=True)
class LoaderSpec:
    """The loader processes that drive load."""

    #: Number of loader processes (on the local backend, all on this machine).
    count: int = 1
    #: Processes of the stress tool on each loader host (each a loader of its own, named
    #: ``<host>-p1..pN`` when more than 1): one asyncio loader process uses one core.
    processes: int = 1
    #: Stress tool of every step that names none: builtin, scylla-bench, cassandra-stress,
    #: latte.
    tool: str = "builtin"
    #: Accept tool configurations that measure only service time (closed loop, a throttle):
    #: refused by default because they hide coordinated omission; the report marks them.
    allow_service_time: bool = False
    #: Prebuilt executables by tool name (``scylla-bench: /opt/sb/scylla-bench``), used instead
    #: of building or downloading the tool; the same path on every loader host.
    tool_paths: Mapping[str, str] = field(default_factory=dict)
    #: CQL driver of the built-in loader: acsylla sustains about 5 times the rate of
    #: scylla-driver per loader process (see perf/loader_rate.py).
    driver: Literal["acsylla", "scylla-driver"] = "acsylla"
    concurrency: int = 128
    connections: int = 1
    #: Python that runs the built-in loader (empty: this interpreter); a static profile sets
    #: it from ``static.loader_python``.
    python: str = ""


@dataclass(frozen=True)
class WarmupSpec:
    """Load run once after the cluster starts, before the first step, and not judged.

    Fresh JVMs compile and size their heaps during the first minute of load; without a
    warm-up the first step measures that instead of the database.
    """

    #: Workload to run; empty for no warm-up.
    workload: str = ""
    rate: int = 500
    #: Seconds of load (multiplied by the duration scale, at least 5).
    seconds: float = 30.0


SnapshotMode = Literal["per-test", "per-session", "off"]


@dataclass(frozen=True)
class MonitoringSpec:
    """Prometheus, node exporters and the database's metrics during the session.

    The defaults of ports and binaries are those of ``pytest_scyllabench.monitor`` (Debian's
    ``prometheus`` and ``prometheus-node-exporter`` packages).
    """

    enabled: bool = False
    #: Fail the session when monitoring fails; otherwise warn, and benchmarks go on.
    required: bool = False
    #: Seconds between two scrapes of every target.
    scrape_interval: float = 2.0
    #: A TSDB snapshot (``prometheus.tar.gz``) in each test's directory, one for the whole
    #: session in the trial directory, or none.
    snapshots: SnapshotMode = "per-test"
    #: Delete every series after each test's snapshot, so that each holds one test only.
    reset_between_tests: bool = False
    #: Seconds a step may wait for pending compactions to finish before it starts; 0: no wait.
    quiet_timeout: float = 0.0
    prometheus_port: int = 9090
    node_exporter_port: int = 9100
    #: Port of the JMX exporter agent in every Cassandra node (on the node's own address).
    jmx_exporter_port: int = 7070
    prometheus_binary: str = "/usr/bin/prometheus"
    node_exporter_binary: str = "/usr/bin/prometheus-node-exporter"


@dataclass(frozen=True)
class Profile:
    """A whole deployment profile."""

    name: str
    source: Path | None
    provisioner: Literal["local", "static", "aws", "docker"]
    local: LocalSpec
    database: DatabaseSpec
    loaders: LoaderSpec
    #: Workloads by name (from the profile and the workload files).
    workloads: Mapping[str, Workload]
    #: Fraction by which a step may miss its target rate and still count as reached.
    rate_tolerance: float = 0.05
    warmup: WarmupSpec = WarmupSpec()
    #: Default latency limits of every step on this deployment (``p99: 20ms``...), overridden
    #: by the ``scyllabench_thresholds`` marker and by a step's ``thresholds=``.
    thresholds: Mapping[str, str] = field(default_factory=dict)
    #: The hosts of ``provisioner: static``; ``None`` for the other provisioners.
    static: StaticSpec | None = None
    #: The EC2 instances of ``provisioner: aws``; ``None`` for the other provisioners.
    aws: AwsSpec | None = None
    #: How ScyllaDB is installed and run (``database.kind: scylla`` on static or EC2 hosts).
    scylla: ScyllaSpec = field(default_factory=ScyllaSpec)
    #: The containers of ``provisioner: docker`` (ScyllaDB on this machine's Docker engine).
    docker: DockerSpec = field(default_factory=DockerSpec)
    monitoring: MonitoringSpec = MonitoringSpec()
