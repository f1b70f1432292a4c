"""The local backend: every host is this machine; servers get consecutive loopback addresses."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pytest_scyllabench.execute.local import LocalExecutor
from pytest_scyllabench.profile import Profile
from pytest_scyllabench.provision.base import Deployment, Host


def server_addresses(first: str, count: int) -> tuple[str, ...]:
    """``count`` consecutive addresses from ``first`` (127.0.0.1, 127.0.0.2, ...)."""
    start = ipaddress.IPv4Address(first)
    return tuple(str(start + i) for i in range(count))


class LocalProvisioner:
    """Nodes on 127.0.0.1..N and loader processes on this machine; nothing to create."""

    def __init__(self, profile: Profile) -> None:
        self._profile = profile

    async def provision(self) -> Deployment:
        addresses = server_addresses(self._profile.local.first_address,
                                     self._profile.database.nodes)
        servers = tuple(Host(f"node{i + 1}", address, LocalExecutor(host=address))
                        for i, address in enumerate(addresses))
        loaders = tuple(Host(f"loader-{i + 1}", "127.0.0.1", LocalExecutor(host="local"))
                        for i in range(self._profile.loaders.count))
        return Deployment(servers=servers, loaders=loaders)

    async def release(self) -> None:
        """Nothing was created."""


def create(profile: Profile, trial_dir: Path) -> LocalProvisioner:
    """The provisioner of ``profile`` (it keeps no files in ``trial_dir``)."""
    return LocalProvisioner(profile)
