"""Handles of commands started on a remote host by the SSH executor.

An attached command (:class:`SshProcess`) lives as long as its channel: its output is read from
the channel, its end is the channel's exit status. A detached one (:class:`DetachedSshProcess`)
does not depend on any connection: it is observed and signalled with short control commands.
Both signal the remote process group the wrapper reported (see ``ssh_wrapper``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from pytest_scyllabench.errors import CommandError, CommandTimeout, ScyllaBenchError
from pytest_scyllabench.execute.ssh_wrapper import StderrSink, group_alive, kill_group

if TYPE_CHECKING:
    from asyncssh import SSHClientProcess

log = logging.getLogger(__name__)

#: Runs a short control command (``kill``, ``cat``) on the host: (exit code, stdout).
Control = Callable[[str], Awaitable[tuple[int | None, str]]]

#: Seconds allowed for a channel to close and its output to drain once the process has gone.
DRAIN_TIMEOUT = 5.0
#: Seconds allowed for the wrapper to report the process group id.
_PID_TIMEOUT = 10.0


class SshProcess:
    """A command started by ``SshExecutor.start`` and attached to its channel.

    Implements ``RunningProcess``; ``pid`` is the remote process group id.
    """

    def __init__(self, host: str, command: str, process: SSHClientProcess[bytes],
                 pumps: Sequence[asyncio.Task[None]], stderr: StderrSink,
                 control: Control) -> None:
        self._host = host
        self._command = command
        self._process = process
        self._pumps = tuple(pumps)
        self._stderr = stderr
        self._control = control
        self._terminated = False

    @property
    def pid(self) -> int | None:
        return self._stderr.pid

    @property
    def returncode(self) -> int | None:
        return self._process.returncode

    @property
    def command(self) -> str:
        return self._command

    async def wait(self, timeout: float | None = None) -> int:
        """Wait for the exit code; raise ``CommandTimeout`` after ``timeout`` seconds."""
        try:
            async with asyncio.timeout(timeout):
                await self._process.wait_closed()
        except TimeoutError:
            raise CommandTimeout(self._host, self._command, timeout or 0.0,
                                 self.stderr_tail()) from None
        await self._drain()
        code = self._process.returncode
        if code is None:
            raise CommandError(self._host, self._command, None, self.stderr_tail(),
                               detail="the connection was lost while it ran")
        return code

    async def terminate(self, grace: float = 10.0) -> int | None:
        """SIGTERM to the remote process group, SIGKILL after ``grace`` seconds; idempotent."""
        if self._terminated:
            return self._process.returncode
        self._terminated = True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_PID_TIMEOUT):
                await self._stderr.settled.wait()
        # A channel closed without an exit status means the connection dropped: the lifeline
        # has killed the group already, and there is nothing to signal through.
        lost = self._process.is_closing() and self._process.returncode is None
        pid = None if lost else self._stderr.pid
        if pid is not None and self._process.returncode is None:
            await self._signal(pid, "TERM")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(grace):
                    await self._process.wait_closed()
        if pid is not None:  # what is left of the group: the leader after the grace, or children
            await self._signal(pid, "KILL")
        self._process.close()  # the lifeline kills the group if the kill above could not be sent
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(DRAIN_TIMEOUT):
                await self._process.wait_closed()
        await self._drain()
        return self._process.returncode

    def stderr_tail(self, lines: int = 20) -> str:
        """The last lines the process wrote to stderr."""
        return self._stderr.text(lines)

    async def _signal(self, pid: int, signal_name: str) -> None:
        try:
            await self._control(kill_group(pid, signal_name))
        except ScyllaBenchError as exc:
            log.warning("%s: could not send SIG%s to process group %d: %s",
                        self._host, signal_name, pid, exc)

    async def _drain(self) -> None:
        if self._pumps:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(DRAIN_TIMEOUT):
                    await asyncio.gather(*self._pumps)


class DetachedSshProcess:
    """A command started by ``SshExecutor.start(detach=True)``, in its own remote session.

    It does not depend on our connection: its state is polled with control commands, its exit
    code read from the ``.rc`` file its ``sh`` writes, and ``stderr_tail`` is the tail of its
    output file as last fetched by :meth:`wait` or :meth:`terminate`.
    """

    _POLL = (0.1, 0.2, 0.5)

    def __init__(self, host: str, command: str, pid: int, rc_path: str,
                 output_path: str | None, cwd: str | None, control: Control) -> None:
        self._host = host
        self._command = command
        self._pid = pid
        self._rc_path = rc_path
        self._output_path = output_path
        self._cd = f"cd -- {shlex.quote(cwd)} && " if cwd is not None else ""
        self._control = control
        self._returncode: int | None = None
        self._signalled: int | None = None
        self._tail = ""

    @property
    def pid(self) -> int | None:
        return self._pid

    @property
    def returncode(self) -> int | None:
        return self._returncode

    @property
    def command(self) -> str:
        return self._command

    async def wait(self, timeout: float | None = None) -> int:
        """Poll until the process group is gone; raise ``CommandTimeout`` after ``timeout``."""
        try:
            async with asyncio.timeout(timeout):
                await self._gone()
        except TimeoutError:
            await self._fetch_tail()
            raise CommandTimeout(self._host, self._command, timeout or 0.0, self._tail) from None
        code = await self._finish()
        if code is None:
            raise CommandError(self._host, self._command, None, self._tail,
                               detail="it ended without writing its exit code (killed?)")
        return code

    async def terminate(self, grace: float = 10.0) -> int | None:
        """SIGTERM to the process group, SIGKILL after ``grace`` seconds; idempotent."""
        if self._returncode is not None:
            return self._returncode
        await self._control(kill_group(self._pid, "TERM"))
        self._signalled = 15
        try:
            async with asyncio.timeout(grace):
                await self._gone()
        except TimeoutError:
            await self._control(kill_group(self._pid, "KILL"))
            self._signalled = 9
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(DRAIN_TIMEOUT):
                    await self._gone()
        return await self._finish()

    def stderr_tail(self, lines: int = 20) -> str:
        """The last lines of the output file (stdout and stderr), as last fetched."""
        return "\n".join(self._tail.splitlines()[-lines:])

    async def _gone(self) -> None:
        polls = 0
        while True:
            code, _ = await self._control(group_alive(self._pid))
            if code != 0:
                return
            await asyncio.sleep(self._POLL[min(polls, len(self._POLL) - 1)])
            polls += 1

    async def _finish(self) -> int | None:
        rc = shlex.quote(self._rc_path)
        code, out = await self._control(f"cat -- {rc} 2>/dev/null && rm -f -- {rc}")
        if code == 0 and out.strip().isdigit():
            self._returncode = int(out.strip())
        elif self._signalled is not None:  # its sh died of our signal before writing the code
            self._returncode = -self._signalled
        await self._fetch_tail()
        return self._returncode

    async def _fetch_tail(self) -> None:
        if self._output_path is not None:
            path = shlex.quote(self._output_path)
            _, self._tail = await self._control(f"{self._cd}tail -n 200 -- {path} 2>/dev/null")
