"""The docker backend: a ScyllaDB cluster of containers on this machine, loaders here too.

``provision`` checks that the ``docker`` CLI is on PATH (``MissingDependencyError``) and that
the daemon answers ``docker info`` (``ProvisionError``), creates a user-defined network, pulls
the ``scylladb/scylla:<tag>`` image (``scylladb/scylla-enterprise`` for an
Enterprise release, 2018.1 to 2024.2) if it is missing, and runs one container per node, in
order: the image's entrypoint gets ``--smp 1 --memory 750M --overprovisioned 1
--developer-mode 1`` (the profile's ``docker`` section changes them) and, from node 2 on,
``--seeds <address of node 1>``. Scylla bootstraps one node at a time, so each container is
run only once the previous node is up and normal in its own ``nodetool status`` (read through
``docker exec``); the joins share ``database.start_timeout``, counted after the pull. The
servers of the deployment are the containers, at their addresses on the network, each reached
by a :class:`ContainerExecutor`; the loaders are this machine.

Teardown: the caller registers :meth:`DockerProvisioner.release` before calling
``provision`` (the ``Provisioner`` contract), and every container and the network are recorded
before they are created, so ``release`` (``docker rm -f -v`` of every container, then
``docker network rm``) removes whatever exists after a failure as after success; it is
idempotent. Containers are never kept.

What was exercised: the command lines against a recording fake executor
(``tests/unit/test_docker_backend.py``), and the missing-daemon path against the real docker
CLI of the machine this was written on, which has no Docker engine. No container ever ran, so
the image's entrypoint, supervisord, ``docker exec`` into Scylla and the addresses of a real
network were not seen. The addresses are reachable from this machine on Linux; Docker Desktop
(macOS, Windows) does not route to container addresses, so it is not supported.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import re
import secrets
import shlex
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from pytest_scyllabench.db import scylla_config as cfg
from pytest_scyllabench.db.scylla import POLL_INTERVAL, docker_spec, wait_joined
from pytest_scyllabench.errors import (
    CommandError,
    CommandTimeout,
    MissingDependencyError,
    ProvisionError,
)
from pytest_scyllabench.execute.base import (
    CommandResult,
    DirectPort,
    Executor,
    LineSink,
    RunningProcess,
)
from pytest_scyllabench.execute.local import LocalExecutor
from pytest_scyllabench.profile import Profile
from pytest_scyllabench.provision.base import Deployment, Host

log = logging.getLogger(__name__)

LABEL_RUN = "scyllabench.run"
LABEL_PROFILE = "scyllabench.profile"
INFO_TIMEOUT = 30.0
COMMAND_TIMEOUT = 120.0
LOG_TIMEOUT = 120.0
NODETOOL = ("nodetool", "status")


class ContainerExecutor:
    """Runs commands in one container with the docker CLI of this machine (an ``Executor``)."""

    def __init__(self, container: str, local: Executor, docker: str = "docker") -> None:
        self.container = container
        self._local = local
        self._docker = docker

    @property
    def host(self) -> str:
        return self.container

    def __repr__(self) -> str:
        return f"ContainerExecutor({self.container!r})"

    def exec_command(self, command: Sequence[str], *, env: Mapping[str, str] | None = None,
                     cwd: str | None = None, interactive: bool = False) -> list[str]:
        """The ``docker exec`` command line running ``command`` in the container.

        ``env`` is named only (``-e NAME``): docker takes each value from its own environment,
        where :meth:`run` and :meth:`start` put them, so no value (a password...) shows on a
        command line, in ``ps`` or in an error message.
        """
        argv = [self._docker, "exec"]
        if interactive:
            argv.append("-i")
        for key in env or {}:
            argv += ["-e", key]
        if cwd is not None:
            argv += ["-w", cwd]
        return [*argv, self.container, *command]

    async def run(self, command: Sequence[str], *, timeout: float, check: bool = True,
                  env: Mapping[str, str] | None = None, cwd: str | None = None,
                  stdin: bytes | None = None) -> CommandResult:
        argv = self.exec_command(command, env=env, cwd=cwd, interactive=stdin is not None)
        done = await self._local.run(argv, timeout=timeout, check=False, stdin=stdin,
                                     env=env)
        result = CommandResult(host=self.host, command=tuple(command), exit_code=done.exit_code,
                               stdout=done.stdout, stderr=done.stderr)
        if check and result.exit_code != 0:
            raise CommandError(self.host, command, result.exit_code, result.stderr)
        return result

    async def start(self, command: Sequence[str], *, env: Mapping[str, str] | None = None,
                    cwd: str | None = None, stdout_path: str | None = None,
                    on_stdout: LineSink | None = None, detach: bool = False) -> RunningProcess:
        """Start ``command`` in the container; ``stdout_path`` is a path in the container.

        The process belongs to the local ``docker exec``; stopping that does not stop the
        command in the container, which ends with the container.
        """
        inner = list(command)
        if stdout_path is not None:
            inner = ["sh", "-c", 'exec "$@" >> "$0" 2>&1', stdout_path, *inner]
        return await self._local.start(self.exec_command(inner, env=env, cwd=cwd), env=env,
                                       on_stdout=on_stdout, detach=detach)

    async def put(self, local: Path, remote: str) -> None:
        await self._local.run([self._docker, "cp", str(local), f"{self.container}:{remote}"],
                              timeout=COMMAND_TIMEOUT)

    async def get(self, remote: str, local: Path) -> None:
        local.parent.mkdir(parents=True, exist_ok=True)
        await self._local.run([self._docker, "cp", f"{self.container}:{remote}", str(local)],
                              timeout=COMMAND_TIMEOUT)

    async def forward_port(self, address: str, port: int) -> DirectPort:
        """A container's address is reachable from this machine as it is."""
        return DirectPort(address, port)

    async def close(self) -> None:
        """Nothing to release (the provisioner removes the container)."""

    async def save_logs(self, local: Path) -> None:
        """Write the container's log (``docker logs``, stdout and stderr) to ``local``."""
        local.parent.mkdir(parents=True, exist_ok=True)
        await self._local.run(["sh", "-c", f"{shlex.quote(self._docker)} logs "
                                           f"{shlex.quote(self.container)} > "
                                           f"{shlex.quote(str(local))} 2>&1"],
                              timeout=LOG_TIMEOUT)

    async def logs_tail(self, lines: int) -> str:
        done = await self._local.run([self._docker, "logs", "--tail", str(lines), self.container],
                                     timeout=LOG_TIMEOUT, check=False)
        return "\n".join(part for part in (done.stdout, done.stderr) if part)


