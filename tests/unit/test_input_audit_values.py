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


@pytest.mark.parametrize(("nodes", "heap", "refused"), [(3, "1G", False), (3, "1536M", False),
                                                        (3, "2G", True), (1, "6G", True)])
def test_local_heaps_must_fit_in_this_machines_memory(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      nodes: int, heap: str,
                                                      refused: bool) -> None:
    # The nodes all run here: past the machine's memory the OOM killer stops one mid-step.
    from pytest_scyllabench.profile_schema import database

    monkeypatch.setattr(database, "machine_memory", lambda: 5 << 30)
    path = write(tmp_path, f"database: {{nodes: {nodes}, replication_factor: 1, "
                           f"heap: {heap}}}\n")
    if refused:
        assert error_of(path).endswith(f"p.yaml: database.heap: {nodes} local nodes x {heap} "
                                       f"is more than this machine's 5.0 GiB of memory; give "
                                       f"each node less")
    else:
        assert load_profile(path).database.heap == heap


def test_remote_heaps_are_not_checked_against_this_machine(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_scyllabench.profile_schema import database

    monkeypatch.setattr(database, "machine_memory", lambda: 1 << 30)
    (tmp_path / "id").write_text("key")
    path = write(tmp_path, "provisioner: static\ndatabase: {heap: 8G}\nstatic:\n  ssh: {key: id, "
                           "known_hosts: 'off'}\n  servers: [10.0.0.1, 10.0.0.2, 10.0.0.3]\n"
                           "  loaders: [10.0.0.9]\n")
    assert load_profile(path).database.heap == "8G"


@pytest.mark.parametrize(("memory", "refused"), [("1G", False), ("1536M", False),
                                                 ("2G", True), ("6442450944", True)])
def test_docker_containers_must_fit_in_this_machines_memory(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch,
                                                            memory: str, refused: bool) -> None:
    from pytest_scyllabench.profile_schema import database

    monkeypatch.setattr(database, "machine_memory", lambda: 5 << 30)
    path = write(tmp_path, f"provisioner: docker\ndatabase: {{kind: scylla, version: '6.2'}}\n"
                           f"docker: {{memory: '{memory}'}}\n")
    if refused:
        assert error_of(path).endswith(f"p.yaml: docker.memory: 3 containers x {memory} is more "
                                       f"than this machine's 5.0 GiB of memory; give each node "
                                       f"less")
    else:
        assert load_profile(path).docker.memory == memory


@pytest.mark.parametrize("memory", ["0", "0G", "\u0663G", "-1G"])
def test_docker_memory_is_positive_ascii(tmp_path: Path, memory: str) -> None:
    path = write(tmp_path, f"provisioner: docker\ndatabase: {{kind: scylla, version: '6.2'}}\n"
                           f"docker: {{memory: '{memory}'}}\n")
    assert "p.yaml: docker.memory: must look like 750M or 4G" in error_of(path)
