"""The executor interface: run commands and move files on one host.

A local implementation (asyncio subprocesses) and an SSH one share this protocol, so the
database, stress-tool and monitoring code never knows where it runs.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

#: A callback receiving each line of a stream (without its newline) as it arrives.
LineSink = Callable[[str], None]

log = logging.getLogger(__name__)


class LineSplitter:
    """Splits a process's output into lines (of any length) for its sinks.

    A sink that raises (a progress display whose terminal went away, a full disk under the
    output file) is dropped with a warning and the others go on: the stream must still be
    read to its end, or the process blocks on a full pipe in the middle of its step.
    """

    def __init__(self, sinks: Sequence[LineSink], what: str) -> None:
        self._sinks = list(sinks)
        self._what = what
        self._pending = b""

    def feed(self, chunk: bytes) -> None:
        self._pending += chunk
        *lines, self._pending = self._pending.split(b"\n")
        for raw in lines:
            self._emit(raw)

    def end(self) -> None:
        """The stream ended: its last line, if it had no newline."""
        if self._pending:
            self._emit(self._pending)
            self._pending = b""

    def _emit(self, raw: bytes) -> None:
        line = raw.decode(errors="replace").rstrip("\r")
        for sink in list(self._sinks):
            try:
                sink(line)
            # A sink is the caller's code: whatever it raises must not stop the reading.
            except Exception as exc:  # noqa: BLE001
                self._sinks.remove(sink)
                log.warning("output of %s: a line handler failed and gets no more lines: "
                            "%s: %s", self._what, type(exc).__name__, exc)


@dataclass(frozen=True)
class CommandResult:
    """What a finished command left behind."""

    host: str
    command: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str


class RunningProcess(Protocol):
    """A command started in the background on a host."""

    @property
    def pid(self) -> int | None:
        """The process id on its host, where known."""

    @property
    def returncode(self) -> int | None:
        """The exit code, or ``None`` while it runs."""

    async def wait(self, timeout: float | None = None) -> int:
        """Wait for the exit code; raise ``CommandTimeout`` after ``timeout`` seconds."""

    async def terminate(self, grace: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; idempotent. Returns the exit code."""

    def stderr_tail(self, lines: int = 20) -> str:
        """The last lines the process wrote to stderr."""


class PortForward(Protocol):
    """A port of a host (as the host sees it) made reachable from this process."""

    @property
    def local_address(self) -> str:
        """The address this process connects to."""

    @property
    def local_port(self) -> int:
        """The port this process connects to."""

    async def accepting(self) -> bool:
        """Whether something on the host accepts connections on the forwarded port now."""

    async def close(self) -> None:
        """Stop forwarding; idempotent."""


def ere_literal(text: str) -> str:
    """``text`` as a POSIX extended regular expression matching exactly itself (for
    ``pgrep -f``, ``grep -E``): a path may hold ``.``, ``+``, ``(`` and the like."""
    return re.sub(r"([\\.\[\](){}*+?|^$])", r"\\\1", text)


def tcp_accepting(address: str, port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on ``address:port`` (blocking)."""
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class DirectPort:
    """A port this process reaches as it is: the host's network is this machine's."""

    local_address: str
    local_port: int

    async def accepting(self) -> bool:
        return await asyncio.to_thread(tcp_accepting, self.local_address, self.local_port)

    async def close(self) -> None:
        """Nothing to close."""


class Executor(Protocol):
    """Runs commands and copies files on one host."""

    @property
    def host(self) -> str:
        """The host name used in messages (an address or a name from the profile)."""

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
        """Run ``command`` to completion.

        Raises ``CommandError`` on a non-zero exit when ``check`` is true, and
        ``CommandTimeout`` (after killing it) when it outlives ``timeout`` seconds.
        """

    async def start(
        self,
        command: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        stdout_path: str | None = None,
        on_stdout: LineSink | None = None,
        detach: bool = False,
    ) -> RunningProcess:
        """Start ``command`` in the background.

        Its stdout goes line by line to ``on_stdout`` and/or to the file ``stdout_path``
        (a path on the host). ``detach`` puts it in its own session so that it can outlive
        this process (a kept cluster); otherwise it dies with us.
        """

    async def put(self, local: Path, remote: str) -> None:
        """Copy a local file to ``remote`` on the host."""

    async def get(self, remote: str, local: Path) -> None:
        """Copy ``remote`` from the host to a local file."""

    async def forward_port(self, address: str, port: int) -> PortForward:
        """Make ``address:port`` as the host sees it reachable from this process until the
        forward is closed (an SSH host forwards a local port over its connection)."""

    async def close(self) -> None:
        """Release connections; idempotent."""
