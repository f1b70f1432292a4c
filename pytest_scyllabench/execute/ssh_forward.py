"""A local port forward over a host's SSH connection (``ssh -L 127.0.0.1:<free>:address:port``).

A server that listens on a host's private or loopback address (Prometheus on the monitor
host) is reached from this process through ``127.0.0.1:<local_port>``: asyncssh listens there
and opens a ``direct-tcpip`` channel to ``address:port``, as the host sees it, for each
connection. Only SSH has to be open between this machine and the host (an EC2 security group
opens no more to the operator). The forward lives on the connection it was opened on: it ends
when :meth:`SshPortForward.close` is called or that connection drops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from pytest_scyllabench.errors import MissingDependencyError
from pytest_scyllabench.execute.ssh_options import REMOTE_EXTRA_HINT

try:
    import asyncssh
except ImportError as exc:
    raise MissingDependencyError(REMOTE_EXTRA_HINT) from exc

log = logging.getLogger(__name__)

LOCAL_ADDRESS = "127.0.0.1"
#: Seconds a probe of the far end (``accepting``) and closing the listener may take.
PROBE_TIMEOUT = 10.0


class SshPortForward:
    """``127.0.0.1:local_port`` forwarded to ``address:port`` on ``host`` (a ``PortForward``)."""

    def __init__(self, host: str, conn: asyncssh.SSHClientConnection,
                 listener: asyncssh.SSHListener, address: str, port: int) -> None:
        self.host = host
        self.address = address
        self.port = port
        self._conn = conn
        self._listener: asyncssh.SSHListener | None = listener
        self._local_port = listener.get_port()

    def __repr__(self) -> str:
        return (f"SshPortForward({LOCAL_ADDRESS}:{self._local_port} -> {self.host} "
                f"{self.address}:{self.port})")

    @property
    def local_address(self) -> str:
        return LOCAL_ADDRESS

    @property
    def local_port(self) -> int:
        return self._local_port

    async def accepting(self) -> bool:
        """Whether the host accepts a connection to ``address:port`` now (its sshd connects:
        a local connect would always succeed, the forward's listener accepts it)."""
        try:
            async with asyncio.timeout(PROBE_TIMEOUT):
                _, writer = await self._conn.open_connection(self.address, self.port)
        except (asyncssh.Error, OSError, TimeoutError) as exc:
            log.debug("%s: %s:%d does not accept connections: %s", self.host, self.address,
                      self.port, exc)
            return False
        writer.close()
        return True

    async def close(self) -> None:
        """Stop listening here; idempotent (connections under way end with their channel)."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(PROBE_TIMEOUT):
                    await listener.wait_closed()
