"""Profile files for the profile tests: written to a temporary directory, their errors read."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_scyllabench.errors import ProfileError
from pytest_scyllabench.profile_schema import load_profile


def write(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(path: Path) -> str:
    """The one-line error of loading ``path``."""
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    message = str(info.value)
    assert "\n" not in message
    return message
