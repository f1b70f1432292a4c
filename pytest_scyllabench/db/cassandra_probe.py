"""Is a Cassandra node ready? Asked over CQL, one driver session pinned to each node.

A node is ready when it serves CQL and its own gossip view (``system_views.gossip_info``)
holds exactly the cluster's nodes, every one ``NORMAL`` with one schema version, and its
``system.peers_v2`` lists every other node. The probes are blocking (the driver is): the
cluster calls them through ``asyncio.to_thread``, and every driver call is bounded.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from cassandra import DriverException, RequestExecutionException, RequestValidationException
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable
from cassandra.connection import ConnectionException
from cassandra.policies import ConstantReconnectionPolicy, WhiteListRoundRobinPolicy
from cassandra.protocol import ErrorMessage
from cassandra.query import dict_factory

from pytest_scyllabench.execute.base import tcp_accepting

#: What the driver raises when a node is not (yet) able to answer.
DRIVER_ERRORS: tuple[type[BaseException], ...] = (
    NoHostAvailable, DriverException, RequestExecutionException, RequestValidationException,
    ConnectionException, ErrorMessage, OSError,
)
#: ``schema`` holds the schema UUID (``schema_version`` is the gossip version of that state);
#: peers publish ``status_with_port`` only, the node itself fills ``status`` too.
GOSSIP_QUERY = 'SELECT address, status, status_with_port, "schema" FROM system_views.gossip_info'
PEERS_QUERY = "SELECT peer FROM system.peers_v2"
DRIVER_TIMEOUT = 5.0


def _short(addresses: Iterable[str]) -> str:
    return ", ".join(sorted(addresses)) or "none"


def ring_problem(address: str, gossip: Iterable[Mapping[str, Any]], peers: Iterable[str],
                 expected: Collection[str]) -> str | None:
    """Why the node at ``address`` does not yet see the whole cluster; ``None`` if it does."""
    states: dict[str, str] = {}
    schemas: set[str] = set()
    for row in gossip:
        status = str(row.get("status_with_port") or row.get("status") or "")
        states[str(row["address"])] = status.split(",", 1)[0] or "UNKNOWN"
        if row.get("schema") is not None:
            schemas.add(str(row["schema"]))
    wanted = set(expected)
    missing = wanted - states.keys()
    if missing:
        return f"does not know of {_short(missing)} yet (knows {_short(states)})"
    foreign = states.keys() - wanted
    if foreign:
        return f"gossips with nodes outside the cluster: {_short(foreign)}"
    pending = {peer: state for peer, state in states.items() if state != "NORMAL"}
    if pending:
        return "not NORMAL yet: " + ", ".join(f"{p} {s}" for p, s in sorted(pending.items()))
    if len(schemas) > 1:
        return f"schema versions disagree ({len(schemas)} versions)"
    absent = wanted - {address} - {str(peer) for peer in peers}
    if absent:
        return f"system.peers_v2 lacks {_short(absent)}"
    return None


class NodeProbe:
    """A CQL session to one node only, kept open between checks. Thread-safe."""

    def __init__(self, address: str, port: int, expected: Collection[str]) -> None:
        self.address = address
        self.port = port
        self.expected = tuple(expected)
        self._lock = threading.Lock()
        self._cluster: Cluster | None = None
        self._session: Any = None

    def check(self) -> str | None:
        """``None`` when the node is ready, otherwise what is still missing."""
        with self._lock:
            if not tcp_accepting(self.address, self.port, timeout=1.0):
                return f"CQL port {self.port} is not open yet"
            try:
                session = self._session or self._connect()
                gossip = list(session.execute(GOSSIP_QUERY, timeout=DRIVER_TIMEOUT))
                peers = [row["peer"] for row in session.execute(PEERS_QUERY,
                                                                timeout=DRIVER_TIMEOUT)]
            except DRIVER_ERRORS as exc:
                self._close_locked()
                return f"CQL: {type(exc).__name__}: {exc}"
            return ring_problem(self.address, gossip, peers, self.expected)

    def _connect(self) -> Any:
        profile = ExecutionProfile(
            load_balancing_policy=WhiteListRoundRobinPolicy([self.address]),
            request_timeout=DRIVER_TIMEOUT, row_factory=dict_factory)
        self._cluster = Cluster(
            [self.address], port=self.port,
            execution_profiles={EXEC_PROFILE_DEFAULT: profile},
            connect_timeout=DRIVER_TIMEOUT, control_connection_timeout=DRIVER_TIMEOUT,
            schema_metadata_enabled=False, token_metadata_enabled=False,
            reconnection_policy=ConstantReconnectionPolicy(1.0, None),
        )
        self._session = self._cluster.connect()
        return self._session

    def close(self) -> None:
        """Shut the driver down; idempotent."""
        with self._lock:
            self._close_locked()

    def _close_locked(self) -> None:
        cluster, self._cluster, self._session = self._cluster, None, None
        if cluster is not None:
            cluster.shutdown()
