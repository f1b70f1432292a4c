"""The static backend: existing hosts named in the profile, reached over SSH.

Nothing is created: ``provision`` opens one SSH connection per host (servers, loaders and the
monitor host if there is one, in parallel, each bounded by the connect timeout) and fails
naming every unreachable host; ``release`` closes the connections.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from pytest_scyllabench.errors import ConfigError, ProvisionError, ScyllaBenchError
from pytest_scyllabench.execute.base import Executor
from pytest_scyllabench.profile import HostSpec, Profile, StaticSpec
from pytest_scyllabench.provision.base import Deployment, Host

log = logging.getLogger(__name__)
#: Seconds the reachability check's command may take once connected.
PROBE_TIMEOUT = 30.0


class StaticProvisioner:
    """Hosts from ``profile.static``; one ``SshExecutor`` each. No side effects until used."""

    def __init__(self, profile: Profile) -> None:
        if profile.static is None:
            raise ConfigError("the static provisioner needs a static section in the profile")
        self._spec: StaticSpec = profile.static
        self._executors: list[Executor] = []

    async def provision(self) -> Deployment:
        from pytest_scyllabench.execute.ssh import SshExecutor  # needs the remote extra

        spec = self._spec

        def host(entry: HostSpec) -> Host:
            executor = SshExecutor(entry.address, spec.ssh, name=entry.name)
            self._executors.append(executor)
            return Host(entry.name, entry.address, executor)

        servers = tuple(host(entry) for entry in spec.servers)
        loaders = tuple(host(entry) for entry in spec.loaders)
        monitor = host(spec.monitor) if spec.monitor is not None else None
        await self._check_reachable((*servers, *loaders, *([monitor] if monitor else [])))
        return Deployment(servers=servers, loaders=loaders, workdir=spec.workdir,
                          monitor=monitor)

    async def _check_reachable(self, hosts: tuple[Host, ...]) -> None:
        budget = self._spec.ssh.connect_timeout + PROBE_TIMEOUT
        problems: dict[str, str] = {}

        async def probe(host: Host) -> None:
            try:
                async with asyncio.timeout(budget):
                    await host.executor.run(["mkdir", "-p", self._spec.workdir],
                                            timeout=PROBE_TIMEOUT)
            except TimeoutError:
                problems[host.name] = f"{host.address}: no answer within {budget:g} s"
            except ScyllaBenchError as exc:
                problems[host.name] = f"{host.address}: {exc}"

        async with asyncio.TaskGroup() as group:
            for host in hosts:
                group.create_task(probe(host))
        if problems:
            detail = "\n".join(f"  {name} ({problem})" for name, problem in problems.items())
            raise ProvisionError(f"{len(problems)} of {len(hosts)} static host(s) unreachable "
                                 f"over SSH:\n{detail}")
        log.info("static hosts reachable: %s", ", ".join(host.name for host in hosts))

    async def release(self) -> None:
        """Close every connection (attached remote processes die with it); idempotent."""
        executors, self._executors = self._executors, []
        for executor in executors:
            await executor.close()


def create(profile: Profile, trial_dir: Path) -> StaticProvisioner:
    """The provisioner of ``profile`` (it keeps no files in ``trial_dir``)."""
    return StaticProvisioner(profile)
