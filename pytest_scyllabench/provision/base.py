"""The provisioner interface: make hosts exist for a session, and make them go away."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

from pytest_scyllabench.execute.base import Executor


@dataclass(frozen=True)
class Host:
    """One machine of a deployment, reached through its executor at ``address``."""

    name: str
    address: str
    executor: Executor
    #: The address on the machine's own interface, where the other hosts reach it, when it
    #: is not ``address`` (an EC2 instance reached at its public address); empty: ``address``.
    private_address: str = ""
    #: The name of the machine when this host is one of several loader processes on it
    #: (see :func:`with_loader_processes`); empty: ``name``.
    machine: str = ""

    @property
    def listen_address(self) -> str:
        """Where services of this machine listen for the other hosts (exporters, Prometheus)."""
        return self.private_address or self.address

    @property
    def machine_name(self) -> str:
        """The machine's own name: what is installed, watched and described once per machine."""
        return self.machine or self.name


@dataclass(frozen=True)
class Deployment:
    """The hosts of a session, by role."""

    servers: tuple[Host, ...]
    loaders: tuple[Host, ...]
    #: Directory on the hosts for database and loader files, when the hosts are other
    #: machines (their files are copied back); ``None`` when every host is this machine.
    workdir: str | None = None
    #: The host that runs Prometheus for a remote deployment; ``None``: this machine does.
    monitor: Host | None = None


class Provisioner(Protocol):
    """Creates (or finds) the hosts of a profile."""

    async def provision(self) -> Deployment:
        """Create or find every host; register nothing, the caller owns teardown."""

    async def release(self) -> None:
        """Give every host back (destroy what was created); idempotent."""


def with_loader_processes(deployment: Deployment, processes: int) -> Deployment:
    """``deployment`` with ``processes`` loaders on each loader host (``loaders.processes``).

    Each is a logical loader of its own (a process of the step's tool, its share of the rate,
    its files), named ``<host>-p1..pN`` and sharing the host's address and executor; its
    :attr:`Host.machine` names the host. Unchanged when ``processes`` is 1. Every provisioner's
    deployment goes through here, so none of them knows about processes.
    """
    if processes < 1:
        raise ValueError(f"loaders.processes must be at least 1, got {processes}")
    if processes == 1:
        return deployment
    loaders = tuple(replace(host, name=f"{host.name}-p{index}", machine=host.machine_name)
                    for host in deployment.loaders for index in range(1, processes + 1))
    return replace(deployment, loaders=loaders)
