"""An exclusive lock on a file of the download cache, shared by concurrent sessions."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path


@contextlib.asynccontextmanager
async def locked(path: Path, timeout: float,
                 error: Callable[[str], Exception]) -> AsyncIterator[None]:
    """Hold an exclusive ``fcntl`` lock on ``path``, polling so the event loop stays free.

    After ``timeout`` seconds raises ``error(message)`` (the caller's exception type).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise error(f"{path}: still locked by another session after "
                                f"{timeout:g} s") from None
                await asyncio.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
