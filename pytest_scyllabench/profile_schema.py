"""Load and validate deployment profiles (YAML) into :class:`~pytest_scyllabench.profile.Profile`.

The schema is the dataclasses of ``profile.py`` and ``stress/step.py`` themselves: every field
has a type, unknown keys are rejected, and every error names the file and the field path
(``fixtures/profiles/local.yaml: database.nodes: must be between 1 and 5, got 0``).
Everything is validated here, before anything is provisioned.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from pytest_scyllabench.db.scylla_config import (
    DockerSpec,
    ScyllaSpec,
    docker_problems,
    spec_problems,
)
from pytest_scyllabench.errors import ConfigError, ProfileError
from pytest_scyllabench.execute.ssh_options import KnownHostsPolicy, SshOptions
from pytest_scyllabench.profile import (
    STATIC_WORKDIR,
    DatabaseSpec,
    HostSpec,
    LoaderSpec,
    LocalSpec,
    MonitoringSpec,
    Profile,
    StaticSpec,
    WarmupSpec,
)
from pytest_scyllabench.provision.aws_spec import ROLES as AWS_ROLES
from pytest_scyllabench.provision.aws_spec import AwsSpec, RoleSpec
from pytest_scyllabench.provision.aws_spec import validate as validate_aws
from pytest_scyllabench.stress.step import OPERATIONS, Workload
from pytest_scyllabench.thresholds import parse_threshold

T = TypeVar("T")

EMBEDDED = Path(__file__).parent / "profiles"
LOCAL_MAX_NODES = 5
MIN_SCRAPE_INTERVAL = 0.1
MAX_SCRAPE_INTERVAL = 300.0
#: ``database.version`` by kind: Apache Cassandra 5.0.N (the jars come from Maven Central),
#: a ScyllaDB series or release (6.2, 6.2.3, 2024.1.12). Digits and dots only: the version
#: names cache directories, packages and URLs.
VERSION_PATTERNS = {
    "cassandra": (re.compile(r"5\.0\.\d+"), "5.0.N, e.g. 5.0.9"),
    "scylla": (re.compile(r"\d+\.\d+(\.\d+)?"), "a series or release such as 6.2, 6.2.3 "
               "or 2024.1.12"),
}
#: Provisioners whose loaders run on this machine.
LOCAL_LOADERS = ("local", "docker")


def find_profile(name: str, rootdir: Path) -> Path:
    """The file of profile ``name``: a path, or a name in fixtures/profiles, or an embedded one."""
    as_path = Path(name)
    if as_path.suffix in (".yaml", ".yml") or "/" in name:
        candidate = as_path if as_path.is_absolute() else rootdir / as_path
        if not candidate.is_file():
            raise ProfileError(str(candidate), "", "no such profile file")
        return candidate
    searched = [rootdir / "fixtures" / "profiles" / f"{name}.yaml", EMBEDDED / f"{name}.yaml"]
    for candidate in searched:
        if candidate.is_file():
            return candidate
    known = sorted({p.stem for d in (searched[0].parent, EMBEDDED) if d.is_dir()
                    for p in d.glob("*.yaml")})
    raise ProfileError(name, "", f"no such profile; known profiles: {', '.join(known)}")


def load_profile(path: Path) -> Profile:
    """Read and validate one profile file."""
    data = _read_yaml(path)
    source = str(path)
    data = dict(data)
    workload_files = data.pop("workload_files", [])
    inline_workloads = data.pop("workloads", {})
    name = data.pop("name", path.stem)
    if not isinstance(name, str) or not name:
        raise ProfileError(source, "name", "must be a non-empty string")
    workloads: dict[str, Workload] = {}
    #: The file each workload of ``workload_files`` came from.
    origins: dict[str, str] = {}
    if not isinstance(workload_files, list):
        raise ProfileError(source, "workload_files", "must be a list of file paths")
    for index, entry in enumerate(workload_files):
        if not isinstance(entry, str):
            raise ProfileError(source, f"workload_files[{index}]", "must be a file path")
        file = (path.parent / entry).resolve()
        if not file.is_file():
            raise ProfileError(source, f"workload_files[{index}]", f"no such file: {file}")
        found = parse_workloads(_read_yaml(file), str(file), "")
        workloads.update(found)
        origins.update(dict.fromkeys(found, str(file)))
    inline = parse_workloads(inline_workloads, source, "workloads")
    workloads.update(inline)
    for workload in inline:
        origins.pop(workload, None)

    known = {f.name for f in dataclasses.fields(Profile)} - {"name", "source", "workloads"}
    _reject_unknown(data, known | {"workload_files", "workloads"}, source, "")
    provisioner = _convert(data.get("provisioner", "local"),
                           Literal["local", "static", "aws", "docker"], source, "provisioner")
    database = build(DatabaseSpec, data.get("database", {}), source, "database")
    pattern, example = VERSION_PATTERNS[database.kind]
    if not pattern.fullmatch(database.version):
        raise ProfileError(source, "database.version",
                           f"not a {database.kind} version ({example}): {database.version!r}")
    loaders = build(LoaderSpec, data.get("loaders", {}), source, "loaders")
    static = None
    if provisioner == "static":
        static = parse_static(data.get("static"), path, "static")
        database, loaders = _fit_static(static, database, loaders, data, source)
    elif "static" in data:
        raise ProfileError(source, "static", "only used with provisioner: static")
    aws = None
    if provisioner == "aws":
        aws = parse_aws(data.get("aws", {}), source, "aws")
        database, loaders = _fit_aws(aws, database, loaders, data, source)
    elif "aws" in data:
        raise ProfileError(source, "aws", "only used with provisioner: aws")
    scylla = build(ScyllaSpec, data.get("scylla", {}), source, "scylla")
    if "scylla" in data and database.kind != "scylla":
        raise ProfileError(source, "scylla", "only used with database.kind: scylla")
    if database.kind == "scylla":
        for field_path, problem in spec_problems(scylla, database.version):
            raise ProfileError(source, f"scylla.{field_path}", problem)
    docker = build(DockerSpec, data.get("docker", {}), source, "docker")
    if "docker" in data and provisioner != "docker":
        raise ProfileError(source, "docker", "only used with provisioner: docker")
    for field_path, problem in docker_problems(docker):
        raise ProfileError(source, f"docker.{field_path}", problem)
    monitoring = parse_monitoring(data.get("monitoring", {}), source, "monitoring")
    if aws is not None and monitoring.enabled and aws.monitor.count == 0:
        # Instances serve metrics on their private addresses, which only a host in their
        # network (reached here through an SSH port forward) can scrape.
        raise ProfileError(source, "aws.monitor.count",
                           "must be 1 when monitoring is enabled: Prometheus runs on the "
                           "monitor host, inside the instances' network")
    profile = Profile(
        name=name,
        source=path,
        provisioner=provisioner,
        static=static,
        aws=aws,
        scylla=scylla,
        docker=docker,
        local=build(LocalSpec, data.get("local", {}), source, "local"),
        database=database,
        loaders=loaders,
        workloads=workloads,
        rate_tolerance=_convert(data.get("rate_tolerance", 0.05), float, source,
                                "rate_tolerance"),
        warmup=build(WarmupSpec, data.get("warmup", {}), source, "warmup"),
        thresholds=_convert(data.get("thresholds", {}), Mapping[str, str], source,
                            "thresholds"),
        monitoring=monitoring,
    )
    check_profile(profile, source, origins)
    return profile


def parse_monitoring(data: Any, source: str, where: str) -> MonitoringSpec:
    """The ``monitoring`` section: types, ranges, and ports that cannot collide."""
    if isinstance(data, Mapping) and data.get("snapshots") is False:
        data = {**data, "snapshots": "off"}  # YAML reads a bare ``off`` as false
    spec = build(MonitoringSpec, data, source, where)
    if not MIN_SCRAPE_INTERVAL <= spec.scrape_interval <= MAX_SCRAPE_INTERVAL:
        raise ProfileError(source, f"{where}.scrape_interval",
                           f"must be between {MIN_SCRAPE_INTERVAL:g} and "
                           f"{MAX_SCRAPE_INTERVAL:g} seconds, got {spec.scrape_interval:g}")
    if not math.isfinite(spec.quiet_timeout):
        raise ProfileError(source, f"{where}.quiet_timeout",
                           f"must be a finite number of seconds, got {spec.quiet_timeout:g}")
    _at_least(spec.quiet_timeout, 0, source, f"{where}.quiet_timeout")
    ports: dict[int, str] = {}
    for key in ("prometheus_port", "node_exporter_port", "jmx_exporter_port"):
        port = getattr(spec, key)
        if not 1 <= port <= 65535:
            raise ProfileError(source, f"{where}.{key}", f"must be a TCP port (1-65535), "
                               f"got {port}")
        if port in ports:
            raise ProfileError(source, f"{where}.{key}", f"must differ from {where}."
                               f"{ports[port]} ({port}): both may listen on one address")
        ports[port] = key
    for key in ("prometheus_binary", "node_exporter_binary"):
        if not getattr(spec, key).strip():
            raise ProfileError(source, f"{where}.{key}", "must not be empty")
    if spec.reset_between_tests and spec.snapshots != "per-test":
        raise ProfileError(source, f"{where}.reset_between_tests",
                           f"needs snapshots: per-test (series are deleted after each test's "
                           f"snapshot), got snapshots: {spec.snapshots}")
    return spec


def parse_aws(data: Any, source: str, where: str) -> AwsSpec:
    """The ``aws`` section: roles merge onto their defaults; checked without asking AWS."""
    if not isinstance(data, Mapping):
        raise ProfileError(source, where, f"must be a mapping, got {_kind(data)}")
    defaults = AwsSpec()
    fields = dict(data)
    for role in AWS_ROLES:
        if role in fields:
            given = fields[role]
            if not isinstance(given, Mapping):
                raise ProfileError(source, f"{where}.{role}",
                                   f"must be a mapping, got {_kind(given)}")
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


def _fit_aws(aws: AwsSpec, database: DatabaseSpec, loaders: LoaderSpec,
             data: Mapping[str, Any], source: str) -> tuple[DatabaseSpec, LoaderSpec]:
    """One node per server instance and one loader per loader instance."""
    for section, key, value, role, count in (
            ("database", "nodes", database.nodes, "servers", aws.servers.count),
            ("loaders", "count", loaders.count, "loaders", aws.loaders.count)):
        written = data.get(section)
        if isinstance(written, Mapping) and key in written and value != count:
            raise ProfileError(source, f"{section}.{key}",
                               f"must equal aws.{role}.count ({count}) or be left out, "
                               f"got {value}")
    return (dataclasses.replace(database, nodes=aws.servers.count),
            dataclasses.replace(loaders, count=aws.loaders.count, python=aws.loader_python))


@dataclasses.dataclass(frozen=True)
class _SshFields:
    """The ``static.ssh`` section as written; checked into ``SshOptions``."""

    key: str
    known_hosts: str
    user: str = "root"
    port: int = 22
    connect_timeout: float = 30.0
    command_timeout: float = 600.0
    connect_attempts: int = 5
    max_sessions: int = 8
    #: The environment variable holding the key's passphrase (never the passphrase itself).
    key_passphrase_env: str = ""


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


_STATIC_KEYS = {"ssh", "servers", "loaders", "monitor", "workdir", "loader_python"}


def parse_static(data: Any, path: Path, where: str) -> StaticSpec:
    """The ``static`` section: SSH settings and the hosts by role."""
    source = str(path)
    if not isinstance(data, Mapping):
        raise ProfileError(source, where, "provisioner: static needs a static section "
                           "(ssh, servers, loaders)")
    _reject_unknown(data, _STATIC_KEYS, source, where)
    for required in ("ssh", "servers", "loaders"):
        if required not in data:
            raise ProfileError(source, f"{where}.{required}", "missing")
    ssh = data["ssh"]
    if isinstance(ssh, Mapping):
        for required in ("key", "known_hosts"):
            if required not in ssh:
                raise ProfileError(source, f"{where}.ssh.{required}", "missing (no default: "
                                   "state it explicitly)")
        if ssh["known_hosts"] is False:  # YAML reads a bare ``off`` as false
            ssh = {**ssh, "known_hosts": "off"}
        if "key_passphrase" in ssh:  # its value is not repeated: it may be the secret
            raise ProfileError(source, f"{where}.ssh.key_passphrase",
                               "a passphrase is never written in a profile: put it in an "
                               "environment variable and name that with key_passphrase_env")
    fields = build(_SshFields, ssh, source, f"{where}.ssh")
    key = Path(fields.key).expanduser()
    key = key if key.is_absolute() else (path.parent / key).resolve()
    if not key.is_file():
        raise ProfileError(source, f"{where}.ssh.key", f"no such private key file: {key}")
    try:
        policy = KnownHostsPolicy.parse(fields.known_hosts)
    except ConfigError as exc:
        raise ProfileError(source, f"{where}.ssh.known_hosts", str(exc)) from None
    if policy.mode == "strict" and policy.path is not None and not policy.path.is_file():
        raise ProfileError(source, f"{where}.ssh.known_hosts",
                           f"no such known_hosts file: {policy.path}")
    _at_least(fields.command_timeout, 1, source, f"{where}.ssh.command_timeout")
    _at_least(fields.connect_attempts, 1, source, f"{where}.ssh.connect_attempts")
    _at_least(fields.max_sessions, 1, source, f"{where}.ssh.max_sessions")
    passphrase = _passphrase(fields.key_passphrase_env, source,
                             f"{where}.ssh.key_passphrase_env")
    try:
        options = SshOptions(key_path=key, known_hosts=policy, user=fields.user,
                             port=fields.port, connect_timeout=fields.connect_timeout,
                             connect_attempts=fields.connect_attempts,
                             max_sessions=fields.max_sessions, key_passphrase=passphrase)
    except ConfigError as exc:
        raise ProfileError(source, f"{where}.ssh", str(exc)) from None
    servers = _hosts(data["servers"], "node", source, f"{where}.servers")
    loaders = _hosts(data["loaders"], "loader-", source, f"{where}.loaders")
    monitor = None
    if data.get("monitor") is not None:
        monitor = _hosts([data["monitor"]], "monitor", source, f"{where}.monitor")[0]
    names = [host.name for host in (*servers, *loaders, *([monitor] if monitor else []))]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ProfileError(source, where, f"host names must be unique: {', '.join(duplicates)}")
    workdir = _convert(data.get("workdir", STATIC_WORKDIR), str, source, f"{where}.workdir")
    if not workdir.startswith("/") or workdir.rstrip("/") == "":
        raise ProfileError(source, f"{where}.workdir",
                           f"must be an absolute path other than /, got {workdir!r}")
    python = _convert(data.get("loader_python", "python3"), str, source,
                      f"{where}.loader_python")
    if not python:
        raise ProfileError(source, f"{where}.loader_python", "must not be empty")
    return StaticSpec(ssh=options, servers=servers, loaders=loaders, monitor=monitor,
                      command_timeout=fields.command_timeout, workdir=workdir.rstrip("/"),
                      loader_python=python)


def _passphrase(variable: str, source: str, where: str) -> str | None:
    """The passphrase held by environment variable ``variable`` (``None`` when not named).

    Errors name the variable, never its value.
    """
    if not variable:
        return None
    if not _ENV_NAME.fullmatch(variable):
        raise ProfileError(source, where, f"must name an environment variable (letters, "
                           f"digits, _), got {variable!r}")
    value = os.environ.get(variable)
    if value is None:
        raise ProfileError(source, where, f"environment variable {variable} is not set "
                           f"(it must hold the passphrase of the private key)")
    if not value:
        raise ProfileError(source, where, f"environment variable {variable} is empty")
    return value


def _hosts(data: Any, prefix: str, source: str, where: str) -> tuple[HostSpec, ...]:
    """A list of addresses or ``{name, address}`` mappings; names default to node1, ..."""
    if not isinstance(data, list) or not data:
        raise ProfileError(source, where, f"must be a non-empty list of hosts, got {_kind(data)}")
    hosts = []
    for index, entry in enumerate(data, start=1):
        path = f"{where}[{index - 1}]"
        if isinstance(entry, str):
            entry = {"address": entry}
        if not isinstance(entry, Mapping):
            raise ProfileError(source, path, f"must be an address or a mapping with name and "
                               f"address, got {_kind(entry)}")
        if "address" not in entry:
            raise ProfileError(source, f"{path}.address", "missing")
        host = build(HostSpec, {"name": f"{prefix}{index}", **entry}, source, path)
        if not host.address or any(c.isspace() for c in host.address):
            raise ProfileError(source, f"{path}.address", f"not an address: {host.address!r}")
        if not host.name.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise ProfileError(source, f"{path}.name",
                               f"must be letters, digits, '-', '_' or '.', got {host.name!r}")
        hosts.append(host)
    return tuple(hosts)


def _fit_static(static: StaticSpec, database: DatabaseSpec, loaders: LoaderSpec,
                data: Mapping[str, Any], source: str) -> tuple[DatabaseSpec, LoaderSpec]:
    """One node per server and one loader per loader host; counts given must agree."""
    for section, key, spec_value, role, hosts in (
            ("database", "nodes", database.nodes, "servers", static.servers),
            ("loaders", "count", loaders.count, "loaders", static.loaders)):
        written = data.get(section)
        if isinstance(written, Mapping) and key in written and spec_value != len(hosts):
            raise ProfileError(source, f"{section}.{key}",
                               f"must equal the number of static.{role} ({len(hosts)}) or be "
                               f"left out, got {spec_value}")
    return (dataclasses.replace(database, nodes=len(static.servers)),
            dataclasses.replace(loaders, count=len(static.loaders),
                                python=static.loader_python))


def parse_workloads(data: Any, source: str, path: str) -> dict[str, Workload]:
    if not isinstance(data, Mapping):
        raise ProfileError(source, path or "<top level>", "must be a mapping of workload names")
    result: dict[str, Workload] = {}
    for name, fields in data.items():
        where = f"{path}.{name}" if path else str(name)
        if not isinstance(fields, Mapping):
            raise ProfileError(source, where, "must be a mapping of workload fields")
        workload = build(Workload, {"name": str(name), **fields}, source, where)
        check_workload(workload, source, where)
        result[str(name)] = workload
    return result


def check_workload(workload: Workload, source: str, where: str) -> None:
    if not workload.mix:
        raise ProfileError(source, f"{where}.mix", "needs at least one operation")
    for operation, weight in workload.mix.items():
        if operation not in OPERATIONS:
            raise ProfileError(source, f"{where}.mix.{operation}",
                               f"unknown operation; expected one of {', '.join(OPERATIONS)}")
        if weight < 0:
            raise ProfileError(source, f"{where}.mix.{operation}", "weight must be >= 0")
    if sum(workload.mix.values()) <= 0:
        raise ProfileError(source, f"{where}.mix", "weights must not all be zero")
    _at_least(workload.partitions, 1, source, f"{where}.partitions")
    _at_least(workload.row_size, 1, source, f"{where}.row_size")
    _at_least(workload.populate, 0, source, f"{where}.populate")
    if workload.zipf_exponent <= 0:
        raise ProfileError(source, f"{where}.zipf_exponent", "must be > 0")
    if not 0 < workload.gaussian_stddev <= 1:
        raise ProfileError(source, f"{where}.gaussian_stddev", "must be in (0, 1]")
    for field in ("keyspace", "table"):
        value = getattr(workload, field)
        if not value.replace("_", "").isalnum() or not value[0].isalpha():
            raise ProfileError(source, f"{where}.{field}",
                               f"must be a CQL identifier (letters, digits, _), got {value!r}")


def check_profile(profile: Profile, source: str,
                  origins: Mapping[str, str] | None = None) -> None:
    """Checks across sections; ``origins`` maps a workload to the file it came from."""
    db = profile.database
    if profile.provisioner == "local":
        if not 1 <= db.nodes <= LOCAL_MAX_NODES:
            raise ProfileError(source, "database.nodes",
                               f"must be between 1 and {LOCAL_MAX_NODES}, got {db.nodes}")
        if db.kind != "cassandra":
            raise ProfileError(source, "database.kind",
                               "the local provisioner runs cassandra only")
        parts = profile.local.first_address.split(".")
        if len(parts) != 4 or parts[0] != "127" or not all(p.isdigit() for p in parts) or \
                int(parts[3]) + db.nodes - 1 > 254:
            raise ProfileError(source, "local.first_address",
                               "must be a loopback IPv4 address (127.x.y.z) with room for "
                               f"{db.nodes} consecutive addresses")
    elif profile.provisioner == "docker" and db.kind != "scylla":
        raise ProfileError(source, "database.kind",
                           "the docker provisioner runs scylla only (scylladb/scylla image)")
    _at_least(db.nodes, 1, source, "database.nodes")
    if not 1 <= db.replication_factor <= db.nodes:
        raise ProfileError(source, "database.replication_factor",
                           f"must be between 1 and database.nodes ({db.nodes}), "
                           f"got {db.replication_factor}")
    if not (db.heap[:-1].isdigit() and db.heap[-1] in "MG"):
        raise ProfileError(source, "database.heap", f"must look like 512M or 2G, got {db.heap!r}")
    _at_least(db.start_timeout, 1, source, "database.start_timeout")
    _at_least(profile.loaders.count, 1, source, "loaders.count")
    _at_least(profile.loaders.concurrency, 1, source, "loaders.concurrency")
    _at_least(profile.loaders.connections, 1, source, "loaders.connections")
    _check_tools(profile, source, origins or {})
    if not 0 <= profile.rate_tolerance < 1:
        raise ProfileError(source, "rate_tolerance", "must be in [0, 1)")
    warmup = profile.warmup
    if warmup.workload and warmup.workload not in profile.workloads:
        raise ProfileError(source, "warmup.workload",
                           f"no workload {warmup.workload!r}; known: "
                           f"{', '.join(sorted(profile.workloads))}")
    _at_least(warmup.rate, 1, source, "warmup.rate")
    _at_least(warmup.seconds, 1, source, "warmup.seconds")
    for name, value in profile.thresholds.items():
        try:
            parse_threshold(name, value)
        except ConfigError as exc:
            raise ProfileError(source, f"thresholds.{name}", str(exc)) from None


def _check_tools(profile: Profile, source: str, origins: Mapping[str, str]) -> None:
    """The profile's tool exists and can run every workload; ``tool_paths`` name real files."""
    from pytest_scyllabench import backends

    tools = backends.STRESS_TOOLS
    if profile.loaders.tool not in tools:
        raise ProfileError(source, "loaders.tool",
                           f"must be one of {', '.join(sorted(tools))}, "
                           f"got {profile.loaders.tool!r}")
    for name, path in profile.loaders.tool_paths.items():
        where = f"loaders.tool_paths.{name}"
        if name not in tools:
            raise ProfileError(source, where,
                               f"not a stress tool; known: {', '.join(sorted(tools))}")
        if not path.startswith("/"):
            raise ProfileError(source, where, f"must be an absolute path, got {path!r}")
        problem = _tool_path_problem(name, Path(path), profile.provisioner in LOCAL_LOADERS)
        if problem:
            raise ProfileError(source, where, problem)
    tool = backends.stress_tool(profile.loaders.tool, profile.loaders)
    for name, workload in profile.workloads.items():
        try:
            tool.check_workload(workload)
        except ConfigError as exc:
            message, origin = str(exc), source
            if name in origins and message.startswith(f"workloads.{name}."):
                # From a workload file, where the workloads are at the top level.
                message, origin = message.removeprefix("workloads."), origins[name]
            raise ProfileError(origin, "", f"{message} (loaders.tool: {tool.name})") from None


