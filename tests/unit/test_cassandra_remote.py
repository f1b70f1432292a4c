"""Remote Cassandra without hosts: Java 17 installed where missing, and stop/wipe tried on
every host with one error naming each host that failed (the commands are recorded)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from test_executor_support import Answer, ScriptedHost

from pytest_scyllabench.db import cassandra_remote
from pytest_scyllabench.db.cassandra_remote import (
    JAVA_PACKAGE,
    RemoteCassandraCluster,
    kill_pattern,
)
from pytest_scyllabench.db.maven import CassandraJars
from pytest_scyllabench.errors import DatabaseError, ProvisionError
from pytest_scyllabench.profile import DatabaseSpec
from pytest_scyllabench.provision.base import Host

JAVA = "/usr/lib/jvm/java-17-openjdk-arm64/bin/java"


def is_find_java(command: tuple[str, ...]) -> bool:
    return command[:2] == ("sh", "-c") and "find-java" in command


def is_apt(command: tuple[str, ...]) -> bool:
    return "apt-get install" in command[-1]


def debian_host(uid: str = "0", java_at_first: bool = False, apt_fails: str = "") -> Answer:
    """A Debian host whose Java 17 appears once apt-get installed it."""
    installed = [java_at_first]

    def answer(command: tuple[str, ...]) -> tuple[int, str, str]:
        if is_find_java(command):
            return (0, JAVA + "\n", "") if installed[0] else (1, "", "")
        if command[:2] == ("sh", "-c") and "os-release" in command[2]:
            return 0, "debian\n", ""
        if command == ("id", "-u"):
            return 0, uid + "\n", ""
        if is_apt(command):
            if apt_fails:
                return 1, "", apt_fails
            installed[0] = True
        if command[0] == "cat":  # no manifest yet: upload the jars
            return 1, "", "No such file"
        return 0, "", ""

    return answer


def make_cluster(executors: Sequence[ScriptedHost], tmp_path: Path) -> RemoteCassandraCluster:
    hosts = [Host(e.host, f"10.0.0.{i}", e) for i, e in enumerate(executors, start=1)]
    return RemoteCassandraCluster(DatabaseSpec(nodes=len(hosts), replication_factor=1),
                                  hosts, "/var/tmp/sb", tmp_path / "cache", tmp_path / "local",
                                  cluster="p")


@pytest.fixture
def jars_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cassandra's jars 'resolved' on this machine without Maven."""
    lib = tmp_path / "m2" / "lib"
    lib.mkdir(parents=True)
    (lib / "cassandra-all-5.0.9.jar").write_bytes(b"jar")

    async def resolve(version: str, cache: Path, java: Any) -> CassandraJars:
        return CassandraJars("5.0.9", lib, (lib / "cassandra-all-5.0.9.jar",))

    async def find_java() -> None:
        return None

    monkeypatch.setattr(cassandra_remote, "resolve_jars", resolve)
    monkeypatch.setattr(cassandra_remote, "find_java", find_java)


# -- Java 17 -------------------------------------------------------------------------------------


@pytest.mark.usefixtures("jars_here")
def test_java_17_is_installed_where_missing_as_root_or_through_sudo(tmp_path: Path) -> None:
    root = ScriptedHost(host="node1", answer=debian_host(uid="0"))
    user = ScriptedHost(host="node2", answer=debian_host(uid="1000"))
    present = ScriptedHost(host="node3", answer=debian_host(java_at_first=True))
    cluster = make_cluster([root, user, present], tmp_path)
    assert asyncio.run(cluster.install()) == "5.0.9"

    (as_root,) = [c for c in root.commands if is_apt(c)]
    assert as_root[:2] == ("sh", "-c")
    assert f"apt-get install -y -q --no-install-recommends {JAVA_PACKAGE}" in as_root[2]
    (with_sudo,) = [c for c in user.commands if is_apt(c)]
    assert with_sudo[:4] == ("sudo", "-n", "sh", "-c")
    assert not any(is_apt(c) or c == ("id", "-u") for c in present.commands)
    # Looked for before and after the install, the Debian path for any architecture first.
    finds = [i for i, c in enumerate(root.commands) if is_find_java(c)]
    assert len(finds) == 2
    assert finds[0] < root.commands.index(as_root) < finds[1]
    assert root.commands[0][-2:] == ("/usr/lib/jvm/java-17-openjdk-*/bin/java", "java")
    assert cluster._java == {"node1": JAVA, "node2": JAVA, "node3": JAVA}
    for executor in (root, user, present):  # the jars go on every host all the same
        assert [remote for _, remote in executor.puts] == [
            f"/var/tmp/sb/cassandra/5.0.9/upload-{executor.host}.tar"]


