"""How fast can the built-in loader go? A rate sweep per driver against a running cluster.

    python perf/loader_rate.py --hosts 127.0.0.21 [--drivers scylla-driver,acsylla]
        [--rates 2000,4000,8000,16000] [--duration 10] [--warmup 2] [--max-p99-ms 50]
        [--loop select|epoll]

For each driver: create the schema, populate, then run the loader process at each rate (a
50/50 read/write mix over populated keys) and print achieved rate, response-time p99 (from
its HDR log, measured window only), the loader's CPU use and its worst scheduling lag. A
rate is sustained when the achieved rate is >= 95 % of the target and p99 is below
``--max-p99-ms`` in one of ``--attempts`` tries; the sweep of a driver stops at its first
unsustained rate. The last line per driver is the highest sustained rate. ``cpu %`` is the
loader process's CPU time over its run (100 = one core), ``load`` the machine's 1-minute load
average after the step: on a shared machine a high load means the numbers measure
contention, not the loader.

``--loop epoll`` runs the loader process on asyncio's default loop instead of its own
``select(2)`` loop, to compare the two against a real cluster.

``--overhead`` first measures the loader's own cost per operation in-process -- scheduler,
op mix, keys, values, two histogram records -- with a driver that completes everything at
once, i.e. what the loader adds on top of any driver, and how late it sends each operation
after its intended start, on asyncio's default event loop and on the loader's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram

from pytest_scyllabench.hdr.log import read_log
from pytest_scyllabench.loader.__main__ import event_loop as loader_event_loop
from pytest_scyllabench.loader.drivers import Done
from pytest_scyllabench.loader.keys import Uniform
from pytest_scyllabench.loader.recorder import Recorder
from pytest_scyllabench.loader.schedule import NS, OpenLoop
from pytest_scyllabench.loader.workload import OpMix, Values, workload_to_json
from pytest_scyllabench.stress.step import Workload

LOADER = [sys.executable, "-m", "pytest_scyllabench.loader"]
#: The loader process on asyncio's default (epoll) loop instead of its own, for ``--loop epoll``.
EPOLL_LOADER = [sys.executable, "-c",
                "import asyncio, sys; import pytest_scyllabench.loader.__main__ as m; "
                "m.event_loop = asyncio.new_event_loop; sys.exit(m.main())"]


def run(argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        sys.exit(f"loader failed ({done.returncode}): {' '.join(argv[:6])}...\n{done.stderr}")
    return done


def p99_ms(hlog: Path, summary: dict[str, Any]) -> float:
    log = read_log(hlog, summary["loader"])
    merged = HdrHistogram(1, 60_000_000, 3)
    tags = {t for t in log.tags if t.endswith("-rt")}
    for interval in log.select(tags, summary["measure_start"], summary["measure_end"]):
        merged.add(interval.decode())
    return merged.get_value_at_percentile(99.0) / 1000.0 if merged.get_total_count() else 0.0


class _Instant:
    """Completes every operation at the next 1 ms tick, in one batch."""

    name = "instant"

    def __init__(self) -> None:
        self.pending: list[Done] = []

    def write(self, key: int, value: bytes, done: Done) -> None:
        self.pending.append(done)

    def read(self, key: int, done: Done) -> None:
        self.pending.append(done)


async def _overhead(rate: int, ops: int) -> tuple[float, float, float]:
    """CPU microseconds per operation, and the p50 / p99 of the send lag (ms) behind each
    operation's intended start (what every response time carries from the loader itself)."""
    driver = _Instant()
    loop = asyncio.get_running_loop()
    lags: list[int] = []

    def pump() -> None:
        batch, driver.pending = driver.pending, []
        now = time.monotonic_ns()
        for done in batch:
            _operation, intended, sent = done.args  # type: ignore[attr-defined]
            lags.append(sent - intended)
            done(now, None)
        loop.call_later(0.001, pump)

    pump()
    rng = random.Random(1)
    mix = OpMix({"read": 1.0, "write": 1.0}, rng)
    start = time.monotonic_ns()
    scheduler = OpenLoop(driver, mix, Uniform(100_000, rng), Values(256),  # type: ignore[arg-type]
                         Recorder(mix.operations), rate=rate, concurrency=10_000,
                         start_ns=start, total_ops=ops, window_ns=(start, start + 3600 * NS))
    cpu0 = time.process_time()
    await scheduler.run()
    await scheduler.drain(10)
    per_op = (time.process_time() - cpu0) / scheduler.stats.completed * 1e6
    lags.sort()
    return per_op, lags[len(lags) // 2] / 1e6, lags[int(len(lags) * 0.99)] / 1e6


def overhead() -> None:
    """The loader's own cost and send lag on asyncio's default loop (epoll) and on the loader's
    (select): epoll rounds each sleep up to a whole millisecond."""
    loops = {"epoll (asyncio's default)": asyncio.new_event_loop,
             "select (the loader's)": loader_event_loop}
    for name, factory in loops.items():
        for rate in (200, 1_000, 10_000, 50_000):
            with asyncio.Runner(loop_factory=factory) as runner:
                per_op, p50, p99 = runner.run(_overhead(rate, max(rate * 3, 1_000)))
            print(f"loader overhead, {name}, {rate} ops/s: {per_op:.1f} us CPU per operation "
                  f"({per_op * rate / 1e4:.0f} % of a core); send lag p50 {p50:.3f} ms, "
                  f"p99 {p99:.3f} ms", flush=True)


def step(base: list[str], scratch: str, rate: int, args: argparse.Namespace) -> bool:
    """Run one rate once; print its line; whether it was sustained."""
    hlog, summary_path = Path(scratch, "r.hlog"), Path(scratch, "r.json")
    run([*base, "--phase", "run", "--rate", str(rate),
         "--duration", str(args.duration), "--warmup", str(args.warmup),
         "--concurrency", str(args.concurrency),
         "--start-at", f"{time.time() + 2:.3f}",
         "--hdr-log", str(hlog), "--summary", str(summary_path)],
        args.duration + args.warmup + 60)
    summary = json.loads(summary_path.read_text())
    p99 = p99_ms(hlog, summary)
    ok = bool(summary["achieved_rate"] >= 0.95 * rate and p99 < args.max_p99_ms)
    print(f"{'':14} {rate:7d} {summary['achieved_rate']:9.0f} {p99:8.1f} "
          f"{summary['cpu_percent']:6.0f} {summary['max_lag_ms']:8.1f} "
          f"{summary['errors']:6d} {os.getloadavg()[0]:5.1f}  "
          f"{'ok' if ok else 'NOT SUSTAINED'}", flush=True)
    return ok


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hosts", required=True)
    p.add_argument("--port", default="9042")
    p.add_argument("--drivers", default="scylla-driver,acsylla")
    p.add_argument("--rates", default="2000,4000,8000,16000")
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--concurrency", type=int, default=256)
    p.add_argument("--partitions", type=int, default=20_000)
    p.add_argument("--max-p99-ms", type=float, default=50.0)
    p.add_argument("--attempts", type=int, default=2,
                   help="tries per rate before it counts as not sustained (shared machines)")
    p.add_argument("--loop", choices=("select", "epoll"), default="select",
                   help="the loader process's event loop: its own (select) or asyncio's")
    p.add_argument("--overhead", action="store_true",
                   help="first measure the loader's own CPU per operation (no driver)")
    args = p.parse_args()
    if args.overhead:
        overhead()
    workload = Workload("perf", {"read": 0.5, "write": 0.5}, partitions=args.partitions,
                        populate=args.partitions, consistency="ONE", table="perf")
    common = ["--hosts", args.hosts, "--port", args.port,
              "--workload-json", workload_to_json(workload)]
    best: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="loader-rate-") as scratch:
        for driver in args.drivers.split(","):
            loader = EPOLL_LOADER if args.loop == "epoll" else LOADER
            base = [*loader, *common, "--driver", driver]
            run([*base, "--phase", "schema"], 120)
            run([*base, "--phase", "populate"], 600)
            best[driver] = 0
            print(f"{driver:14} {'target':>7} {'achieved':>9} {'p99 ms':>8} {'cpu %':>6} "
                  f"{'lag ms':>8} {'errors':>6} {'load':>5}  verdict", flush=True)
            for rate in (int(r) for r in args.rates.split(",")):
                ok = False
                for _attempt in range(args.attempts):
                    ok = step(base, scratch, rate, args)
                    if ok:
                        break
                if not ok:
                    break
                best[driver] = rate
    for driver, rate in best.items():
        print(f"highest sustained rate, {driver}: {rate} ops/s")


if __name__ == "__main__":
    main()
