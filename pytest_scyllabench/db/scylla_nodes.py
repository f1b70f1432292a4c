"""How one ScyllaDB node is installed, configured, started, watched and stopped on its host.

One ``NodeControl`` per way of running a node (see :mod:`pytest_scyllabench.db.scylla` for the
cluster that drives them): ``PackageControl`` (apt/yum packages, systemd), ``TarballControl``
(the unified tarball without root, one process per node) and ``ContainerControl`` (the
scylladb/scylla image, supervisord). Every command goes through the host's executor; the files
they write are rendered by :mod:`pytest_scyllabench.db.scylla_config`.

What was exercised: only recorded fake executors (``tests/unit/test_scylla_backend.py``
asserts every command and file). No ScyllaDB package, tarball, systemd unit, supervisord or
nodetool of a real node was run: ScyllaDB cannot be obtained on the machine this was written on.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import yaml

from pytest_scyllabench.db import scylla_config as cfg
from pytest_scyllabench.errors import CommandError, DatabaseError
from pytest_scyllabench.execute.base import CommandResult, ere_literal
from pytest_scyllabench.provision.base import Host

log = logging.getLogger(__name__)

STOP_GRACE = 120.0
PROBE_TIMEOUT = 30.0
LOG_TAIL_LINES = 25
SERVICE = "scylla-server"
#: supervisord's program in the scylladb/scylla image (``[program:scylla]``; ScyllaDB's rolling
#: restart page: ``supervisorctl stop scylla``): not the systemd unit's name.
PROGRAM = "scylla"
ETC = "/etc/scylla"
DATA_ROOT = "/var/lib/scylla"


@runtime_checkable
class ContainerLogs(Protocol):
    """An executor into a container, whose logs the container engine keeps."""

    async def save_logs(self, local: Path) -> None: ...

    async def logs_tail(self, lines: int) -> str: ...


@dataclass(frozen=True, eq=False)
class Node:
    """One ScyllaDB node: its host and its directory there (compared by identity)."""

    index: int
    host: Host
    root: str

    @property
    def name(self) -> str:
        return f"node{self.index}"

    @property
    def address(self) -> str:
        """The address the node binds and is known by in the cluster (the host's private one
        on EC2); this machine reaches the host at ``host.address``."""
        return self.host.listen_address

    def __str__(self) -> str:
        return f"{self.name} ({self.address})"


class NodeControl(Protocol):
    """How the nodes of one installation method are installed, configured, run and stopped."""

    #: Whether ``configure`` needs every node stopped and wiped first.
    fresh_start: bool

    def root(self, host: Host) -> str: ...

    def nodetool(self, node: Node) -> list[str]: ...

    async def install(self, node: Node) -> str: ...

    async def configure(self, node: Node, seeds: Sequence[str]) -> None: ...

    async def start(self, node: Node) -> None: ...

    async def dead(self, node: Node) -> str | None: ...

    async def stop(self, node: Node) -> None: ...

    async def wipe(self, node: Node) -> None: ...

    async def fetch_log(self, node: Node, local: Path) -> None: ...


class _Commands:
    """Running commands on a node's host, as the login user or as root."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._sudo: dict[str, tuple[str, ...]] = {}

    async def run(self, node: Node, command: Sequence[str], *, check: bool = True,
                  stdin: bytes | None = None, timeout: float | None = None) -> CommandResult:
        return await node.host.executor.run(command, timeout=timeout or self._timeout,
                                            check=check, stdin=stdin)

    async def sudo(self, node: Node) -> tuple[str, ...]:
        """``()`` when the login user is root, else ``("sudo", "-n")``."""
        if node.host.name not in self._sudo:
            uid = await self.run(node, ["id", "-u"], timeout=PROBE_TIMEOUT)
            self._sudo[node.host.name] = () if uid.stdout.strip() == "0" else ("sudo", "-n")
        return self._sudo[node.host.name]

    async def as_root(self, node: Node, command: Sequence[str], *, check: bool = True,
                      stdin: bytes | None = None, timeout: float | None = None) -> CommandResult:
        return await self.run(node, [*await self.sudo(node), *command], check=check,
                              stdin=stdin, timeout=timeout)

    async def write(self, node: Node, path: str, text: str, *, root: bool = False) -> None:
        command = ["sh", "-c", f"cat > {shlex.quote(path)}"]
        if root:
            await self.as_root(node, command, stdin=text.encode())
        else:
            await self.run(node, command, stdin=text.encode())

    async def version(self, node: Node, binary: str, wanted: str | None) -> str:
        reported = (await self.run(node, [binary, "--version"])).stdout.strip()
        version = reported.splitlines()[-1].strip() if reported else ""
        if wanted is not None and not cfg.version_matches(wanted, version):
            raise DatabaseError(f"{node} on {node.host.name}: runs ScyllaDB {version or '?'}, "
                                f"the profile asks for {wanted}")
        return version


