"""What a ScyllaDB node is given, and how ``nodetool status`` is read. Pure functions, no I/O.

:mod:`pytest_scyllabench.db.scylla` runs what these build, on remote hosts or in containers.
Sources (read, not run: no ScyllaDB can be obtained on the machine this was written on):

* packages: "Install ScyllaDB Linux Packages" (scylladb/scylladb ``docs/getting-started/
  install-scylla/install-on-linux.rst``): the key fetched into ``/etc/apt/keyrings/scylladb.gpg``,
  ``/etc/apt/sources.list.d/scylla.list`` from ``downloads.scylladb.com/deb/debian/
  scylla-<series>.list``, ``apt-get install -y scylla``; RHEL: ``/etc/yum.repos.d/scylla.repo``
  and ``yum install scylla[-<version>]``. A patch version is pinned on Debian with an apt
  preferences file (``Pin: version <version>-*``) so that every ``scylla-*`` package follows.
  Enterprise releases (2018.1 to 2024.2) are the ``scylla-enterprise`` packages of the same
  repositories (``scylla-2024.1.list``); 2025.1 on are ``scylla`` again.
* tarball: "Install ScyllaDB Without root Privileges" and ``unified/build_unified.sh`` (one top
  directory in the archive), ``./install.sh --nonroot --prefix <dir>`` (``install.sh`` puts
  ``bin/scylla``, ``bin/nodetool``, ``bin/iotune`` and ``etc/scylla/scylla.yaml`` under it).
* the service: ``dist/common/systemd/scylla-server.service`` reads ``/etc/scylla.d/*.conf``
  after the sysconfig file and runs ``scylla $SCYLLA_ARGS $SEASTAR_IO $DEV_MODE $CPUSET``, so
  our arguments go to ``/etc/scylla.d/scyllabench.conf`` and no vendor file is edited.
* ``io_properties.yaml``: a ``disks:`` list of ``mountpoint``, ``read_iops``,
  ``read_bandwidth``, ``write_iops``, ``write_bandwidth``, named by
  ``SEASTAR_IO="--io-properties-file=..."`` in ``/etc/scylla.d/io.conf``.
* ``nodetool status``: the samples of the ScyllaDB documentation, kept with their sources in
  ``tests/unit/data/scylla/``.
"""

from __future__ import annotations

import copy
import ipaddress
import re
import shlex
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from pytest_scyllabench.db.base import resolve_data_dirs

CLUSTER_NAME = "scyllabench"
DATACENTER = "datacenter1"
RACK = "rack1"
NATIVE_PORT = 9042
API_PORT = 10000
PROMETHEUS_PORT = 9180
SEED_PROVIDER = "org.apache.cassandra.locator.SimpleSeedProvider"
#: Directories removed by ``wipe``, with the scylla.yaml key naming each.
DATA_DIRS = {"data_file_directories": "data", "commitlog_directory": "commitlog",
             "hints_directory": "hints", "view_hints_directory": "view_hints"}
#: Data directories inside one of those unless the profile's settings move them: the schema
#: commit log's (``<commitlog_directory>/schema``), wiped with the others when moved.
MOVABLE_DIRS = ("schema_commitlog_directory",)
#: The signing keys of the packages, oldest first (install-on-linux.rst of each release):
#: 5.x and Enterprise up to 2024.1; 6.x, 2024.2 and 2025.1-2025.4; 2026.1 on. apt trusts only
#: the keyring's keys, so it holds every one: any series' repository is then accepted.
REPO_KEYS = ("d0a112e067426ab2", "a43e06657bac99e3", "c503c686b007f39e")
DEB_LIST_URL = "https://downloads.scylladb.com/deb/debian/scylla-{series}.list"
RPM_REPO_URL = "https://downloads.scylladb.com/rpm/centos/scylla-{series}.repo"
#: SCYLLA_ARGS of the packaged sysconfig file, less collectd (gone from current releases).
SERVICE_LOG_ARGS = ("--log-to-syslog", "1", "--log-to-stdout", "0", "--default-log-level", "info",
                    "--network-stack", "posix")
PROCESS_LOG_ARGS = ("--log-to-syslog", "0", "--log-to-stdout", "1", "--default-log-level", "info",
                    "--network-stack", "posix")
