"""Integration tests run real components: Java 17, Maven, Cassandra nodes, the loader."""

import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


from moto_server import moto_url  # noqa: F401  (the moto_url fixture, for the AWS tests)

REPO = Path(__file__).resolve().parents[2]
SITE = REPO / ".venv" / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / \
    "site-packages"
SYSTEM_PYTHON = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")


@pytest.fixture
def loader_python() -> Iterator[str]:
    """A Python with the plugin installed, usable inside the namespace hosts."""
    if not SYSTEM_PYTHON.is_file():
        pytest.skip(f"needs {SYSTEM_PYTHON} (the virtualenv's Python lives under /root)")
    directory = Path(tempfile.mkdtemp(prefix="sbtest-python-", dir="/var/tmp"))
    wrapper = directory / "python"
    wrapper.write_text(f"#!/bin/sh\nPYTHONPATH={REPO}:{SITE} exec {SYSTEM_PYTHON} \"$@\"\n")
    wrapper.chmod(0o755)
    yield str(wrapper)
    shutil.rmtree(directory, ignore_errors=True)
