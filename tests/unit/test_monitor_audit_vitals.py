"""Audit of the vital signs: queries evaluated by Prometheus's own engine (``promtool test
rules``) on synthetic series, and the message of a compaction wait that ran out of time."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_scyllabench.errors import MonitoringError
from pytest_scyllabench.monitor.client import PrometheusClient
from pytest_scyllabench.monitor.vitals import vital_queries, wait_quiet

PROMTOOL = shutil.which("promtool")


def evaluates_to(tmp_path: Path, series: dict[str, str], promql: str,
                 expected: dict[str, float], *, at: str = "100s") -> None:
    """Assert that ``promql`` at ``at`` over ``series`` (scraped every 2 s) gives ``expected``
    (host label -> value), as Prometheus computes it."""
    if PROMTOOL is None:
        pytest.skip("promtool (Debian's prometheus package) is not installed")
    test = {"rule_files": [], "evaluation_interval": "2s", "tests": [{
        "interval": "2s",
        "input_series": [{"series": name, "values": values} for name, values in series.items()],
        "promql_expr_test": [{"expr": promql, "eval_time": at, "exp_samples": [
            {"labels": f'{{host="{host}"}}', "value": value}
            for host, value in expected.items()]}],
    }]}
    path = tmp_path / "vitals-test.yml"
    path.write_text(yaml.safe_dump(test), encoding="utf-8")
    done = subprocess.run([PROMTOOL, "test", "rules", str(path)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_disk_throughput_counts_a_raid_of_two_disks_once(tmp_path: Path) -> None:
    """Two NVMe disks in an md RAID 0 (ScyllaDB's setup) and an LVM volume on a SATA disk:
    the md and dm devices repeat their disks' bytes, which must not be counted twice."""
    disk = {q.name: q.promql for q in vital_queries(None, scrape_interval=2.0)}
    series = {
        # 1 MB per 2 s scrape on each NVMe disk: 1 MB/s for the host.
        'node_disk_read_bytes_total{job="node",host="db1",device="nvme0n1"}': "0+1000000x100",
        'node_disk_read_bytes_total{job="node",host="db1",device="nvme1n1"}': "0+1000000x100",
        'node_disk_read_bytes_total{job="node",host="db1",device="md0"}': "0+2000000x100",
        'node_disk_read_bytes_total{job="node",host="db2",device="sda"}': "0+4000000x100",
        'node_disk_read_bytes_total{job="node",host="db2",device="dm-0"}': "0+4000000x100",
    }
    evaluates_to(tmp_path, series, disk["disk read MB/s"], {"db1": 1.0, "db2": 2.0})
    written = {name.replace("read_bytes", "written_bytes"): values
               for name, values in series.items()}
    evaluates_to(tmp_path, written, disk["disk write MB/s"], {"db1": 1.0, "db2": 2.0})


def test_cpu_busy_is_per_host_over_its_cpus(tmp_path: Path) -> None:
    """Two hosts with two CPUs each: one host's idle CPUs never lower the other's load."""
    cpu = {q.name: q.promql for q in vital_queries(None, scrape_interval=2.0)}["cpu busy %"]
    idle = 'node_cpu_seconds_total{{job="node",host="{host}",cpu="{cpu}",mode="idle"}}'
    series = {idle.format(host="a", cpu="0"): "0+2x100",  # idle all the time
              idle.format(host="a", cpu="1"): "0+2x100",
              idle.format(host="b", cpu="0"): "0+0x100",  # busy all the time
              idle.format(host="b", cpu="1"): "0+1x100"}  # half busy
    evaluates_to(tmp_path, series, cpu, {"a": 0.0, "b": 75.0})


def test_rates_survive_a_restarted_node_and_a_gap(tmp_path: Path) -> None:
    """A node restarted at 50 s: its counters start again from 0 after a few missed scrapes;
    the rate at 100 s is that of the new process (no negative rate, no hole)."""
    writes = {q.name: q.promql
              for q in vital_queries("cassandra", scrape_interval=2.0)}["writes/s"]
    name = 'cassandra_client_requests_total{host="node1",operation="Write"}'
    evaluates_to(tmp_path, {name: "0+200x25 _x3 0+200x40"}, writes, {"node1": 100.0})


class QuietClient(PrometheusClient):
    """Prometheus answering that no compaction is pending on node1."""

    def __init__(self) -> None:
        super().__init__("http://127.0.0.1:1")

    async def query(self, promql: str, at: float | None = None) -> list[dict[str, Any]]:
        return [{"metric": {"host": "node1"}, "value": [1.0, "0"]}]


def test_a_wait_cut_short_before_it_settled_says_what_it_saw() -> None:
    """Zero pending compactions were seen once, and the limit came before the next poll: the
    error says so (it said "last seen: not checked yet")."""
    with pytest.raises(MonitoringError) as caught:
        asyncio.run(wait_quiet(QuietClient(), 0.2, poll=30.0))
    message = str(caught.value)
    assert "did not settle within 0.2 s" in message
    assert "no pending compaction, 1 of the 2 polls in a row needed (30 s apart)" in message