#: The Docker Hub image of ScyllaDB, and of ScyllaDB Enterprise releases (see is_enterprise).
IMAGE = "scylladb/scylla"
ENTERPRISE_IMAGE = "scylladb/scylla-enterprise"
IO_KEYS = ("read_iops", "read_bandwidth", "write_iops", "write_bandwidth")
URL_FIELDS = ("version", "series", "arch")


@dataclass(frozen=True)
class ScyllaSpec:
    """How ScyllaDB is installed and run on remote hosts (the profile's ``scylla`` section)."""

    #: ``packages`` (apt/yum, needs root or passwordless sudo) or ``tarball`` (the unified
    #: relocatable package, installed without root under the deployment's workdir).
    method: Literal["packages", "tarball"] = "packages"
    #: Download URL of the unified tarball; ``{version}``, ``{series}`` and ``{arch}``
    #: (``uname -m`` of the host) are filled in. Required by ``method: tarball``.
    tarball_url: str = ""
    #: The apt list / yum repo file to install instead of the documented one (``{series}``).
    repo_url: str = ""
    #: The apt signing key of ``repo_url``'s repository; empty: the documented keys (REPO_KEYS).
    repo_key: str = ""
    #: Seastar resources of each node: ``--smp``, ``--memory``, ``--overprovisioned``.
    smp: int | None = None
    memory: str = ""
    overprovisioned: bool = False
    #: ``--developer-mode 1``: no I/O setup and no checks of the machine (small machines).
    developer_mode: bool = False
    #: The disk's measured properties, written to io_properties.yaml instead of running the
    #: I/O setup: ``read_iops``, ``read_bandwidth``, ``write_iops``, ``write_bandwidth`` (one
    #: disk) or a whole ``disks:`` list.
    io_properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DockerSpec:
    """ScyllaDB containers on this machine (the profile's ``docker`` section)."""

    #: The default is ``scylladb/scylla-enterprise`` for an Enterprise release (2024.1.12...).
    image: str = IMAGE
    #: Image tag; empty means ``database.version``.
    tag: str = ""
    smp: int = 1
    memory: str = "750M"
    overprovisioned: bool = True
    developer_mode: bool = True
    #: More arguments for the image's entrypoint (unknown ones are passed on to scylla).
    args: tuple[str, ...] = ()
    #: Seconds allowed for pulling the image.
    pull_timeout: float = 1800.0


def series(version: str) -> str:
    """The release series of a version: ``6.2.3`` -> ``6.2``, ``2025.1`` -> ``2025.1``."""
    return ".".join(version.split(".")[:2])


def is_enterprise(version: str) -> bool:
    """Whether ``version`` is a ScyllaDB Enterprise release (2018.1 to 2024.2), published as
    the ``scylla-enterprise`` packages and image; from 2025.1 on, every release is ``scylla``."""
    major = version.split(".")[0]
    return major.isdigit() and 2018 <= int(major) <= 2024


def package_name(version: str) -> str:
    """The package that installs ScyllaDB ``version`` (and pulls its ``<name>-*`` packages)."""
    return "scylla-enterprise" if is_enterprise(version) else "scylla"


def is_patch_version(version: str) -> bool:
    return len(version.split(".")) > 2


def version_matches(wanted: str, reported: str) -> bool:
    """Whether ``scylla --version`` output (``6.2.3-0.20250119.bff9ddde1283``) is ``wanted``."""
    base = reported.strip().split("-", 1)[0].replace("~", ".")
    return base == wanted or base.startswith(wanted + ".")