def _disk(settings: Mapping[str, Any], data: Sequence[str], root: str) -> str:
    """The mount point measured in io_properties.yaml: the node's root, or the first data
    directory when the settings moved the data elsewhere."""
    return data[0] if "data_file_directories" in settings else root


class PackageControl(_Commands):
    """``scylla-server`` from the ScyllaDB apt/yum repository, run by systemd."""

    fresh_start = True
    yaml_path = f"{ETC}/scylla.yaml"
    original_yaml = f"{ETC}/scylla.yaml.scyllabench-orig"
    io_properties_path = "/etc/scylla.d/io_properties.yaml"

    def __init__(self, spec: cfg.ScyllaSpec, version: str, settings: Mapping[str, Any],
                 cluster_root: str, timeout: float) -> None:
        super().__init__(timeout)
        self._spec, self._version, self._settings = spec, version, settings
        self._cluster_root = cluster_root
        self._since: dict[str, str] = {}

    def root(self, host: Host) -> str:
        return f"{self._cluster_root}/{host.address}"

    def nodetool(self, node: Node) -> list[str]:
        return ["nodetool", "-h", node.address, "status"]

    async def install(self, node: Node) -> str:
        current = await self.run(node, ["scylla", "--version"], check=False)
        if current.exit_code == 0 and cfg.version_matches(self._version, current.stdout):
            log.info("%s: ScyllaDB %s already installed", node.host.name, current.stdout.strip())
            return current.stdout.strip()
        release = await self.run(node, ["sh", "-c", '. /etc/os-release && echo "$ID $ID_LIKE"'])
        family = set(release.stdout.split())
        spec, version = self._spec, self._version
        if family & {"debian", "ubuntu"}:
            url = cfg.fill_url(spec.repo_url or cfg.DEB_LIST_URL, version)
            script = cfg.apt_install_script(version, url,
                                            (spec.repo_key,) if spec.repo_key else cfg.REPO_KEYS)
        elif family & {"rhel", "centos", "fedora", "rocky", "almalinux"}:
            script = cfg.yum_install_script(version, cfg.fill_url(spec.repo_url or
                                                                  cfg.RPM_REPO_URL, version))
        else:
            raise DatabaseError(f"{node} on {node.host.name}: no ScyllaDB packages for this "
                                f"system ({release.stdout.strip() or 'unknown'}); use "
                                "scylla.method: tarball")
        await self.as_root(node, ["sh", "-c", script])
        return await self.version(node, "scylla", version)

    async def configure(self, node: Node, seeds: Sequence[str]) -> None:
        yaml_q, orig_q = shlex.quote(self.yaml_path), shlex.quote(self.original_yaml)
        base = await self.as_root(node, ["sh", "-c",
                                         f"test -f {orig_q} || cp {yaml_q} {orig_q}; cat {orig_q}"])
        text = cfg.render_scylla_yaml(base.stdout, node.address, seeds, DATA_ROOT, self._settings)
        data = cfg.data_dirs(self._settings, DATA_ROOT)
        await self.as_root(node, ["install", "-d", "-o", "scylla", "-g", "scylla", *data])
        await self.write(node, self.yaml_path, text, root=True)
        await self.write(node, f"{ETC}/cassandra-rackdc.properties", cfg.rackdc_properties(),
                         root=True)
        await self.write(node, "/etc/scylla.d/scyllabench.conf",
                         cfg.service_args_conf(self._spec), root=True)
        spec = self._spec
        if spec.io_properties:
            await self.write(node, self.io_properties_path,
                             cfg.io_properties_yaml(spec.io_properties,
                                                    _disk(self._settings, data, DATA_ROOT)),
                             root=True)
            await self.write(node, "/etc/scylla.d/io.conf", cfg.io_conf(self.io_properties_path),
                             root=True)
        await self.as_root(node, ["scylla_dev_mode_setup", "--developer-mode",
                                  "1" if spec.developer_mode else "0"])
        if not spec.io_properties and not spec.developer_mode:
            await self.as_root(node, ["sh", "-c", f"test -s {self.io_properties_path} || "
                                                  "scylla_io_setup"])

    async def start(self, node: Node) -> None:
        began = await self.as_root(node, ["sh", "-c",
                                          f"date +%s && systemctl start --no-block {SERVICE}"])
        self._since[node.name] = began.stdout.split()[0] if began.stdout.split() else ""

    async def dead(self, node: Node) -> str | None:
        state = (await self.run(node, ["systemctl", "is-active", SERVICE], check=False,
                                timeout=PROBE_TIMEOUT)).stdout.strip()
        if state in ("active", "activating", "reloading"):
            return None
        tail = await self.as_root(node, ["journalctl", "-u", SERVICE, "-n", str(LOG_TAIL_LINES),
                                         "--no-pager"], check=False, timeout=PROBE_TIMEOUT)
        return f"{SERVICE} is {state or 'unknown'}; its journal ends with:\n{tail.stdout}"

    async def stop(self, node: Node) -> None:
        command = [*await self.sudo(node), "systemctl", "stop", SERVICE]
        result = await self.run(node, command, check=False, timeout=STOP_GRACE + 60)
        if result.exit_code not in (0, 5):  # 5: the unit is not installed, nothing runs
            raise CommandError(node.host.name, command, result.exit_code, result.stderr)

    async def wipe(self, node: Node) -> None:
        await self.as_root(node, ["rm", "-rf", *cfg.data_dirs(self._settings, DATA_ROOT)])

    async def fetch_log(self, node: Node, local: Path) -> None:
        since = self._since.get(node.name)
        window = f"--since @{since}" if since else "-n 10000"
        logs = f"{node.root}/logs"
        remote = f"{logs}/scylla.log"
        sudo = "".join(f"{word} " for word in await self.sudo(node))
        await self.run(node, ["sh", "-c", f"mkdir -p {shlex.quote(logs)} && {sudo}journalctl "
                                          f"-u {SERVICE} --no-pager -o short-iso {window} > "
                                          f"{shlex.quote(remote)}"])
        await node.host.executor.get(remote, local)


