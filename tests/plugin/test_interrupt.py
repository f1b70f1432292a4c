"""SIGTERM sent to a pytest session while the cluster is being set up: the setup is cancelled
before teardown runs, and teardown (stop, wipe) still runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import pytest
from fakes import ONE_NODE_PROFILE, ONE_STEP_BENCH

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


class SlowStopDatabase(SlowDatabase):
    async def stop(self):
        self._journal("stop")
        while not self._seen("interrupted-twice"):  # written by the test
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        self._journal("stopped")
"""

CONFTEST = f"""
import sys
sys.path.insert(0, {str(HERE)!r})
from pytest_scyllabench import backends
backends.DATABASES["cassandra"] = "slowdb:SlowDatabase"
backends.STRESS_TOOLS["builtin"] = "fakes:create_tool"
"""

PROFILE = ONE_NODE_PROFILE.format(name="slow")
BENCH = ONE_STEP_BENCH


def spawn_session(pytester: pytest.Pytester, env: dict[str, str],
                  output: IO[bytes]) -> subprocess.Popen[bytes]:
    """``pytest test_bench.py`` on profile ``slow`` in its own process, writing ``output``.

    SIGINT is made to act as Ctrl-C in it: run as a background job of a non-interactive shell
    (as CI may run the tests), this process and its children inherit SIGINT ignored, and
    Python would then never raise KeyboardInterrupt.
    """
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
         "--scyllabench-profile=slow.yaml", "test_bench.py"],
        cwd=pytester.path, env=env, stdout=output, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def journal(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def wait_for(event: str, record: Path, process: subprocess.Popen[bytes], out: Path) -> None:
    deadline = time.monotonic() + 120
    while event not in journal(record):
        assert process.poll() is None, out.read_text()
        assert time.monotonic() < deadline, f"{event!r} never happened: {out.read_text()}"
        time.sleep(0.05)


def interrupted_session(pytester: pytest.Pytester, database: str,
                        during_teardown: tuple[signal.Signals, ...] = ()) -> tuple[int, str]:
    """Run a session of ``database``, SIGTERM it during install, then send
    ``during_teardown`` once its stop began; its exit code and output."""
    pytester.makeconftest(CONFTEST.replace("slowdb:SlowDatabase", f"slowdb:{database}"))
    pytester.makepyfile(slowdb=SLOW_DB, test_bench=BENCH)
    pytester.makefile(".yaml", slow=PROFILE)
    record, out = pytester.path / "journal", pytester.path / "out.txt"
    env = dict(os.environ, FAKE_DB_JOURNAL=str(record),
               SCYLLABENCH_CACHE=str(pytester.path / "cache"))
    with out.open("wb") as output:
        process = spawn_session(pytester, env, output)
        try:
            wait_for("install", record, process, out)
            process.send_signal(signal.SIGTERM)
            if during_teardown:
                wait_for("stop", record, process, out)
                for sig in during_teardown:
                    process.send_signal(sig)
                    time.sleep(0.3)
                with record.open("a") as journal_file:
                    journal_file.write("interrupted-twice\n")
            code = process.wait(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    return code, out.read_text()


def test_sigterm_during_setup_cancels_it_and_tears_down(pytester: pytest.Pytester) -> None:
    code, output = interrupted_session(pytester, "SlowDatabase")
    assert code == pytest.ExitCode.INTERRUPTED, output
    assert "received signal SIGTERM" in output, output
    assert journal(pytester.path / "journal") == ["install", "install-cancelled", "stop",
                                                  "wipe"], output


def test_two_more_interrupts_during_teardown_do_not_stop_it(pytester: pytest.Pytester) -> None:
    code, output = interrupted_session(pytester, "SlowStopDatabase",
                                       during_teardown=(signal.SIGINT, signal.SIGTERM))
    assert code == pytest.ExitCode.INTERRUPTED, output
    events = journal(pytester.path / "journal")
    assert events == ["install", "install-cancelled", "stop", "interrupted-twice", "stopped",
                      "wipe"], output
    assert "SIGINT during teardown: still tearing down database" in output, output
    assert "interrupt 1 more time to abandon it" in output, output


LONG_BENCH = """
def test_write(scyllabench_step):
    scyllabench_step("write", rate=100, duration=60, warmup=0)
"""


@pytest.mark.parametrize("first", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_second_interrupt_while_the_step_is_abandoned_still_stops_its_loaders(
        pytester: pytest.Pytester, first: signal.Signals) -> None:
    """Ctrl-C (or SIGTERM) during a step, and Ctrl-C again while its loader is being stopped:
    the loader has exited before teardown stops the database, as after a single interrupt."""
    pytester.makeconftest(CONFTEST.replace("slowdb:SlowDatabase", "fakes:FakeDatabase"))
    pytester.makepyfile(test_bench=LONG_BENCH)
    pytester.makefile(".yaml", slow=PROFILE)
    record, out = pytester.path / "journal", pytester.path / "out.txt"
    env = dict(os.environ, FAKE_DB_JOURNAL=str(record), FAKE_LOADER_JOURNAL=str(record),
               FAKE_LOADER_SLEEP="1", FAKE_LOADER_LINGER="1.5",
               SCYLLABENCH_CACHE=str(pytester.path / "cache"))
    with out.open("wb") as output:
        process = spawn_session(pytester, env, output)
        try:
            wait_for("loader-started", record, process, out)
            process.send_signal(first)
            wait_for("loader-sigterm", record, process, out)
            process.send_signal(signal.SIGINT)
            code = process.wait(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    output_text = out.read_text()
    events = journal(record)
    assert code == pytest.ExitCode.INTERRUPTED, output_text
    assert "loader-exit" in events, (events, output_text)
    assert events.index("loader-exit") < events.index("stop"), (events, output_text)
    assert events[-2:] == ["stop", "wipe"], (events, output_text)
    assert ("still stopping the processes of the interrupted call" if first == signal.SIGINT
            else "SIGINT during teardown: still tearing down the processes of the interrupted "
                 "call") in output_text, output_text