def spec_problems(spec: ScyllaSpec, version: str) -> list[tuple[str, str]]:
    """Every problem of ``spec`` as ``(field, message)``, for the profile validation."""
    problems: list[tuple[str, str]] = []
    if not re.fullmatch(r"\d+\.\d+(\.\d+)?([.~-][0-9A-Za-z.~-]+)?", version):
        problems.append(("version", f"not a ScyllaDB version (6.2, 2025.1.9...): {version!r}"))
    if spec.method == "tarball":
        if not spec.tarball_url:
            problems.append(("tarball_url", "method: tarball needs the URL of the unified "
                             "tarball (from downloads.scylladb.com/downloads/scylla/relocatable/)"))
        problems += _placeholder_problems("tarball_url", spec.tarball_url)
    problems += _placeholder_problems("repo_url", spec.repo_url)
    if spec.smp is not None and spec.smp < 1:
        problems.append(("smp", f"must be at least 1, got {spec.smp}"))
    if spec.memory and not re.fullmatch(r"\d+[KMGT]?", spec.memory):
        problems.append(("memory", f"must look like 750M or 4G, got {spec.memory!r}"))
    if spec.io_properties:
        try:
            io_properties_yaml(spec.io_properties, "/")
        except ValueError as exc:
            problems.append(("io_properties", str(exc)))
    return problems


def docker_problems(spec: DockerSpec) -> list[tuple[str, str]]:
    """Every problem of the ``docker`` section as ``(field, message)``."""
    problems: list[tuple[str, str]] = []
    if not re.fullmatch(r"[a-z0-9][a-z0-9._/-]*(:\d+/[a-z0-9._/-]+)?", spec.image):
        problems.append(("image", f"not an image name without tag: {spec.image!r}"))
    if spec.tag and not re.fullmatch(r"\w[\w.-]{0,127}", spec.tag):
        problems.append(("tag", f"not an image tag: {spec.tag!r}"))
    if spec.smp < 1:
        problems.append(("smp", f"must be at least 1, got {spec.smp}"))
    if not re.fullmatch(r"[1-9][0-9]*[KMGT]?", spec.memory):  # ASCII digits, not \d
        problems.append(("memory", f"must look like 750M or 4G, got {spec.memory!r}"))
    if spec.pull_timeout < 1:
        problems.append(("pull_timeout", f"must be at least 1, got {spec.pull_timeout:g}"))
    return problems


def _placeholder_problems(name: str, pattern: str) -> list[tuple[str, str]]:
    """What :func:`fill_url` would trip on: unknown placeholders, or braces that do not pair
    (a literal brace is written twice, ``{{``)."""
    try:
        fields = {field for _, field, _, _ in string.Formatter().parse(pattern)
                  if field is not None}
    except ValueError as exc:
        return [(name, f"not a valid pattern: {exc} (write a literal brace twice)")]
    unknown = sorted(fields - set(URL_FIELDS))
    if unknown:
        return [(name, f"unknown placeholder(s) {', '.join(f'{{{u}}}' for u in unknown)}; "
                       f"known: {', '.join(URL_FIELDS)}")]
    return []


def fill_url(pattern: str, version: str, arch: str = "x86_64") -> str:
    return pattern.format(version=version, series=series(version), arch=arch)


# -- scylla.yaml ---------------------------------------------------------------------------

