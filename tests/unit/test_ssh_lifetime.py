"""The SSH executor's connection and SFTP session against fakes: a transfer that times out on a
half-dead connection still ends within its limits."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from asyncssh.misc import async_context_manager

from pytest_scyllabench.errors import CommandTimeout
from pytest_scyllabench.execute import ssh
from pytest_scyllabench.execute.ssh_options import KnownHostsPolicy, SshOptions

#: An upper bound for each test's event loop, so that a regression fails instead of hanging.
GUARD = 20.0


def options(tmp_path: Path, **overrides: Any) -> SshOptions:
    return SshOptions(key_path=tmp_path / "key", known_hosts=KnownHostsPolicy("off"),
                      **overrides)


class HalfDeadSftp:
    """An SFTP session whose server stopped answering: nothing it is asked ever completes."""

    def __init__(self) -> None:
        self.exited = False
        self.waited_closed = False

    async def makedirs(self, *args: Any, **kwargs: Any) -> None:
        await asyncio.Event().wait()

    def exit(self) -> None:
        self.exited = True

    async def wait_closed(self) -> None:
        self.waited_closed = True
        await asyncio.Event().wait()

    # what asyncssh's SFTPClient does as an async context manager
    async def __aenter__(self) -> HalfDeadSftp:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.exit()
        await self.wait_closed()


class HalfDeadConnection:
    def __init__(self) -> None:
        self.sftp = HalfDeadSftp()
        self.closed = False

    def is_closed(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    @async_context_manager
    async def start_sftp_client(self) -> HalfDeadSftp:
        return self.sftp


def test_a_transfer_timing_out_on_a_half_dead_connection_does_not_wait_for_its_close(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ex = ssh.SshExecutor("10.0.0.9", options(tmp_path, transfer_timeout=0.2), name="node1")
    conn = HalfDeadConnection()

    async def connection() -> Any:
        return conn

    monkeypatch.setattr(ex, "_connection", connection)
    monkeypatch.setattr(ssh, "DRAIN_TIMEOUT", 0.2)

    async def main() -> None:
        async with asyncio.timeout(GUARD):
            await ex.put(tmp_path / "file", "/data/dir with space/-file")

    with pytest.raises(CommandTimeout) as info:
        asyncio.run(main())
    assert str(info.value) == ("node1: command failed (timed out after 0.2 s): sftp put "
                               f"{tmp_path / 'file'} /data/dir with space/-file")
    assert conn.sftp.exited and conn.sftp.waited_closed
