"""The ``monitoring`` section: Prometheus and its exporters, their ports and intervals."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pytest_scyllabench.errors import ProfileError
from pytest_scyllabench.profile import MonitoringSpec
from pytest_scyllabench.profile_schema.fields import at_least, build

MIN_SCRAPE_INTERVAL = 0.1
MAX_SCRAPE_INTERVAL = 300.0


def parse_monitoring(data: Any, source: str, where: str) -> MonitoringSpec:
    """The ``monitoring`` section: types, ranges, and ports that cannot collide."""
    if isinstance(data, Mapping) and data.get("snapshots") is False:
        data = {**data, "snapshots": "off"}  # YAML reads a bare ``off`` as false
    spec = build(MonitoringSpec, data, source, where)
    if not MIN_SCRAPE_INTERVAL <= spec.scrape_interval <= MAX_SCRAPE_INTERVAL:
        raise ProfileError(source, f"{where}.scrape_interval",
                           f"must be between {MIN_SCRAPE_INTERVAL:g} and "
                           f"{MAX_SCRAPE_INTERVAL:g} seconds, got {spec.scrape_interval:g}")
    if not math.isfinite(spec.quiet_timeout):
        raise ProfileError(source, f"{where}.quiet_timeout",
                           f"must be a finite number of seconds, got {spec.quiet_timeout:g}")
    at_least(spec.quiet_timeout, 0, source, f"{where}.quiet_timeout")
    ports: dict[int, str] = {}
    for key in ("prometheus_port", "node_exporter_port", "jmx_exporter_port"):
        port = getattr(spec, key)
        if not 1 <= port <= 65535:
            raise ProfileError(source, f"{where}.{key}", f"must be a TCP port (1-65535), "
                               f"got {port}")
        if port in ports:
            raise ProfileError(source, f"{where}.{key}", f"must differ from {where}."
                               f"{ports[port]} ({port}): both may listen on one address")
        ports[port] = key
    for key in ("prometheus_binary", "node_exporter_binary"):
        if not getattr(spec, key).strip():
            raise ProfileError(source, f"{where}.{key}", "must not be empty")
    if spec.reset_between_tests and spec.snapshots != "per-test":
        raise ProfileError(source, f"{where}.reset_between_tests",
                           f"needs snapshots: per-test (series are deleted after each test's "
                           f"snapshot), got snapshots: {spec.snapshots}")
    return spec
