"""The loader as a process (fake driver): exit codes, signals, stderr, the files it leaves."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_scyllabench.hdr.log import read_log
from pytest_scyllabench.loader.workload import workload_to_json
from pytest_scyllabench.stress.step import Workload

WORKLOAD = workload_to_json(Workload("w", {"write": 1.0, "read": 1.0}, partitions=100))


def _loader(*extra: str) -> list[str]:
    return [sys.executable, "-m", "pytest_scyllabench.loader", "--hosts", "127.0.0.1",
            "--workload-json", WORKLOAD, *extra]


def test_run_logs_from_start_at_and_reports_the_measured_window(tmp_path: Path) -> None:
    start_at = round(time.time() + 1.5, 3)
    done = subprocess.run(
        _loader("--phase", "run", "--driver", "fake", "--rate", "400", "--warmup", "1",
                "--duration", "2", "--start-at", str(start_at),
                "--hdr-log", str(tmp_path / "r.hlog"), "--summary", str(tmp_path / "r.json")),
        capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "r.json").read_text())
    assert summary["start_at"] == start_at
    assert (summary["measure_start"], summary["measure_end"]) == (start_at + 1, start_at + 3)
    assert summary["interrupted"] is False
    # Completions inside the 2 s window, whose count depends on this machine's load.
    assert 0 < summary["ops"] <= 1200
    assert summary["achieved_rate"] == round(summary["ops"] / 2, 1)
    log = read_log(tmp_path / "r.hlog", "l")
    assert log.start_time == start_at
    starts = sorted({i.start for i in log.intervals})
    assert starts[:3] == [start_at, start_at + 1, start_at + 2]  # warm-up included
    in_window = sum(i.decode().get_total_count() for i in log.select(
        {"write-rt", "read-rt"}, summary["measure_start"], summary["measure_end"]))
    assert abs(in_window - summary["ops"]) <= 400  # within one interval
    assert summary["ops_total"] == 1200


def test_intervals_tile_the_window_when_the_warmup_is_fractional(tmp_path: Path) -> None:
    start_at = round(time.time() + 1.0, 3)
    done = subprocess.run(
        _loader("--phase", "run", "--driver", "fake", "--rate", "200", "--warmup", "0.5",
                "--duration", "2", "--start-at", str(start_at),
                "--hdr-log", str(tmp_path / "r.hlog"), "--summary", str(tmp_path / "r.json")),
        capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "r.json").read_text())
    log = read_log(tmp_path / "r.hlog", "l")
    starts = sorted({i.start for i in log.intervals})
    # A short first interval ends exactly where the measured window begins.
    assert starts[:3] == [start_at, start_at + 0.5, start_at + 1.5]
    window = [i for i in log.intervals if i.tag == "write-rt"
              and summary["measure_start"] <= i.start < summary["measure_end"]]
    assert sum(i.length for i in window) == pytest.approx(2.0, abs=0.01)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_flushes_the_log_and_writes_a_partial_summary(tmp_path: Path,
                                                              signum: int) -> None:
    process = subprocess.Popen(
        _loader("--phase", "run", "--driver", "fake", "--rate", "500", "--duration", "60",
                "--hdr-log", str(tmp_path / "r.hlog"), "--summary", str(tmp_path / "r.json")),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # the first progress line: it is running
        assert '"progress"' in first
        process.send_signal(signum)
        began = time.monotonic()
        code = process.wait(timeout=15)
    finally:
        process.kill()
        process.communicate()
    assert time.monotonic() - began < 5
    assert code == 128 + signum
    summary = json.loads((tmp_path / "r.json").read_text())
    assert summary["interrupted"] is True
    assert summary["ops_total"] > 0
    log = read_log(tmp_path / "r.hlog", "l")
    assert log.truncated_line is None
    assert sum(i.decode().get_total_count() for i in log.select({"write-rt", "read-rt"})) \
        == summary["ops_total"]


def test_populate_writes_this_loaders_share(tmp_path: Path) -> None:
    done = subprocess.run(
        _loader("--phase", "populate", "--driver", "fake", "--index", "1", "--count", "3",
                "--summary", str(tmp_path / "p.json")),
        capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "p.json").read_text())
    assert (summary["first_key"], summary["rows"], summary["ops"]) == (33, 33, 33)


def test_unreachable_hosts_are_named_on_stderr() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest_scyllabench.loader", "--phase", "schema",
         "--hosts", "127.0.0.1", "--port", "1", "--driver", "scylla-driver",
         "--connect-timeout", "2", "--workload-json", WORKLOAD],
        capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "loader loader-1: schema: cannot connect to 127.0.0.1:1 with scylla-driver" \
        in done.stderr


@pytest.mark.parametrize(("extra", "message"), [
    (["--phase", "run"], "needs --hdr-log"),
    (["--phase", "schema", "--index", "3", "--count", "3"], "must be < --count"),
    (["--phase", "schema", "--rate", "0"], "must be >= 1"),
])
def test_bad_arguments_exit_2_with_a_message(extra: list[str], message: str) -> None:
    done = subprocess.run(_loader("--driver", "fake", *extra), capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 2
    assert message in done.stderr


def test_the_loader_runs_on_a_select_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """select(2) wakes the scheduler's sleeps to the microsecond; epoll, asyncio's default,
    rounds each up to a whole millisecond, which every response time would carry."""
    import asyncio
    import selectors

    from pytest_scyllabench.loader import __main__ as entry

    seen: list[object] = []

    async def fake_run(args: object) -> int:
        seen.append(asyncio.get_running_loop()._selector)  # type: ignore[attr-defined]
        return 0

    monkeypatch.setattr(entry, "run_loader", fake_run)
    assert entry.main(["--hosts", "127.0.0.1", "--workload-json", WORKLOAD,
                       "--driver", "fake", "--phase", "schema"]) == 0
    assert [type(selector) for selector in seen] == [selectors.SelectSelector]
