"""Plugin tests run pytester sessions in this process: a session's conftest that swaps a
backend for a fake changes pytest_scyllabench.backends for every later test, so each test
gets the registries back as they were."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pytest_scyllabench import backends

REGISTRIES = ("PROVISIONERS", "DATABASES", "REMOTE_DATABASES", "STRESS_TOOLS")


@pytest.fixture(autouse=True)
def _restore_backend_registries() -> Iterator[None]:
    saved = {name: dict(getattr(backends, name)) for name in REGISTRIES}
    yield
    for name, entries in saved.items():
        registry = getattr(backends, name)
        registry.clear()
        registry.update(entries)
