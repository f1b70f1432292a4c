"""The files of an EC2 run: the private key (mode 0600) in the cache, an OpenSSH config and
an inventory (JSON) in the trials directory, and the ``ssh`` command line that reaches one of
its hosts.

Layout: ``<cache>/aws/<run id>/key.pem`` (directory 0700, file 0600) is the private key, the
only file that holds it; no trials file ever does, since trials are shared and published.
``<trials>/aws-<run id>/`` (mode 0700) holds ``known_hosts``, ``ssh_config`` and
``inventory.json``, which name the key by its absolute path.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from pytest_scyllabench.errors import ConfigError
from pytest_scyllabench.execute.ssh_options import USER_RULE, is_user_name

KEY_FILE, CONFIG_FILE, INVENTORY_FILE, KNOWN_HOSTS_FILE = (
    "key.pem", "ssh_config", "inventory.json", "known_hosts")


def run_dir(trials_dir: Path, run_id: str) -> Path:
    return trials_dir / f"aws-{run_id}"


def key_dir(key_root: Path, run_id: str) -> Path:
    """``<key root>/<run id>``: the directory of a run's private key."""
    return key_root / run_id


def write_private_key(path: Path, material: str) -> None:
    """Write a private key readable by its owner only (created 0600, never another mode), in
    a directory only its owner can enter (0700, whatever the umask)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.parent.chmod(0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.fchmod(fd, 0o600)  # exactly 0600, whatever the umask took away
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(material if material.endswith("\n") else material + "\n")


def remove_private_key(directory: Path) -> None:
    """Delete a run's key file and its directory (if empty); missing ones are fine."""
    (directory / KEY_FILE).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        directory.rmdir()


@dataclass(frozen=True)
class InventoryHost:
    """One host of a run: its name, role, instance and addresses."""

    name: str
    role: str
    instance_id: str
    instance_type: str
    market: str
    public_ip: str
    private_ip: str
    #: Where SSH connects (the public or private address, or what the address map made of it).
    address: str


@dataclass(frozen=True)
class Inventory:
    """Everything needed to reach and to find again the hosts of a run."""

    run_id: str
    region: str
    zone: str
    endpoint_url: str
    owner: str
    expiry: str
    ssh_user: str
    key_file: str
    known_hosts: str
    security_group: str
    key_pair: str
    hosts: tuple[InventoryHost, ...]

    def host(self, name: str) -> InventoryHost:
        for host in self.hosts:
            if host.name == name:
                return host
        known = ", ".join(h.name for h in self.hosts) or "none"
        raise ConfigError(f"run {self.run_id} has no host {name!r}; its hosts: {known}")

    def to_json(self) -> str:
        data = asdict(self)
        data["hosts"] = [asdict(h) for h in self.hosts]
        return json.dumps(data, indent=2) + "\n"


def write_inventory(directory: Path, inventory: Inventory) -> Path:
    path = directory / INVENTORY_FILE
    path.write_text(inventory.to_json(), encoding="utf-8")
    return path


def read_inventory(path: Path) -> Inventory:
    """Read an inventory written by :func:`write_inventory` (JSON, or the same as YAML)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the inventory: {exc.strerror}") from exc
    try:
        data: Any = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, RecursionError, yaml.YAMLError) as exc:
        problem = "nested too deeply" if isinstance(exc, RecursionError) else exc
        raise ConfigError(f"{path}: not an inventory of pytest-scyllabench: {problem}") from None
    try:
        top = _strings(data, Inventory, "")
        listed = top.pop("hosts")
        if not isinstance(listed, list):
            raise ValueError("hosts: expected a list")
        inventory = Inventory(**top, hosts=tuple(
            InventoryHost(**_strings(host, InventoryHost, f"hosts[{number}]."))
            for number, host in enumerate(listed)))
    except ValueError as exc:
        raise ConfigError(f"{path}: not an inventory of pytest-scyllabench: {exc}") from None
    # What ssh is given: a user or an address starting with '-' would be read as an option
    # (-oProxyCommand=... runs a command here), so an edited or downloaded inventory is checked.
    if not is_user_name(inventory.ssh_user):
        raise ConfigError(f"{path}: ssh_user: {inventory.ssh_user!r} is not a user name "
                          f"({USER_RULE})")
    for number, host in enumerate(inventory.hosts):
        if not host.address or host.address.startswith("-") or any(
                c.isspace() or not c.isprintable() or c == "@" for c in host.address):
            raise ConfigError(f"{path}: hosts[{number}].address: {host.address!r} is not a "
                              f"host address")
    return inventory


def _strings(data: Any, kind: type, where: str) -> dict[str, Any]:
    """The fields of dataclass ``kind`` from object ``data``: each present and a string (but
    ``hosts``); ``ValueError`` naming the first field that is not."""
    if not isinstance(data, dict):
        raise ValueError(f"{where.rstrip('.')}: expected an object" if where else
                         "expected an object of fields at the top level")
    names = [item.name for item in fields(kind)]
    unknown = sorted(set(data) - set(names), key=str)
    if unknown:
        raise ValueError(f"{where}{unknown[0]}: unknown field")
    for name in names:
        if name not in data:
            raise ValueError(f"{where}{name}: missing")
        if name != "hosts" and not isinstance(data[name], str):
            raise ValueError(f"{where}{name}: expected a string, got {data[name]!r}")
    return dict(data)


def ssh_config(inventory: Inventory) -> str:
    """An OpenSSH client config with one ``Host`` entry per host (``ssh -F <file> node1``)."""
    lines = [f"# pytest-scyllabench run {inventory.run_id} ({inventory.region}); "
             f"expires {inventory.expiry}", ""]
    for host in inventory.hosts:
        lines += [f"Host {host.name}",
                  f"    HostName {host.address}",
                  f"    User {inventory.ssh_user}",
                  f"    IdentityFile {_quoted(inventory.key_file)}",
                  "    IdentitiesOnly yes",
                  f"    UserKnownHostsFile {_quoted(inventory.known_hosts)}",
                  "    StrictHostKeyChecking accept-new",
                  ""]
    return "\n".join(lines)


def _quoted(path: str) -> str:
    """A path as one argument of an ssh option: ssh splits an option's value at blanks (a
    directory with a space would make two known-hosts files, or a refused config line)."""
    return '"' + _literal(path).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _literal(path: str) -> str:
    """``path`` as ssh reads it literally: ssh expands ``%d``, ``%h``... in key and known-hosts
    file names."""
    return path.replace("%", "%%")


def write_ssh_config(directory: Path, inventory: Inventory) -> Path:
    path = directory / CONFIG_FILE
    path.write_text(ssh_config(inventory), encoding="utf-8")
    return path


def ssh_argv(inventory: Inventory, host_name: str, command: Sequence[str] = ()) -> list[str]:
    """The ``ssh`` command line that logs into ``host_name`` with the run's key."""
    host = inventory.host(host_name)
    # IdentityFile, not -i: ssh checks an -i file as written but opens it %-expanded.
    return ["ssh", "-o", f"IdentityFile={_quoted(inventory.key_file)}", "-o", "IdentitiesOnly=yes",
            "-o", f"UserKnownHostsFile={_quoted(inventory.known_hosts)}",
            "-o", "StrictHostKeyChecking=accept-new",
            "--", f"{inventory.ssh_user}@{host.address}", *command]
