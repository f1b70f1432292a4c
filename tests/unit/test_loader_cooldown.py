"""The run phase's cool-down: operations issued at the end of the window are not lost.

The phase runs in this process against a fake driver whose chosen operations are slow (or
never complete), and its HDR log is read back as the merge reads it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_loader_support import StubDriver

from pytest_scyllabench.hdr.log import HdrLog, read_log
from pytest_scyllabench.loader.cli import LoaderArgs
from pytest_scyllabench.loader.drivers import Done
from pytest_scyllabench.loader.phases import Stopper, run_phase
from pytest_scyllabench.stress.step import Workload

RATE = 40
WARMUP = 0.5
DURATION = 1.0
TOTAL = int((WARMUP + DURATION) * RATE)


class SlowLastDriver(StubDriver):
    """Completes each operation after 1 ms, the ones ``latency`` picks after longer.

    ``latency(n)`` (n: 1-based count of the operation) is seconds, ``None``: never completes
    on its own (``late`` holds it, to be completed by the test). ``fail(n)``: it fails.
    """

    name = "slow-last"

    def __init__(self, latency: Callable[[int], float | None],
                 fail: Callable[[int], bool] = lambda n: False) -> None:
        self._latency = latency
        self._fail = fail
        self.sent = 0
        self.late: list[Done] = []

    def _submit(self, done: Done) -> None:
        self.sent += 1
        latency = self._latency(self.sent)
        if latency is None:
            self.late.append(done)
            return
        error = RuntimeError(f"op {self.sent} failed") if self._fail(self.sent) else None
        asyncio.get_running_loop().call_later(
            latency, lambda: done(time.monotonic_ns(), error))

    def write(self, key: int, value: bytes, done: Done) -> None:
        self._submit(done)

    def read(self, key: int, done: Done) -> None:
        self._submit(done)


def _args(tmp_path: Path, request_timeout: float) -> LoaderArgs:
    return LoaderArgs(
        phase="run", hosts=("127.0.0.1",), port=9042, driver="fake",
        workload=Workload("w", {"write": 1.0}, partitions=100), rate=RATE, duration=DURATION,
        warmup=WARMUP, concurrency=16, connections=1, start_at=round(time.time() + 0.3, 3),
        hdr_log=str(tmp_path / "l.hlog"), summary=str(tmp_path / "l.json"), loader="loader-1",
        index=0, count=1, replication_factor=1, datacenter=None,
        request_timeout=request_timeout, connect_timeout=1.0, seed=1, fake_latency_ms=0.0,
        protocol_version=None)


def _run(tmp_path: Path, driver: SlowLastDriver,
         request_timeout: float = 1.0) -> tuple[dict[str, Any], HdrLog]:
    args = _args(tmp_path, request_timeout)
    code = asyncio.run(run_phase(args, driver, Stopper()))  # type: ignore[arg-type]
    assert code == 0
    summary = json.loads((tmp_path / "l.json").read_text())
    return summary, read_log(tmp_path / "l.hlog", "loader-1")


def _in_window(log: HdrLog, summary: dict[str, Any], tag: str) -> list[Any]:
    return list(log.select({tag}, summary["measure_start"] - 0.0005,
                           summary["measure_end"] - 0.0005))


def test_a_slow_last_operation_lands_in_the_windows_last_interval(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The last operation is issued just before the window ends and completes 0.8 s later.
    driver = SlowLastDriver(lambda n: 0.8 if n == TOTAL else 0.001)
    summary, log = _run(tmp_path, driver)
    assert driver.sent == TOTAL == summary["ops_total"]
    window = _in_window(log, summary, "write-rt")
    # Nothing is logged after the window: its last interval took the late completion ...
    assert max(i.start for i in log.intervals) < summary["measure_end"] - 0.5
    last = max(window, key=lambda i: i.start)
    assert last.end == pytest.approx(summary["measure_end"], abs=0.002)
    assert last.length == pytest.approx(1.0, abs=0.002)
    assert last.decode().get_max_value() >= 800_000  # microseconds
    # ... and the summary counts what the window's intervals hold.
    logged = sum(i.decode().get_total_count() for i in window)
    assert logged == summary["ops"]
    assert logged + sum(i.decode().get_total_count() for i in log.select({"write-rt"})
                        if i.start < summary["measure_start"] - 0.0005) == TOTAL
    assert summary["errors"] == 0 and summary["unfinished"] == 0
    capsys.readouterr()


def test_an_operation_still_in_flight_after_the_bound_is_an_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    driver = SlowLastDriver(lambda n: None if n == TOTAL else 0.001)
    summary, log = _run(tmp_path, driver, request_timeout=0.1)
    assert summary["unfinished"] == 1
    assert summary["errors"] == 1 and summary["errors_by_type"] == {"Unfinished": 1}
    assert "still in flight" in summary["error_samples"][0]
    assert summary["ops_total"] == TOTAL - 1
    # Its completion after the loader gave up on it is ignored.
    driver.late[0](time.monotonic_ns(), None)
    logged = sum(i.decode().get_total_count() for i in log.select({"write-rt"}))
    assert logged == TOTAL - 1
    capsys.readouterr()


def test_failed_operations_are_logged_apart_under_their_own_tag(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    driver = SlowLastDriver(lambda n: 0.3 if n % 10 == 0 else 0.001,
                            fail=lambda n: n % 10 == 0)
    summary, log = _run(tmp_path, driver)
    failed = TOTAL // 10
    assert summary["errors"] == failed
    assert log.tags == {"write-rt", "write-st", "write-err"}
    errors = list(log.select({"write-err"}))
    assert sum(i.decode().get_total_count() for i in errors) == failed
    assert min(i.decode().get_min_value() for i in errors) >= 300_000
    successes = sum(i.decode().get_total_count() for i in log.select({"write-rt"}))
    assert successes == TOTAL - failed
    # The successes' response times do not hold the failures' 300 ms.
    assert max(i.decode().get_max_value() for i in log.select({"write-rt"})) < 300_000
    capsys.readouterr()


def test_warm_up_errors_are_not_the_windows(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The first 10 operations (intended in the first 0.25 s of the 0.5 s warm-up) fail, and
    # one in the window (n = 30, intended at 0.725 s): the summary's errors are the window's,
    # as its successes and its ``write-err`` intervals are.
    driver = SlowLastDriver(lambda n: 0.001, fail=lambda n: n <= 10 or n == 30)
    summary, log = _run(tmp_path, driver)
    assert summary["errors"] == 1 and summary["errors_by_type"] == {"RuntimeError": 1}
    assert summary["error_samples"] == ["write: RuntimeError: op 30 failed"]
    assert summary["warmup_errors"] == 10
    assert summary["warmup_errors_by_type"] == {"RuntimeError": 10}
    failed = sum(i.decode().get_total_count() for i in _in_window(log, summary, "write-err"))
    assert failed == summary["errors"]
    assert summary["ops"] == TOTAL // 3 * 2 - 1  # the window's 40 operations, one failed
    capsys.readouterr()
