"""Audit: the data directories a node really uses are the ones created and wiped.

A profile moving a node's data to a fast disk (``data_file_directories``, ``commitlog_directory``
in ``database.settings``) must get those directories created before the first start and wiped
between sessions: wiping the defaults instead left the last session's data (and the system
tables naming the old ring) in place. Other directories stay; ``/`` or a relative path is refused
before any command runs.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml
from test_scylla_backend import (
    IO,
    STOCK_YAML,
    VERSION,
    WORKDIR,
    Reply,
    cluster,
    configured,
    containers,
    fake,
    hosts,
    profile,
    tarball,
)

from pytest_scyllabench.db import scylla_config as cfg
from pytest_scyllabench.db.scylla import create
from pytest_scyllabench.db.scylla_nodes import ContainerControl, PackageControl
from pytest_scyllabench.errors import ConfigError
from pytest_scyllabench.provision.base import Deployment

MOVED = {"data_file_directories": ["/mnt/nvme0/data", "/mnt/nvme1/data"],
         "commitlog_directory": "/mnt/nvme0/commitlog"}
MOVED_DIRS = ["/mnt/nvme0/data", "/mnt/nvme1/data", "/mnt/nvme0/commitlog",
              "/var/lib/scylla/hints", "/var/lib/scylla/view_hints"]


def test_data_dirs_follow_the_settings() -> None:
    assert cfg.data_dirs({}, "/r") == ["/r/data", "/r/commitlog", "/r/hints", "/r/view_hints"]
    assert cfg.data_dirs(MOVED, "/var/lib/scylla") == MOVED_DIRS
    assert cfg.data_dirs({"data_file_directories": "/d", "hints_directory": "/d/h/"}, "/r") == [
        "/d", "/r/commitlog", "/d/h", "/r/view_hints"]


@pytest.mark.parametrize(("settings", "problem"), [
    ({"data_file_directories": ["/"]}, "data_file_directories: must be absolute paths other "
                                       "than /, got '/'"),
    ({"commitlog_directory": "/x/.."}, "commitlog_directory: must be absolute paths other "
                                       "than /, got '/x/..'"),
    ({"hints_directory": "hints"}, "hints_directory: must be absolute paths"),
    ({"data_file_directories": []}, "data_file_directories: must name at least one"),
    ({"view_hints_directory": 3}, "view_hints_directory: must be absolute paths"),
])
def test_dangerous_data_dirs_are_refused(settings: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        cfg.data_dirs(settings, "/r")


def test_packages_create_and_wipe_the_moved_directories(tmp_path: Path) -> None:
    control = PackageControl(cfg.ScyllaSpec(io_properties=IO), VERSION, MOVED,
                             f"{WORKDIR}/clusters/p", 600.0)
    servers = configured(control, tmp_path)
    lines = fake(servers[0]).lines()
    joined = " ".join(MOVED_DIRS)
    assert f"rm -rf {joined}" in lines
    assert f"install -d -o scylla -g scylla {joined}" in lines
    assert not any("/var/lib/scylla/data" in line for line in lines)
    written = yaml.safe_load(fake(servers[0]).files["/etc/scylla/scylla.yaml"])
    assert written["data_file_directories"] == MOVED["data_file_directories"]
    # The measured disk is the one holding the data.
    properties = yaml.safe_load(fake(servers[0]).files["/etc/scylla.d/io_properties.yaml"])
    assert properties["disks"][0]["mountpoint"] == "/mnt/nvme0/data"


def test_tarball_creates_wipes_and_measures_the_moved_directories(tmp_path: Path) -> None:
    servers = configured(tarball(MOVED), tmp_path)
    lines = fake(servers[0]).lines()
    root = f"{WORKDIR}/clusters/p/10.0.0.1"
    dirs = ["/mnt/nvme0/data", "/mnt/nvme1/data", "/mnt/nvme0/commitlog", f"{root}/hints",
            f"{root}/view_hints"]
    assert f"rm -rf {' '.join(dirs)}" in lines
    assert f"mkdir -p {root}/conf {root}/logs {' '.join(dirs)}" in lines
    assert any("--evaluation-directory /mnt/nvme0/data " in line for line in lines)


def test_container_wipes_the_moved_directories(tmp_path: Path) -> None:
    servers = containers(1, [("--version", Reply("6.2.3-0.2025")),
                             ("scylla.yaml", Reply(STOCK_YAML))])
    db = cluster(ContainerControl(None, MOVED, 600.0), servers, tmp_path)
    asyncio.run(db.install())
    asyncio.run(db.configure())
    assert f"rm -rf {' '.join(MOVED_DIRS)}" in fake(servers[0]).lines()


def test_create_refuses_a_root_data_directory_before_any_command(tmp_path: Path) -> None:
    servers = tuple(hosts(2))
    made = profile()
    object.__setattr__(made, "database", type(made.database)(
        kind="scylla", version=VERSION, nodes=2, replication_factor=2,
        settings={"commitlog_directory": "/"}))
    with pytest.raises(ConfigError, match=r"database\.settings\.commitlog_directory: must be"):
        create(made, Deployment(servers=servers, loaders=(), workdir=WORKDIR), tmp_path,
               tmp_path, False)
    assert all(not fake(host).calls for host in servers)


# -- Cassandra on remote hosts -------------------------------------------------------------------

def test_remote_cassandra_wipes_and_recreates_the_moved_directories(tmp_path: Path) -> None:
    from test_executor_support import ScriptedHost

    from pytest_scyllabench.db.cassandra_remote import RemoteCassandraCluster
    from pytest_scyllabench.db.maven import CassandraJars
    from pytest_scyllabench.profile import DatabaseSpec
    from pytest_scyllabench.provision.base import Host

    settings = {"data_file_directories": ["/mnt/nvme0/cassandra data"],
                "commitlog_directory": "/mnt/nvme1/commitlog"}
    executor = ScriptedHost(host="node1", answer=lambda command: (0, "", ""))
    db = RemoteCassandraCluster(DatabaseSpec(nodes=1, replication_factor=1, settings=settings),
                                [Host("node1", "10.0.0.1", executor)], "/var/tmp/sb",
                                tmp_path / "cache", tmp_path / "local", cluster="p")
    jar = tmp_path / "cassandra-all-5.0.9.jar"
    db._jars = CassandraJars("5.0.9", tmp_path, (jar,))
    asyncio.run(db.configure())
    asyncio.run(db.wipe())
    root = "/var/tmp/sb/clusters/p/10.0.0.1"
    moved = ["/mnt/nvme0/cassandra data", "/mnt/nvme1/commitlog", f"{root}/saved_caches",
             f"{root}/hints", f"{root}/cdc_raw"]
    script = next(c[2] for c in executor.commands if c[:2] == ("sh", "-c") and "mkdir" in c[2])
    assert "rm -rf '/mnt/nvme0/cassandra data' /mnt/nvme1/commitlog " in script
    assert "mkdir -p" in script and "/mnt/nvme1/commitlog" in script.split("mkdir -p")[1]
    assert f"{root}/data" not in script
    assert executor.commands[-1] == ("rm", "-rf", *moved)


def test_remote_cassandra_refuses_a_root_data_directory(tmp_path: Path) -> None:
    from pytest_scyllabench.db.cassandra_remote import RemoteCassandraCluster
    from pytest_scyllabench.errors import DatabaseError as Refused
    from pytest_scyllabench.profile import DatabaseSpec

    with pytest.raises((ConfigError, Refused),
                       match=r"database\.settings\.data_file_directories: must be"):
        RemoteCassandraCluster(
            DatabaseSpec(nodes=1, replication_factor=1,
                         settings={"data_file_directories": ["/"]}),
            hosts(1), "/var/tmp/sb", tmp_path, tmp_path, cluster="p")


# -- directories inside another unless moved -----------------------------------------------------

def test_a_moved_schema_commitlog_is_wiped_too() -> None:
    # ScyllaDB keeps it in <commitlog_directory>/schema; moved elsewhere and not wiped, a reset
    # replayed the last session's schema changes into an empty data directory.
    moved = {"schema_commitlog_directory": "/mnt/nvme0/schema_commitlog"}
    assert cfg.data_dirs(moved, "/r") == ["/r/data", "/r/commitlog", "/r/hints",
                                          "/r/view_hints", "/mnt/nvme0/schema_commitlog"]
    with pytest.raises(ValueError, match="schema_commitlog_directory: must be absolute paths"):
        cfg.data_dirs({"schema_commitlog_directory": "/"}, "/r")


def test_a_moved_cassandra_system_keyspace_directory_is_wiped_too(tmp_path: Path) -> None:
    # Cassandra keeps its system keyspaces (the old ring, host id, tokens) in the first data
    # directory unless local_system_data_file_directory moves them.
    from pytest_scyllabench.db.cassandra_config import NodeLayout
    from pytest_scyllabench.db.cassandra_remote import data_dirs

    node = NodeLayout(1, "10.0.0.1", Path("/var/tmp/sb/n1"))
    settings = {"local_system_data_file_directory": "/mnt/nvme0/system"}
    assert data_dirs(node, settings)[-1] == "/mnt/nvme0/system"
    assert "/mnt/nvme0/system" not in data_dirs(node, {})


@pytest.mark.parametrize(("kind", "key"), [("cassandra", "local_system_data_file_directory"),
                                           ("scylla", "schema_commitlog_directory")])
def test_a_movable_directory_is_checked_at_load(tmp_path: Path, kind: str, key: str) -> None:
    from test_profile_support import error_of, write

    version = "5.0.9" if kind == "cassandra" else "6.2"
    text = ("provisioner: docker\n" if kind == "scylla" else "") + (
        f"database:\n  kind: {kind}\n  version: '{version}'\n  settings: {{{key}: relative}}\n")
    assert f"database.settings.{key}: " in error_of(write(tmp_path, text))
