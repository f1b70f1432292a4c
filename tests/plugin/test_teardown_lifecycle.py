"""Teardown of whole sessions run in this process (as pytester runs them): what an abandoned
or failing teardown leaves behind."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

HERE = Path(__file__).parent

PROFILE = """
name: fake
database: {nodes: 1, replication_factor: 1}
workloads:
  write: {mix: {write: 1}}
"""

BENCH = """
def test_write(scyllabench_step):
    scyllabench_step("write", rate=100, duration=1, warmup=0)
"""


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
