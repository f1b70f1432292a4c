"""A scripted executor for unit tests of what backends run on remote hosts.

Each command is answered by ``answer(argv) -> (exit code, stdout, stderr)`` (which may raise,
as a dropped host does); commands and uploads are recorded in order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_scyllabench.errors import CommandError
from pytest_scyllabench.execute.base import CommandResult

Answer = Callable[[tuple[str, ...]], tuple[int, str, str]]


@dataclass
class ScriptedHost:
    """An executor answering each command with ``answer`` and recording everything."""

    answer: Answer
    host: str = "host-1"
    #: Commands and uploads (``("put", local name, remote)``), in order.
    calls: list[tuple[str, ...]] = field(default_factory=list)
    #: Uploads as (local path, remote path).
    puts: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def commands(self) -> list[tuple[str, ...]]:
        """The commands run, without the uploads."""
        return [call for call, kind in zip(self.calls, self._kinds, strict=True)
                if kind == "run"]

    def __post_init__(self) -> None:
        self._kinds: list[str] = []

    async def run(self, command: Sequence[str], *, timeout: float, check: bool = True,
                  env: Mapping[str, str] | None = None, cwd: str | None = None,
                  stdin: bytes | None = None) -> CommandResult:
        argv = tuple(command)
        self.calls.append(argv)
        self._kinds.append("run")
        code, out, err = self.answer(argv)
        if check and code != 0:
            raise CommandError(self.host, argv, code, err)
        return CommandResult(self.host, argv, code, out, err)

    async def put(self, local: Path, remote: str) -> None:
        self.calls.append(("put", local.name, remote))
        self._kinds.append("put")
        self.puts.append((local, remote))

    async def start(self, command: Sequence[str], **kwargs: Any) -> Any:
        raise AssertionError("not expected")

    async def get(self, remote: str, local: Path) -> None:
        raise AssertionError("not expected")

    async def forward_port(self, address: str, port: int) -> Any:
        raise AssertionError("not expected")

    async def close(self) -> None:
        pass
