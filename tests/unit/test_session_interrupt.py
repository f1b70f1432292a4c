"""An interrupt during setup: the setup coroutine is cancelled and has unwound before teardown
runs on the same loop, so it cannot wake up and create more while things are torn down."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from pytest_scyllabench.profile_schema import find_profile, load_profile
from pytest_scyllabench.session import BenchSession
from pytest_scyllabench.settings import resolve
from pytest_scyllabench.teardown import sigterm_as_interrupt


def session(tmp_path: Path) -> BenchSession:
    settings = resolve({}, {}, {}, tmp_path)
    return BenchSession(settings, load_profile(find_profile("local", tmp_path)))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("where", ["loop", "task"])
def test_an_interrupted_setup_is_cancelled_before_teardown(
        tmp_path: Path, signum: signal.Signals, where: str) -> None:
    """``loop``: the signal lands between callbacks and leaves the task pending; ``task``: it
    lands inside the setup coroutine itself."""
    bench = session(tmp_path)
    events: list[str] = []

    async def release() -> None:
        await asyncio.sleep(0.5)  # long enough for a setup left pending to wake up
        events.append("teardown")

    async def setup() -> None:
        bench.teardown.push("hosts", release)
        events.append("setup began")
        if where == "loop":
            asyncio.get_running_loop().call_soon(os.kill, os.getpid(), signum)
        else:
            os.kill(os.getpid(), signum)
        try:
            await asyncio.sleep(0.1)
        except asyncio.CancelledError:
            events.append("setup cancelled")
            raise
        events.append("setup continued")  # it would create more resources here

    restore = sigterm_as_interrupt()
    # Python's own Ctrl-C handler, even when this process inherited SIGINT ignored (a
    # background job of a non-interactive shell).
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            bench.run(setup())
    finally:
        restore()
        signal.signal(signal.SIGINT, before)
    assert bench.close() == []
    assert events[0] == "setup began" and events[-1] == "teardown"
    assert "setup continued" not in events
    assert events.count("setup cancelled") == (1 if (where, signum) != ("task", signal.SIGTERM)
                                               else 0)  # raised at its await: nothing to cancel


def test_a_failed_setup_leaves_no_task_and_tears_down(tmp_path: Path) -> None:
    bench = session(tmp_path)
    events: list[str] = []

    async def release() -> None:
        events.append("teardown")

    async def setup() -> None:
        bench.teardown.push("hosts", release)
        raise ValueError("no such image")

    with pytest.raises(ValueError, match="no such image"):
        bench.run(setup())
    assert bench.close() == [] and events == ["teardown"]
    with pytest.raises(RuntimeError, match="closed"):
        bench.run(setup())
