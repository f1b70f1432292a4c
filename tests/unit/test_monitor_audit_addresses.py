"""Audit: IPv6 addresses in the scrape configuration, command lines and URLs of monitoring.

``fd00::1:9100`` is neither a scrape target, a URL host nor a Go listen address: each needs
``[fd00::1]:9100``. IPv4 addresses and host names stay as they are.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from pytest_scyllabench.execute.local import LocalExecutor
from pytest_scyllabench.monitor.client import host_port
from pytest_scyllabench.monitor.exporters import (
    NodeExporter,
    jmx_agent_jvm_option,
    node_exporter_command,
)
from pytest_scyllabench.monitor.prometheus import (
    MonitoredHost,
    Prometheus,
    prometheus_command,
    prometheus_config,
    render_config,
    scrape_targets,
)


@pytest.mark.parametrize(("address", "expected"), [
    ("10.0.0.1", "10.0.0.1:9100"), ("db1.internal", "db1.internal:9100"),
    ("fd00::1", "[fd00::1]:9100"), ("[fd00::1]", "[fd00::1]:9100"), ("::1", "[::1]:9100")])
def test_host_port(address: str, expected: str) -> None:
    assert host_port(address, 9100) == expected


def test_ipv6_hosts_are_scraped_at_bracketed_targets(tmp_path: Path) -> None:
    hosts = [MonitoredHost("db1", "fd00::10", ("db",)), MonitoredHost("mon", "10.0.0.9",
                                                                      ("monitor",))]
    targets = scrape_targets(hosts, "scylla")
    assert [t.address for t in targets] == ["[fd00::10]:9100", "10.0.0.9:9100",
                                            "[fd00::10]:9180"]
    promtool = shutil.which("promtool")
    if promtool is not None:  # the file stays one Prometheus accepts
        path = tmp_path / "prometheus.yml"
        path.write_text(render_config(prometheus_config(targets, 1.0)), encoding="utf-8")
        done = subprocess.run([promtool, "check", "config", str(path)], capture_output=True,
                              text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stdout + done.stderr


def test_ipv6_listen_addresses_and_urls_are_bracketed() -> None:
    assert "--web.listen-address=[fd00::2]:9090" in prometheus_command("/w", "fd00::2", 9090)
    assert "--web.listen-address=[fd00::2]:9100" in node_exporter_command("fd00::2", 9100)
    assert NodeExporter(LocalExecutor(), "fd00::2", 9100).target == "[fd00::2]:9100"
    prometheus = Prometheus(LocalExecutor(), "/w", address="fd00::2", port=9090)
    assert prometheus.url == "http://[fd00::2]:9090"
    assert "([fd00::2]:9090)" in prometheus.what
    # The JMX exporter's own syntax: [host:]port:config, an IPv6 host in brackets.
    assert jmx_agent_jvm_option("/a.jar", 7070, "/r.yaml", address="fd00::2") == (
        "-javaagent:/a.jar=[fd00::2]:7070:/r.yaml")
