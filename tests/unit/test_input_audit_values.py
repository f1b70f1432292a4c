"""Database values checked with Unicode-aware tests (``\\d``, ``str.isdigit``) that let
non-ASCII digits, zero heaps and out-of-range octets through to the nodes."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_profile_support import error_of, write

ONE_NODE = "database: {nodes: 1, replication_factor: 1}\n"


@pytest.mark.parametrize("version", ["5.0.٩", "5.0.\uff11"])
def test_version_digits_are_ascii(tmp_path: Path, version: str) -> None:
    message = error_of(write(tmp_path, f"database: {{version: '{version}'}}\n"))
    assert "p.yaml: database.version: not a cassandra version" in message


@pytest.mark.parametrize("heap", ["0G", "0M", "00G", "\u0661G", "\uff11G"])
def test_heap_is_a_positive_ascii_size(tmp_path: Path, heap: str) -> None:
    message = error_of(write(tmp_path, f"database: {{heap: '{heap}'}}\n"))
    assert "p.yaml: database.heap: must look like 512M or 2G" in message


@pytest.mark.parametrize("address", ["127.999.0.1", "127.0.256.1", "127.0.0.٣", "127.0.0.+1",
                                     "127.0.0.01"])
def test_first_address_octets(tmp_path: Path, address: str) -> None:
    message = error_of(write(tmp_path, f"{ONE_NODE}local: {{first_address: '{address}'}}\n"))
    assert "p.yaml: local.first_address: must be a loopback IPv4 address" in message
