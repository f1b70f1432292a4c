"""The HTTP client, readiness waits and error messages, against a small local HTTP server
that replays answers recorded from Prometheus 2.42."""

from __future__ import annotations

import asyncio
import http.server
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_scyllabench.execute.local import LocalExecutor
from pytest_scyllabench.monitor.client import (
    MonitoringError,
    PrometheusClient,
    binary_version,
    check_port_free,
    wait_until_ready,
)
from pytest_scyllabench.monitor.prometheus import Prometheus
from pytest_scyllabench.monitor.snapshot import _NAME
from pytest_scyllabench.monitor.vitals import pending_compactions, wait_quiet

DATA = Path(__file__).parent / "data" / "prometheus"

#: path (without query) -> (status, recorded body file or literal body)
ROUTES: dict[str, tuple[int, str]] = {
    "/-/ready": (200, "=Prometheus Server is Ready.\n"),
    "/api/v1/query": (200, "query-pending-compactions.json"),
    "/api/v1/query_range": (400, "error-400-too-many-points.json"),
    "/api/v1/targets": (200, "targets.json"),
    "/api/v1/status/bad": (400, "error-400-bad-query.json"),
    "/not-json": (200, "=<html>hello</html>"),
    "/api/v1/admin/tsdb/clean_tombstones": (204, "="),
    "/api/v1/admin/tsdb/snapshot": (200, "snapshot-2.42.json"),
    "/truncated": (200, "=" + (DATA / "targets.json").read_text()[:700]),
    "/latin1": (200, "=\udcff\udcfe{}"),
    "/failed": (200, '={"status":"error","errorType":"execution","error":"query timed out"}'),
    "/slow": (200, '={"status":"success","data":{"name":"slow"}}'),
}
#: Seconds the ``/slow`` route waits before it answers.
SLOW = 1.0


class Replay(http.server.BaseHTTPRequestHandler):
    def _answer(self) -> None:
        if self.path.startswith("/slow"):
            time.sleep(SLOW)
        status, source = ROUTES.get(self.path.split("?")[0], (404, "=404 page not found\n"))
        body = (source[1:].encode(errors="surrogateescape") if source.startswith("=")
                else (DATA / source).read_bytes())
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Replay)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_call_given_its_own_timeout_outlasts_the_clients(server: str) -> None:
    client = PrometheusClient(server, timeout=SLOW / 4)
    with pytest.raises(MonitoringError, match=r"POST .*/slow: .*timed out"):
        asyncio.run(client.post("/slow"))
    assert asyncio.run(client.post("/slow", timeout=SLOW * 10)) == {"name": "slow"}
    assert client.timeout == SLOW / 4


def test_instant_query_and_pending_compactions(server: str) -> None:
    client = PrometheusClient(server)
    result = asyncio.run(client.query("up", at=12.5))
    assert result == [{"metric": {"host": "node1"}, "value": [1795463434.053, "0"]}]
    assert asyncio.run(pending_compactions(client)) == {"node1": 0.0}


def test_prometheus_errors_are_quoted(server: str) -> None:
    client = PrometheusClient(server)
    with pytest.raises(MonitoringError) as caught:
        asyncio.run(client.query_range("up", 0, 100_000, 1))
    message = str(caught.value)
    assert message.startswith(f"GET {server}/api/v1/query_range?query=up&start=0.000")
    assert "HTTP 400: bad_data: exceeded maximum resolution of 11,000 points" in message
    with pytest.raises(MonitoringError, match=r"HTTP 400: bad_data: invalid parameter "
                                              r"\"query\": 1:24: parse error"):
        asyncio.run(client.get("/api/v1/status/bad"))
    with pytest.raises(MonitoringError, match="HTTP 404: 404 page not found"):
        asyncio.run(client.get("/nowhere"))
    with pytest.raises(MonitoringError, match=r"/not-json: not JSON: b'<html>"):
        asyncio.run(client.get("/not-json"))
    assert asyncio.run(client.post("/api/v1/admin/tsdb/clean_tombstones")) is None


