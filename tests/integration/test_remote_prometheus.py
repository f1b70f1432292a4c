"""Prometheus on the monitor host of a static deployment, over real SSH (network namespaces).

The session's own wiring (``StaticProvisioner``, ``watched_hosts``, ``prometheus_place``,
``Monitoring``) with no database: the monitor host runs Prometheus through its SSH executor,
in its work directory there, listening on its own address; this process reaches it only
through the local port forwarded over that host's SSH connection. It scrapes the node exporter
of the other host, a snapshot is taken through the admin API and downloaded over SFTP, and
served here again, a query of it returns that host's series. Then nothing is left: no process
in the namespaces, no forward, no work directory, no namespace.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import time
from pathlib import Path

import pytest
import testbed
from testbed import TestBed

from pytest_scyllabench.monitor.client import PrometheusClient
from pytest_scyllabench.monitor.exporters import NODE_EXPORTER_BINARY
from pytest_scyllabench.monitor.plan import prometheus_place, watched_hosts
from pytest_scyllabench.monitor.prometheus import PROMETHEUS_BINARY
from pytest_scyllabench.monitor.snapshot import serve_snapshot
from pytest_scyllabench.monitor.stack import Monitoring, MonitorOptions
from pytest_scyllabench.profile_schema import load_profile
from pytest_scyllabench.provision.static import StaticProvisioner
from pytest_scyllabench.teardown import TeardownStack
from tests.ports import free_port

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(testbed.skip_reason() is not None, reason=testbed.skip_reason() or ""),
    pytest.mark.skipif(not (Path(PROMETHEUS_BINARY).is_file()
                            and Path(NODE_EXPORTER_BINARY).is_file()),
                       reason="needs Debian's prometheus and prometheus-node-exporter "
                              "(scripts/ensure-system-deps.sh installs them)"),
]

#: Under /tmp, which each namespace host has of its own (as separate machines would).
REMOTE_WORKDIR = "/tmp/pytest-scyllabench"

PROFILE = """
name: it-remote-prometheus
provisioner: static
static:
  ssh: {{key: {key}, known_hosts: "strict:{known_hosts}", connect_timeout: 15}}
  servers: [{server}]
  loaders: [{server}]
  monitor: {{name: monitor1, address: {monitor}}}
  workdir: {workdir}
database: {{nodes: 1, replication_factor: 1}}
"""


def ours(bed: TestBed) -> list[str]:
    return [command for host in bed.hosts for _, command in bed.processes(host)
            if "prometheus" in command]


async def value_of(client: PrometheusClient, promql: str) -> float:
    result = await client.query(promql)
    return float(result[0]["value"][1]) if result else 0.0


async def eventually(client: PrometheusClient, promql: str, timeout: float) -> float:
    last = 0.0
    try:
        async with asyncio.timeout(timeout):
            while not (last := await value_of(client, promql)):
                await asyncio.sleep(0.5)
    except TimeoutError:
        raise AssertionError(f"{promql}: still {last} after {timeout:g} s") from None
    return last


def test_prometheus_on_the_monitor_host_through_a_port_forward(tmp_path: Path) -> None:
    began = time.monotonic()
    with testbed.testbed(2) as bed:
        inodes = bed.netns_inodes()
        monitor, server = bed.hosts
        profile = tmp_path / "static.yaml"
        profile.write_text(PROFILE.format(key=bed.client_key, known_hosts=bed.known_hosts,
                                          server=server.address, monitor=monitor.address,
                                          workdir=REMOTE_WORKDIR))
        session = f"it-{secrets.token_hex(3)}"
        found = asyncio.run(_monitor(bed, load_profile(profile), session, tmp_path))
        assert ours(bed) == [], "left running on the hosts"
        # The work directory on the monitor host (its private /tmp) is gone.
        monitor_tmp = bed.workdir / f"host{monitor.index}" / "tmp"
        assert not (monitor_tmp / "pytest-scyllabench" / "prometheus" / session).exists()
    assert not [name for name in testbed.leftovers() if bed.id in name]
    assert testbed.processes_in_namespaces(inodes) == []
    assert found["node1 cpus"] >= 1 and found["monitor up"] == 1, found
    seconds = time.monotonic() - began
    print(f"\nPrometheus on a monitor host over SSH, snapshot served here: {seconds:.1f} s; "
          f"{found}")


async def _monitor(bed: TestBed, profile: object, session: str, local: Path) -> dict[str, float]:
    from pytest_scyllabench.profile import Profile

    assert isinstance(profile, Profile)
    monitor = bed.hosts[0]
    teardown = TeardownStack()
    provisioner = StaticProvisioner(profile)
    teardown.push("hosts", provisioner.release)
    try:
        deployment = await provisioner.provision()
        assert deployment.monitor is not None and deployment.monitor.name == "monitor1"
        place = prometheus_place(deployment, session, local / "cache")
        assert place.executor is deployment.monitor.executor
        assert place.workdir == f"{REMOTE_WORKDIR}/prometheus/{session}"
        options = MonitorOptions(required=True, scrape_interval=1.0)
        monitoring = Monitoring(options, hosts=watched_hosts(deployment), database=None,
                                prometheus_executor=place.executor, workdir=place.workdir,
                                prometheus_address=place.address,
                                install_prometheus=place.install)
        teardown.push("prometheus data", monitoring.prometheus.remove_data)
        assert await monitoring.start(teardown)
        # Reached through the forward on this machine's loopback, not the host's address.
        client = monitoring.prometheus.client
        assert client.base_url.startswith("http://127.0.0.1:"), client.base_url
        assert not client.base_url.endswith(":9090")
        running = [c for _, c in bed.processes(monitor)
                   if c.startswith(f"{PROMETHEUS_BINARY} ")]
        assert len(running) == 1 and f"--web.listen-address={monitor.address}:9090" in \
            running[0], running
        assert "--web.enable-admin-api" in running[0]
        node = 'count(node_cpu_seconds_total{host="node1",role="db,loader",mode="idle"})'
        await eventually(client, node, 30)
        await eventually(client, 'count(up{host="monitor1",role="monitor"} == 1)', 30)
        snapshot = await monitoring.snapshot(local / "trials")
        assert snapshot is not None and snapshot.archive.is_file() and snapshot.size > 0
        forward_port = int(client.base_url.rsplit(":", 1)[1])
    finally:
        assert await teardown.run() == []
    # The forward is closed with Prometheus.
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", forward_port), timeout=2).close()
    async with await serve_snapshot(snapshot.archive, free_port()) as served:
        return {"node1 cpus": await value_of(served.client, node),
                "monitor up": await value_of(served.client, 'max(up{host="monitor1"})')}
