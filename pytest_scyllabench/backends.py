"""Backends chosen by name from the profile: one table per interface, imported lazily.

Optional dependencies are imported inside their backend module only, so a missing extra fails
with a hint when (and only when) a profile selects that backend.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from pytest_scyllabench.db.base import Database
from pytest_scyllabench.errors import ConfigError
from pytest_scyllabench.profile import LoaderSpec, Profile
from pytest_scyllabench.provision.base import Deployment, Provisioner
from pytest_scyllabench.stress.base import StressTool

#: Each provisioner module has ``create(profile, trial_dir) -> Provisioner``.
PROVISIONERS = {
    "local": "pytest_scyllabench.provision.local:create",
    "static": "pytest_scyllabench.provision.static:create",
    "aws": "pytest_scyllabench.provision.aws:create",
    "docker": "pytest_scyllabench.provision.docker:create",
}
#: Databases whose nodes run on this machine: ``cls(spec, addresses, workdir, cache, keep=)``.
DATABASES = {"cassandra": "pytest_scyllabench.db.cassandra:CassandraCluster"}
#: Databases whose nodes run on the remote hosts of a deployment (one whose ``workdir`` is
#: set by its provisioner): ``create(profile, deployment, local_dir, cache, keep)``.
REMOTE_DATABASES = {
    "cassandra": "pytest_scyllabench.db.cassandra_remote:create",
    "scylla": "pytest_scyllabench.db.scylla:create",
}
#: Each stress tool module has ``create(spec: LoaderSpec) -> StressTool``.
STRESS_TOOLS = {
    "builtin": "pytest_scyllabench.stress.builtin:create",
    "scylla-bench": "pytest_scyllabench.stress.scylla_bench:create",
    "cassandra-stress": "pytest_scyllabench.stress.cassandra_stress:create",
    "latte": "pytest_scyllabench.stress.latte:create",
}


def _load(table: dict[str, str], name: str, what: str) -> Any:
    try:
        target = table[name]
    except KeyError:
        raise ConfigError(f"unknown {what} {name!r}; known: {', '.join(sorted(table))}") from None
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


def provisioner(profile: Profile, trial_dir: Path) -> Provisioner:
    create = _load(PROVISIONERS, profile.provisioner, "provisioner")
    result: Provisioner = create(profile, trial_dir)
    return result


def database(profile: Profile, deployment: Deployment, workdir: Path, cache: Path,
             keep: bool) -> Database:
    # Remote hosts, or a kind with no backend on this machine (ScyllaDB in containers).
    if deployment.workdir is not None or profile.database.kind not in DATABASES:
        create = _load(REMOTE_DATABASES, profile.database.kind, "remote database")
        remote: Database = create(profile, deployment, workdir, cache, keep)
        return remote
    cls = _load(DATABASES, profile.database.kind, "database")
    result: Database = cls(profile.database, [h.address for h in deployment.servers], workdir,
                           cache, keep=keep)
    return result


def stress_tool(name: str, spec: LoaderSpec) -> StressTool:
    create = _load(STRESS_TOOLS, name, "stress tool")
    result: StressTool = create(spec)
    return result