class TarballControl(_Commands):
    """The unified tarball installed without root; one ``scylla`` process per node."""

    fresh_start = True

    def __init__(self, spec: cfg.ScyllaSpec, version: str, settings: Mapping[str, Any],
                 workdir: str, cluster_root: str, timeout: float) -> None:
        super().__init__(timeout)
        self._spec, self._version, self._settings = spec, version, settings
        self._cluster_root = cluster_root
        self.version_dir = f"{workdir}/scylla/{version}"
        self.prefix = f"{self.version_dir}/install"

    def root(self, host: Host) -> str:
        return f"{self._cluster_root}/{host.address}"

    def nodetool(self, node: Node) -> list[str]:
        return [f"{self.prefix}/bin/nodetool", "-h", node.address, "status"]

    @staticmethod
    def conf(node: Node) -> str:
        return f"{node.root}/conf"

    @staticmethod
    def log_path(node: Node) -> str:
        return f"{node.root}/logs/scylla.log"

    @staticmethod
    def pattern(node: Node) -> str:
        """A ``pgrep -f`` regex matching this node's scylla but not a shell naming the regex."""
        return f"[-]-options-file {ere_literal(node.root + '/conf/scylla.yaml')}"

    async def install(self, node: Node) -> str:
        arch = (await self.run(node, ["uname", "-m"], timeout=PROBE_TIMEOUT)).stdout.strip()
        url = cfg.fill_url(self._spec.tarball_url, self._version, arch or "x86_64")
        manifest = await self.run(node, ["cat", f"{self.version_dir}/MANIFEST"], check=False)
        if manifest.exit_code == 0 and manifest.stdout.strip() == url:
            log.info("%s: ScyllaDB %s already installed", node.host.name, self._version)
        else:
            await self.run(node, ["sh", "-c", cfg.tarball_install_script(url, self.version_dir)])
        return await self.version(node, f"{self.prefix}/bin/scylla", self._version)

    async def configure(self, node: Node, seeds: Sequence[str]) -> None:
        conf, spec = self.conf(node), self._spec
        base = await self.run(node, ["cat", f"{self.prefix}/etc/scylla/scylla.yaml"])
        text = cfg.render_scylla_yaml(base.stdout, node.address, seeds, node.root, self._settings)
        data = cfg.data_dirs(self._settings, node.root)
        await self.run(node, ["mkdir", "-p", conf, f"{node.root}/logs", *data])
        await self.write(node, f"{conf}/scylla.yaml", text)
        await self.write(node, f"{conf}/cassandra-rackdc.properties", cfg.rackdc_properties())
        properties = f"{conf}/io_properties.yaml"
        if spec.io_properties:
            await self.write(node, properties, cfg.io_properties_yaml(
                spec.io_properties, _disk(self._settings, data, node.root)))
        elif not spec.developer_mode:
            smp = f" --smp {spec.smp}" if spec.smp is not None else ""
            await self.run(node, ["sh", "-c", f"test -s {shlex.quote(properties)} || "
                                              f"{shlex.quote(self.prefix + '/bin/iotune')} "
                                              f"--evaluation-directory "
                                              f"{shlex.quote(data[0])} "
                                              f"--properties-file {shlex.quote(properties)}{smp}"])

    def command(self, node: Node) -> list[str]:
        spec = self._spec
        command = [f"{self.prefix}/bin/scylla", "--options-file", f"{node.root}/conf/scylla.yaml",
                   "--workdir", node.root, *cfg.PROCESS_LOG_ARGS,
                   *cfg.resource_args(spec.smp, spec.memory, spec.overprovisioned)]
        if spec.developer_mode:
            return [*command, "--developer-mode", "1"]
        return [*command, "--io-properties-file", f"{self.conf(node)}/io_properties.yaml"]

    async def start(self, node: Node) -> None:
        await node.host.executor.start(self.command(node), env={"SCYLLA_CONF": self.conf(node)},
                                       cwd=node.root, stdout_path=self.log_path(node),
                                       detach=True)

    async def dead(self, node: Node) -> str | None:
        alive = await self.run(node, ["pgrep", "-f", self.pattern(node)], check=False,
                               timeout=PROBE_TIMEOUT)
        if alive.exit_code == 0:
            return None
        tail = await self.run(node, ["sh", "-c", f"tail -n {LOG_TAIL_LINES} -- "
                                                 f"{shlex.quote(self.log_path(node))} 2>/dev/null"
                                                 " || echo '(no log)'"],
                              check=False, timeout=PROBE_TIMEOUT)
        return f"scylla is not running (log {self.log_path(node)} there):\n{tail.stdout}"

    async def stop(self, node: Node) -> None:
        pattern = shlex.quote(self.pattern(node))
        polls = int(STOP_GRACE / 0.2)
        await self.run(node, ["sh", "-c", f"pkill -TERM -f {pattern} || exit 0; "
                                          f"for i in $(seq {polls}); do pgrep -f {pattern} "
                                          f">/dev/null || exit 0; sleep 0.2; done; "
                                          f"pkill -KILL -f {pattern}; sleep 1; "
                                          f"! pgrep -f {pattern} >/dev/null"],
                       timeout=STOP_GRACE + 60)

    async def wipe(self, node: Node) -> None:
        await self.run(node, ["rm", "-rf", *cfg.data_dirs(self._settings, node.root)])

    async def fetch_log(self, node: Node, local: Path) -> None:
        await node.host.executor.get(self.log_path(node), local)


