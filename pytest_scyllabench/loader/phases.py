"""The three phases of the loader -- schema, populate, run -- with progress and summary.

stdout carries one JSON object per line: ``{"event": "progress", ...}`` once per second and
``{"event": "summary", ...}`` at the end (the same object is written to ``--summary``).
Exit codes: 0 done, 1 populate lost more than 1 % of its writes, 2 fatal error (message on
stderr), 128 + signal number when stopped by SIGTERM/SIGINT (HDR log flushed, summary
written with ``"interrupted": true``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import resource
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from pytest_scyllabench import __version__
from pytest_scyllabench.loader import workload as cql
from pytest_scyllabench.loader.cli import LoaderArgs
from pytest_scyllabench.loader.drivers import Driver, DriverOptions, make_driver
from pytest_scyllabench.loader.keys import key_generator, share
from pytest_scyllabench.loader.recorder import (
    IntervalLogWriter,
    Recorder,
    epoch_to_monotonic_ns,
    interval_count,
    interval_p99_ms,
)
from pytest_scyllabench.loader.schedule import NS, ClosedLoop, OpenLoop, operation_count

#: Seconds given to in-flight operations after a stop signal.
STOP_DRAIN = 2.0
#: Fraction of failed writes above which populate fails.
POPULATE_ERROR_LIMIT = 0.01
#: Longest single sleep of the ticker, so that it notices a stop promptly.
TICK_POLL = 0.5


def tool_version(driver: Driver) -> str:
    return f"pytest-scyllabench {__version__} builtin loader ({driver.version()})"


def emit(event: dict[str, Any], out: IO[str] | None = None) -> None:
    stream = out or sys.stdout
    stream.write(json.dumps(event, separators=(",", ":")) + "\n")
    stream.flush()


def write_summary(path: str | None, summary: dict[str, Any]) -> None:
    """Write ``summary`` atomically (a reader never sees half a file) and echo it on stdout."""
    if path:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, target)
    emit({"event": "summary", **summary})


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Stopper:
    """SIGTERM/SIGINT: stop the running loop gracefully, or cancel the phase before it runs."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._on_stop: Callable[[], None] | None = None
        self._task: asyncio.Task[Any] | None = None

    def install(self, task: asyncio.Task[Any]) -> None:
        self._task = task
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._fire, sig)

    def on_stop(self, callback: Callable[[], None] | None) -> None:
        self._on_stop = callback

    def _fire(self, signum: int) -> None:
        if self.signum is not None:
            return
        self.signum = signum
        if self._on_stop is not None:
            self._on_stop()
        elif self._task is not None:
            self._task.cancel()


class Ticker:
    """Once per second: rotate the histograms, log the interval, print progress.

    The interval grid is aligned on the start of the measured window (``start + warmup``):
    when the warm-up is not a whole number of seconds the first interval is shorter, so the
    intervals of the window tile it exactly and its rate is not skewed by a straddling one.

    With an ``end`` (seconds from the start: the end of the measured window) the ticker stops
    before the interval that ends there: :meth:`final` logs it, with its nominal length, once
    the operations in flight have completed (the cool-down), so that their latencies land in
    the window instead of after it.

    :attr:`window_ops` counts the successes of the intervals it logs from the window's start
    on: the summary's ``ops`` are exactly what the log's window holds. (Counting completions
    by their timestamp, as :attr:`LoopStats.measured` does, put those handled just before
    the ticker's rotation at the window's start in the summary but in the warm-up's interval.)
    """

    def __init__(self, args: LoaderArgs, recorder: Recorder, loop: OpenLoop | ClosedLoop,
                 start_epoch: float, start_ns: int, writer: IntervalLogWriter | None,
                 warmup: float = 0.0, end: float | None = None) -> None:
        self._args = args
        self._recorder = recorder
        self._loop = loop
        self._start_epoch = start_epoch
        self._start_ns = start_ns
        self._writer = writer
        #: Seconds from the start to the beginning of the interval in progress.
        self._offset = 0.0
        phase = round(warmup % 1.0, 3)
        self._first_length = phase if phase > 0 else 1.0
        self._end = end
        self._warmup = warmup
        #: Successful operations of the logged intervals that start in the measured window.
        self.window_ops = 0

    def _next_boundary(self) -> float:
        boundary = self._offset + (self._first_length if self._offset == 0 else 1.0)
        return boundary if self._end is None else min(boundary, self._end)

    def _is_last(self, boundary: float) -> bool:
        return self._end is not None and boundary >= self._end - 1e-6

    async def run(self) -> None:
        """Log each interval as it ends; returns before the last one when there is an end."""
        while True:
            boundary = self._next_boundary()
            if self._is_last(boundary):
                return
            await self._sleep_until(boundary)
            self._emit_interval(boundary - self._offset)

    async def reach_end(self) -> None:
        """Wait until the end of the measured window has passed (now if there is no end)."""
        if self._end is not None:
            await self._sleep_until(self._end)

    async def _sleep_until(self, offset: float) -> None:
        target = self._start_ns + int(offset * NS)
        while (delay := (target - time.monotonic_ns()) / NS) > 0:
            await asyncio.sleep(min(delay, TICK_POLL))

    def final(self) -> None:
        """Log the interval in progress (if it has begun), at most its nominal length.

        Intervals whose end has passed but that :meth:`run` did not log yet (a busy event
        loop) are logged first, each whole, so the last one is never lost.
        """
        now = (time.monotonic_ns() - self._start_ns) / NS
        while now >= (boundary := self._next_boundary()) and not self._is_last(boundary):
            self._emit_interval(boundary - self._offset)
        elapsed = now - self._offset
        if elapsed > 0:
            self._emit_interval(min(elapsed, self._next_boundary() - self._offset))
        if self._writer is not None:
            self._writer.flush()

    def _emit_interval(self, length: float) -> None:
        histograms = self._recorder.rotate()
        start = self._start_epoch + self._offset
        count = interval_count(histograms)
        if self._offset >= self._warmup - 1e-6:
            self.window_ops += count
        if self._writer is not None:
            for tag_name, histogram in histograms.items():
                self._writer.write(tag_name, start, length, histogram)
            self._writer.flush()
        self._offset = round(self._offset + length, 6)
        emit({"event": "progress", "loader": self._args.loader,
              "elapsed": round(self._offset, 3),
              "rate": round(count / length, 1),
              "p99_ms": round(interval_p99_ms(histograms), 3),
              "errors": self._loop.stats.all_errors})


