"""The local executor: commands run as asyncio subprocesses on this machine.

Every child starts in its own session (``start_new_session``), so a Ctrl-C typed in the
terminal reaches pytest only, and pytest decides how to stop its children. A child that is not
detached also gets ``PR_SET_PDEATHSIG = SIGKILL``: if this Python process dies without running
its teardown (SIGKILL, crash), the kernel kills the child too. Note that Linux ties the death
signal to the *thread* that forked the child; asyncio forks from the event-loop thread, which
is the main thread in a benchmark session.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import shutil
import signal
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

from pytest_scyllabench.errors import CommandError, CommandTimeout
from pytest_scyllabench.execute.base import CommandResult, DirectPort, LineSink, LineSplitter

_PR_SET_PDEATHSIG = 1
_CHUNK = 1 << 16
#: Lines of stderr kept in memory for error messages.
_STDERR_LINES = 200
#: Seconds allowed for output pipes to drain once the process has gone.
_DRAIN_TIMEOUT = 5.0


def _load_prctl() -> Callable[..., int] | None:
    """Resolve ``prctl`` before any fork: the child must not import or look up symbols."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl: Callable[..., int] = libc.prctl
    except (OSError, AttributeError):
        return None
    return prctl


_PRCTL = _load_prctl()


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` asking the kernel to SIGKILL the child when this process dies."""
    if _PRCTL is None:
        return None
    prctl, parent, sigkill = _PRCTL, os.getpid(), int(signal.SIGKILL)

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, sigkill, 0, 0, 0)
        if os.getppid() != parent:  # the parent died between fork and prctl
            os._exit(1)

    return preexec


def _merged_env(env: Mapping[str, str] | None) -> dict[str, str] | None:
    """This process's environment updated with ``env`` (``None`` when there is nothing to add)."""
    if env is None:
        return None
    merged = dict(os.environ)
    merged.update(env)
    return merged


def _kill_group(pid: int | None, sig: signal.Signals) -> None:
    """Send ``sig`` to the process group led by ``pid`` (each child leads its own session)."""
    if pid is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


async def _pump(stream: asyncio.StreamReader | None, sinks: Sequence[LineSink],
                what: str = "a process") -> None:
    """Split ``stream`` into lines (of any length) and hand each line to every sink."""
    if stream is None:
        return
    lines = LineSplitter(sinks, what)
    while chunk := await stream.read(_CHUNK):
        lines.feed(chunk)
    lines.end()


def _tail_of_file(path: Path, lines: int) -> str:
    """The last ``lines`` lines of a text file (reads at most the last 64 KiB)."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - _CHUNK))
            data = handle.read()
    except OSError:
        return ""
    return "\n".join(data.decode(errors="replace").splitlines()[-lines:])


class LocalProcess:
    """A command started by :meth:`LocalExecutor.start` (implements ``RunningProcess``)."""

    def __init__(self, host: str, command: tuple[str, ...], process: asyncio.subprocess.Process,
                 pumps: Sequence[asyncio.Task[None]], stderr_lines: deque[str] | None,
                 stderr_file: Path | None, stdout_file: IO[str] | None) -> None:
        self._host = host
        self._command = command
        self._process = process
        self._pumps = tuple(pumps)
        self._stderr_lines = stderr_lines
        self._stderr_file = stderr_file
        self._stdout_file = stdout_file

    @property
    def pid(self) -> int | None:
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.returncode

    @property
    def command(self) -> tuple[str, ...]:
        return self._command

    async def wait(self, timeout: float | None = None) -> int:
        """Wait for the exit code; raise ``CommandTimeout`` after ``timeout`` seconds."""
        try:
            async with asyncio.timeout(timeout):
                code = await self._process.wait()
        except TimeoutError:
            raise CommandTimeout(self._host, self._command, timeout or 0.0,
                                 self.stderr_tail()) from None
        await self._drain()
        return code

    async def terminate(self, grace: float = 10.0) -> int | None:
        """SIGTERM to the process group, SIGKILL after ``grace`` seconds; idempotent."""
        pid = self._process.pid
        if self._process.returncode is None:
            _kill_group(pid, signal.SIGTERM)
            try:
                async with asyncio.timeout(grace):
                    await self._process.wait()
            except TimeoutError:
                pass
        # Whatever is left of the group (the leader after the grace, or its children) is killed.
        _kill_group(pid, signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_DRAIN_TIMEOUT):
                await self._process.wait()
        await self._drain()
        return self._process.returncode

    def stderr_tail(self, lines: int = 20) -> str:
        """The last lines written to stderr (from the log file when detached)."""
        if self._stderr_lines is not None:
            return "\n".join(list(self._stderr_lines)[-lines:])
        if self._stderr_file is not None:
            return _tail_of_file(self._stderr_file, lines)
        return ""

    async def _drain(self) -> None:
        """Let the output pumps reach end of file, then close the output file."""
        if self._pumps:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_DRAIN_TIMEOUT):
                    await asyncio.gather(*self._pumps)
        if self._stdout_file is not None and not self._stdout_file.closed:
            self._stdout_file.close()


class LocalExecutor:
    """Runs commands on this machine (implements ``Executor``)."""

    def __init__(self, host: str = "local") -> None:
        self._host = host

    @property
    def host(self) -> str:
        return self._host

    def __repr__(self) -> str:
        return f"LocalExecutor(host={self._host!r})"

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
        """Run ``command`` to completion; its whole process group is killed on timeout."""
        argv = tuple(command)
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=_merged_env(env), cwd=cwd,
                start_new_session=True, preexec_fn=_die_with_parent(),
            )
        except OSError as exc:
            raise CommandError(self._host, argv, None, detail=f"cannot execute: {exc}") from exc
        out: list[str] = []
        err: list[str] = []
        pumps = [asyncio.create_task(_pump(process.stdout, [out.append])),
                 asyncio.create_task(_pump(process.stderr, [err.append]))]
        try:
            async with asyncio.timeout(timeout):
                if stdin is not None and process.stdin is not None:
                    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                        process.stdin.write(stdin)
                        await process.stdin.drain()
                    process.stdin.close()
                code = await process.wait()
                await asyncio.gather(*pumps)
        except TimeoutError:
            await self._kill(process, pumps)
            raise CommandTimeout(self._host, argv, timeout, "\n".join(err)) from None
        except asyncio.CancelledError:
            await self._kill(process, pumps)
            raise
        result = CommandResult(host=self._host, command=argv, exit_code=code,
                               stdout="\n".join(out), stderr="\n".join(err))
        if check and code != 0:
            raise CommandError(self._host, argv, code, result.stderr)
        return result

    @staticmethod
    async def _kill(process: asyncio.subprocess.Process,
                    pumps: Sequence[asyncio.Task[None]]) -> None:
        _kill_group(process.pid, signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_DRAIN_TIMEOUT):
                await process.wait()
                await asyncio.gather(*pumps)
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
    ) -> LocalProcess:
        """Start ``command`` in the background.

        Attached: stdout goes line by line to ``stdout_path`` and ``on_stdout``; stderr is kept
        in memory for :meth:`LocalProcess.stderr_tail`; the child dies with this process.
        Detached (``detach=True``, for a kept cluster): stdout and stderr go straight to
        ``stdout_path`` (no pipe to us, so the child outlives us); ``on_stdout`` is refused.
        """
        argv = tuple(command)
        if detach:
            return await self._start_detached(argv, env, cwd, stdout_path, on_stdout)
        stdout_file: IO[str] | None = None
        sinks: list[LineSink] = []
        if stdout_path is not None:
            Path(stdout_path).parent.mkdir(parents=True, exist_ok=True)
            stdout_file = open(stdout_path, "a", encoding="utf-8")  # noqa: SIM115 (closed by _drain)
            file = stdout_file

            def to_file(line: str) -> None:
                file.write(line + "\n")
                file.flush()

            sinks.append(to_file)
        if on_stdout is not None:
            sinks.append(on_stdout)
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE if sinks else asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                env=_merged_env(env), cwd=cwd,
                start_new_session=True, preexec_fn=_die_with_parent(),
            )
        except OSError as exc:
            if stdout_file is not None:
                stdout_file.close()
            raise CommandError(self._host, argv, None, detail=f"cannot execute: {exc}") from exc
        stderr_lines: deque[str] = deque(maxlen=_STDERR_LINES)
        what = f"{argv[0]} (pid {process.pid})"
        pumps = [asyncio.create_task(_pump(process.stdout, sinks, what)),
                 asyncio.create_task(_pump(process.stderr, [stderr_lines.append], what))]
        return LocalProcess(self._host, argv, process, pumps, stderr_lines, None, stdout_file)

    async def _start_detached(self, argv: tuple[str, ...], env: Mapping[str, str] | None,
                              cwd: str | None, stdout_path: str | None,
                              on_stdout: LineSink | None) -> LocalProcess:
        if on_stdout is not None:
            raise ValueError("a detached process cannot stream stdout to a callback; "
                             "give stdout_path instead")
        target = Path(stdout_path or os.devnull)
        if stdout_path is not None:
            target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "ab") as output:
            try:
                process = await asyncio.create_subprocess_exec(
                    *argv, stdin=asyncio.subprocess.DEVNULL, stdout=output,
                    stderr=asyncio.subprocess.STDOUT, env=_merged_env(env), cwd=cwd,
                    start_new_session=True,
                )
            except OSError as exc:
                raise CommandError(self._host, argv, None,
                                   detail=f"cannot execute: {exc}") from exc
        stderr_file = Path(stdout_path) if stdout_path is not None else None
        return LocalProcess(self._host, argv, process, (), None, stderr_file, None)

    async def put(self, local: Path, remote: str) -> None:
        """Copy ``local`` to the path ``remote`` (parent directories are created)."""
        await asyncio.to_thread(_copy, self._host, local, Path(remote))

    async def get(self, remote: str, local: Path) -> None:
        """Copy the path ``remote`` to ``local`` (parent directories are created)."""
        await asyncio.to_thread(_copy, self._host, Path(remote), local)

    async def forward_port(self, address: str, port: int) -> DirectPort:
        """This machine's ports need no forward."""
        return DirectPort(address, port)

    async def close(self) -> None:
        """Nothing to release."""


def _copy(host: str, source: Path, target: Path) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    except OSError as exc:
        raise CommandError(host, ("cp", str(source), str(target)), None,
                           detail=f"copy failed: {exc}") from exc