def deep_merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated with ``overrides``: mappings merge key by key, anything else is replaced."""
    merged = copy.deepcopy(dict(base))
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def node_settings(address: str, seeds: Sequence[str], data_root: str) -> dict[str, Any]:
    """Our defaults for one node of a benchmark cluster (the profile's settings win)."""
    settings: dict[str, Any] = {
        "cluster_name": CLUSTER_NAME,
        "seed_provider": [{"class_name": SEED_PROVIDER,
                           "parameters": [{"seeds": ",".join(seeds)}]}],
        "listen_address": address,
        "rpc_address": address,
        "api_address": address,
        "api_port": API_PORT,
        "native_transport_port": NATIVE_PORT,
        "endpoint_snitch": "GossipingPropertyFileSnitch",
        "prometheus_address": address,
        "prometheus_port": PROMETHEUS_PORT,
    }
    for key, name in DATA_DIRS.items():
        path = f"{data_root}/{name}"
        settings[key] = [path] if key == "data_file_directories" else path
    return settings


def data_dirs(overrides: Mapping[str, Any], data_root: str) -> list[str]:
    """The directories a node keeps data in: ours under ``data_root``, or those ``overrides``
    (the profile's settings) name instead (:func:`.base.resolve_data_dirs`)."""
    return resolve_data_dirs({key: f"{data_root}/{name}" for key, name in DATA_DIRS.items()},
                             overrides, MOVABLE_DIRS)


def render_scylla_yaml(base_text: str, address: str, seeds: Sequence[str], data_root: str,
                       overrides: Mapping[str, Any]) -> str:
    """The installed scylla.yaml (``base_text``) with our defaults, then ``overrides``, merged."""
    base = yaml.safe_load(base_text) or {}
    if not isinstance(base, Mapping):
        raise ValueError("the installed scylla.yaml is not a mapping")
    merged = deep_merge(deep_merge(base, node_settings(address, seeds, data_root)), overrides)
    return "# Written by pytest-scyllabench.\n" + yaml.safe_dump(merged, sort_keys=False,
                                                                  default_flow_style=False)


def rackdc_properties() -> str:
    return f"dc={DATACENTER}\nrack={RACK}\n"


def io_properties_yaml(properties: Mapping[str, Any], mountpoint: str) -> str:
    """io_properties.yaml from one disk's numbers (at ``mountpoint``) or a ``disks`` list."""
    if "disks" in properties:
        disks = properties["disks"]
        if set(properties) != {"disks"} or not isinstance(disks, list) or not disks:
            raise ValueError("a 'disks' list must be the only key, and not empty")
        entries = disks
    else:
        entries = [{"mountpoint": mountpoint, **properties}]
    for entry in entries:
        if not isinstance(entry, Mapping):
            raise ValueError(f"each disk must be a mapping, got {entry!r}")
        missing = [key for key in ("mountpoint", *IO_KEYS) if key not in entry]
        if missing:
            raise ValueError(f"missing {', '.join(missing)}")
        for key in IO_KEYS:
            value = entry[key]
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{key} must be a positive integer, got {value!r}")
    return yaml.safe_dump({"disks": [dict(entry) for entry in entries]}, sort_keys=False)


def resource_args(smp: int | None, memory: str, overprovisioned: bool) -> list[str]:
    """``--smp``, ``--memory`` and ``--overprovisioned`` as the profile asks."""
    args: list[str] = []
    if smp is not None:
        args += ["--smp", str(smp)]
    if memory:
        args += ["--memory", memory]
    if overprovisioned:
        args.append("--overprovisioned")
    return args


def service_args_conf(spec: ScyllaSpec) -> str:
    """``/etc/scylla.d/scyllabench.conf``: SCYLLA_ARGS of the packaged service."""
    args = [*SERVICE_LOG_ARGS, *resource_args(spec.smp, spec.memory, spec.overprovisioned)]
    return f'# Written by pytest-scyllabench.\nSCYLLA_ARGS="{" ".join(args)}"\n'


def io_conf(properties_path: str) -> str:
    return f'SEASTAR_IO="--io-properties-file={properties_path}"\n'


# -- installation scripts (run as root by ``sh -c``) ---------------------------------------

def apt_install_script(version: str, list_url: str, keys: Sequence[str]) -> str:
    """Add the ScyllaDB apt repository of ``version``'s series and install ``scylla`` (or
    ``scylla-enterprise``)."""
    q = shlex.quote
    pin = "/etc/apt/preferences.d/scylla-pin"
    ids = " ".join(q(key) for key in keys)
    lines = [
        "set -e",
        "export DEBIAN_FRONTEND=noninteractive",
        "mkdir -p /etc/apt/keyrings",
        f"gpg --homedir /tmp --no-default-keyring --keyring /tmp/scylladb-temp.gpg "
        f"--keyserver hkp://keyserver.ubuntu.com:80 --recv-keys {ids}",
        f"gpg --homedir /tmp --no-default-keyring --keyring /tmp/scylladb-temp.gpg "
        f"--export --armor {ids} | gpg --dearmor > /etc/apt/keyrings/scylladb.gpg",
        f"wget -O /etc/apt/sources.list.d/scylla.list {q(list_url)}",
    ]
    if is_patch_version(version):
        lines.append(f"printf 'Package: scylla*\\nPin: version %s-*\\nPin-Priority: 1001\\n' "
                     f"{q(version)} > {pin}")
    else:
        lines.append(f"rm -f {pin}")
    lines += ["apt-get update", f"apt-get install -y {package_name(version)}"]
    return "\n".join(lines)


def yum_install_script(version: str, repo_url: str) -> str:
    """Add the ScyllaDB yum repository of ``version``'s series and install ``scylla`` (or
    ``scylla-enterprise``)."""
    name = package_name(version)
    package = f"{name}-{version}" if is_patch_version(version) else name
    return "\n".join([
        "set -e",
        "rpm -q epel-release >/dev/null 2>&1 || yum install -y epel-release "
        "|| echo 'warning: EPEL could not be installed' >&2",
        f"curl -fsSL -o /etc/yum.repos.d/scylla.repo {shlex.quote(repo_url)}",
        f"yum install -y {shlex.quote(package)}",
    ])


def tarball_install_script(url: str, version_dir: str) -> str:
    """Download the unified tarball and install it without root under ``<version_dir>/install``.

    ``<version_dir>/MANIFEST`` (the URL) is written last: its presence means a whole install.
    """
    q = {name: shlex.quote(value) for name, value in (
        ("url", url), ("dir", version_dir), ("staging", f"{version_dir}/staging"),
        ("prefix", f"{version_dir}/install"), ("manifest", f"{version_dir}/MANIFEST"))}
    return "\n".join([
        "set -e",
        f"rm -rf {q['staging']} {q['prefix']} {q['manifest']}",
        f"mkdir -p {q['staging']}/unpacked",
        f"curl -fsSL -o {q['staging']}/scylla-unified.tar.gz {q['url']}",
        f"tar -xzf {q['staging']}/scylla-unified.tar.gz -C {q['staging']}/unpacked "
        "--strip-components=1",
        f"cd {q['staging']}/unpacked",
        f"./install.sh --nonroot --prefix {q['prefix']}",
        f"cd {q['dir']}",
        f"rm -rf {q['staging']}",
        f"echo {q['url']} > {q['manifest']}",
    ])


# -- nodetool status -----------------------------------------------------------------------

@dataclass(frozen=True)
class NodeStatus:
    """One row of ``nodetool status``."""

    datacenter: str
    #: ``U`` up, ``D`` down, ``X`` excluded.
    status: str
    #: ``N`` normal, ``L`` leaving, ``J`` joining, ``M`` moving.
    state: str
    address: str

    @property
    def code(self) -> str:
        return self.status + self.state


def parse_nodetool_status(text: str) -> list[NodeStatus]:
    """The node rows of ``nodetool status`` output (Java or native nodetool).

    A row starts with its two-letter code and the node's address; the other columns (load,
    tokens, ownership, host id, rack) vary between versions and are not read.
    """
    rows: list[NodeStatus] = []
    datacenter = ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("Datacenter:"):
            datacenter = stripped.removeprefix("Datacenter:").strip()
            continue
        fields = stripped.split()
        if len(fields) < 2 or len(fields[0]) != 2:
            continue
        status, state = fields[0][0], fields[0][1]
        if status in "UDX" and state in "NLJM" and any(c in fields[1] for c in ".:"):
            rows.append(NodeStatus(datacenter, status, state, fields[1]))
    return rows


def _address_key(address: str) -> str:
    """An address as compared with ``nodetool status``: IPv6 has several spellings (the native
    nodetool prints ``2001:db8::1``, the Java one ``2001:db8:0:0:0:0:0:1``)."""
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return address


def ring_problem(rows: Iterable[NodeStatus], expected: Iterable[str],
                 others: Iterable[str] = ()) -> str | None:
    """Why ``rows`` do not list ``expected``, every one up and normal; ``None`` if they do.

    ``others`` may be listed too, in any state (nodes of the cluster not waited for yet).
    """
    seen = {_address_key(row.address): row for row in rows}
    wanted = list(expected)
    missing = [address for address in wanted if _address_key(address) not in seen]
    if missing:
        return f"does not list {', '.join(missing)} yet"
    known = {_address_key(address) for address in (*wanted, *others)}
    foreign = sorted(row.address for key, row in seen.items() if key not in known)
    if foreign:
        return f"lists nodes outside the cluster: {', '.join(foreign)}"
    pending = [f"{address} {seen[_address_key(address)].code}" for address in wanted
               if seen[_address_key(address)].code != "UN"]
    if pending:
        return "not up and normal yet: " + ", ".join(pending)
    return None
