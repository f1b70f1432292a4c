"""A stand-in loader: writes one second of HDR intervals per second of (simulated) run.

argv: loader rate start_at warmup duration operations hdr_log summary
Latency comes from FAKE_LATENCY_MS (default 2); FAKE_LOADER_SLEEP=1 makes it run in real time.
FAKE_LOADER_FAIL=<loader> makes that loader exit with code 3 after its first interval;
FAKE_LOADER_CORRUPT=<loader> makes it write a corrupt payload in its second interval.
FAKE_LOADER_JOURNAL=<file>: ``loader-started``, then on SIGTERM ``loader-sigterm``, a pause of
FAKE_LOADER_LINGER seconds (default 0) and ``loader-exit``, each appended as a line.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from types import FrameType

from hdrh.histogram import HdrHistogram


def _journal(event: str) -> None:
    path = os.environ.get("FAKE_LOADER_JOURNAL")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(event + "\n")


def _linger_on_sigterm(signum: int, frame: FrameType | None) -> None:
    _journal("loader-sigterm")
    time.sleep(float(os.environ.get("FAKE_LOADER_LINGER", "0")))
    _journal("loader-exit")
    sys.exit(0)


def main() -> None:
    if os.environ.get("FAKE_LOADER_JOURNAL"):
        signal.signal(signal.SIGTERM, _linger_on_sigterm)
        _journal("loader-started")
    loader, rate, start_at, warmup, duration, operations, hdr_log, summary = sys.argv[1:]
    rate_i, start, warm, dur = int(rate), float(start_at), float(warmup), float(duration)
    latency_us = int(float(os.environ.get("FAKE_LATENCY_MS", "2")) * 1000)
    real_time = os.environ.get("FAKE_LOADER_SLEEP") == "1"
    ops = operations.split(",")
    seconds = int(warm + dur + 0.999)
    with open(hdr_log, "w", encoding="utf-8") as out:
        out.write("#[Histogram log format version 1.3]\n")
        out.write(f"#[StartTime: {start:.3f} (seconds since epoch)]\n")
        out.write('"StartTimestamp","Interval_Length","Interval_Max",'
                  '"Interval_Compressed_Histogram"\n')
        total = 0
        for second in range(seconds):
            if real_time:
                time.sleep(max(0.0, start + second + 1 - time.time()))
            for op in ops:
                for kind, value in (("rt", latency_us), ("st", latency_us // 2)):
                    histogram = HdrHistogram(1, 60_000_000, 3)
                    histogram.record_value(value, rate_i // len(ops))
                    payload = histogram.encode().decode()
                    if second == 1 and os.environ.get("FAKE_LOADER_CORRUPT") == loader:
                        payload = "HISTFAAAAB" + payload[10:14][::-1] + payload[14:]
                    out.write(f"Tag={op}-{kind},{start + second:.3f},1.000,"
                              f"{value / 1000:.3f},{payload}\n")
            if second == 1 and os.environ.get("FAKE_LOADER_FAIL") == loader:
                out.flush()
                print("fake loader: connection refused", file=sys.stderr)
                sys.exit(3)
            in_window = warm <= second < warm + dur
            total += rate_i if in_window else 0
            print(json.dumps({"event": "progress", "elapsed": second + 1, "rate": rate_i,
                              "p99_ms": latency_us / 1000, "errors": 0}), flush=True)
    with open(summary, "w", encoding="utf-8") as out:
        json.dump({"tool_version": "fake-tool 1", "measure_start": start + warm,
                   "measure_end": start + warm + dur, "ops": total, "errors": 0}, out)


if __name__ == "__main__":
    main()
