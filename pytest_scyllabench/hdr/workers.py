"""Worker processes for a merge, and reading the logs in them.

A merge's batches (:mod:`pytest_scyllabench.hdr.batch`) and the reading of its logs go to
worker processes when there is enough work to pay for starting them (:data:`PARALLEL_CHARS`
characters of payloads or log files); the results do not depend on it. Processes are spawned,
not forked: the caller may hold threads and locks (an event loop, a driver).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pytest_scyllabench.errors import HdrLogError
from pytest_scyllabench.hdr.histogram import MICROSECONDS
from pytest_scyllabench.hdr.log import HdrLog, TagMap, read_log

#: Below this many characters of work the tasks run in this process.
PARALLEL_CHARS = 24_000_000

_T = TypeVar("_T")
_R = TypeVar("_R")


class Workers:
    """Worker processes, started on first use; this process when there are none.

    ``count`` is the number of processes, ``None`` to decide from the amount of work
    (:data:`PARALLEL_CHARS`) and the CPUs this process may use. If the pool cannot start or
    breaks (a main module without ``if __name__ == "__main__"`` cannot spawn), the work is
    done in this process: same result.
    """

    def __init__(self, count: int | None = None) -> None:
        self.count = count
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def processes_for(self, tasks: int, chars: int) -> int:
        if self.count is not None:
            return max(0, min(self.count, tasks))
        if chars < PARALLEL_CHARS or tasks < 2:
            return 1
        return min(available_cpus(), tasks)

    def map(self, function: Callable[[_T], _R], tasks: Sequence[_T], chars: int) -> list[_R]:
        """``function`` over ``tasks`` in order, in worker processes when worth it."""
        return list(self.imap(function, tasks, chars))

    def imap(self, function: Callable[[_T], _R], tasks: Sequence[_T],
             chars: int) -> Iterator[_R]:
        """:meth:`map`, yielding each result as it comes (in order)."""
        done = 0
        if self.processes_for(len(tasks), chars) > 1:
            try:
                if self._pool is None:
                    self._pool = ProcessPoolExecutor(
                        max_workers=self.processes_for(len(tasks), chars),
                        mp_context=multiprocessing.get_context("spawn"))
                for result in self._pool.map(function, tasks):
                    yield result
                    done += 1
                return
            except (BrokenProcessPool, OSError):
                self.close()
        for task in tasks[done:]:
            yield function(task)


@dataclass(frozen=True)
class LogFile:
    """A log to read: where, whose, its tags (``None``: ours already) and unit."""

    path: Path
    loader: str
    canonical_tag: TagMap | None = None
    value_unit_ns: float = MICROSECONDS


def read_logs(files: Sequence[LogFile], workers: Workers) -> list[HdrLog]:
    """Read every log, in worker processes when they are large (tags are mapped here)."""
    sizes = []
    for file in files:
        try:
            sizes.append(os.stat(file.path).st_size)
        except OSError:
            sizes.append(0)  # read_log says what is wrong with it
    raw = workers.map(_read_raw, [(str(f.path), f.loader, f.value_unit_ns) for f in files],
                      sum(sizes))
    logs = []
    for file, outcome in zip(files, raw, strict=True):
        if isinstance(outcome, tuple):
            loader, path, message = outcome
            raise HdrLogError(loader, path, message.removeprefix(f"loader {loader}: {path}: "))
        logs.append(outcome if file.canonical_tag is None
                    else outcome.with_tags(file.canonical_tag))
    return logs


def _read_raw(task: tuple[str, str, float]) -> HdrLog | tuple[str, str, str]:
    """One log with the tool's tags; an error as (loader, path, message): it pickles."""
    path, loader, unit = task
    try:
        return read_log(path, loader, value_unit_ns=unit)
    except HdrLogError as exc:
        return exc.loader, exc.path, str(exc)


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