def _last_lines(text: str, count: int = 5) -> str:
    return "\n".join(text.strip().splitlines()[-count:])


class DockerProvisioner:
    """ScyllaDB containers on this machine (implements ``Provisioner``); no side effects."""

    def __init__(self, profile: Profile, *, local: Executor | None = None,
                 which: Callable[[str], str | None] = shutil.which, run_id: str | None = None,
                 interval: float = POLL_INTERVAL) -> None:
        self._profile = profile
        self._spec = docker_spec(profile)
        self._local: Executor = local if local is not None else LocalExecutor(host="local")
        self._which = which
        self._interval = interval
        self.run_id = run_id or secrets.token_hex(3)
        safe = re.sub(r"[^a-z0-9-]+", "-", profile.name.lower()).strip("-") or "cluster"
        self.prefix = f"scyllabench-{safe}-{self.run_id}"
        self.network = f"{self.prefix}-net"
        self._docker: str | None = None
        self._containers: list[str] = []
        self._network_created = False

    @property
    def image(self) -> str:
        tag = self._spec.tag or self._profile.database.version
        name = self._spec.image
        if name == cfg.IMAGE and cfg.is_enterprise(tag):
            name = cfg.ENTERPRISE_IMAGE
        return f"{name}:{tag}"

    def container_name(self, index: int) -> str:
        return f"{self.prefix}-node{index}"

    def labels(self) -> list[str]:
        return ["--label", f"{LABEL_RUN}={self.run_id}",
                "--label", f"{LABEL_PROFILE}={self._profile.name}"]

    def scylla_args(self) -> list[str]:
        """The entrypoint's arguments of every node (``--seeds`` is added from node 2 on)."""
        spec = self._spec
        return ["--smp", str(spec.smp), "--memory", spec.memory,
                "--overprovisioned", "1" if spec.overprovisioned else "0",
                "--developer-mode", "1" if spec.developer_mode else "0"]

    async def _docker_run(self, argv: Sequence[str], what: str, *, check: bool = True,
                          timeout: float = COMMAND_TIMEOUT) -> CommandResult:
        try:
            return await self._local.run(argv, timeout=timeout, check=check)
        except CommandError as exc:
            raise ProvisionError(f"docker: could not {what}: {exc}") from exc

    async def provision(self) -> Deployment:
        docker = self._which("docker")
        if docker is None:
            raise MissingDependencyError(
                "the docker provisioner needs the docker CLI, and `docker` is not on PATH; "
                "install Docker Engine (https://docs.docker.com/engine/install/) and start it, "
                "or choose another provisioner")
        await self._check_daemon(docker)
        self._docker = docker
        began = time.monotonic()
        self._network_created = True  # recorded before it exists: release removes it
        await self._docker_run([docker, "network", "create", *self.labels(), self.network],
                               f"create network {self.network}")
        await self._pull(docker)
        budget, joining = self._profile.database.start_timeout, time.monotonic()
        servers: list[Host] = []
        for index in range(1, self._profile.database.nodes + 1):
            remaining = max(0.0, budget - (time.monotonic() - joining))
            servers.append(await self._run_node(docker, index, servers, remaining))
        loaders = tuple(Host(f"loader-{i + 1}", "127.0.0.1", LocalExecutor(host="local"))
                        for i in range(self._profile.loaders.count))
        log.info("docker: %d ScyllaDB container(s) up in %.1f s on network %s", len(servers),
                 time.monotonic() - began, self.network)
        return Deployment(servers=tuple(servers), loaders=loaders)

    async def _check_daemon(self, docker: str) -> None:
        hint = ("start it (e.g. `sudo systemctl start docker`), or point DOCKER_HOST or "
                "`docker context use` at a running one; your user must be allowed to use it "
                "(the docker group)")
        try:
            info = await self._local.run([docker, "info", "--format", "{{.ServerVersion}}"],
                                         timeout=INFO_TIMEOUT, check=False)
        except CommandTimeout:
            raise ProvisionError(f"the Docker daemon did not answer `docker info` within "
                                 f"{INFO_TIMEOUT:g} s; {hint}") from None
        if info.exit_code != 0 or not info.stdout.strip():
            raise ProvisionError(f"the Docker daemon does not answer (`docker info` exit code "
                                 f"{info.exit_code}): {_last_lines(info.stderr) or 'no output'}"
                                 f"\n{hint}")

    async def _pull(self, docker: str) -> None:
        present = await self._docker_run([docker, "image", "inspect", "--format", "{{.Id}}",
                                          self.image], f"inspect image {self.image}", check=False)
        if present.exit_code != 0:
            log.info("docker: pulling %s", self.image)
            await self._docker_run([docker, "pull", self.image], f"pull {self.image}",
                                   timeout=self._spec.pull_timeout)

    async def _run_node(self, docker: str, index: int, before: Sequence[Host],
                        timeout: float) -> Host:
        name = self.container_name(index)
        self._containers.append(name)  # recorded before it exists: release removes it
        seeds = ["--seeds", before[0].address] if before else []
        await self._docker_run([docker, "run", "-d", "--name", name, "--hostname", f"node{index}",
                                "--network", self.network, *self.labels(), self.image,
                                *self.scylla_args(), *seeds, *self._spec.args],
                               f"run container {name}")
        address = await self._address(docker, name)
        executor = ContainerExecutor(name, self._local, docker)
        await wait_joined(executor, NODETOOL, [*(host.address for host in before), address],
                          node=f"node{index} ({address}, container {name})", timeout=timeout,
                          budget=self._profile.database.start_timeout,
                          dead=functools.partial(self._stopped, docker, name),
                          interval=self._interval)
        return Host(f"node{index}", address, executor)

    async def _address(self, docker: str, name: str) -> str:
        template = f'{{{{(index .NetworkSettings.Networks "{self.network}").IPAddress}}}}'
        found = await self._docker_run([docker, "inspect", "--format", template, name],
                                       f"read the address of {name}")
        address = found.stdout.strip()
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise ProvisionError(f"docker: container {name} has no address on network "
                                 f"{self.network} (docker inspect printed {address!r})") from None
        return address

    async def _stopped(self, docker: str, name: str) -> str | None:
        """``None`` while the container runs, else its state and the end of its log."""
        state = await self._local.run([docker, "inspect", "--format", "{{.State.Status}}", name],
                                      timeout=COMMAND_TIMEOUT, check=False)
        if state.stdout.strip() == "running":
            return None
        tail = await ContainerExecutor(name, self._local, docker).logs_tail(25)
        return (f"container {name} is {state.stdout.strip() or 'gone'}; its log ends with:\n"
                f"{tail}")

    async def release(self) -> None:
        """Remove every container (with its volumes) and the network; idempotent."""
        docker, containers, network = self._docker, self._containers, self._network_created
        self._containers, self._network_created = [], False
        if docker is None:
            return
        failures: list[str] = []
        if containers:
            removed = await self._local.run([docker, "rm", "-f", "-v", *containers],
                                            timeout=COMMAND_TIMEOUT, check=False)
            left = "\n".join(line for line in removed.stderr.splitlines()
                              if line.strip() and "No such container" not in line)
            if removed.exit_code != 0 and left:
                failures.append(f"docker rm -f -v {' '.join(containers)}: {_last_lines(left)}")
        if network:
            removed = await self._local.run([docker, "network", "rm", self.network],
                                            timeout=COMMAND_TIMEOUT, check=False)
            if removed.exit_code != 0 and "not found" not in removed.stderr:
                failures.append(f"docker network rm {self.network}: "
                                f"{_last_lines(removed.stderr)}")
        if failures:
            raise ProvisionError("could not remove every container of the run:\n" +
                                 "\n".join(failures))


def create(profile: Profile, trial_dir: Path) -> DockerProvisioner:
    """The provisioner of ``provisioner: docker`` (it keeps no files in ``trial_dir``)."""
    return DockerProvisioner(profile)
