"""Teardown that holds: registered before the thing it tears down, idempotent, run once.

Callbacks run last-in first-out. Each runs at most once, even if ``run`` is called again from
a signal handler or ``atexit`` after the fixture finalizer already ran. A failing callback
(whatever it raises: a ``ScyllaBenchError``, an ``ExceptionGroup`` from a ``TaskGroup``, a bug)
does not stop the others; each failure becomes one line of the list ``run`` returns. Each
callback has a time limit: the one given to ``push``, else the one given to ``run``.

While teardown runs, :func:`interrupts_deferred` absorbs the next interrupts (Ctrl-C, SIGTERM):
stopping half-way would leave nodes running or cloud instances billed. Each absorbed one is
announced with the count left before teardown is abandoned.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from types import FrameType

Callback = Callable[[], Awaitable[None]]
#: Seconds one callback may take unless ``push`` says otherwise.
DEFAULT_TIMEOUT = 300.0
#: Interrupts absorbed during teardown; the next one abandons it.
ABSORBED_INTERRUPTS = 2

log = logging.getLogger(__name__)


def one_line(exc: BaseException) -> str:
    """``exc`` as one line: a group's leaves joined with ``; ``, a message's lines too."""
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(one_line(inner) for inner in exc.exceptions)
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return "; ".join(lines) or type(exc).__name__


@dataclass
class TeardownStack:
    """Async cleanup callbacks, each run once, newest first."""

    _callbacks: list[tuple[str, Callback, float | None]] = field(default_factory=list)

    def push(self, name: str, callback: Callback, timeout: float | None = None) -> None:
        """Register ``callback`` (before creating what it cleans up); ``timeout``: seconds it
        may take (``None``: the limit given to :meth:`run`)."""
        self._callbacks.append((name, callback, timeout))

    def __len__(self) -> int:
        return len(self._callbacks)

    @property
    def names(self) -> list[str]:
        """What is still to tear down, in the order it will be."""
        return [name for name, _, _ in reversed(self._callbacks)]

    async def run(self, timeout: float = DEFAULT_TIMEOUT) -> list[str]:
        """Run and forget every callback; return one line per failure."""
        failures: list[str] = []
        while self._callbacks:
            name, callback, limit = self._callbacks.pop()
            limit = timeout if limit is None else limit
            scope = asyncio.timeout(limit)
            try:
                async with scope:
                    await callback()
            except TimeoutError as exc:
                failures.append(f"teardown of {name}: " + (f"timed out after {limit:g} s"
                                                            if scope.expired() else one_line(exc)))
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():  # teardown itself is
                    failures.append(f"teardown of {name}: interrupted")
                    raise
                # The callback met a cancellation of its own (a task it awaited was
                # cancelled): one failure, and the older callbacks still run.
                failures.append(f"teardown of {name}: cancelled before it finished")
            # Teardown must go on whatever one callback raised: every failure is reported.
            except Exception as exc:
                log.debug("teardown of %s failed", name, exc_info=True)
                failures.append(f"teardown of {name}: {one_line(exc)}")
        return failures


def sigterm_as_interrupt() -> Callable[[], None]:
    """Make SIGTERM unwind like Ctrl-C, so pytest runs every finalizer. Returns the undo."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"received signal {signal.Signals(signum).name}")

    previous = signal.signal(signal.SIGTERM, handler)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore


@contextlib.contextmanager
def interrupts_deferred(what: str, announce: Callable[[str], None],
                        absorb: int = ABSORBED_INTERRUPTS) -> Iterator[None]:
    """Within the block, the first ``absorb`` SIGINT/SIGTERM are announced, not obeyed; the
    next raises ``KeyboardInterrupt``. ``what`` names what is being torn down. Outside the
    main thread (where Python cannot set handlers) the block runs unshielded."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = 0

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal received
        received += 1
        name = signal.Signals(signum).name
        if received > absorb:
            raise KeyboardInterrupt(f"received {name} during teardown {received} times: "
                                    f"abandoned it ({what} may be left behind)")
        left = absorb - received + 1
        announce(f"scyllabench: {name} during teardown: still tearing down {what}, so that "
                 f"nothing is left running; interrupt {left} more time{'s' * (left > 1)} "
                 f"to abandon it")

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, before in previous.items():
            signal.signal(sig, before)
