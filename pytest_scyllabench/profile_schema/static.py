"""The ``static`` section: existing hosts reached over SSH, by role, and the SSH settings."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytest_scyllabench.errors import ConfigError, ProfileError
from pytest_scyllabench.execute.ssh_options import (
    USER_RULE,
    KnownHostsPolicy,
    SshOptions,
    is_user_name,
)
from pytest_scyllabench.profile import (
    STATIC_WORKDIR,
    DatabaseSpec,
    HostSpec,
    LoaderSpec,
    StaticSpec,
)
from pytest_scyllabench.profile_schema.fields import (
    at_least,
    build,
    convert,
    is_file,
    kind,
    printable,
    reject_unknown,
    shown,
)
from pytest_scyllabench.profile_schema.provisioners import fit_hosts


@dataclasses.dataclass(frozen=True)
class _SshFields:
    """The ``static.ssh`` section as written; checked into ``SshOptions`` (whose defaults it
    shares)."""

    key: str
    known_hosts: str
    user: str = SshOptions.user
    port: int = SshOptions.port
    connect_timeout: float = SshOptions.connect_timeout
    command_timeout: float = 600.0
    connect_attempts: int = SshOptions.connect_attempts
    max_sessions: int = SshOptions.max_sessions
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
    reject_unknown(data, _STATIC_KEYS, source, where)
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
    try:
        key = Path(fields.key).expanduser()
        key = key if key.is_absolute() else (path.parent / key).resolve()
    except (RuntimeError, ValueError, OSError):  # no such ~user, a NUL byte, a loop of links
        raise ProfileError(source, f"{where}.ssh.key",
                           f"no such private key file: {shown(fields.key)}") from None
    if not is_file(key):
        raise ProfileError(source, f"{where}.ssh.key",
                           f"no such private key file: {printable(str(key))}")
    try:
        policy = KnownHostsPolicy.parse(fields.known_hosts)
    except ConfigError as exc:
        raise ProfileError(source, f"{where}.ssh.known_hosts", str(exc)) from None
    except RuntimeError:  # ``~user`` of no user
        raise ProfileError(source, f"{where}.ssh.known_hosts",
                           f"no such home directory: {shown(fields.known_hosts)}") from None
    if policy.path is not None and not str(policy.path).isprintable():  # NUL, line breaks
        raise ProfileError(source, f"{where}.ssh.known_hosts",
                           f"not a file name: {shown(fields.known_hosts)}")
    if policy.mode == "strict" and policy.path is not None and not is_file(policy.path):
        raise ProfileError(source, f"{where}.ssh.known_hosts",
                           f"no such known_hosts file: {printable(str(policy.path))}")
    if not is_user_name(fields.user):
        raise ProfileError(source, f"{where}.ssh.user",
                           f"not a user name ({USER_RULE}): {shown(fields.user)}")
    at_least(fields.command_timeout, 1, source, f"{where}.ssh.command_timeout")
    at_least(fields.connect_attempts, 1, source, f"{where}.ssh.connect_attempts")
    at_least(fields.max_sessions, 1, source, f"{where}.ssh.max_sessions")
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
    for index, server in enumerate(servers):
        _ip_address(server, data["servers"][index], source, f"{where}.servers[{index}]")
    loaders = _hosts(data["loaders"], "loader-", source, f"{where}.loaders")
    monitor = None
    if data.get("monitor") is not None:
        monitor = _host(data["monitor"], "monitor1", source, f"{where}.monitor")
    names = [host.name for host in (*servers, *loaders, *([monitor] if monitor else []))]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ProfileError(source, where, f"host names must be unique: {', '.join(duplicates)}")
    workdir = convert(data.get("workdir", STATIC_WORKDIR), str, source, f"{where}.workdir")
    if not workdir.startswith("/") or workdir.rstrip("/") == "":
        raise ProfileError(source, f"{where}.workdir",
                           f"must be an absolute path other than /, got {workdir!r}")
    python = convert(data.get("loader_python", "python3"), str, source,
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
        raise ProfileError(source, where, f"must be a non-empty list of hosts, got {kind(data)}")
    return tuple(_host(entry, f"{prefix}{index}", source, f"{where}[{index - 1}]")
                 for index, entry in enumerate(data, start=1))


def _host(entry: Any, name: str, source: str, path: str) -> HostSpec:
    """An address or a ``{name, address}`` mapping; ``name`` when it names none."""
    address_path = path if isinstance(entry, str) else f"{path}.address"
    if isinstance(entry, str):
        entry = {"address": entry}
    if not isinstance(entry, Mapping):
        raise ProfileError(source, path, f"must be an address or a mapping with name and "
                           f"address, got {kind(entry)}")
    if "address" not in entry:
        raise ProfileError(source, f"{path}.address", "missing")
    host = build(HostSpec, {"name": name, **entry}, source, path)
    if not host.address or any(c.isspace() or not c.isprintable() for c in host.address):
        raise ProfileError(source, address_path, f"not an address: {shown(host.address)}")
    if not host.name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise ProfileError(source, f"{path}.name",
                           f"must be letters, digits, '-', '_' or '.', got {shown(host.name)}")
    return host


def _ip_address(host: HostSpec, entry: Any, source: str, path: str) -> None:
    """A database server is named by its IP address: the node binds and gossips on it, and
    readiness finds it by it in ``system.peers_v2`` or ``nodetool status``, which print
    addresses, never host names."""
    try:
        ipaddress.ip_address(host.address)
    except ValueError:
        where = path if isinstance(entry, str) else f"{path}.address"
        raise ProfileError(source, where, f"a database server must be given by its IP address "
                           f"(its node binds and gossips on it), got "
                           f"{shown(host.address)}") from None


def fit_static(static: StaticSpec, database: DatabaseSpec, loaders: LoaderSpec,
               data: Mapping[str, Any], source: str) -> tuple[DatabaseSpec, LoaderSpec]:
    """One node per server and one loader per loader host; counts given must agree."""
    return fit_hosts(database, loaders, data, source, python=static.loader_python,
                     servers=(len(static.servers), "the number of static.servers"),
                     loader_hosts=(len(static.loaders), "the number of static.loaders"))
