"""What a kept or crashed cluster left in the work directory, and ``configure`` stopping it."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_scyllabench.db import cassandra_config as cfg
from pytest_scyllabench.db.cassandra import CassandraCluster
from pytest_scyllabench.db.maven import CassandraJars
from pytest_scyllabench.errors import DatabaseError
from pytest_scyllabench.profile import DatabaseSpec

ADDRESSES = ("127.0.0.1", "127.0.0.2", "127.0.0.3")


def fake_node(node: cfg.NodeLayout, started: list[subprocess.Popen[bytes]]
              ) -> subprocess.Popen[bytes]:
    """A process whose command line looks like ``node``'s Cassandra daemon, and its
    configuration directory."""
    node.conf.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)",
                                cfg.MAIN_CLASS, f"-Dcassandra.config=file://{node.yaml_path}"])
    started.append(process)
    return process


def cluster_of(nodes: int, workdir: Path) -> CassandraCluster:
    cluster = CassandraCluster(DatabaseSpec(nodes=nodes), ADDRESSES[:nodes], workdir, workdir)
    cluster._jars = CassandraJars("5.0.9", workdir, ())  # as if install() had run
    return cluster


def keep_state(cluster: CassandraCluster, pids: list[int]) -> None:
    """The state file of a kept cluster of ``cluster``'s nodes."""
    cluster.state_path.parent.mkdir(parents=True, exist_ok=True)
    nodes = [{"name": node.name, "address": node.address, "pid": pid, "root": str(node.root)}
             for node, pid in zip(cluster.nodes, pids, strict=True)]
    cluster.state_path.write_text(json.dumps({"kept": True, "owner": 1, "nodes": nodes}))


def test_configure_stops_the_nodes_a_larger_kept_cluster_left_beyond_its_own(
        tmp_path: Path, processes: list[subprocess.Popen[bytes]]) -> None:
    # Profile "local" kept with 3 nodes, then run with 1: node2 and node3 of the kept cluster
    # would gossip with the new node (same cluster name, seeds on its address) and outlive
    # the session.
    kept = cluster_of(3, tmp_path)
    fakes = [fake_node(node, processes) for node in kept.nodes]
    keep_state(kept, [fake.pid for fake in fakes])
    time.sleep(0.2)
    asyncio.run(cluster_of(1, tmp_path).configure())
    for fake in fakes:
        assert fake.wait(timeout=10) == -signal.SIGTERM


def test_a_kept_cluster_of_another_size_or_configuration_is_not_reused(
        tmp_path: Path, processes: list[subprocess.Popen[bytes]]) -> None:
    kept = cluster_of(3, tmp_path)
    fakes = [fake_node(node, processes) for node in kept.nodes]
    keep_state(kept, [fake.pid for fake in fakes])
    state = json.loads(kept.state_path.read_text())
    state.update(version="5.0.9", addresses=list(ADDRESSES), fingerprint=kept._fingerprint())
    kept.state_path.write_text(json.dumps(state))
    smaller = cluster_of(1, tmp_path)
    assert asyncio.run(smaller.adopt()) is False
    assert smaller.adopt_problem == (f"it runs on {list(ADDRESSES)}, not {list(ADDRESSES[:1])}")
    bigger_heap = CassandraCluster(DatabaseSpec(nodes=3, heap="2G"), ADDRESSES, tmp_path,
                                   tmp_path)
    assert asyncio.run(bigger_heap.adopt()) is False
    assert bigger_heap.adopt_problem == "its configuration differs from this profile's"
    assert all(fake.poll() is None for fake in fakes)  # refused, and left alone


def test_a_dead_owner_whose_pid_was_reused_does_not_hold_its_nodes(
        tmp_path: Path, processes: list[subprocess.Popen[bytes]]) -> None:
    # A session died without its teardown; its pid now belongs to an unrelated process. Its
    # nodes are leftovers to stop, not "another running session".
    cluster = cluster_of(1, tmp_path)
    fake = fake_node(cluster.nodes[0], processes)
    unrelated = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    processes.append(unrelated)
    time.sleep(0.2)
    state = {"kept": False, "owner": unrelated.pid, "owner_started": 1, "nodes": []}
    cluster.state_path.write_text(json.dumps(state))
    asyncio.run(cluster.configure())
    assert fake.wait(timeout=10) == -signal.SIGTERM
    assert unrelated.poll() is None


def test_the_state_file_names_the_owner_by_pid_and_start_time(
        tmp_path: Path, processes: list[subprocess.Popen[bytes]]) -> None:
    cluster = cluster_of(1, tmp_path)
    cluster._write_state()
    state = json.loads(cluster.state_path.read_text())
    fake = fake_node(cluster.nodes[0], processes)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    processes.append(other)
    time.sleep(0.2)
    stat = Path(f"/proc/{other.pid}/stat").read_text()
    started = int(stat.rpartition(")")[2].split()[19])
    assert isinstance(state["owner_started"], int)
    cluster.state_path.write_text(json.dumps(dict(state, owner=other.pid,
                                                  owner_started=started)))
    with pytest.raises(DatabaseError, match=f"another running session \\(pid {other.pid}\\)"):
        asyncio.run(cluster.configure())
    assert fake.poll() is None
