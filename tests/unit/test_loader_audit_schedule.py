"""Audit of the open loop's edges: the backlog at the window's end, low and fractional rates,
the interval grid of sub-millisecond times."""

from __future__ import annotations

import asyncio
import json
import random
import time
from pathlib import Path

import pytest
from test_loader_support import StubDriver

from pytest_scyllabench.hdr.log import read_log
from pytest_scyllabench.loader.cli import LoaderArgs
from pytest_scyllabench.loader.drivers import Done, DriverOptions, FakeDriver
from pytest_scyllabench.loader.keys import Sequential
from pytest_scyllabench.loader.phases import Stopper, run_phase
from pytest_scyllabench.loader.recorder import Recorder, epoch_to_monotonic_ns
from pytest_scyllabench.loader.schedule import NS, OpenLoop, operation_count
from pytest_scyllabench.loader.workload import OpMix, Values
from pytest_scyllabench.stress.step import Workload


class HoldingDriver:
    """Completes every operation ``latency`` s after it was sent; records the send times."""

    name = "holding"

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.sent_ns: list[int] = []

    def write(self, key: int, value: bytes, done: Done) -> None:
        self.sent_ns.append(time.monotonic_ns())
        asyncio.get_running_loop().call_later(
            self.latency, lambda: done(time.monotonic_ns(), None))

    def read(self, key: int, done: Done) -> None:
        self.write(key, b"", done)


def _loop(driver: HoldingDriver, rate: int, total: int, concurrency: int) -> OpenLoop:
    mix = OpMix({"write": 1.0}, random.Random(1))
    start = time.monotonic_ns() + 20_000_000
    end = start + total * NS // rate
    return OpenLoop(driver, mix, Sequential(100), Values(8, pool=2),  # type: ignore[arg-type]
                    Recorder(mix.operations), rate=rate, concurrency=concurrency,
                    start_ns=start, total_ops=total, window_ns=(start, end))


def test_a_slot_freed_after_the_window_does_not_send_the_backlog() -> None:
    # One slot, 10 operations due within 10 ms, each held 80 ms: the first one is sent, the
    # other nine wait for the slot, which frees only after the window's end. They are the
    # unsent backlog; none of them may be sent then (its completion would land in the
    # window's last interval, the cool-down's).
    driver = HoldingDriver(latency=0.08)
    loop = _loop(driver, rate=1000, total=10, concurrency=1)

    async def main() -> None:
        await loop.run()
        await loop.drain(5.0)

    asyncio.run(main())
    end = loop._window[1]
    assert [t for t in driver.sent_ns if t >= end] == []
    assert (loop.stats.issued, loop.stats.unsent) == (1, 9)
    assert loop.stats.completed == 1 and loop.stats.errors.total == 0


def test_low_and_fractional_rates_have_exact_intended_starts() -> None:
    one = _loop(HoldingDriver(0.0), rate=1, total=3, concurrency=1)
    start = one.intended(0)
    assert [one.intended(i) - start for i in range(3)] == [0, NS, 2 * NS]
    seven = _loop(HoldingDriver(0.0), rate=7, total=8, concurrency=1)
    start = seven.intended(0)
    # 1/7 s is not a whole number of nanoseconds: each start is floored from the index,
    # and the 7th lands exactly one second after the first.
    assert seven.intended(7) - start == NS
    assert [seven.intended(i) - start for i in range(3)] == [0, 142_857_142, 285_714_285]
    # At 1 op/s a 1.5 s window holds the operations intended at 0 and 1 s.
    assert operation_count(1.5, 1) == 2
    assert operation_count(1.0, 1) == 1