def _driver(args: LoaderArgs) -> Driver:
    return make_driver(args.driver, DriverOptions(
        hosts=args.hosts, port=args.port, workload=args.workload,
        connections=args.connections, request_timeout=args.request_timeout,
        connect_timeout=args.connect_timeout, datacenter=args.datacenter,
        fake_latency_ms=args.fake_latency_ms, protocol_version=args.protocol_version))


def _base_summary(args: LoaderArgs, driver: Driver) -> dict[str, Any]:
    return {"loader": args.loader, "phase": args.phase, "tool_version": tool_version(driver),
            "driver": driver.name, "driver_details": driver.details(),
            "hosts": list(args.hosts), "index": args.index, "count": args.count}


async def run_loader(args: LoaderArgs) -> int:
    """Run one phase; returns the exit code. Fatal problems raise ``ScyllaBenchError``."""
    stopper = Stopper()
    current = asyncio.current_task()
    assert current is not None
    stopper.install(current)
    driver = _driver(args)
    try:
        await driver.connect()
        if args.phase == "schema":
            return await schema_phase(args, driver)
        if args.phase == "populate":
            return await populate_phase(args, driver, stopper)
        return await run_phase(args, driver, stopper)
    except asyncio.CancelledError:
        if stopper.signum is None:
            raise
        return 128 + stopper.signum
    finally:
        stopper.on_stop(None)
        await driver.close()


async def schema_phase(args: LoaderArgs, driver: Driver) -> int:
    workload = args.workload
    await driver.execute_ddl(cql.create_keyspace(workload, args.replication_factor,
                                                 args.datacenter))
    await driver.execute_ddl(cql.create_table(workload))
    write_summary(args.summary, {**_base_summary(args, driver),
                                 "keyspace": workload.keyspace, "table": workload.table,
                                 "replication_factor": args.replication_factor,
                                 "datacenter": args.datacenter})
    return 0


async def _cool_down(loop: OpenLoop | ClosedLoop, args: LoaderArgs) -> None:
    """Wait for the operations in flight (the request timeout plus 2 s; a stop, before or
    during the wait, cuts it to ``STOP_DRAIN`` from the stop on), then count those still in
    flight as errors."""
    bound = args.request_timeout + 2
    await loop.drain(bound, stop_timeout=STOP_DRAIN)
    if loop.inflight:
        loop.abandon(STOP_DRAIN if loop.stopping else bound)


