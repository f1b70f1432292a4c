"""The ``database`` section, and the ``scylla`` section that tunes ScyllaDB nodes: the
version by kind, the node count each provisioner allows, replication and heap."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from pytest_scyllabench.db import cassandra_config, scylla_config
from pytest_scyllabench.db.base import setting_dirs
from pytest_scyllabench.db.scylla_config import ScyllaSpec, spec_problems
from pytest_scyllabench.errors import ProfileError
from pytest_scyllabench.profile import DatabaseSpec, Profile
from pytest_scyllabench.profile_schema.fields import at_least, build, only_with
from pytest_scyllabench.units import size_bytes

LOCAL_MAX_NODES = 5
#: ``database.version`` by kind: Apache Cassandra 5.0.N (the jars come from Maven Central),
#: a ScyllaDB series or release (6.2, 6.2.3, 2024.1.12). Digits and dots only: the version
#: names cache directories, packages and URLs.
VERSION_PATTERNS = {
    "cassandra": (re.compile(r"5\.0\.[0-9]+"), "5.0.N, e.g. 5.0.9"),
    "scylla": (re.compile(r"[0-9]+\.[0-9]+(\.[0-9]+)?"), "a series or release such as 6.2, "
               "6.2.3 or 2024.1.12"),
}

#: ASCII digits only (``str.isdigit`` and ``\d`` take any script's): ``-Xmx`` and addresses.
_HEAP = re.compile(r"[1-9][0-9]*[MG]")
_OCTET = re.compile(r"0|[1-9][0-9]{0,2}")


def parse_database(data: Any, source: str) -> DatabaseSpec:
    """The ``database`` section: its fields' types and a version of its kind."""
    database = build(DatabaseSpec, data, source, "database")
    pattern, example = VERSION_PATTERNS[database.kind]
    if not pattern.fullmatch(database.version):
        raise ProfileError(source, "database.version",
                           f"not a {database.kind} version ({example}): {database.version!r}")
    return database


def parse_scylla(data: Mapping[str, Any], database: DatabaseSpec, source: str) -> ScyllaSpec:
    """The ``scylla`` section of profile ``data``: only for ScyllaDB, checked against its
    version."""
    scylla = build(ScyllaSpec, data.get("scylla", {}), source, "scylla")
    only_with(data, "scylla", database.kind == "scylla", "database.kind: scylla", source)
    if database.kind == "scylla":
        for field_path, problem in spec_problems(scylla, database.version):
            raise ProfileError(source, f"scylla.{field_path}", problem)
    return scylla


def check_database(profile: Profile, source: str) -> None:
    """The database the profile's provisioner can run, and its nodes, replication and heap."""
    db = profile.database
    if profile.provisioner == "local":
        if not 1 <= db.nodes <= LOCAL_MAX_NODES:
            raise ProfileError(source, "database.nodes",
                               f"must be between 1 and {LOCAL_MAX_NODES}, got {db.nodes}")
        if db.kind != "cassandra":
            raise ProfileError(source, "database.kind",
                               "the local provisioner runs cassandra only")
        parts = profile.local.first_address.split(".")
        if len(parts) != 4 or parts[0] != "127" or \
                not all(_OCTET.fullmatch(p) and int(p) <= 255 for p in parts) or \
                int(parts[3]) + db.nodes - 1 > 254:
            raise ProfileError(source, "local.first_address",
                               "must be a loopback IPv4 address (127.x.y.z) with room for "
                               f"{db.nodes} consecutive addresses")
    elif profile.provisioner == "docker" and db.kind != "scylla":
        raise ProfileError(source, "database.kind",
                           "the docker provisioner runs scylla only (scylladb/scylla image)")
    at_least(db.nodes, 1, source, "database.nodes")
    if not 1 <= db.replication_factor <= db.nodes:
        raise ProfileError(source, "database.replication_factor",
                           f"must be between 1 and database.nodes ({db.nodes}), "
                           f"got {db.replication_factor}")
    if not _HEAP.fullmatch(db.heap):
        raise ProfileError(source, "database.heap", f"must look like 512M or 2G, got {db.heap!r}")
    if profile.provisioner == "local":
        _check_fits(db.heap, db.nodes, "local node", source, "database.heap")
    elif profile.provisioner == "docker":
        _check_fits(profile.docker.memory, db.nodes, "container", source, "docker.memory")
    at_least(db.start_timeout, 1, source, "database.start_timeout")
    _check_data_dirs(profile, source)


def machine_memory() -> int | None:
    """Bytes of physical memory of this machine; ``None`` when the system does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return None


def _check_fits(size: str, nodes: int, what: str, source: str, field: str) -> None:
    """``nodes`` nodes of ``size`` each (``1G``) fit in this machine's memory, where they all
    run: beyond it the OOM killer stops a node in the middle of a step (and a node needs
    memory beyond its heap or its share too)."""
    memory = machine_memory()
    if memory is not None and size_bytes(size) * nodes > memory:
        raise ProfileError(source, field, f"{nodes} {what}{'s' * (nodes != 1)} x {size} is "
                           f"more than this machine's {memory / 2**30:.1f} GiB of memory; "
                           f"give each node less")


def _check_data_dirs(profile: Profile, source: str) -> None:
    """Data directories moved by ``database.settings``: absolute paths other than ``/``
    (they are wiped with ``rm -rf``), and none on the local provisioner, whose nodes share
    one machine and each keep their own under the trial's work directory."""
    db = profile.database
    config = scylla_config if db.kind == "scylla" else cassandra_config
    for key in (*config.DATA_DIRS, *config.MOVABLE_DIRS):
        if key not in db.settings:
            continue
        where = f"database.settings.{key}"
        if profile.provisioner == "local":
            raise ProfileError(source, where, "the local provisioner gives each node its own "
                                              "directories; leave this setting out")
        try:
            setting_dirs(key, db.settings[key])
        except ValueError as exc:
            raise ProfileError(source, where, str(exc)) from None
