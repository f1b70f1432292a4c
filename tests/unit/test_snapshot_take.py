"""Taking a TSDB snapshot, without Prometheus: the archive in the trials directory is complete
or absent (a copy cut short by a full disk or Ctrl-C is not left under the archive's name),
and the snapshot is removed from Prometheus's host either way."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pytest_scyllabench.errors import CommandError, MonitoringError
from pytest_scyllabench.execute.base import CommandResult
from pytest_scyllabench.monitor.client import ADMIN_TIMEOUT, HTTP_TIMEOUT
from pytest_scyllabench.monitor.snapshot import take_snapshot

SNAPSHOT = "20260102T030405Z-0123456789abcdef"


@dataclass
class CopyingExecutor:
    """``get`` writes ``written`` bytes, then fails with ``fail`` when given."""

    written: bytes = b"\x1f\x8b complete archive"
    fail: BaseException | None = None
    host: str = "monitor1"
    commands: list[tuple[str, ...]] = field(default_factory=list)

    async def run(self, command: Sequence[str], *, timeout: float,
                  **kwargs: Any) -> CommandResult:
        self.commands.append(tuple(command))
        return CommandResult(self.host, tuple(command), 0, "", "")

    async def get(self, remote: str, local: Path) -> None:
        local.write_bytes(self.written)
        if self.fail is not None:
            raise self.fail


class FakeClient:
    timeouts: list[float | None]

    def __init__(self) -> None:
        self.timeouts = []

    async def post(self, path: str, params: Any = (), *, timeout: float | None = None) -> Any:
        assert path == "/api/v1/admin/tsdb/snapshot"
        self.timeouts.append(timeout)
        return {"name": SNAPSHOT}


@dataclass
class FakePrometheus:
    executor: CopyingExecutor
    client: FakeClient = field(default_factory=FakeClient)
    workdir: str = "/w"
    data_dir: str = "/w/data"
    what: str = "Prometheus on monitor1 (10.0.0.5:9090)"


def take(prometheus: FakePrometheus, trials: Path) -> Any:
    return asyncio.run(take_snapshot(prometheus, trials, catch_up=0))  # type: ignore[arg-type]


def removed(executor: CopyingExecutor) -> bool:
    return ("rm", "-rf", f"/w/data/snapshots/{SNAPSHOT}", f"/w/{SNAPSHOT}.tar.gz") in \
        executor.commands


def test_a_complete_copy_becomes_the_archive(tmp_path: Path) -> None:
    executor = CopyingExecutor()
    taken = take(FakePrometheus(executor), tmp_path / "t")
    assert taken.archive == tmp_path / "t" / "prometheus.tar.gz"
    assert taken.archive.read_bytes() == executor.written
    assert taken.size == len(executor.written)
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == ["prometheus.tar.gz"]
    assert removed(executor)


def test_the_snapshot_call_may_take_longer_than_a_query(tmp_path: Path) -> None:
    """Prometheus persists its head block before it answers: minutes on a big TSDB."""
    prometheus = FakePrometheus(CopyingExecutor())
    take(prometheus, tmp_path)
    assert prometheus.client.timeouts == [ADMIN_TIMEOUT]
    assert ADMIN_TIMEOUT > HTTP_TIMEOUT


def test_a_copy_cut_short_by_a_full_disk_leaves_no_archive(tmp_path: Path) -> None:
    executor = CopyingExecutor(written=b"\x1f\x8b half", fail=CommandError(
        "monitor1", ("cp",), None, detail="copy failed: [Errno 28] No space left on device"))
    with pytest.raises(MonitoringError, match=r"cannot pack snapshot .*No space left"):
        take(FakePrometheus(executor), tmp_path)
    assert list(tmp_path.iterdir()) == []
    assert removed(executor)


def test_a_copy_interrupted_by_ctrl_c_leaves_no_archive(tmp_path: Path) -> None:
    executor = CopyingExecutor(written=b"\x1f\x8b half", fail=KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        take(FakePrometheus(executor), tmp_path)
    assert list(tmp_path.iterdir()) == []
    assert removed(executor)