@pytest.mark.usefixtures("jars_here")
def test_java_that_cannot_be_installed_names_the_host(tmp_path: Path) -> None:
    refused = ScriptedHost(host="node1", answer=debian_host(
        uid="1000", apt_fails="sudo: a password is required"))
    fine = ScriptedHost(host="node2", answer=debian_host(java_at_first=True))
    with pytest.raises(DatabaseError) as caught:
        asyncio.run(make_cluster([refused, fine], tmp_path).install())
    message = str(caught.value)
    assert message.startswith("could not install Cassandra 5.0.9 on 1 of 2 host(s):\n"
                              "  node1 (10.0.0.1): Cassandra 5.0 needs Java 17")
    assert f"installing {JAVA_PACKAGE} failed" in message
    assert "node1: command failed (exit code 1): sudo -n sh -c" in message
    assert "sudo: a password is required" in message
    assert "node2" not in message
    assert fine.puts  # the other host was installed to the end


@pytest.mark.usefixtures("jars_here")
def test_a_host_without_apt_is_told_to_install_java_by_hand(tmp_path: Path) -> None:
    def fedora(command: tuple[str, ...]) -> tuple[int, str, str]:
        if command[:2] == ("sh", "-c") and "os-release" in command[2]:
            return 0, "fedora\n", ""
        return (1, "", "") if is_find_java(command) else (0, "", "")

    host = ScriptedHost(host="node1", answer=fedora)
    with pytest.raises(DatabaseError, match=r"node1 \(10.0.0.1\): Cassandra 5.0 needs Java 17.*"
                                            r"not a Debian or Ubuntu system"):
        asyncio.run(make_cluster([host], tmp_path).install())
    assert not any(is_apt(c) for c in host.commands)


# -- stop and wipe at teardown ---------------------------------------------------------------


def test_stop_and_wipe_try_every_host_and_name_each_failure(tmp_path: Path) -> None:
    def dropped(command: tuple[str, ...]) -> tuple[int, str, str]:
        raise ProvisionError("node1 (10.0.0.1): cannot connect over SSH: Connection refused")

    def stuck(command: tuple[str, ...]) -> tuple[int, str, str]:
        return 1, "", "pkill: killing pid 4242 failed: Operation not permitted"

    def healthy(command: tuple[str, ...]) -> tuple[int, str, str]:
        return 0, "", ""

    executors = [ScriptedHost(host="node1", answer=dropped),
                 ScriptedHost(host="node2", answer=stuck),
                 ScriptedHost(host="node3", answer=healthy)]
    cluster = make_cluster(executors, tmp_path)
    with pytest.raises(DatabaseError) as caught:
        asyncio.run(cluster.stop())
    assert not isinstance(caught.value, BaseExceptionGroup)
    lines = str(caught.value).splitlines()
    assert lines[0] == "could not stop Cassandra on 2 of 3 host(s):"
    assert lines[1] == ("  node1 (10.0.0.1): node1 (10.0.0.1): cannot connect over SSH: "
                        "Connection refused")
    assert lines[2].startswith("  node2 (10.0.0.2): node2: command failed (exit code 1): sh -c")
    assert "Operation not permitted" in str(caught.value)
    assert "node3" not in str(caught.value)
    # Every host was tried, node3 to the end.
    pattern = kill_pattern(cluster._nodes[2])
    assert len(executors[2].commands) == 1 and pattern in executors[2].commands[0][2]

    with pytest.raises(DatabaseError) as wiped:
        asyncio.run(cluster.wipe())
    assert str(wiped.value).startswith("could not wipe the Cassandra data on 2 of 3 host(s):\n"
                                       "  node1 (10.0.0.1): ")
    (wipe,) = executors[2].commands[1:]
    assert wipe[:2] == ("rm", "-rf")
    assert "/var/tmp/sb/clusters/p/10.0.0.3/data" in wipe


def test_stop_and_wipe_pass_quietly_when_every_host_answers(tmp_path: Path) -> None:
    executors = [ScriptedHost(host=f"node{i}", answer=lambda c: (0, "", "")) for i in (1, 2)]
    cluster = make_cluster(executors, tmp_path)
    asyncio.run(cluster.stop())
    asyncio.run(cluster.wipe())
    assert [len(e.commands) for e in executors] == [2, 2]


# -- nodes checked after a step --------------------------------------------------------------


def test_down_nodes_names_each_host_whose_jvm_is_gone_in_node_order(tmp_path: Path) -> None:
    def running(command: tuple[str, ...]) -> tuple[int, str, str]:
        return (0, "4242\n", "") if command[0] == "pgrep" else (1, "", "")

    def gone(command: tuple[str, ...]) -> tuple[int, str, str]:
        return (1, "", "") if command[0] == "pgrep" else (0, "", "")

    executors = [ScriptedHost(host="node1", answer=gone),
                 ScriptedHost(host="node2", answer=running),
                 ScriptedHost(host="node3", answer=gone)]
    cluster = make_cluster(executors, tmp_path)
    down = asyncio.run(cluster.down_nodes())
    assert [line.split(" is down")[0] for line in down] == [
        "Cassandra node1 (10.0.0.1) on node1", "Cassandra node3 (10.0.0.3) on node3"]
    assert "/var/tmp/sb/clusters/p/10.0.0.3/logs/system.log there" in down[1]
    assert executors[1].commands == [("pgrep", "-f", kill_pattern(cluster._nodes[1]))]
