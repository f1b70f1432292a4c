"""The loader's measurement at its edges: saturation at the window's end, the number of
operations of a step, the key distributions' tails."""

from __future__ import annotations

import asyncio
import json
import random
import time
from pathlib import Path
from statistics import NormalDist

import pytest

from pytest_scyllabench.hdr.log import read_log
from pytest_scyllabench.loader.cli import LoaderArgs
from pytest_scyllabench.loader.drivers import DriverOptions, FakeDriver
from pytest_scyllabench.loader.keys import Gaussian, Sequential
from pytest_scyllabench.loader.phases import Stopper, run_phase
from pytest_scyllabench.loader.recorder import Recorder
from pytest_scyllabench.loader.schedule import NS, OpenLoop, operation_count
from pytest_scyllabench.loader.workload import OpMix, Values
from pytest_scyllabench.stress.step import Workload

WORKLOAD = Workload("w", {"write": 1.0}, partitions=100)


def _fake(latency_ms: float) -> FakeDriver:
    return FakeDriver(DriverOptions(hosts=("h",), port=9042, workload=WORKLOAD,
                                    fake_latency_ms=latency_ms))


def test_a_saturated_loader_does_not_send_its_backlog_after_the_window() -> None:
    # 2 in flight at 20 ms each: at most 100 ops/s of a 1000 ops/s schedule. The backlog the
    # concurrency limit held is not sent after the window's end (the cool-down would put
    # its completions in the window); it is counted apart, not as the database's errors.
    driver = _fake(20.0)
    rng = random.Random(1)
    mix = OpMix({"write": 1.0}, rng)
    recorder = Recorder(mix.operations)
    start = time.monotonic_ns() + 50_000_000
    total = 500
    loop = OpenLoop(driver, mix, Sequential(100), Values(16, pool=2), recorder,  # type: ignore[arg-type]
                    rate=1000, concurrency=2, start_ns=start, total_ops=total,
                    window_ns=(start, start + total * NS // 1000))

    async def main() -> None:
        await driver.connect()
        await loop.run()
        await loop.drain(5.0)

    asyncio.run(main())
    stats = loop.stats
    assert stats.issued < total // 2
    assert stats.unsent == total - stats.issued
    assert stats.errors.total == 0
    # What was in flight at the end was waited for and recorded.
    assert loop.inflight == 0 and stats.abandoned == 0
    assert stats.completed == stats.issued
    assert recorder.rotate()["write-rt"].get_total_count() == stats.issued


def _args(tmp_path: Path, rate: int, warmup: float, duration: float,
          concurrency: int = 64) -> LoaderArgs:
    return LoaderArgs(
        phase="run", hosts=("127.0.0.1",), port=9042, driver="fake", workload=WORKLOAD,
        rate=rate, duration=duration, warmup=warmup, concurrency=concurrency, connections=1,
        start_at=round(time.time() + 0.3, 3), hdr_log=str(tmp_path / "l.hlog"),
        summary=str(tmp_path / "l.json"), loader="loader-1", index=0, count=1,
        replication_factor=1, datacenter=None, request_timeout=1.0, connect_timeout=1.0,
        seed=1, fake_latency_ms=0.0, protocol_version=None)


def _run_phase(args: LoaderArgs, driver: FakeDriver) -> dict[str, object]:
    async def main() -> int:
        await driver.connect()
        return await run_phase(args, driver, Stopper())

    assert asyncio.run(main()) == 0
    summary = json.loads(Path(str(args.summary)).read_text())
    assert isinstance(summary, dict)
    return summary


def test_a_saturated_run_logs_no_more_than_it_achieved(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 2 in flight at 20 ms: about 100 ops/s of the 1000 asked for. The window's intervals
    # must not hold the backlog sent late, which would read as more than the target rate.
    args = _args(tmp_path, rate=1000, warmup=0.2, duration=1.0, concurrency=2)
    summary = _run_phase(args, _fake(20.0))
    log = read_log(tmp_path / "l.hlog", "loader-1")
    window = log.select({"write-rt"}, float(summary["measure_start"]) - 0.0005,  # type: ignore[arg-type]
                        float(summary["measure_end"]) - 0.0005)  # type: ignore[arg-type]
    logged = sum(i.decode().get_total_count() for i in window)
    assert logged == summary["ops"]
    assert logged < 500
    assert summary["unsent"] > 500  # type: ignore[operator]
    assert summary["errors"] == 0
    capsys.readouterr()


@pytest.mark.parametrize(("seconds", "rate", "count"), [
    (1.1, 3000, 3300), (2.2, 3000, 6600), (35.7, 3000, 107100), (5.3, 3, 16), (0.0, 10, 0),
    (1.0, 1, 1), (0.0005, 1000, 1), (10.0, 333, 3330)])
def test_operation_count_is_those_intended_before_the_end(
        seconds: float, rate: int, count: int) -> None:
    assert operation_count(seconds, rate) == count


def test_a_step_sends_no_operation_at_its_windows_end(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 0.1 + 1.0 s at 3000 ops/s: 3300 operations, the last intended 1/3000 s before the end
    # (1.1 * 3000 is 3300.0000000000005 in floating point).
    summary = _run_phase(_args(tmp_path, rate=3000, warmup=0.1, duration=1.0), _fake(0.0))
    assert summary["issued"] == summary["ops_total"] == 3300
    capsys.readouterr()


def test_gaussian_tails_are_not_piled_on_the_edge_keys() -> None:
    # A spread of the whole range (the largest the schema allows): 38 % of the normal's mass
    # lies in the range, so the redraw-then-clamp sampler gave keys 0 and 999 about 1 % of
    # the draws each instead of the truncated normal's 0.09 %.
    draws = 100_000
    keys = Gaussian(1000, 1.0, random.Random(7))
    drawn = [keys.next() for _ in range(draws)]
    assert all(0 <= key < 1000 for key in drawn)
    normal = NormalDist(499.5, 1000.0)
    inside = normal.cdf(999.5) - normal.cdf(-0.5)
    expected = draws * (normal.cdf(0.5) - normal.cdf(-0.5)) / inside  # about 93
    for edge in (0, 999):
        assert drawn.count(edge) < 2 * expected


@pytest.mark.parametrize("fraction", [1e-9, 0.01, 1.0])
@pytest.mark.parametrize("partitions", [1, 2, 3, 10])
def test_gaussian_keys_stay_in_range_at_any_spread(partitions: int, fraction: float) -> None:
    keys = Gaussian(partitions, fraction, random.Random(3))
    assert {keys.next() for _ in range(2000)} <= set(range(partitions))
