"""Database values checked with Unicode-aware tests (``\\d``, ``str.isdigit``) that let
non-ASCII digits, zero heaps and out-of-range octets through to the nodes."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_profile_support import error_of, write

from pytest_scyllabench.profile_schema import load_profile

ONE_NODE = "database: {nodes: 1, replication_factor: 1}\n"


@pytest.mark.parametrize("version", ["5.0.٩", "5.0.\uff11"])
def test_version_digits_are_ascii(tmp_path: Path, version: str) -> None:
    message = error_of(write(tmp_path, f"database: {{version: '{version}'}}\n"))
    assert "p.yaml: database.version: not a cassandra version" in message


@pytest.mark.parametrize("heap", ["0G", "0M", "00G", "\u0661G", "\uff11G"])
def test_heap_is_a_positive_ascii_size(tmp_path: Path, heap: str) -> None:
    message = error_of(write(tmp_path, f"database: {{heap: '{heap}'}}\n"))
    assert "p.yaml: database.heap: must look like 512M or 2G" in message


@pytest.mark.parametrize("address", ["127.999.0.1", "127.0.256.1", "127.0.0.٣", "127.0.0.+1",
                                     "127.0.0.01"])
def test_first_address_octets(tmp_path: Path, address: str) -> None:
    message = error_of(write(tmp_path, f"{ONE_NODE}local: {{first_address: '{address}'}}\n"))
    assert "p.yaml: local.first_address: must be a loopback IPv4 address" in message


LOCAL = "database: {{nodes: {nodes}, replication_factor: 1, heap: {size}}}\n"
DOCKER = ("provisioner: docker\ndatabase: {{kind: scylla, version: '6.2', nodes: {nodes}, "
          "replication_factor: 1}}\n"
          "docker: {{memory: '{size}'}}\n")


@pytest.mark.parametrize(("text", "nodes", "size", "refused"), [
    (LOCAL, 3, "1G", ""), (LOCAL, 3, "1536M", ""), (LOCAL, 3, "2G", "database.heap: 3 local nodes"),
    (LOCAL, 1, "6G", "database.heap: 1 local node"),
    (DOCKER, 3, "1G", ""), (DOCKER, 3, "1536M", ""),
    (DOCKER, 3, "2G", "docker.memory: 3 containers"),
    (DOCKER, 1, "6442450944", "docker.memory: 1 container"),
])
def test_nodes_on_this_machine_must_fit_in_its_memory(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      text: str, nodes: int, size: str,
                                                      refused: str) -> None:
    # The nodes all run here: past the machine's memory the OOM killer stops one mid-step.
    from pytest_scyllabench.profile_schema import database

    monkeypatch.setattr(database, "machine_memory", lambda: 5 << 30)
    path = write(tmp_path, text.format(nodes=nodes, size=size))
    if refused:
        assert error_of(path).endswith(f"p.yaml: {refused} x {size} is more than this "
                                       f"machine's 5.0 GiB of memory; give each node less")
    else:
        load_profile(path)


def test_remote_heaps_are_not_checked_against_this_machine(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_scyllabench.profile_schema import database

    monkeypatch.setattr(database, "machine_memory", lambda: 1 << 30)
    (tmp_path / "id").write_text("key")
    path = write(tmp_path, "provisioner: static\ndatabase: {heap: 8G}\nstatic:\n  ssh: {key: id, "
                           "known_hosts: 'off'}\n  servers: [10.0.0.1, 10.0.0.2, 10.0.0.3]\n"
                           "  loaders: [10.0.0.9]\n")
    assert load_profile(path).database.heap == "8G"


@pytest.mark.parametrize("memory", ["0", "0G", "\u0663G", "-1G"])
def test_docker_memory_is_positive_ascii(tmp_path: Path, memory: str) -> None:
    path = write(tmp_path, f"provisioner: docker\ndatabase: {{kind: scylla, version: '6.2'}}\n"
                           f"docker: {{memory: '{memory}'}}\n")
    assert "p.yaml: docker.memory: must look like 750M or 4G" in error_of(path)