async def populate_phase(args: LoaderArgs, driver: Driver, stopper: Stopper) -> int:
    workload = args.workload
    await driver.prepare()
    rows = min(workload.populate or workload.partitions, workload.partitions)
    keys = share(rows, args.index, args.count)
    recorder = Recorder(["write"])
    closed = ClosedLoop(driver, keys, cql.Values(workload.row_size), recorder,
                        concurrency=args.concurrency)
    start_epoch, start_ns, cpu0 = time.time(), time.monotonic_ns(), cpu_seconds()
    ticker = Ticker(args, recorder, closed, start_epoch, start_ns, None)
    stopper.on_stop(closed.stop)
    tick_task = asyncio.create_task(ticker.run())
    try:
        await closed.run()
        await _cool_down(closed, args)  # failed writes, as in the run phase: not lost
    finally:
        tick_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await tick_task
    ticker.final()
    wall = (time.monotonic_ns() - start_ns) / NS
    stats = closed.stats
    write_summary(args.summary, {
        **_base_summary(args, driver), "start_at": start_epoch, "first_key": keys.start,
        "rows": len(keys), "ops": stats.completed, "issued": stats.issued,
        "errors": stats.errors.total, "errors_by_type": stats.errors.by_type,
        "error_samples": stats.errors.samples, "wall_seconds": round(wall, 3),
        "achieved_rate": round(stats.completed / wall, 1) if wall > 0 else 0.0,
        "cpu_seconds": round(cpu_seconds() - cpu0, 3),
        "interrupted": stopper.signum is not None})
    if stopper.signum is not None:
        return 128 + stopper.signum
    if stats.errors.total > POPULATE_ERROR_LIMIT * max(len(keys), 1):
        print(f"loader {args.loader}: populate: {stats.errors.total} of {len(keys)} writes "
              f"failed ({', '.join(stats.errors.samples[:2])})", file=sys.stderr)
        return 1
    return 0


async def run_phase(args: LoaderArgs, driver: Driver, stopper: Stopper) -> int:
    workload = args.workload
    await driver.prepare()
    # Millisecond precision, like the log's timestamps, so that interval starts and the
    # measured window compare exactly.
    start_at = round(args.start_at if args.start_at is not None else time.time() + 1.0, 3)
    start_ns = epoch_to_monotonic_ns(start_at)
    # The warm-up and the window in milliseconds too: the interval grid is, and a sub-ms
    # remainder was logged as an interval of its own, of length "0.000".
    warmup = round(args.warmup, 3)
    duration = max(round(args.duration, 3), 0.001)
    span = round(warmup + duration, 3)
    window_ns = (start_ns + int(warmup * NS), start_ns + int(span * NS))
    rng = random.Random(args.seed)
    mix = cql.OpMix(workload.mix, rng)
    keys = key_generator(workload, rng, offset=share(workload.partitions, args.index,
                                                     args.count).start)
    recorder = Recorder(mix.operations)
    loop = OpenLoop(driver, mix, keys, cql.Values(workload.row_size), recorder,
                    rate=args.rate, concurrency=args.concurrency, start_ns=start_ns,
                    total_ops=operation_count(span, args.rate), window_ns=window_ns)
    assert args.hdr_log is not None
    Path(args.hdr_log).parent.mkdir(parents=True, exist_ok=True)
    with open(args.hdr_log, "w", encoding="ascii") as log_file:
        ticker = Ticker(args, recorder, loop, start_at, start_ns,
                        IntervalLogWriter(log_file, start_at), warmup=warmup, end=span)
        stopper.on_stop(loop.stop)
        cpu0 = cpu_seconds()
        tick_task = asyncio.create_task(ticker.run())
        try:
            await loop.run()
            # Cool-down: the window's last interval waits for the operations in flight.
            await _cool_down(loop, args)
            if not loop.stopping:
                await ticker.reach_end()
        finally:
            tick_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await tick_task
            ticker.final()
    cpu = cpu_seconds() - cpu0
    wall = max((time.monotonic_ns() - start_ns) / NS, 1e-9)
    stats = loop.stats
    write_summary(args.summary, {
        **_base_summary(args, driver),
        "start_at": start_at, "measure_start": round(start_at + warmup, 3),
        "measure_end": round(start_at + span, 3), "warmup": warmup, "duration": duration,
        "target_rate": args.rate, "concurrency": args.concurrency,
        "ops_total": stats.completed, "ops": ticker.window_ops, "issued": stats.issued,
        "achieved_rate": round(ticker.window_ops / duration, 1),
        "errors": stats.errors.total, "errors_by_type": stats.errors.by_type,
        "error_samples": stats.errors.samples,
        "warmup_errors": stats.warmup_errors.total,
        "warmup_errors_by_type": stats.warmup_errors.by_type,
        "max_lag_ms": round(stats.max_lag_ns / 1e6, 3), "unfinished": stats.abandoned,
        "unsent": stats.unsent,
        "cpu_seconds": round(cpu, 3), "cpu_percent": round(100.0 * cpu / wall, 1),
        "hdr_log": args.hdr_log, "interrupted": stopper.signum is not None})
    if stopper.signum is not None:
        return 128 + stopper.signum
    return 0
