"""The open-loop scheduler of the run phase and the closed loop of the populate phase.

Open loop: operation ``i`` has the intended start ``start + i / rate`` (computed from ``i``,
never accumulated, so it cannot drift). The scheduler wakes, issues every operation whose
intended start has passed, and sleeps until the next one -- at least ``min_sleep`` so that
high rates are issued in batches instead of one sleep per operation. At most
``concurrency`` operations are in flight; when the limit is reached the next operation
waits for a slot, and its response time still counts from its intended start: a stalled
database shows up as large response times (coordinated omission corrected) while the
service time, counted from the actual send, stays small.

Errors: an operation that fails (timeout, unavailable, overloaded...) is counted per error
type with a few samples, and is **not** recorded in the response- and service-time
histograms nor counted as an operation: its latency would mix failure handling into the
response-time distribution (a fast "unavailable" would even improve it). Its time from the
intended start to the failure goes to its own histogram (``<op>-err``, see
:class:`~pytest_scyllabench.loader.recorder.Recorder`), so nothing issued is silently lost.
Errors lower the achieved rate, so a step whose operations fail misses its target rate and
fails, and the error count and samples travel with the result. Like the successes (and the
``<op>-err`` intervals of the window), an error counts in :attr:`LoopStats.errors` when it
completes from the measured window's start on; the warm-up's go to
:attr:`LoopStats.warmup_errors`, so that a cold warm-up does not fail a clean window.

Cool-down: the last interval of the measured window takes every completion until the
operations in flight have finished (:meth:`_Base.drain`): an operation intended inside the
window but completing after its end -- a stall at the end of the step -- is recorded, not
dropped. :attr:`LoopStats.measured` counts the successes completed from the window's start
on; the summary's ``ops`` are counted from the log's intervals in the window instead
(:class:`~pytest_scyllabench.loader.phases.Ticker`), which can differ from it by the few
completions handled around the ticker's rotation. Operations still in flight when the
drain's bound runs out are counted as errors (:meth:`_Base.abandon`) and their late
completions ignored.

Saturation: once the window has ended the scheduler no longer waits for a slot. Operations
due by then that the concurrency limit kept from being sent are not sent at all
(:attr:`LoopStats.unsent`, in the summary): they did not happen, so the achieved rate shows
the shortfall, and they are not the database's errors. Sending that backlog after the window,
as slots free up, would put its completions in the window's last interval -- the cool-down
takes every completion -- and a loader the database held to a fraction of its rate would log
more than its target rate.
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pytest_scyllabench.loader.drivers import Driver
from pytest_scyllabench.loader.keys import KeyGenerator
from pytest_scyllabench.loader.recorder import Recorder
from pytest_scyllabench.loader.workload import OpMix, Values

NS = 1_000_000_000
#: Shortest sleep between two batches of sends, seconds: the longest a due operation waits
#: for its send at high rates (about half of it on average). 1 ms cost 0.6 ms of response
#: time at 1,000-5,000 ops/s; 0.2 ms twice the loader's CPU per operation at 10,000 ops/s.
MIN_SLEEP = 0.0005
#: How long the scheduler waits for a free slot before it looks at its stop flag again.
SLOT_POLL = 0.5
#: Error messages kept as samples.
MAX_SAMPLES = 5

Clock = Callable[[], int]


@dataclass
class ErrorLog:
    """Errors counted by type, with the first few messages."""

    by_type: dict[str, int] = field(default_factory=dict)
    samples: list[str] = field(default_factory=list)
    total: int = 0

    def add(self, operation: str, error: BaseException) -> None:
        self.add_count(type(error).__name__, 1, f"{operation}: {type(error).__name__}: {error}")

    def add_count(self, name: str, count: int, sample: str) -> None:
        """``count`` errors of type ``name``, ``sample`` describing them."""
        if count <= 0:
            return
        self.total += count
        self.by_type[name] = self.by_type.get(name, 0) + count
        if len(self.samples) < MAX_SAMPLES:
            self.samples.append(sample[:300])


@dataclass
class LoopStats:
    issued: int = 0
    completed: int = 0
    #: Successful operations completed from the measured window's start until the drain
    #: ended (the window's last interval takes the completions after its end).
    measured: int = 0
    #: Operations still in flight when the drain's bound ran out (counted in ``errors``).
    abandoned: int = 0
    #: Operations due before the window's end that the concurrency limit kept from being
    #: sent by then: never sent (missing from the achieved rate, not errors).
    unsent: int = 0
    #: Largest delay of an actual send behind its intended start, nanoseconds.
    max_lag_ns: int = 0
    #: Failed operations completed from the measured window's start on (the rule of
    #: ``measured``), with the abandoned ones.
    errors: ErrorLog = field(default_factory=ErrorLog)
    #: Failed operations completed before the window's start (the warm-up): not judged.
    warmup_errors: ErrorLog = field(default_factory=ErrorLog)

    @property
    def all_errors(self) -> int:
        """Every failed operation, warm-up included."""
        return self.errors.total + self.warmup_errors.total


class _Waiter:
    """A slot/drain wake-up the completion path can trigger cheaply."""

    def __init__(self) -> None:
        self._future: asyncio.Future[None] | None = None

    def wake(self) -> None:
        future = self._future
        if future is not None and not future.done():
            future.set_result(None)

    async def wait(self, timeout: float) -> None:
        self._future = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(timeout):
                await self._future
        except TimeoutError:
            pass
        finally:
            self._future = None


class _Base:
    def __init__(self, driver: Driver, recorder: Recorder, concurrency: int,
                 window_ns: tuple[int, int], clock: Clock) -> None:
        self._driver = driver
        self._recorder = recorder
        self._concurrency = concurrency
        self._window = window_ns
        self._clock = clock
        self.stats = LoopStats()
        self.inflight = 0
        self._stopping = False
        self._stopped_at = 0.0
        self._abandoned = False
        self._slot = _Waiter()
        self._drained = _Waiter()

    def stop(self) -> None:
        """Stop issuing; the loop returns after the in-flight operations finish or time out."""
        if not self._stopping:
            self._stopped_at = time.monotonic()
        self._stopping = True
        self._slot.wake()
        self._drained.wake()

    @property
    def stopping(self) -> bool:
        return self._stopping

    def _complete(self, operation: str, intended: int, sent: int,
                  end: int, error: BaseException | None) -> None:
        if self._abandoned:
            return  # counted as an error when the drain gave up on it
        self.inflight -= 1
        stats = self.stats
        if error is None:
            self._recorder.record(operation, (end - intended) // 1000, (end - sent) // 1000)
            stats.completed += 1
            if end >= self._window[0]:
                stats.measured += 1
        else:
            self._recorder.record_error(operation, (end - intended) // 1000)
            log = stats.errors if end >= self._window[0] else stats.warmup_errors
            log.add(operation, error)
        if self.inflight < self._concurrency:
            self._slot.wake()
        if self.inflight == 0:
            self._drained.wake()

    async def drain(self, timeout: float, stop_timeout: float | None = None) -> None:
        """Wait (at most ``timeout`` s) for the operations in flight to finish.

        Once stopped, at most ``stop_timeout`` s from the stop on, even when the stop comes
        during the wait (a SIGTERM in the cool-down).
        """
        deadline = time.monotonic() + timeout
        while self.inflight > 0:
            limit = deadline
            if self._stopping and stop_timeout is not None:
                limit = min(limit, self._stopped_at + stop_timeout)
            remaining = limit - time.monotonic()
            if remaining <= 0:
                return
            await self._drained.wait(min(remaining, SLOT_POLL))

    def abandon(self, waited: float) -> int:
        """Count the operations still in flight as errors and ignore their completions.

        Called when :meth:`drain` gave up after ``waited`` seconds; returns their number.
        """
        count = self.inflight
        self._abandoned = True
        self.inflight = 0
        self.stats.abandoned += count
        log = self.stats.errors if self._clock() >= self._window[0] else self.stats.warmup_errors
        log.add_count(
            "Unfinished", count, f"{count} operation(s) still in flight {waited:g} s after "
                                 f"the last was issued (counted as errors)")
        return count


def operation_count(seconds: float, rate: int) -> int:
    """How many operations start in ``seconds`` at ``rate``: those intended before its end.

    ``ceil(seconds * rate)`` of the product as the user wrote it: the float product can land
    just above a whole number (``1.1 * 3000`` is ``3300.0000000000005``), which would add an
    operation intended at the very end of the window. Rounded to a microsecond first.
    """
    return math.ceil(round(seconds * rate, 6))


class OpenLoop(_Base):
    """Issues ``total_ops`` operations at ``rate`` per second from ``start_ns``."""

    def __init__(self, driver: Driver, mix: OpMix, keys: KeyGenerator, values: Values,
                 recorder: Recorder, *, rate: int, concurrency: int, start_ns: int,
                 total_ops: int, window_ns: tuple[int, int],
                 clock: Clock = time.monotonic_ns, min_sleep: float = MIN_SLEEP) -> None:
        super().__init__(driver, recorder, concurrency, window_ns, clock)
        if rate < 1:
            raise ValueError(f"rate must be >= 1, got {rate}")
        self._mix = mix
        self._keys = keys
        self._values = values
        self._rate = rate
        self._start = start_ns
        self._total = total_ops
        self._min_sleep = min_sleep

    def intended(self, i: int) -> int:
        """Intended start of operation ``i``, monotonic nanoseconds."""
        return self._start + i * NS // self._rate

    async def run(self) -> None:
        """Issue every operation on schedule (or until stopped); does not wait for the last."""
        clock, rate, start, total = self._clock, self._rate, self._start, self._total
        end = self._window[1]
        i = 0
        while i < total and not self._stopping:
            now = clock()
            due = min(total, (now - start) * rate // NS + 1) if now >= start else 0
            while i < due and self.inflight < self._concurrency:
                self._issue(i)
                i += 1
            if i < due:
                if clock() >= end:
                    self._unsent(total - i)
                    return
                await self._slot.wait(SLOT_POLL)
                # A slot freed after the window's end: what waited for it is unsent too.
                if not self._stopping and clock() >= end:
                    self._unsent(total - i)
                    return
            elif i < total:
                delay = (self.intended(i) - clock()) / NS
                await asyncio.sleep(min(max(delay, self._min_sleep), SLOT_POLL))

    def _unsent(self, count: int) -> None:
        """``count`` operations the concurrency limit kept back past the window's end."""
        self.stats.unsent += count

    def _issue(self, i: int) -> None:
        intended = self._start + i * NS // self._rate
        operation = self._mix.next()
        key = self._keys.next()
        sent = self._clock()
        lag = sent - intended
        stats = self.stats
        if lag > stats.max_lag_ns:
            stats.max_lag_ns = lag
        stats.issued += 1
        self.inflight += 1
        done = functools.partial(self._complete, operation, intended, sent)
        if operation == "write":
            self._driver.write(key, self._values.next(), done)
        else:
            self._driver.read(key, done)


class ClosedLoop(_Base):
    """Writes ``keys`` as fast as ``concurrency`` allows (populate; not a measurement)."""

    def __init__(self, driver: Driver, keys: Iterable[int], values: Values,
                 recorder: Recorder, *, concurrency: int,
                 clock: Clock = time.monotonic_ns) -> None:
        super().__init__(driver, recorder, concurrency, (0, 2**63), clock)
        self._keys = keys
        self._values = values

    async def run(self) -> None:
        for key in self._keys:
            while self.inflight >= self._concurrency and not self._stopping:
                await self._slot.wait(SLOT_POLL)
            if self._stopping:
                return
            sent = self._clock()
            self.stats.issued += 1
            self.inflight += 1
            self._driver.write(key, self._values.next(),
                               functools.partial(self._complete, "write", sent, sent))
            if self.stats.issued % self._concurrency == 0:
                await asyncio.sleep(0)
