"""Operations in flight at the end: populate's are failed writes, not lost ones; a stop during
the run's cool-down waits for them no longer than after any other stop."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

import pytest
from test_loader_support import StubDriver

from pytest_scyllabench.loader.cli import LoaderArgs
from pytest_scyllabench.loader.drivers import Done
from pytest_scyllabench.loader.phases import STOP_DRAIN, Stopper, populate_phase, run_phase
from pytest_scyllabench.stress.step import Workload


class StuckDriver(StubDriver):
    """Completes every write at once, except those of the keys in ``stuck``: never."""

    name = "stuck"

    def __init__(self, stuck: set[int]) -> None:
        self.stuck = stuck

    def write(self, key: int, value: bytes, done: Done) -> None:
        if key not in self.stuck:
            asyncio.get_running_loop().call_soon(lambda: done(time.monotonic_ns(), None))


def test_writes_that_never_complete_count_against_the_populate(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 5 of 100 writes never complete: the drain gives up on them after its bound. They are
    # failed writes (5 % > 1 %: exit 1), not silently missing from the summary's counts.
    args = LoaderArgs(
        phase="populate", hosts=("h",), port=9042, driver="fake",
        workload=Workload("w", {"write": 1.0}, partitions=100), rate=1, duration=1.0,
        warmup=0.0, concurrency=16, connections=1, start_at=None, hdr_log=None,
        summary=str(tmp_path / "p.json"), loader="loader-1", index=0, count=1,
        replication_factor=1, datacenter=None, request_timeout=0.0, connect_timeout=1.0,
        seed=1, fake_latency_ms=0.0, protocol_version=None)
    driver = StuckDriver({10, 20, 30, 40, 50})
    code = asyncio.run(populate_phase(args, driver, Stopper()))  # type: ignore[arg-type]
    summary = json.loads((tmp_path / "p.json").read_text())
    assert (summary["issued"], summary["ops"]) == (100, 95)
    assert summary["errors"] == 5
    assert summary["errors_by_type"] == {"Unfinished": 5}
    assert code == 1
    assert "5 of 100 writes failed" in capsys.readouterr().err


def test_a_stop_during_the_cool_down_gives_in_flight_operations_the_stop_bound(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The run's last operation never completes; SIGTERM arrives while the cool-down waits for
    # it (bound: request timeout + 2 = 32 s). From the stop on the wait is STOP_DRAIN, as
    # after a stop anywhere else: the runner's grace before SIGKILL is shorter than 32 s, and
    # a killed loader leaves no summary.
    args = LoaderArgs(
        phase="run", hosts=("h",), port=9042, driver="fake",
        workload=Workload("w", {"write": 1.0}, partitions=100, distribution="sequential"),
        rate=20, duration=0.25,
        warmup=0.0, concurrency=16, connections=1, start_at=round(time.time() + 0.2, 3),
        hdr_log=str(tmp_path / "r.hlog"), summary=str(tmp_path / "r.json"),
        loader="loader-1", index=0, count=1, replication_factor=1, datacenter=None,
        request_timeout=30.0, connect_timeout=1.0, seed=1, fake_latency_ms=0.0,
        protocol_version=None)
    driver = StuckDriver(set(range(4, 100)))  # keys 0-3 complete, the 5th never does
    stopper = Stopper()

    async def main() -> int:
        # Fired 1 s after the window's end, during the cool-down.
        asyncio.get_running_loop().call_later(
            args.start_at - time.time() + 1.25, stopper._fire, signal.SIGTERM)  # type: ignore[operator]
        async with asyncio.timeout(25):  # only so that a regression does not hang
            return await run_phase(args, driver, stopper)  # type: ignore[arg-type]

    assert asyncio.run(main()) == 128 + signal.SIGTERM
    summary = json.loads((tmp_path / "r.json").read_text())
    assert summary["interrupted"] is True
    assert (summary["issued"], summary["unfinished"]) == (5, 1)
    assert f"still in flight {STOP_DRAIN:g} s" in summary["error_samples"][0]
    capsys.readouterr()
