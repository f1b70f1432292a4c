"""The provisioner interface: make hosts exist for a session, and make them go away."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from pytest_scyllabench.execute.base import Executor


@dataclass(frozen=True)
class Host:
    """One machine of a deployment, reached through its executor."""

    name: str
    address: str
    executor: Executor


@dataclass(frozen=True)
class Deployment:
    """The hosts of a session, by role."""

    servers: tuple[Host, ...]
    loaders: tuple[Host, ...]
    #: Directory on the hosts for database and loader files, when the hosts are other
    #: machines (their files are copied back); ``None`` when every host is this machine.
    workdir: str | None = None


class Provisioner(Protocol):
    """Creates (or finds) the hosts of a profile."""

    async def provision(self) -> Deployment:
        """Create or find every host; register nothing, the caller owns teardown."""

    async def release(self) -> None:
        """Give every host back (destroy what was created); idempotent."""
