"""Where a node exporter may listen: as Prometheus, on loopback, private or link-local
addresses only, checked before anything is installed or started on its host."""

from __future__ import annotations

import asyncio

import pytest
from test_monitor_placement import ScriptedExecutor

from pytest_scyllabench.errors import MonitoringError
from pytest_scyllabench.monitor.exporters import NodeExporter
from pytest_scyllabench.monitor.prometheus import MonitoredHost
from pytest_scyllabench.monitor.stack import Monitoring, MonitorOptions, WatchedHost
from pytest_scyllabench.teardown import TeardownStack


@pytest.mark.parametrize(("address", "problem"), [
    ("52.1.2.3", "neither a loopback nor a private address (it may be reachable from the "
                 "internet)"),
    ("0.0.0.0", "the unspecified address, which listens on every interface, public ones "
                "included"),
])
def test_a_public_or_unspecified_address_is_refused_before_anything_runs(
        address: str, problem: str) -> None:
    executor = ScriptedExecutor(lambda command: (0, "node_exporter, version 1.5.0"),
                                host="loader-3")
    exporter = NodeExporter(executor, address, 9100, install=True)
    with pytest.raises(MonitoringError) as caught:
        asyncio.run(exporter.start(timeout=5))
    assert str(caught.value) == (f"loader-3: refusing to run the node exporter listening on "
                                 f"{address}: {problem}")
    assert executor.commands == [] and executor.forwards == []


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.7", "169.254.3.4", "fd00::7"])
def test_loopback_private_and_link_local_addresses_go_on_to_start(address: str) -> None:
    executor = ScriptedExecutor(lambda command: (0, "node_exporter, version 1.5.0"))
    with pytest.raises(MonitoringError, match="exited with code 1"):  # the fake's process
        asyncio.run(NodeExporter(executor, address, 9100).start(timeout=5))
    started = [c for c in executor.commands if c[0] == "start"]
    listen = f"[{address}]:9100" if ":" in address else f"{address}:9100"  # IPv6 bracketed
    assert started and f"--web.listen-address={listen}" in started[0]


def test_a_refused_exporter_is_a_warning_in_optional_mode() -> None:
    """An EC2 loader without a private address: its exporter is refused, the session's
    monitoring warns (optional) or fails (required), and nothing runs on that host."""

    def monitoring(required: bool) -> tuple[Monitoring, ScriptedExecutor]:
        loader = ScriptedExecutor(lambda command: (0, "node_exporter, version 1.5.0"),
                                  host="loader-1")
        watched = WatchedHost(MonitoredHost("loader-1", "54.2.3.4", ("loader",)), loader)
        return Monitoring(MonitorOptions(required=required), hosts=[watched], database=None,
                          prometheus_executor=ScriptedExecutor(lambda c: (0, "")),
                          workdir="/w", prometheus_address="127.0.0.1"), loader

    optional, loader = monitoring(False)
    assert asyncio.run(optional.start(TeardownStack())) is False
    (warning,) = optional.warnings
    assert warning.startswith("monitoring start failed (benchmarks go on without it): "
                              "loader-1: refusing to run the node exporter listening on "
                              "54.2.3.4: neither a loopback nor a private address")
    assert loader.commands == []
    required, _ = monitoring(True)
    with pytest.raises(MonitoringError, match="refusing to run the node exporter"):
        asyncio.run(required.start(TeardownStack()))
