"""Helpers of the loader's unit tests (no tests here)."""

from __future__ import annotations

from typing import Any


class StubDriver:
    """What every test driver answers the same way: its version, details and preparation.
    A subclass writes ``write`` (and ``read``) to complete operations as its test needs."""

    name = "stub"

    def version(self) -> str:
        return "test"

    def details(self) -> dict[str, Any]:
        return {}

    async def prepare(self) -> None:
        return None
