"""Stopping local nodes (SIGTERM ignored, a recorded pid reused) and busy ports at start."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_scyllabench.db import cassandra_config as cfg
from pytest_scyllabench.db.cassandra import CassandraCluster
from pytest_scyllabench.errors import DatabaseError
from pytest_scyllabench.profile import DatabaseSpec

IGNORES_TERM = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                "print('ready', flush=True); time.sleep(60)")


def test_a_node_that_ignores_sigterm_is_killed_after_the_grace(
        tmp_path: Path, processes: list[subprocess.Popen[bytes]]) -> None:
    cluster = CassandraCluster(DatabaseSpec(nodes=1), ("127.0.0.1",), tmp_path, tmp_path)
    node = cluster.nodes[0]
    stubborn = subprocess.Popen([sys.executable, "-c", IGNORES_TERM, cfg.MAIN_CLASS,
                                 f"-Dcassandra.config=file://{node.yaml_path}"],
                                stdout=subprocess.PIPE)
    processes.append(stubborn)
    assert stubborn.stdout is not None and stubborn.stdout.readline() == b"ready\n"
    asyncio.run(cluster._stop_node(node, grace=0.5))
    assert stubborn.wait(timeout=10) == -signal.SIGKILL


def test_a_recorded_pid_now_used_by_another_process_is_down_and_left_alone(
        tmp_path: Path, processes: list[subprocess.Popen[bytes]]) -> None:
    cluster = CassandraCluster(DatabaseSpec(nodes=1), ("127.0.0.1",), tmp_path, tmp_path)
    unrelated = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    processes.append(unrelated)
    node = cluster.nodes[0]
    cluster.state_path.write_text(json.dumps({"nodes": [
        {"name": node.name, "address": node.address, "pid": unrelated.pid}]}))
    down = asyncio.run(cluster.down_nodes())
    assert down == [f"Cassandra node1 (127.0.0.1) is down (pid {unrelated.pid} is gone); "
                    f"its log: {node.system_log}"]
    asyncio.run(cluster.stop())
    time.sleep(0.2)
    assert unrelated.poll() is None


def test_a_busy_port_is_named_with_its_node_before_anything_starts(tmp_path: Path) -> None:
    addresses = ("127.0.0.241", "127.0.0.242")
    cluster = CassandraCluster(DatabaseSpec(nodes=2), addresses, tmp_path, tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.242", cfg.STORAGE_PORT))
        busy.listen()
        with pytest.raises(DatabaseError, match=r"cannot start Cassandra node2 \(127\.0\.0\.242\)"
                                                r": 127\.0\.0\.242:7000 \(storage\) is already "
                                                "in use"):
            cluster._check_ports_free()
