"""The default reachability check of the aws provisioner, with a fake executor."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from pytest_scyllabench.errors import CommandError, ProvisionError
from pytest_scyllabench.execute.base import CommandResult
from pytest_scyllabench.provision.aws import wait_for_ssh
from pytest_scyllabench.provision.base import Host


class Refusing:
    """Refuses ``refusals`` times (as a fresh instance refuses keys), then answers."""

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.calls = 0

    @property
    def host(self) -> str:
        return "node1"

    async def run(self, command: Sequence[str], *, timeout: float, **kwargs: Any
                  ) -> CommandResult:
        self.calls += 1
        if self.calls <= self.refusals:
            raise CommandError("node1", command, None, detail=f"key refused ({self.calls})")
        return CommandResult("node1", tuple(command), 0, "", "")


def test_polls_until_the_host_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    executor = Refusing(2)
    monkeypatch.setattr("pytest_scyllabench.provision.aws.asyncio.sleep", _no_sleep)
    asyncio.run(wait_for_ssh(Host("node1", "10.0.0.1", executor), 60.0))  # type: ignore[arg-type]
    assert executor.calls == 3


def test_gives_up_at_the_deadline_with_the_last_error() -> None:
    executor = Refusing(10**6)
    with pytest.raises(ProvisionError) as failure:
        asyncio.run(wait_for_ssh(Host("node1", "10.0.0.1", executor),  # type: ignore[arg-type]
                                 0.3))
    message = str(failure.value)
    assert message.startswith("node1 (10.0.0.1): no SSH within 0.3 s; last error: ")
    assert f"key refused ({executor.calls})" in message


_real_sleep = asyncio.sleep


async def _no_sleep(seconds: float) -> None:
    await _real_sleep(0)