def test_unreachable_server_is_named() -> None:
    port = closed_port()
    client = PrometheusClient(f"http://127.0.0.1:{port}", timeout=2.0)
    with pytest.raises(MonitoringError, match=rf"GET http://127\.0\.0\.1:{port}/-/ready: "
                                              r".*[Cc]onnection refused"):
        asyncio.run(client.ready())


def test_targets_up(server: str, tmp_path: Path) -> None:
    port = int(server.rsplit(":", 1)[1])
    prometheus = Prometheus(LocalExecutor(), str(tmp_path), port=port)
    asyncio.run(prometheus.wait_targets_up(5))
    assert len(asyncio.run(prometheus.client.targets())) == 2


def test_wait_quiet_returns_when_nothing_is_pending(server: str) -> None:
    assert asyncio.run(wait_quiet(PrometheusClient(server), 5, poll=0.05)) >= 0.05


def test_wait_quiet_reports_the_last_problem() -> None:
    client = PrometheusClient(f"http://127.0.0.1:{closed_port()}", timeout=1.0)
    with pytest.raises(MonitoringError, match=r"compactions did not settle within 0\.5 s; "
                                              r"last seen: GET .*refused"):
        asyncio.run(wait_quiet(client, 0.5, poll=0.1))


class FakeProcess:
    """A started process that has exited with ``code`` after writing ``stderr``."""

    def __init__(self, code: int | None, stderr: str = "") -> None:
        self._code = code
        self._stderr = stderr

    @property
    def pid(self) -> int | None:
        return 1

    @property
    def returncode(self) -> int | None:
        return self._code

    async def wait(self, timeout: float | None = None) -> int:
        return self._code or 0

    async def terminate(self, grace: float = 10.0) -> int | None:
        return self._code

    def stderr_tail(self, lines: int = 20) -> str:
        return self._stderr


def test_wait_until_ready_names_an_early_exit_and_a_taken_port() -> None:
    # Recorded from Prometheus 2.42 started on a port bound by another socket.
    stderr = (DATA / "stderr-2.42-port-taken.txt").read_text()

    async def never() -> None:
        raise MonitoringError("not yet")

    with pytest.raises(MonitoringError) as caught:
        asyncio.run(wait_until_ready(FakeProcess(1, stderr), never, 5, "Prometheus on local"))
    message = str(caught.value)
    assert message.startswith("Prometheus on local exited with code 1 before it was ready "
                              "(its listen address is already in use by another process)")
    assert "bind: address already in use" in message


def test_wait_until_ready_times_out_with_the_last_error() -> None:
    attempts = []

    async def probe() -> None:
        attempts.append(1)
        raise MonitoringError(f"attempt {len(attempts)} failed")

    with pytest.raises(MonitoringError, match=r"thing not ready after 0\.6 s; last error: "
                                              r"attempt \d+ failed"):
        asyncio.run(wait_until_ready(FakeProcess(None), probe, 0.6, "thing"))
    assert len(attempts) >= 2


def test_taken_port_check(server: str) -> None:
    port = int(server.rsplit(":", 1)[1])
    with pytest.raises(MonitoringError, match=rf"cannot start Prometheus on h: 127\.0\.0\.1:"
                                              rf"{port} is already in use"):
        asyncio.run(check_port_free("Prometheus", "h", "127.0.0.1", port))
    asyncio.run(check_port_free("Prometheus", "h", "127.0.0.1", closed_port()))


