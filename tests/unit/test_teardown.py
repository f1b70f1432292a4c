"""The teardown stack: every callback runs once, newest first, whatever the others raise."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from pytest_scyllabench.errors import ProvisionError
from pytest_scyllabench.teardown import Callback, TeardownStack, interrupts_deferred, one_line


def test_every_failure_is_one_line_and_the_earlier_callbacks_still_run() -> None:
    ran: list[str] = []
    stack = TeardownStack()

    def recorder(name: str, exc: BaseException | None = None) -> Callback:
        async def callback() -> None:
            ran.append(name)
            if exc is not None:
                raise exc

        return callback

    stack.push("hosts", recorder("hosts"))  # registered first, runs last
    stack.push("provisioning", recorder("provisioning", ProvisionError(
        "run x was not wholly deleted:\n  instance i-1: still running\n  group sg-1: in use")))
    stack.push("database", recorder("database", ExceptionGroup("unhandled errors", [
        ProvisionError("node1: stop failed"), KeyError("node2")])))
    stack.push("bug", recorder("bug", AttributeError("'NoneType' has no attribute 'x'")))
    stack.push("own timeout", recorder("own timeout", TimeoutError("ssh connect timed out")))

    failures = asyncio.run(stack.run())

    assert ran == ["own timeout", "bug", "database", "provisioning", "hosts"]
    assert failures == [
        "teardown of own timeout: ssh connect timed out",
        "teardown of bug: 'NoneType' has no attribute 'x'",
        "teardown of database: node1: stop failed; 'node2'",
        "teardown of provisioning: run x was not wholly deleted:; instance i-1: still "
        "running; group sg-1: in use",
    ]
    assert all("\n" not in line for line in failures)
    assert len(stack) == 0 and asyncio.run(stack.run()) == []  # each runs once


def test_a_callback_over_its_own_limit_times_out_and_the_next_runs() -> None:
    ran: list[str] = []
    stack = TeardownStack()

    async def slow() -> None:
        await asyncio.sleep(30)

    async def long_but_allowed() -> None:
        await asyncio.sleep(0.2)
        ran.append("long")

    async def quick() -> None:
        ran.append("quick")

    stack.push("quick", quick)
    stack.push("long", long_but_allowed, timeout=10.0)  # above run's limit of 0.05 s
    stack.push("slow", slow)

    failures = asyncio.run(stack.run(timeout=0.05))

    assert failures == ["teardown of slow: timed out after 0.05 s"]
    assert ran == ["long", "quick"]


def test_cancellation_is_reported_and_propagates() -> None:
    stack = TeardownStack()
    later: list[str] = []

    async def cancelled() -> None:  # teardown's own task is cancelled while it runs
        task = asyncio.current_task()
        assert task is not None
        task.cancel()
        await asyncio.sleep(0)

    async def after() -> None:
        later.append("ran")

    stack.push("after", after)
    stack.push("cancelled", cancelled)
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(stack.run())
    assert len(stack) == 1  # the rest stays for the next run (close's safety net)
    assert asyncio.run(stack.run()) == [] and later == ["ran"]


def test_one_line_of_an_empty_message_names_the_type() -> None:
    assert one_line(RuntimeError()) == "RuntimeError"
    assert one_line(ExceptionGroup("g", [ValueError("a\nb"), OSError()])) == "a; b; OSError"


def test_interrupts_during_teardown_are_announced_until_the_last_abandons_it() -> None:
    heard: list[str] = []
    before = signal.getsignal(signal.SIGINT)
    with (pytest.raises(KeyboardInterrupt, match="SIGINT during teardown 3 times"),
          interrupts_deferred("database, hosts", heard.append)):
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)
        assert len(heard) == 2
        os.kill(os.getpid(), signal.SIGINT)
    assert heard[0].startswith("scyllabench: SIGTERM during teardown: still tearing down "
                               "database, hosts")
    assert heard[0].endswith("interrupt 2 more times to abandon it")
    assert heard[1].endswith("interrupt 1 more time to abandon it")
    assert signal.getsignal(signal.SIGINT) is before


def test_the_stack_names_what_is_left_in_teardown_order() -> None:
    stack = TeardownStack()

    async def nothing() -> None:
        return None

    for name in ("hosts", "database", "prometheus"):
        stack.push(name, nothing)
    assert stack.names == ["prometheus", "database", "hosts"]
