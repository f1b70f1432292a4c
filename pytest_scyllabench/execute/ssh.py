"""The SSH executor: commands and files on a remote host, over one asyncssh connection.

One :class:`SshExecutor` per host holds one connection, opened on first use and reopened when
it has dropped; commands, transfers and started processes are channels of that connection.
Connecting is retried with backoff within ``connect_timeout`` (unreachable, refused); a refused
key or an untrusted host key fails at once. Commands are never retried. Everything after
connecting is bounded too: a command's ``timeout`` covers waiting for a free session slot
(``max_sessions``), opening its channel and running; starting a process, a transfer and a port
forward have their own limits. A timeout raises ``CommandTimeout`` naming the host and what
was being waited for. Every command runs
under a small ``sh`` wrapper (see :mod:`pytest_scyllabench.execute.ssh_wrapper`) that reports
its process group, so timeouts and ``terminate`` kill the whole remote group, and attached
commands die when the connection drops.

Connecting lives in ``ssh_connect``, process handles in ``ssh_process``, local port forwards
(a server on the host's private address reached from here) in ``ssh_forward``. Environment
values travel on the channel's stdin, never on a command line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import posixpath
import secrets
import shlex
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path

from pytest_scyllabench.errors import (
    CommandError,
    CommandTimeout,
    MissingDependencyError,
    ProvisionError,
    ScyllaBenchError,
)
from pytest_scyllabench.execute.base import CommandResult, LineSink, LineSplitter
from pytest_scyllabench.execute.ssh_options import (
    REMOTE_EXTRA_HINT,
    KnownHostsPolicy,
    SshOptions,
)
from pytest_scyllabench.execute.ssh_process import DRAIN_TIMEOUT, DetachedSshProcess, SshProcess
from pytest_scyllabench.execute.ssh_wrapper import (
    StderrSink,
    env_preamble,
    kill_group,
    wrap,
    wrap_detached,
)

try:
    import asyncssh
except ImportError as exc:
    raise MissingDependencyError(REMOTE_EXTRA_HINT) from exc

from pytest_scyllabench.execute.ssh_connect import Connector
from pytest_scyllabench.execute.ssh_forward import LOCAL_ADDRESS, SshPortForward

__all__ = ["KnownHostsPolicy", "SshExecutor", "SshOptions"]

log = logging.getLogger(__name__)

_CHUNK = 1 << 16
#: Lines of stderr kept in memory for a started process's error messages.
_STDERR_LINES = 200
#: Seconds allowed for a control command (kill, polling a detached process), for starting a
#: process (its channel opened, or a detached one's pid reported) and for a port forward.
_CONTROL_TIMEOUT = 30.0
FORWARD_TIMEOUT = _CONTROL_TIMEOUT


async def _pump(reader: asyncssh.SSHReader[bytes], sinks: Sequence[LineSink],
                on_end: Callable[[], None] | None = None, what: str = "a command") -> None:
    """Split a channel stream into lines (of any length) and hand each line to every sink."""
    lines = LineSplitter(sinks, what)
    try:
        while chunk := await reader.read(_CHUNK):
            lines.feed(chunk)
    except (asyncssh.Error, OSError) as exc:  # the connection dropped: the process reports it
        log.debug("output stream ended early: %s", exc)
    finally:
        lines.end()
        if on_end is not None:
            on_end()


def _deadline(timeout: float) -> float:
    """The event loop's time ``timeout`` seconds from now (for ``asyncio.timeout_at``)."""
    return asyncio.get_running_loop().time() + timeout