def test_missing_binaries_name_the_package(tmp_path: Path) -> None:
    executor = LocalExecutor("mon1")
    with pytest.raises(MonitoringError, match=r"^mon1: Prometheus is not installed: "
                                              r".*/nothing cannot be run .*Debian's "
                                              r"`prometheus` package"):
        asyncio.run(binary_version(executor, str(tmp_path / "nothing"), "prometheus",
                                   "Prometheus"))
    wrapper = tmp_path / "gone"  # what `sh` answers for a missing command over SSH
    wrapper.write_text("#!/bin/sh\necho 'sh: 1: prometheus: not found' >&2\nexit 127\n")
    wrapper.chmod(0o755)
    with pytest.raises(MonitoringError, match=r"not found \(exit code 127\)"):
        asyncio.run(binary_version(executor, str(wrapper), "prometheus", "Prometheus"))
    version = tmp_path / "version"
    version.write_text("#!/bin/sh\necho 'prometheus, version 2.42.0+ds'\necho more\n")
    version.chmod(0o755)
    assert asyncio.run(binary_version(executor, str(version), "prometheus",
                                      "Prometheus")) == "prometheus, version 2.42.0+ds"


def test_recorded_snapshot_answer(server: str) -> None:
    data = asyncio.run(PrometheusClient(server).post("/api/v1/admin/tsdb/snapshot"))
    assert data == {"name": "20261124T040702Z-45de77d88c4c6c19"}
    assert _NAME.match(data["name"])  # what take_snapshot accepts as a snapshot name


def test_recorded_targets_are_read(server: str) -> None:
    targets = asyncio.run(PrometheusClient(server).targets())
    assert [(t["labels"]["job"], t["labels"]["host"], t["health"]) for t in targets] == [
        ("cassandra", "node1", "up"), ("node", "local", "up")]
    assert targets[0]["scrapeUrl"] == "http://127.0.0.24:53175/metrics"


@pytest.mark.parametrize(("path", "problem"), [
    ("/truncated", r"/truncated: not JSON: b'\{\\n \"status\""),
    ("/latin1", r"/latin1: not JSON: b'\\xff\\xfe\{\}'"),
    ("/failed", r"/failed: execution: query timed out"),
])
def test_odd_answers_name_the_url(server: str, path: str, problem: str) -> None:
    with pytest.raises(MonitoringError, match=f"^GET {server}{problem}"):
        asyncio.run(PrometheusClient(server).get(path))


def test_targets_that_are_not_objects_are_refused(server: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    client = PrometheusClient(server)

    async def odd(path: str, params: object = ()) -> object:
        return {"activeTargets": ["127.0.0.1:9100"]}

    monkeypatch.setattr(client, "get", odd)
    with pytest.raises(MonitoringError, match=r"/api/v1/targets: 'activeTargets' is not a "
                                              r"list of objects: \['127\.0\.0\.1:9100'\]"):
        asyncio.run(client.targets())


class _Answers:
    """A client whose instant queries answer ``result``."""

    def __init__(self, result: list[object]) -> None:
        self.result = result

    async def query(self, promql: str, at: float | None = None) -> list[object]:
        return self.result


def test_recorded_instant_answer_and_odd_samples() -> None:
    recorded = json.loads((DATA / "query-up.json").read_text())["data"]["result"]
    assert recorded[0]["value"] == [1795493228.033, "1"]
    up = {**recorded[0], "metric": {**recorded[0]["metric"], "host": "node1"}}
    assert asyncio.run(pending_compactions(_Answers([up]))) == {  # type: ignore[arg-type]
        "node1": 1.0}
    for odd in (["x"], [{"metric": {"host": "n"}}], [{"metric": {}, "value": [1]}]):
        with pytest.raises(MonitoringError, match=r"not a vector sample"):
            asyncio.run(pending_compactions(_Answers(odd)))  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["version-prometheus-2.42.stdout",
                                  "version-node-exporter-1.5.0.stdout"])
def test_binary_version_of_the_recorded_version_output(tmp_path: Path, name: str) -> None:
    binary = tmp_path / "binary"
    binary.write_text(f"#!/bin/sh\ncat {DATA / name}\n")
    binary.chmod(0o755)
    first = (DATA / name).read_text().splitlines()[0]
    assert first.startswith(("prometheus, version 2.42.0", "node_exporter, version 1.5.0"))
    assert asyncio.run(binary_version(LocalExecutor("mon1"), str(binary), "prometheus",
                                      "Prometheus")) == first
