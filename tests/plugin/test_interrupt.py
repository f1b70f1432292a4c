"""SIGTERM sent to a pytest session while the cluster is being set up: the setup is cancelled
before teardown runs, and teardown (stop, wipe) still runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

HERE = Path(__file__).parent

#: A database whose install waits until cancelled; if it is left running it sees the stop
#: that teardown journals and says so (it would go on creating things there).
SLOW_DB = f"""
import asyncio
import os
import sys

sys.path.insert(0, {str(HERE)!r})
from fakes import FakeDatabase


class SlowDatabase(FakeDatabase):
    def _seen(self, event):
        try:
            with open(os.environ["FAKE_DB_JOURNAL"], encoding="utf-8") as journal:
                return event in journal.read().split()
        except OSError:
            return False

    async def install(self):
        self._journal("install")
        try:
            while not self._seen("stop"):
                await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            self._journal("install-cancelled")
            raise
        self._journal("install-continued-during-teardown")
        return self.version

    async def stop(self):
        self._journal("stop")
        await asyncio.sleep(1.0)  # a setup left pending would wake up meanwhile
"""

CONFTEST = f"""
import sys
sys.path.insert(0, {str(HERE)!r})
from pytest_scyllabench import backends
backends.DATABASES["cassandra"] = "slowdb:SlowDatabase"
backends.STRESS_TOOLS["builtin"] = "fakes:create_tool"
"""

PROFILE = """
name: slow
database: {nodes: 1, replication_factor: 1}
workloads:
  write: {mix: {write: 1}}
"""

BENCH = """
def test_write(scyllabench_step):
    scyllabench_step("write", rate=100, duration=1, warmup=0)
"""


def journal(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def test_sigterm_during_setup_cancels_it_and_tears_down(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(slowdb=SLOW_DB, test_bench=BENCH)
    pytester.makefile(".yaml", slow=PROFILE)
    record = pytester.path / "journal"
    env = dict(os.environ, FAKE_DB_JOURNAL=str(record),
               SCYLLABENCH_CACHE=str(pytester.path / "cache"))
    with (pytester.path / "out.txt").open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
             "--scyllabench-profile=slow.yaml", "test_bench.py"],
            cwd=pytester.path, env=env, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 120
            while "install" not in journal(record):
                assert process.poll() is None, (pytester.path / "out.txt").read_text()
                assert time.monotonic() < deadline, "the setup never began"
                time.sleep(0.05)
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    output = (pytester.path / "out.txt").read_text()
    assert code == pytest.ExitCode.INTERRUPTED, output
    assert "received signal SIGTERM" in output, output
    assert journal(record) == ["install", "install-cancelled", "stop", "wipe"], output
