"""Teardown of whole sessions run in this process (as pytester runs them): what an abandoned
or failing teardown leaves behind."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest
from fakes import ONE_NODE_PROFILE, ONE_STEP_BENCH

from pytest_scyllabench.teardown import TeardownStack

pytest_plugins = ["pytester"]

HERE = Path(__file__).parent

PROFILE = ONE_NODE_PROFILE.format(name="fake")
BENCH = ONE_STEP_BENCH


def conftest(database: str, source: str = "") -> str:
    return f"""
import asyncio
import os
import signal
import sys
sys.path.insert(0, {str(HERE)!r})
from fakes import FakeDatabase
from pytest_scyllabench import backends
backends.DATABASES["cassandra"] = "conftest:{database}"
backends.STRESS_TOOLS["builtin"] = "fakes:create_tool"
{source}
"""


ABANDONED = """
class AbandonedDatabase(FakeDatabase):
    async def stop(self):
        self._journal("stop")
        for _ in range(3):  # Ctrl-C three times: teardown is abandoned
            os.kill(os.getpid(), signal.SIGINT)
            await asyncio.sleep(0.05)
"""


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    pytester.makefile(".yaml", fake=PROFILE)
    pytester.makepyfile(test_bench=BENCH)
    monkeypatch.setenv("FAKE_DB_JOURNAL", str(pytester.path / "journal"))
    monkeypatch.setenv("SCYLLABENCH_CACHE", str(pytester.path / "cache"))
    return pytester.path


def test_an_abandoned_teardown_gives_the_signal_handlers_back(pytester: pytest.Pytester,
                                                              project: Path) -> None:
    pytester.makeconftest(conftest("AbandonedDatabase", ABANDONED))
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        run = pytester.inline_run("--scyllabench-profile=fake.yaml", "-p", "no:cacheprovider",
                                  no_reraise_ctrlc=True)
        after = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
    assert run.ret == pytest.ExitCode.INTERRUPTED
    assert after == before
    assert "stop" in (project / "journal").read_text().split()


BROKEN = """
from pytest_scyllabench.errors import DatabaseError

class BrokenDatabase(FakeDatabase):
    async def stop(self):
        self._journal("stop")
        raise DatabaseError("node1 (127.0.0.1): nodetool drain exited with code 2")

    async def wipe(self):
        self._journal("wipe")
        raise DatabaseError("node1 (127.0.0.1): rm: cannot remove data: busy")
"""


def test_a_stop_and_a_wipe_that_both_fail_are_both_reported(pytester: pytest.Pytester,
                                                            project: Path) -> None:
    pytester.makeconftest(conftest("BrokenDatabase", BROKEN))
    result = pytester.runpytest("--scyllabench-profile=fake.yaml", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert (project / "journal").read_text().split()[-2:] == ["stop", "wipe"]
    output = result.stdout.str()
    assert "nodetool drain exited with code 2" in output, output
    assert "cannot remove data: busy" in output, output


def test_a_callback_that_meets_a_cancelled_task_does_not_stop_the_others() -> None:
    """A ``CancelledError`` that is not teardown's own cancellation (a callback awaiting a task
    someone else cancelled) is one failure; the older callbacks still run."""
    stack = TeardownStack()
    ran: list[str] = []

    async def hosts() -> None:
        ran.append("hosts")

    async def prometheus() -> None:
        scraper = asyncio.get_running_loop().create_future()
        scraper.cancel()
        await scraper

    stack.push("hosts", hosts)
    stack.push("prometheus", prometheus)
    failures = asyncio.run(stack.run())
    assert ran == ["hosts"]
    assert len(failures) == 1 and failures[0].startswith("teardown of prometheus: ")


def test_teardown_cancelled_from_outside_stops_and_says_so() -> None:
    stack = TeardownStack()
    ran: list[str] = []

    async def hosts() -> None:
        ran.append("hosts")

    async def database() -> None:
        await asyncio.sleep(10)

    stack.push("hosts", hosts)
    stack.push("database", database)

    async def main() -> None:
        task = asyncio.create_task(stack.run())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert ran == []
