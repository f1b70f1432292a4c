"""The SSH executor's connection and SFTP session against fakes: a transfer that times out on a
half-dead connection still ends within its limits, and ``close`` during a connection attempt
neither keeps the connection the attempt makes nor leaves its waiters with a bare
``CancelledError``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from asyncssh.misc import async_context_manager

from pytest_scyllabench.errors import CommandTimeout, ProvisionError
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


class SlowConnector:
    """Makes a fake connection once ``release`` is set, setting ``made_event`` (if any) just
    before it returns."""

    def __init__(self, made_event: asyncio.Event | None = None) -> None:
        self.release = asyncio.Event()
        self.made_event = made_event
        self.made: list[HalfDeadConnection] = []

    async def connect(self) -> Any:
        await self.release.wait()
        conn = HalfDeadConnection()
        self.made.append(conn)
        if self.made_event is not None:
            self.made_event.set()
        return conn


def executor_with(connector: SlowConnector, tmp_path: Path) -> ssh.SshExecutor:
    ex = ssh.SshExecutor("10.0.0.9", options(tmp_path), name="node1")
    ex._connector = connector  # type: ignore[assignment]
    return ex


def test_close_during_a_connection_attempt_fails_its_waiters_naming_the_host(
        tmp_path: Path) -> None:
    async def main() -> list[BaseException | Any]:
        connector = SlowConnector()
        ex = executor_with(connector, tmp_path)
        waiters = [asyncio.create_task(ex.run(["true"], timeout=30)) for _ in range(3)]
        await asyncio.sleep(0.01)  # all three wait for the same attempt
        await ex.close()
        async with asyncio.timeout(GUARD):
            return await asyncio.gather(*waiters, return_exceptions=True)

    outcomes = asyncio.run(main())
    assert [str(outcome) for outcome in outcomes] == [
        "node1: the SSH executor was closed while connecting"] * 3
    assert all(isinstance(outcome, ProvisionError) for outcome in outcomes)


def test_a_connection_made_just_as_close_runs_is_closed_not_kept(tmp_path: Path) -> None:
    """The attempt has finished but its completion callback has not run yet when ``close``
    runs: the closer is woken in the same turn of the loop, just before the attempt ends."""

    async def main() -> tuple[SlowConnector, ssh.SshExecutor, BaseException | Any]:
        made = asyncio.Event()
        connector = SlowConnector(made)
        ex = executor_with(connector, tmp_path)
        waiter = asyncio.create_task(ex.run(["true"], timeout=30))

        async def closer() -> None:
            await made.wait()
            await ex.close()

        closing = asyncio.create_task(closer())
        await asyncio.sleep(0.01)  # the waiter's attempt and the closer both wait
        connector.release.set()
        async with asyncio.timeout(GUARD):
            await closing
            outcome = (await asyncio.gather(waiter, return_exceptions=True))[0]
        return connector, ex, outcome

    connector, ex, outcome = asyncio.run(main())
    assert len(connector.made) == 1
    assert connector.made[0].closed  # not kept open behind a closed executor
    assert ex._conn is None
    assert str(outcome) == "node1: the SSH executor was closed while connecting"