def _run_args(tmp_path: Path, warmup: float, duration: float) -> LoaderArgs:
    return LoaderArgs(
        phase="run", hosts=("127.0.0.1",), port=9042, driver="fake",
        workload=Workload("w", {"write": 1.0}, partitions=100), rate=100, duration=duration,
        warmup=warmup, concurrency=16, connections=1, start_at=round(time.time() + 0.2, 3),
        hdr_log=str(tmp_path / "l.hlog"), summary=str(tmp_path / "l.json"), loader="loader-1",
        index=0, count=1, replication_factor=1, datacenter=None, request_timeout=1.0,
        connect_timeout=1.0, seed=1, fake_latency_ms=0.0, protocol_version=None)


def test_sub_millisecond_times_leave_no_empty_interval_in_the_log(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The interval grid is in milliseconds, like the log's timestamps: a warm-up of 0.2345 s
    # left a last interval of 0.0005 s, written "0.000" (an interval a reader divides by),
    # after a whole one that already reached the window's rounded end.
    args = _run_args(tmp_path, warmup=0.2345, duration=1.0)
    driver = FakeDriver(DriverOptions(hosts=("h",), port=9042, workload=args.workload,
                                      fake_latency_ms=0.0))

    async def main() -> int:
        await driver.connect()
        return await run_phase(args, driver, Stopper())

    assert asyncio.run(main()) == 0
    capsys.readouterr()
    summary = json.loads((tmp_path / "l.json").read_text())
    log = read_log(tmp_path / "l.hlog", "loader-1")
    spans = sorted({(i.start, i.end) for i in log.intervals})
    assert all(end - start >= 0.001 - 1e-9 for start, end in spans), spans
    # The intervals tile the run, one of them starts the measured window, the last ends it.
    # (an end is read as start + length: equal to the next start within float rounding)
    assert [s for s, _ in spans[1:]] == pytest.approx([e for _, e in spans[:-1]], abs=1e-6)
    assert summary["measure_start"] in [s for s, _ in spans]
    assert spans[-1][1] == pytest.approx(summary["measure_end"], abs=1e-6)


class EarlyReportDriver(StubDriver):
    """Completes at once, except operation ``late``: its completion, stamped just after the
    window's start, is delivered 50 ms before the ticker's boundary (a driver thread's
    timestamp, or a callback run in the loop's iteration before the ticker's)."""

    name = "early-report"

    def __init__(self, stamp_epoch: float, late: int) -> None:
        self._stamp_epoch = stamp_epoch
        self._late = late
        self.sent = 0

    def write(self, key: int, value: bytes, done: Done) -> None:
        self.sent += 1
        loop = asyncio.get_running_loop()
        if self.sent != self._late:
            loop.call_soon(lambda: done(time.monotonic_ns(), None))
            return
        stamp = epoch_to_monotonic_ns(self._stamp_epoch)
        delay = (stamp - time.monotonic_ns()) / NS - 0.05
        loop.call_later(max(delay, 0.0), lambda: done(stamp, None))

    def read(self, key: int, done: Done) -> None:
        self.write(key, value=b"", done=done)


def test_the_summarys_ops_are_what_the_logs_window_holds(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The summary's ops counted completions by their timestamp, the log by when the ticker
    # rotated: a completion stamped in the window but handled before the rotation was in the
    # summary and in the warm-up's interval (the merge then found a mismatch; a test of it
    # failed now and then).
    args = _run_args(tmp_path, warmup=0.5, duration=1.0)
    driver = EarlyReportDriver(args.start_at + 0.501, late=10)  # type: ignore[operator]

    async def main() -> int:
        return await run_phase(args, driver, Stopper())  # type: ignore[arg-type]

    assert asyncio.run(main()) == 0
    capsys.readouterr()
    summary = json.loads((tmp_path / "l.json").read_text())
    log = read_log(tmp_path / "l.hlog", "loader-1")
    window = log.select({"write-rt"}, summary["measure_start"] - 0.0005,
                        summary["measure_end"] - 0.0005)
    assert summary["ops"] == sum(i.decode().get_total_count() for i in window)
    assert summary["ops_total"] == summary["issued"] == 150
