"""Driver adapters without a database: the IO-thread bridge, selection by name."""

from __future__ import annotations

import asyncio
import importlib.util
import threading

import pytest

from pytest_scyllabench.errors import ConfigError
from pytest_scyllabench.loader.drivers import (
    DriverOptions,
    ScyllaDriver,
    make_driver,
    resolve_driver,
)
from pytest_scyllabench.stress.step import Workload

OPTIONS = DriverOptions(hosts=("127.0.0.1",), port=9042, workload=Workload("w", {"write": 1}))


def test_io_thread_completions_reach_the_loop_thread_in_batches() -> None:
    driver = ScyllaDriver(OPTIONS)
    threads, per_thread = 4, 2500
    seen: list[tuple[int, BaseException | None]] = []
    loop_thread: list[int] = []

    async def main() -> int:
        loop = asyncio.get_running_loop()
        driver._loop = loop  # as connect() does
        finished = loop.create_future()
        wakeups = 0
        original = loop.call_soon_threadsafe

        def counting(callback, *args):  # type: ignore[no-untyped-def]
            nonlocal wakeups
            wakeups += 1
            return original(callback, *args)

        loop.call_soon_threadsafe = counting  # type: ignore[method-assign]

        def done(end_ns: int, error: BaseException | None) -> None:
            loop_thread.append(threading.get_ident())
            seen.append((end_ns, error))
            if len(seen) == threads * per_thread:
                finished.set_result(None)

        def io_thread(n: int) -> None:
            for i in range(per_thread):
                if i % 100 == 0:
                    driver._on_error(TimeoutError(f"t{n}"), done)
                else:
                    driver._on_result(None, done)

        workers = [threading.Thread(target=io_thread, args=(n,)) for n in range(threads)]
        for worker in workers:
            worker.start()
        async with asyncio.timeout(20):
            await finished
        for worker in workers:
            worker.join(5)
        return wakeups

    wakeups = asyncio.run(main())
    assert len(seen) == threads * per_thread
    assert set(loop_thread) == {threading.get_ident()}  # asyncio.run runs on this thread
    assert sum(isinstance(error, TimeoutError) for _, error in seen) == threads * 25
    assert all(end > 0 for end, _ in seen)
    assert wakeups < threads * per_thread  # batched: fewer wake-ups than completions


def test_drivers_by_name() -> None:
    assert make_driver("fake", OPTIONS).name == "fake"
    assert make_driver("scylla-driver", OPTIONS).name == "scylla-driver"
    with pytest.raises(ConfigError, match="unknown driver 'mongo'"):
        make_driver("mongo", OPTIONS)


def test_auto_prefers_acsylla_when_installed() -> None:
    expected = "acsylla" if importlib.util.find_spec("acsylla") else "scylla-driver"
    assert resolve_driver("auto") == expected
    assert resolve_driver("scylla-driver") == "scylla-driver"
