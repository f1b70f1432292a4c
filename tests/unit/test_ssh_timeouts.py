"""The SSH executor's limits after connecting, against a connection that never answers: a
command's timeout covers waiting for a session slot and opening its channel, starting a process
and a port forward have their own limits, and every timeout names the host and the wait."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from pytest_scyllabench.errors import CommandTimeout
from pytest_scyllabench.execute import ssh
from pytest_scyllabench.execute.ssh_options import KnownHostsPolicy, SshOptions


class SilentConnection:
    """An open connection whose server never answers a channel or forward request."""

    def __init__(self) -> None:
        self.channels = 0

    def is_closed(self) -> bool:
        return False

    async def create_process(self, *args: Any, **kwargs: Any) -> Any:
        self.channels += 1
        await asyncio.Event().wait()

    async def forward_local_port(self, *args: Any) -> Any:
        await asyncio.Event().wait()


def executor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
             **options: Any) -> tuple[ssh.SshExecutor, SilentConnection]:
    ex = ssh.SshExecutor("10.0.0.9", SshOptions(key_path=tmp_path / "key",
                                                known_hosts=KnownHostsPolicy("off"),
                                                **options), name="node1")
    conn = SilentConnection()

    async def connection() -> Any:
        return conn

    monkeypatch.setattr(ex, "_connection", connection)
    return ex, conn


def test_a_channel_that_never_opens_times_out_naming_the_host(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ex, conn = executor(tmp_path, monkeypatch)
    with pytest.raises(CommandTimeout) as info:
        asyncio.run(ex.run(["echo", "hi"], timeout=0.2))
    assert str(info.value) == ("node1: command failed (timed out after 0.2 s opening an SSH "
                               "channel): echo hi")
    assert info.value.timeout == 0.2 and conn.channels == 1


def test_waiting_for_a_session_slot_counts_in_the_command_timeout(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ex, conn = executor(tmp_path, monkeypatch, max_sessions=1)

    async def main() -> CommandTimeout:
        holder = asyncio.create_task(ex.run(["sleep", "60"], timeout=60))
        await asyncio.sleep(0.05)  # the holder has the only slot, its channel hangs
        try:
            with pytest.raises(CommandTimeout) as info:
                await ex.run(["true"], timeout=0.2)
            return info.value
        finally:
            holder.cancel()

    error = asyncio.run(main())
    assert str(error) == ("node1: command failed (timed out after 0.2 s waiting for a free SSH "
                          "session (all 1 of max_sessions busy)): true")
    assert conn.channels == 1  # the second command never asked for a channel


def test_a_transfer_waits_for_a_slot_within_its_timeout(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ex, _ = executor(tmp_path, monkeypatch, max_sessions=1, transfer_timeout=0.2)

    async def main() -> None:
        holder = asyncio.create_task(ex.run(["sleep", "60"], timeout=60))
        await asyncio.sleep(0.05)
        try:
            await ex.put(tmp_path / "file", "/tmp/file")
        finally:
            holder.cancel()

    with pytest.raises(CommandTimeout, match=r"^node1: command failed \(timed out after 0.2 s "
                                             r"waiting for a free SSH session"):
        asyncio.run(main())


def test_starting_a_process_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ex, _ = executor(tmp_path, monkeypatch)
    monkeypatch.setattr(ssh, "_CONTROL_TIMEOUT", 0.2)
    with pytest.raises(CommandTimeout, match=r"^node1: command failed \(timed out after 0.2 s "
                                             r"opening an SSH channel\): prometheus --x"):
        asyncio.run(ex.start(["prometheus", "--x"]))
    with pytest.raises(CommandTimeout, match=r"^node1: command failed \(timed out after 0.2 s "
                                             r"opening an SSH channel\): sleep 1"):
        asyncio.run(ex.start(["sleep", "1"], detach=True))


def test_a_port_forward_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ex, _ = executor(tmp_path, monkeypatch)
    with pytest.raises(CommandTimeout) as info:
        asyncio.run(ex.forward_port("10.0.0.9", 9090, timeout=0.2))
    assert str(info.value) == ("node1: command failed (timed out after 0.2 s setting up the "
                               "port forward): forward 127.0.0.1:0 to 10.0.0.9:9090")
