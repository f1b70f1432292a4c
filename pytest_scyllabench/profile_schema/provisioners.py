"""The sections of the provisioners other than static hosts (``static.py``): ``aws`` and
``docker``; and the database nodes and loaders a provisioner's hosts decide."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from pytest_scyllabench.db.scylla_config import DockerSpec, docker_problems
from pytest_scyllabench.errors import ProfileError
from pytest_scyllabench.profile import DatabaseSpec, LoaderSpec
from pytest_scyllabench.profile_schema.fields import build, kind, only_with
from pytest_scyllabench.provision.aws_spec import ROLES as AWS_ROLES
from pytest_scyllabench.provision.aws_spec import AwsSpec, RoleSpec
from pytest_scyllabench.provision.aws_spec import validate as validate_aws


def fit_hosts(database: DatabaseSpec, loaders: LoaderSpec, data: Mapping[str, Any],
              source: str, *, servers: tuple[int, str], loader_hosts: tuple[int, str],
              python: str) -> tuple[DatabaseSpec, LoaderSpec]:
    """One node per server and one loader per loader host; counts written must agree.

    ``servers`` and ``loader_hosts`` are (how many, where the profile says so); ``python``
    is the loaders' interpreter on those hosts.
    """
    for section, key, value, (count, what) in (
            ("database", "nodes", database.nodes, servers),
            ("loaders", "count", loaders.count, loader_hosts)):
        written = data.get(section)
        if isinstance(written, Mapping) and key in written and value != count:
            raise ProfileError(source, f"{section}.{key}",
                               f"must equal {what} ({count}) or be left out, got {value}")
    return (dataclasses.replace(database, nodes=servers[0]),
            dataclasses.replace(loaders, count=loader_hosts[0], python=python))


def parse_aws(data: Any, source: str, where: str) -> AwsSpec:
    """The ``aws`` section: roles merge onto their defaults; checked without asking AWS."""
    if not isinstance(data, Mapping):
        raise ProfileError(source, where, f"must be a mapping, got {kind(data)}")
    defaults = AwsSpec()
    fields = dict(data)
    for role in AWS_ROLES:
        if role in fields:
            given = fields[role]
            if not isinstance(given, Mapping):
                raise ProfileError(source, f"{where}.{role}",
                                   f"must be a mapping, got {kind(given)}")
            base = dataclasses.asdict(getattr(defaults, role))
            fields[role] = build(RoleSpec, {**base, **given}, source, f"{where}.{role}")
    plain = {key: value for key, value in fields.items() if key not in AWS_ROLES}
    spec = build(AwsSpec, plain, source, where)
    spec = dataclasses.replace(spec, **{role: fields[role] for role in AWS_ROLES
                                        if role in fields})
    problems = validate_aws(spec)
    if problems:
        raise ProfileError(source, f"{where}.{problems[0].path}", problems[0].message)
    return spec


def fit_aws(aws: AwsSpec, database: DatabaseSpec, loaders: LoaderSpec,
            data: Mapping[str, Any], source: str) -> tuple[DatabaseSpec, LoaderSpec]:
    """One node per server instance and one loader per loader instance."""
    return fit_hosts(database, loaders, data, source, python=aws.loader_python,
                     servers=(aws.servers.count, "aws.servers.count"),
                     loader_hosts=(aws.loaders.count, "aws.loaders.count"))


def parse_docker(data: Mapping[str, Any], provisioner: str, source: str) -> DockerSpec:
    """The ``docker`` section of profile ``data``: ScyllaDB containers on this machine."""
    docker = build(DockerSpec, data.get("docker", {}), source, "docker")
    only_with(data, "docker", provisioner == "docker", "provisioner: docker", source)
    for field_path, problem in docker_problems(docker):
        raise ProfileError(source, f"docker.{field_path}", problem)
    return docker
