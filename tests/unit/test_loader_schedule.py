"""The open-loop scheduler against fake drivers: rate, intended times, coordinated omission."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from pytest_scyllabench.loader.drivers import Done
from pytest_scyllabench.loader.keys import Sequential
from pytest_scyllabench.loader.recorder import Recorder
from pytest_scyllabench.loader.schedule import NS, ClosedLoop, OpenLoop
from pytest_scyllabench.loader.workload import OpMix, Values


class TimedDriver:
    """Completes each operation after ``latency`` s; ``stall`` holds completions in a window."""

    name = "timed"

    def __init__(self, latency: float = 0.0005,
                 stall: tuple[float, float] | None = None,
                 fail_every: int = 0) -> None:
        self.latency = latency
        self.stall = stall  # (from, to) in seconds after the first request
        self.fail_every = fail_every
        self.sent: list[Any] = []
        self.first: float | None = None

    def _submit(self, done: Done) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        self.first = self.first if self.first is not None else now
        self.sent.append(done)
        finish = now + self.latency
        if self.stall is not None:
            begin, end = (self.first + t for t in self.stall)
            if begin <= finish < end:
                finish = end
        error = (RuntimeError(f"op {len(self.sent)} failed")
                 if self.fail_every and len(self.sent) % self.fail_every == 0 else None)
        loop.call_at(finish, lambda: done(time.monotonic_ns(), error))

    def write(self, key: int, value: bytes, done: Done) -> None:
        self._submit(done)

    def read(self, key: int, done: Done) -> None:
        self._submit(done)


def _open_loop(driver: TimedDriver, rate: int, seconds: float, concurrency: int = 10_000,
               mix: dict[str, float] | None = None,
               slack: float = 0.0) -> tuple[OpenLoop, Recorder]:
    """An open loop of ``seconds`` at ``rate``; by default every operation has a slot, so
    that a loaded machine holding the loop back past the window's end cannot leave operations
    unsent (only a test of the limit sets a small ``concurrency``, and ``slack`` seconds more
    window for its backlog to go out)."""
    rng = random.Random(1)
    op_mix = OpMix(mix or {"write": 1.0}, rng)  # type: ignore[arg-type]
    recorder = Recorder(op_mix.operations)
    start = time.monotonic_ns() + 50_000_000
    loop = OpenLoop(driver, op_mix, Sequential(1000), Values(16, pool=2), recorder,  # type: ignore[arg-type]
                    rate=rate, concurrency=concurrency, start_ns=start,
                    total_ops=int(seconds * rate),
                    window_ns=(start, start + int((seconds + slack) * NS)))
    return loop, recorder


async def _run(loop: OpenLoop) -> None:
    await loop.run()
    await loop.drain(5.0)


def test_fast_driver_reaches_the_target_rate_on_schedule() -> None:
    driver = TimedDriver(latency=0.0005)
    loop, recorder = _open_loop(driver, rate=4000, seconds=1.0)
    began = time.monotonic()
    asyncio.run(_run(loop))
    elapsed = time.monotonic() - began
    assert loop.stats.completed == 4000
    # Open loop: it never runs ahead of the schedule (how far behind a loaded machine makes it
    # fall is a measurement, perf/loader_rate.py, not a test).
    assert elapsed >= 0.95
    histograms = recorder.rotate()
    assert histograms["write-rt"].get_total_count() == 4000
    assert histograms["write-st"].get_total_count() == 4000


def test_intended_start_times_never_drift() -> None:
    driver = TimedDriver()
    loop, _ = _open_loop(driver, rate=3000, seconds=0.5)
    asyncio.run(_run(loop))
    start = loop.intended(0)
    # Computed from the index: exact after any number of operations (3000/s is 333333.3 ns).
    assert loop.intended(3_000_000) - start == 1000 * NS
    for i, done in enumerate(driver.sent):
        _operation, intended, sent = done.args
        assert intended == start + i * NS // 3000
        assert sent >= intended  # never sent early


def test_stalled_driver_shows_in_response_time_not_in_service_time() -> None:
    # 1000 ops/s, 4 in flight; the driver completes nothing for 0.5 s.
    driver = TimedDriver(latency=0.001, stall=(0.3, 0.8))
    loop, recorder = _open_loop(driver, rate=1000, seconds=1.5, concurrency=4, slack=3.0)
    asyncio.run(_run(loop))
    histograms = recorder.rotate()
    rt, st = histograms["write-rt"], histograms["write-st"]
    assert rt.get_total_count() == st.get_total_count() == 1500
    # Response time counts the wait of every op queued behind the stall...
    assert rt.get_max_value() >= 450_000
    assert rt.get_value_at_percentile(80) > 100_000  # a third of the ops waited
    # ...while service time only sees the few requests held by the driver.
    assert st.get_value_at_percentile(99) < 50_000
    slow_rt = sum(c for v, c in _values(rt) if v > 100_000)
    # Held through the stall: about 0.5 s of service time, at most the 4 in flight (a loaded
    # machine may delay a few callbacks by 100 ms, never by 0.4 s).
    slow_st = sum(c for v, c in _values(st) if v > 400_000)
    assert slow_st <= 4
    assert slow_rt > 300


def _values(histogram: Any) -> list[tuple[int, int]]:
    return [(item.value_iterated_to, item.count_at_value_iterated_to)
            for item in histogram.get_recorded_iterator()]


def test_errors_are_counted_with_samples_and_recorded_apart() -> None:
    driver = TimedDriver(fail_every=10)
    loop, recorder = _open_loop(driver, rate=2000, seconds=0.5, mix={"read": 1, "write": 1})
    asyncio.run(_run(loop))
    stats = loop.stats
    assert stats.errors.total == 100
    assert stats.errors.by_type == {"RuntimeError": 100}
    assert len(stats.errors.samples) == 5
    assert "failed" in stats.errors.samples[0]
    assert stats.completed == 900
    histograms = recorder.rotate()
    recorded = sum(histograms[t].get_total_count() for t in ("read-rt", "write-rt"))
    assert recorded == 900
    assert histograms["read-rt"].get_total_count() > 300
    # Each failure's time to failure is kept under its own tag, never among the successes.
    failed = sum(histograms[t].get_total_count() for t in ("read-err", "write-err"))
    assert failed == 100
    assert recorder.rotate().keys() == {"read-rt", "read-st", "write-rt", "write-st"}


def test_errors_before_the_window_are_warm_up_errors() -> None:
    # Operations 1-50 fail and report a completion before the window's start (the warm-up);
    # operations 51-100 fail inside it: only the latter are the window's errors, the rule of
    # ``measured`` for the successes.
    driver = TimedDriver()
    loop, _ = _open_loop(driver, rate=1000, seconds=0.2)
    window_start = loop._window[0]
    count = 0

    def submit(done: Done) -> None:
        nonlocal count
        count += 1
        driver.sent.append(done)
        if count <= 50:
            end = window_start - 1
            asyncio.get_running_loop().call_soon(lambda: done(end, RuntimeError("cold")))
        elif count <= 100:
            asyncio.get_running_loop().call_soon(
                lambda: done(max(time.monotonic_ns(), window_start), RuntimeError("late")))
        else:
            TimedDriver._submit(driver, done)

    driver._submit = submit  # type: ignore[method-assign]
    asyncio.run(_run(loop))
    stats = loop.stats
    assert (stats.errors.total, stats.warmup_errors.total, stats.all_errors) == (50, 50, 100)
    assert stats.errors.samples[0] == "write: RuntimeError: late"
    assert stats.warmup_errors.samples[0] == "write: RuntimeError: cold"
    assert stats.completed == stats.measured == 100


def test_a_slow_last_operation_is_waited_for_and_recorded() -> None:
    # The last of 200 operations takes 0.4 s: the drain waits for it after the run ends.
    driver = TimedDriver(latency=0.001)
    loop, recorder = _open_loop(driver, rate=1000, seconds=0.2)
    slow = 200

    def submit(done: Done) -> None:
        if len(driver.sent) + 1 == slow:
            driver.sent.append(done)
            asyncio.get_running_loop().call_later(0.4, lambda: done(time.monotonic_ns(), None))
        else:
            TimedDriver._submit(driver, done)

    driver._submit = submit  # type: ignore[method-assign]
    asyncio.run(_run(loop))
    assert loop.stats.completed == loop.stats.measured == slow
    assert loop.inflight == 0 and loop.stats.errors.total == 0
    assert recorder.rotate()["write-rt"].get_max_value() >= 400_000


def test_abandoned_operations_are_errors_and_their_completion_is_ignored() -> None:
    driver = TimedDriver(latency=0.001)
    loop, recorder = _open_loop(driver, rate=1000, seconds=0.1)
    late: list[Done] = []

    def submit(done: Done) -> None:
        if len(driver.sent) + 1 == 100:
            driver.sent.append(done)
            late.append(done)  # never completes within the drain
        else:
            TimedDriver._submit(driver, done)

    driver._submit = submit  # type: ignore[method-assign]

    async def main() -> None:
        await loop.run()
        await loop.drain(0.2)
        assert loop.abandon(0.2) == 1

    asyncio.run(main())
    late[0](time.monotonic_ns(), None)
    stats = loop.stats
    assert (stats.completed, stats.abandoned, stats.errors.total) == (99, 1, 1)
    assert stats.errors.by_type == {"Unfinished": 1}
    assert recorder.rotate()["write-rt"].get_total_count() == 99


def test_stop_ends_the_run_early() -> None:
    driver = TimedDriver()
    loop, _ = _open_loop(driver, rate=1000, seconds=30.0)

    async def main() -> None:
        asyncio.get_running_loop().call_later(0.3, loop.stop)
        async with asyncio.timeout(3):
            await _run(loop)

    asyncio.run(main())
    assert 100 < loop.stats.issued < 1000
    assert loop.inflight == 0


def test_closed_loop_writes_every_key_once_within_the_concurrency() -> None:
    written: list[int] = []
    peak = 0

    class Counting(TimedDriver):
        def write(self, key: int, value: bytes, done: Done) -> None:
            nonlocal peak
            written.append(key)
            peak = max(peak, closed.inflight)
            self._submit(done)

    recorder = Recorder(["write"])
    closed = ClosedLoop(Counting(), range(100, 600), Values(8), recorder,  # type: ignore[arg-type]
                        concurrency=16)

    async def main() -> None:
        await closed.run()
        await closed.drain(5)

    asyncio.run(main())
    assert sorted(written) == list(range(100, 600))
    assert peak <= 16
    assert closed.stats.completed == 500
