"""The provisioner interface: make hosts exist for a session, and make them go away."""

from __future__ import annotations

from dataclasses import dataclass
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

    @property
    def listen_address(self) -> str:
        """Where services of this machine listen for the other hosts (exporters, Prometheus)."""
        return self.private_address or self.address


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
