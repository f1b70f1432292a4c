"""Teardown that holds: registered before the thing it tears down, idempotent, run once.

Callbacks run last-in first-out. Each runs at most once, even if ``run`` is called again from
a signal handler or ``atexit`` after the fixture finalizer already ran. A failing callback does
not stop the others; their errors are returned together.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import FrameType

from pytest_scyllabench.errors import ScyllaBenchError

Callback = Callable[[], Awaitable[None]]


@dataclass
class TeardownStack:
    """Async cleanup callbacks, each run once, newest first."""

    _callbacks: list[tuple[str, Callback]] = field(default_factory=list)

    def push(self, name: str, callback: Callback) -> None:
        """Register ``callback`` (before creating what it cleans up)."""
        self._callbacks.append((name, callback))

    def __len__(self) -> int:
        return len(self._callbacks)

    async def run(self, timeout: float = 300.0) -> list[str]:
        """Run and forget every callback; return one message per failure."""
        failures: list[str] = []
        while self._callbacks:
            name, callback = self._callbacks.pop()
            try:
                async with asyncio.timeout(timeout):
                    await callback()
            except TimeoutError:
                failures.append(f"teardown of {name}: timed out after {timeout:g} s")
            except (ScyllaBenchError, OSError, RuntimeError, ValueError) as exc:
                failures.append(f"teardown of {name}: {exc}")
            except asyncio.CancelledError:
                failures.append(f"teardown of {name}: interrupted")
                raise
        return failures


def sigterm_as_interrupt() -> Callable[[], None]:
    """Make SIGTERM unwind like Ctrl-C, so pytest runs every finalizer. Returns the undo."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"received signal {signal.Signals(signum).name}")

    previous = signal.signal(signal.SIGTERM, handler)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore
