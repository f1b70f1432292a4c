"""``parse_nodetool_status`` on real ``nodetool status`` output of Cassandra 5.0.9's Java nodetool
(the program ScyllaDB shipped as its nodetool up to 5.x), and on odd variants of it.

The recordings and how they were made: ``data/cassandra-nodetool/README.md``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_scyllabench.db import scylla_config as cfg

DATA = Path(__file__).parent / "data" / "cassandra-nodetool"
BOTH_UP = (DATA / "status-2un.stdout").read_text(encoding="utf-8")
ONE_DOWN = (DATA / "status-un-dn.stdout").read_text(encoding="utf-8")
NODES = ["127.0.0.61", "127.0.0.62"]


def rows(text: str) -> list[tuple[str, str, str]]:
    return [(row.datacenter, row.code, row.address) for row in cfg.parse_nodetool_status(text)]


def test_both_nodes_up_and_normal() -> None:
    assert rows(BOTH_UP) == [("datacenter1", "UN", "127.0.0.62"),
                             ("datacenter1", "UN", "127.0.0.61")]
    assert cfg.ring_problem(cfg.parse_nodetool_status(BOTH_UP), NODES) is None


def test_a_stopped_node_is_down() -> None:
    assert rows(ONE_DOWN) == [("datacenter1", "DN", "127.0.0.62"),
                              ("datacenter1", "UN", "127.0.0.61")]
    assert cfg.ring_problem(cfg.parse_nodetool_status(ONE_DOWN), NODES) == (
        "not up and normal yet: 127.0.0.62 DN")


def test_a_refused_connection_lists_no_node() -> None:
    refused = (DATA / "status-refused.stderr").read_text(encoding="utf-8")
    assert "Failed to connect to '127.0.0.1:7161'" in refused
    assert rows(refused) == []
    assert cfg.ring_problem([], NODES) == "does not list 127.0.0.61, 127.0.0.62 yet"


def test_empty_output_lists_no_node() -> None:
    assert rows("") == [] and rows("\n\n") == []


def test_extra_columns_are_not_read() -> None:
    wider = "\n".join(line + "  rack-extra  42" if line.startswith(("UN", "DN")) else line
                      for line in ONE_DOWN.splitlines())
    assert rows(wider) == rows(ONE_DOWN)


@pytest.mark.parametrize(("cut_at", "expected"), [
    ("Status=Up/Down", []),  # cut in the legend: no row yet
    ("UN  127.0.0.61", [("datacenter1", "DN", "127.0.0.62")]),  # the last row lost
    ("79.95 KiB", [("datacenter1", "DN", "127.0.0.62"), ("datacenter1", "UN", "127.0.0.61")]),
])
def test_truncated_output_keeps_the_whole_rows(cut_at: str,
                                               expected: list[tuple[str, str, str]]) -> None:
    text = ONE_DOWN[:ONE_DOWN.index(cut_at)]
    assert rows(text) == expected
    # A missing node is never taken for up: the wait goes on.
    assert cfg.ring_problem(cfg.parse_nodetool_status(text), NODES) is not None


def test_bytes_that_are_not_utf8_do_not_hide_rows() -> None:
    """Executors decode with ``errors="replace"``: a bad byte becomes U+FFFD."""
    raw = BOTH_UP.encode().replace(b"rack1", b"rack\xff", 1)
    assert rows(raw.decode(errors="replace")) == rows(BOTH_UP)