def _tool_path_problem(tool: str, path: Path, local_loaders: bool) -> str:
    """Why ``loaders.tool_paths.<tool>`` cannot be used; empty when it can, or cannot be known.

    A cassandra-stress tree is used where it is, on each loader host: checked here only when
    the loaders run on this machine. The other tools' binaries are copied from this machine.
    """
    if tool == "cassandra-stress":
        from pytest_scyllabench.stress.cassandra_stress_dist import MARKER

        if local_loaders and not (path / MARKER).is_file():
            return (f"{path} has no {MARKER} (expected an unpacked Apache Cassandra binary "
                    f"tarball)")
        return ""
    if not path.is_file():
        return f"no such file: {path}"
    if not os.access(path, os.X_OK):
        return f"not executable: {path}"
    return ""


def build(cls: type[T], data: Any, source: str, path: str) -> T:
    """Build dataclass ``cls`` from a mapping, checking every field's type."""
    if not isinstance(data, Mapping):
        raise ProfileError(source, path, f"must be a mapping, got {_kind(data)}")
    assert dataclasses.is_dataclass(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    _reject_unknown(data, set(fields), source, path)
    hints = typing.get_type_hints(cls)
    values = {
        key: _convert(value, hints[key], source, f"{path}.{key}" if path else key)
        for key, value in data.items()
    }
    return cls(**values)


def _convert(value: Any, hint: Any, source: str, path: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return value
    if origin is Literal:
        if value not in args:
            choices = ", ".join(str(a) for a in args)
            raise ProfileError(source, path, f"must be one of {choices}, got {value!r}")
        return value
    if origin in (typing.Union, types.UnionType):
        last: ProfileError | None = None
        for option in args:
            try:
                return _convert(value, option, source, path)
            except ProfileError as exc:
                last = exc
        assert last is not None
        raise last
    if hint is type(None):
        if value is not None:
            raise ProfileError(source, path, f"must be empty, got {_kind(value)}")
        return None
    if hint is bool:
        if not isinstance(value, bool):
            raise ProfileError(source, path, f"must be true or false, got {_kind(value)}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ProfileError(source, path, f"must be an integer, got {_kind(value)}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ProfileError(source, path, f"must be a number, got {_kind(value)}")
        return float(value)
    if hint is str:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ProfileError(source, path, f"must be a string, got {_kind(value)}")
        return str(value)
    if origin is tuple:
        if not isinstance(value, list):
            raise ProfileError(source, path, f"must be a list, got {_kind(value)}")
        return tuple(_convert(v, args[0], source, f"{path}[{i}]") for i, v in enumerate(value))
    if origin in (Mapping, dict) or hint is Mapping:
        if not isinstance(value, Mapping):
            raise ProfileError(source, path, f"must be a mapping, got {_kind(value)}")
        key_hint, value_hint = args if args else (Any, Any)
        return {
            _convert(k, key_hint, source, f"{path}.{k}"): _convert(v, value_hint, source,
                                                                   f"{path}.{k}")
            for k, v in value.items()
        }
    raise TypeError(f"profile schema cannot check type {hint!r} at {path}")


def _reject_unknown(data: Mapping[Any, Any], known: set[str], source: str, path: str) -> None:
    for key in data:
        if key not in known:
            where = f"{path}.{key}" if path else str(key)
            raise ProfileError(source, where,
                               f"unknown key; expected one of {', '.join(sorted(known))}")


def _at_least(value: float, minimum: float, source: str, path: str) -> None:
    if value < minimum:
        raise ProfileError(source, path, f"must be at least {minimum:g}, got {value:g}")


def _read_yaml(path: Path) -> Mapping[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProfileError(str(path), "", f"cannot read: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        raise ProfileError(str(path), where, f"invalid YAML: {getattr(exc, 'problem', exc)}") \
            from exc
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ProfileError(str(path), "", f"must be a mapping at the top level, got {_kind(data)}")
    return data


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
             list: "a list", dict: "a mapping"}
    return f"{names.get(type(value), type(value).__name__)} ({value!r})"