class SshExecutor:
    """Runs commands on one remote host over SSH (implements ``Executor``)."""

    def __init__(self, address: str, options: SshOptions, *, name: str | None = None) -> None:
        self._address = address
        self._name = name or address
        self._options = options
        self._slots = asyncio.Semaphore(options.max_sessions)
        self._connector = Connector(address, self._name, options)
        self._conn: asyncssh.SSHClientConnection | None = None
        self._connecting: asyncio.Task[asyncssh.SSHClientConnection] | None = None

    @property
    def host(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return (f"SshExecutor(host={self._name!r}, address={self._address!r}, "
                f"user={self._options.user!r}, port={self._options.port})")

    # --- commands -----------------------------------------------------------------------------

    async def run(
        self,
        command: Sequence[str],
        *,
        timeout: float,
        check: bool = True,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        stdin: bytes | None = None,
    ) -> CommandResult:
        """Run ``command`` to completion; its remote process group is killed on timeout."""
        argv = tuple(command)
        shown = shlex.join(argv)
        data = env_preamble(env) + (stdin or b"")
        remote = wrap(argv, env=bool(env), cwd=cwd, lifeline=stdin is None)
        log.debug("%s: run %s", self._name, shown)
        await self._connection()  # bounded by connect_timeout, before the command's clock
        deadline = _deadline(timeout)
        async with self._slot(shown, timeout, deadline):
            code, out, err = await self._execute(remote, shown, data, stdin is not None,
                                                 timeout, deadline)
        result = CommandResult(host=self._name, command=argv, exit_code=code,
                               stdout="\n".join(out), stderr=err.text())
        if check and code != 0:
            raise CommandError(self._name, shown, code, result.stderr)
        return result

    @contextlib.asynccontextmanager
    async def _slot(self, shown: str, timeout: float, deadline: float) -> AsyncIterator[None]:
        """Hold one of the ``max_sessions`` slots, waited for until ``deadline`` at most."""
        try:
            async with asyncio.timeout_at(deadline):
                await self._slots.acquire()
        except TimeoutError:
            raise CommandTimeout(self._name, shown, timeout, during=(
                f"waiting for a free SSH session (all {self._options.max_sessions} of "
                f"max_sessions busy)")) from None
        try:
            yield
        finally:
            self._slots.release()

    async def _execute(self, remote: str, shown: str, data: bytes, send_eof: bool,
                       timeout: float, deadline: float) -> tuple[int, list[str], StderrSink]:
        """Open the channel and run ``remote`` in it, both before ``deadline``."""
        process = await self._open(remote, shown, timeout, deadline)
        out: list[str] = []
        err = StderrSink(keep=None)
        pumps = [asyncio.create_task(_pump(process.stdout, [out.append])),
                 asyncio.create_task(_pump(process.stderr, [err], err.ended))]
        try:
            async with asyncio.timeout_at(deadline):
                with contextlib.suppress(asyncssh.Error, OSError):
                    if data:
                        process.stdin.write(data)
                        await process.stdin.drain()
                    if send_eof:
                        process.stdin.write_eof()
                await process.wait_closed()
                await asyncio.gather(*pumps)
        except TimeoutError:
            await self._abandon(process, err, pumps)
            raise CommandTimeout(self._name, shown, timeout, err.text()) from None
        except asyncio.CancelledError:
            await self._abandon(process, err, pumps)
            raise
        if process.returncode is None:
            raise CommandError(self._name, shown, None, err.text(),
                               detail="the connection was lost while it ran")
        return process.returncode, out, err

    async def _abandon(self, process: asyncssh.SSHClientProcess[bytes], err: StderrSink,
                       pumps: Sequence[asyncio.Task[None]]) -> None:
        """Kill the remote group of a command we stop waiting for, and close its channel."""
        if err.pid is not None:
            try:
                await self._control(kill_group(err.pid, "KILL"))
            except ScyllaBenchError as exc:
                log.warning("%s: could not kill process group %d: %s", self._name, err.pid, exc)
        process.close()  # and the lifeline kills the group when the channel goes
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(DRAIN_TIMEOUT):
                await process.wait_closed()
        for pump in pumps:
            pump.cancel()

    async def start(
        self,
        command: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        stdout_path: str | None = None,
        on_stdout: LineSink | None = None,
        detach: bool = False,
    ) -> SshProcess | DetachedSshProcess:
        """Start ``command`` in the background.

        Attached: stdout goes line by line to ``on_stdout`` and/or is appended to the remote
        file ``stdout_path``; stderr is kept for ``stderr_tail``; the command dies when the
        connection drops. Detached (``detach=True``, for a kept cluster): stdout and stderr go
        to ``stdout_path`` on the host, the command runs in its own session and outlives us;
        ``on_stdout`` is refused.
        """
        argv = tuple(command)
        shown = shlex.join(argv)
        data = env_preamble(env)
        if detach:
            return await self._start_detached(argv, shown, data, cwd, stdout_path, on_stdout)
        remote = wrap(argv, env=bool(env), cwd=cwd, lifeline=True, stdout_path=stdout_path,
                      tee=on_stdout is not None)
        log.debug("%s: start %s", self._name, shown)
        await self._connection()
        process = await self._open(remote, shown, _CONTROL_TIMEOUT, _deadline(_CONTROL_TIMEOUT))
        if data:
            with contextlib.suppress(asyncssh.Error, OSError):
                process.stdin.write(data)
        err = StderrSink(keep=_STDERR_LINES)
        sinks = [on_stdout] if on_stdout is not None else []
        what = f"{self._name}: {shown}"
        pumps = [asyncio.create_task(_pump(process.stdout, sinks, what=what)),
                 asyncio.create_task(_pump(process.stderr, [err], err.ended, what))]
        return SshProcess(self._name, shown, process, pumps, err, self._control)

    async def _start_detached(self, argv: tuple[str, ...], shown: str, data: bytes,
                              cwd: str | None, stdout_path: str | None,
                              on_stdout: LineSink | None) -> DetachedSshProcess:
        if on_stdout is not None:
            raise ValueError("a detached process cannot stream stdout to a callback; "
                             "give stdout_path instead")
        if stdout_path is not None and stdout_path.startswith("/"):
            rc_path = f"{stdout_path}.rc"
        else:
            rc_path = f"/tmp/scyllabench-{secrets.token_hex(6)}.rc"
        remote = wrap_detached(argv, env=bool(data), cwd=cwd, stdout_path=stdout_path,
                               rc_path=rc_path)
        log.debug("%s: start detached %s", self._name, shown)
        await self._connection()
        deadline = _deadline(_CONTROL_TIMEOUT)
        async with self._slot(shown, _CONTROL_TIMEOUT, deadline):
            code, _, err = await self._execute(remote, shown, data, True, _CONTROL_TIMEOUT,
                                               deadline)
        if code != 0 or err.pid is None:
            raise CommandError(self._name, shown, code, err.text(),
                               detail=f"could not start it detached (exit code {code})")
        return DetachedSshProcess(self._name, shown, err.pid, rc_path, stdout_path, cwd,
                                  self._control)

    async def _control(self, command: str) -> tuple[int | None, str]:
        """Run a short fixed command (no wrapper, no slot): its exit code and stdout."""
        conn = await self._connection()
        try:
            async with asyncio.timeout(_CONTROL_TIMEOUT):
                result = await conn.run(command, check=False, encoding="utf-8")
        except TimeoutError:
            raise CommandTimeout(self._name, command, _CONTROL_TIMEOUT) from None
        except (asyncssh.Error, OSError) as exc:
            raise CommandError(self._name, command, None,
                               detail=f"SSH channel failed: {exc}") from exc
        return result.returncode, str(result.stdout or "")

    async def _open(self, remote: str, shown: str, timeout: float,
                    deadline: float) -> asyncssh.SSHClientProcess[bytes]:
        """A channel running ``remote``, opened before ``deadline`` (the connection is made
        first if it dropped, within ``connect_timeout``)."""
        conn = await self._connection()
        try:
            async with asyncio.timeout_at(deadline):
                process: asyncssh.SSHClientProcess[bytes] = await conn.create_process(
                    remote, encoding=None)
        except TimeoutError:
            raise CommandTimeout(self._name, shown, timeout,
                                 during="opening an SSH channel") from None
        except asyncssh.ChannelOpenError as exc:
            raise CommandError(self._name, shown, None, detail=(
                f"the server refused a new SSH channel: {exc.reason} (is max_sessions "
                f"{self._options.max_sessions} plus started processes above its MaxSessions?)"
            )) from exc
        except (asyncssh.Error, OSError) as exc:
            raise CommandError(self._name, shown, None,
                               detail=f"SSH connection failed: {exc}") from exc
        return process

    # --- files --------------------------------------------------------------------------------

    async def put(self, local: Path, remote: str) -> None:
        """Copy ``local`` to the path ``remote`` over SFTP (parent directories are created)."""

        async def put(sftp: asyncssh.SFTPClient) -> None:
            parent = posixpath.dirname(remote)
            if parent:
                await sftp.makedirs(parent, exist_ok=True)
            await sftp.put(str(local), remote)

        await self._transfer(f"sftp put {local} {remote}", put)

    async def get(self, remote: str, local: Path) -> None:
        """Copy the path ``remote`` to ``local`` over SFTP (parent directories are created)."""

        async def get(sftp: asyncssh.SFTPClient) -> None:
            local.parent.mkdir(parents=True, exist_ok=True)
            await sftp.get(remote, str(local))

        await self._transfer(f"sftp get {remote} {local}", get)

    async def _transfer(self, shown: str,
                        action: Callable[[asyncssh.SFTPClient], Awaitable[None]]) -> None:
        conn = await self._connection()
        timeout = self._options.transfer_timeout
        deadline = _deadline(timeout)
        async with self._slot(shown, timeout, deadline):
            try:
                async with asyncio.timeout_at(deadline):
                    sftp = await conn.start_sftp_client()
                    try:
                        await action(sftp)
                    finally:
                        # Not ``async with``: its exit waits for the channel to close with no
                        # limit, and after a timeout nothing would bound that wait any more.
                        await self._close_sftp(sftp)
            except TimeoutError:
                raise CommandTimeout(self._name, shown, timeout) from None
            except (asyncssh.Error, OSError) as exc:
                raise CommandError(self._name, shown, None,
                                   detail=f"copy failed: {exc}") from exc

    @staticmethod
    async def _close_sftp(sftp: asyncssh.SFTPClient) -> None:
        """End the SFTP session and wait for its channel to close, ``DRAIN_TIMEOUT`` at most
        (a half-dead connection never confirms it; keepalive ends the connection later)."""
        sftp.exit()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(DRAIN_TIMEOUT):
                await sftp.wait_closed()

    # --- ports --------------------------------------------------------------------------------

    async def forward_port(self, address: str, port: int, *,
                           timeout: float = FORWARD_TIMEOUT) -> SshPortForward:
        """Forward a free port of 127.0.0.1 here to ``address:port`` as this host sees it,
        over the host's connection (the forward ends with it, or when closed).

        Setting it up may take ``timeout`` seconds once connected (connecting has its own
        ``connect_timeout``); ``CommandTimeout`` names the host after that.
        """
        conn = await self._connection()
        shown = f"forward {LOCAL_ADDRESS}:0 to {address}:{port}"
        try:
            async with asyncio.timeout(timeout):
                listener = await conn.forward_local_port(LOCAL_ADDRESS, 0, address, port)
        except TimeoutError:
            raise CommandTimeout(self._name, shown, timeout,
                                 during="setting up the port forward") from None
        except (asyncssh.Error, OSError) as exc:
            raise CommandError(self._name, shown, None,
                               detail=f"SSH port forward failed: {exc}") from exc
        forward = SshPortForward(self._name, conn, listener, address, port)
        log.debug("%s: %r", self._name, forward)
        return forward

    # --- the connection -----------------------------------------------------------------------

    async def close(self) -> None:
        """Close the connection (attached processes die with it); idempotent."""
        connecting, self._connecting = self._connecting, None
        if connecting is not None:  # abandoned: a connection it still makes is not kept
            connecting.cancel()
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(DRAIN_TIMEOUT):
                    await conn.wait_closed()

    async def _connection(self) -> asyncssh.SSHClientConnection:
        """The open connection, made (or remade after a drop) on demand.

        Callers arriving while a connection is being made wait for that same attempt and share
        its outcome, so a dead host costs one ``connect_timeout``, not one per waiting command.
        """
        if self._conn is not None and not self._conn.is_closed():
            return self._conn
        if self._connecting is None:
            if self._conn is not None:
                log.warning("%s: the SSH connection was lost; reconnecting", self._name)
            self._conn = None
            self._connecting = asyncio.create_task(self._connector.connect())
            self._connecting.add_done_callback(self._connected)
        attempt = self._connecting
        try:
            conn = await asyncio.shield(attempt)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if attempt.cancelled() and current is not None and not current.cancelling():
                raise self._closed_error() from None  # close() stopped the attempt, not us
            raise
        if attempt is not self._connecting and conn is not self._conn:
            raise self._closed_error()  # it finished, but close() had abandoned it meanwhile
        return conn

    def _closed_error(self) -> ProvisionError:
        return ProvisionError(f"{self._name}: the SSH executor was closed while connecting")

    def _connected(self, task: asyncio.Task[asyncssh.SSHClientConnection]) -> None:
        """Keep the connection an attempt made, unless ``close`` abandoned the attempt."""
        if task.cancelled() or task.exception() is not None:
            if self._connecting is task:
                self._connecting = None
            return
        if self._connecting is task:
            self._connecting = None
            self._conn = task.result()
        else:
            task.result().close()