class ContainerControl(_Commands):
    """A node of the scylladb/scylla image, run by its supervisord."""

    yaml_path = f"{ETC}/scylla.yaml"
    original_yaml = f"{ETC}/scylla.yaml.scyllabench-orig"

    def __init__(self, version: str | None, settings: Mapping[str, Any], timeout: float) -> None:
        super().__init__(timeout)
        self._version, self._settings = version, settings
        #: The image configured and started every node; only settings need a fresh start.
        self.fresh_start = bool(settings)

    def root(self, host: Host) -> str:
        return DATA_ROOT

    def nodetool(self, node: Node) -> list[str]:
        return ["nodetool", "status"]

    @staticmethod
    def _logs(node: Node) -> ContainerLogs:
        executor = node.host.executor
        assert isinstance(executor, ContainerLogs)
        return executor

    async def install(self, node: Node) -> str:
        return await self.version(node, "scylla", self._version)

    async def configure(self, node: Node, seeds: Sequence[str]) -> None:
        if not self._settings:
            return
        yaml_q, orig_q = shlex.quote(self.yaml_path), shlex.quote(self.original_yaml)
        base = await self.run(node, ["sh", "-c",
                                     f"test -f {orig_q} || cp {yaml_q} {orig_q}; cat {orig_q}"])
        merged = cfg.deep_merge(yaml.safe_load(base.stdout) or {}, self._settings)
        await self.write(node, self.yaml_path, "# Written by pytest-scyllabench.\n" +
                         yaml.safe_dump(merged, sort_keys=False, default_flow_style=False))

    async def start(self, node: Node) -> None:
        await self.run(node, ["sh", "-c", f"supervisorctl status {PROGRAM} | "
                                          f"grep -Eq 'RUNNING|STARTING' || "
                                          f"supervisorctl start {PROGRAM}"])

    async def dead(self, node: Node) -> str | None:
        status = await self.run(node, ["supervisorctl", "status", PROGRAM], check=False,
                                timeout=PROBE_TIMEOUT)
        if any(state in status.stdout for state in ("RUNNING", "STARTING")):
            return None
        tail = await self._logs(node).logs_tail(LOG_TAIL_LINES)
        return f"supervisord: {status.stdout.strip() or 'no answer'}; the container log " \
               f"ends with:\n{tail}"

    async def stop(self, node: Node) -> None:
        command = ["supervisorctl", "stop", PROGRAM]
        result = await self.run(node, command, check=False, timeout=STOP_GRACE + 60)
        if result.exit_code != 0 and "not running" not in result.stdout + result.stderr:
            raise CommandError(node.host.name, command, result.exit_code, result.stderr)

    async def wipe(self, node: Node) -> None:
        await self.run(node, ["rm", "-rf", *cfg.data_dirs(self._settings, DATA_ROOT)])

    async def fetch_log(self, node: Node, local: Path) -> None:
        await self._logs(node).save_logs(local)
