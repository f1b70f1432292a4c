"""The tests' free ports: never one number twice (a profile with one port for two servers
fails validation, as a CI run saw once)."""

from __future__ import annotations

import socket

from tests.ports import free_port


def test_free_ports_are_distinct_and_bindable() -> None:
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == len(ports)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", ports[-1]))
