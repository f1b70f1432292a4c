"""Talking to Prometheus and its exporters over HTTP, and waiting for them to come up.

Blocking ``urllib`` calls run in ``asyncio.to_thread``, each bounded by a socket timeout;
no HTTP library is needed for a handful of JSON requests per test. Every failure becomes a
:class:`~pytest_scyllabench.errors.MonitoringError` naming the URL and what went wrong
(Prometheus's own ``error`` field when it sent one).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from pytest_scyllabench.errors import CommandError, MissingDependencyError, MonitoringError
from pytest_scyllabench.execute.base import DirectPort, Executor, PortForward, RunningProcess
from pytest_scyllabench.execute.packages import apt_install

#: Seconds between two readiness checks.
POLL_INTERVAL = 0.25
#: Seconds one HTTP request may take.
HTTP_TIMEOUT = 10.0
#: Seconds an admin call that writes the TSDB may take (a snapshot persists the head block,
#: ``clean_tombstones`` rewrites blocks: minutes on a long session with many hosts).
ADMIN_TIMEOUT = 300.0
#: Prometheus answers a PromQL query within this (server side), before our socket gives up.
QUERY_TIMEOUT = "8s"

Params = Sequence[tuple[str, str]]


def host_port(address: str, port: int) -> str:
    """``address:port``, an IPv6 address in brackets (``[fd00::1]:9100``): the form of a
    scrape target, a URL and a Go listen address (``fd00::1:9100`` is none of them)."""
    bare = address.strip("[]")
    return f"[{bare}]:{port}" if ":" in bare else f"{bare}:{port}"


def _prometheus_error(body: bytes) -> str:
    """The ``error`` of a Prometheus JSON answer, else the start of the body."""
    text = body.decode(errors="replace").strip()
    try:
        payload = json.loads(text)
    except ValueError:
        return text[:300] or "(empty body)"
    if isinstance(payload, dict) and payload.get("error"):
        kind = payload.get("errorType")
        return f"{kind}: {payload['error']}" if kind else str(payload["error"])
    return text[:300]


def _request(url: str, method: str, data: bytes | None, timeout: float) -> tuple[int, bytes]:
    """One blocking HTTP request; ``(status, body)`` or ``MonitoringError``."""
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as exc:
        body = exc.read() if exc.fp is not None else b""
        raise MonitoringError(f"{method} {url}: HTTP {exc.code}: "
                              f"{_prometheus_error(body)}") from exc
    except urllib.error.URLError as exc:
        raise MonitoringError(f"{method} {url}: {exc.reason}") from exc
    except (OSError, ValueError, http.client.HTTPException) as exc:  # timeouts, resets, junk
        raise MonitoringError(f"{method} {url}: {exc or type(exc).__name__}") from exc


class PrometheusClient:
    """The HTTP API of one Prometheus server (``base_url`` like ``http://127.0.0.1:9090``)."""

    def __init__(self, base_url: str, *, timeout: float = HTTP_TIMEOUT) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    @classmethod
    def at(cls, address: str, port: int, *, timeout: float = HTTP_TIMEOUT) -> PrometheusClient:
        """The client of the server listening on ``address:port`` (:func:`host_port`)."""
        return cls(f"http://{host_port(address, port)}", timeout=timeout)

    def __repr__(self) -> str:
        return f"PrometheusClient({self.base_url!r})"

    def url(self, path: str, params: Params = ()) -> str:
        query = urllib.parse.urlencode(list(params))
        return f"{self.base_url}{path}" + (f"?{query}" if query else "")

    async def get_text(self, path: str, params: Params = ()) -> str:
        url = self.url(path, params)
        _, body = await asyncio.to_thread(_request, url, "GET", None, self.timeout)
        return body.decode(errors="replace")

    async def get(self, path: str, params: Params = ()) -> Any:
        """GET a JSON API endpoint; its ``data`` field."""
        return await self._json("GET", path, params)

    async def post(self, path: str, params: Params = (), *, timeout: float | None = None) -> Any:
        """POST a form to a JSON API endpoint; its ``data`` field (``None`` for 204).
        ``timeout`` (seconds) replaces the client's own for this call."""
        return await self._json("POST", path, params, timeout)

    async def _json(self, method: str, path: str, params: Params,
                    timeout: float | None = None) -> Any:
        if method == "GET":
            url, data = self.url(path, params), None
        else:
            url, data = self.url(path), urllib.parse.urlencode(list(params)).encode()
        status, body = await asyncio.to_thread(_request, url, method, data,
                                               self.timeout if timeout is None else timeout)
        if status == 204 or not body.strip():
            return None
        try:
            payload = json.loads(body)
        except ValueError as exc:
            raise MonitoringError(f"{method} {url}: not JSON: {body[:200]!r}") from exc
        if not isinstance(payload, dict) or payload.get("status") != "success":
            raise MonitoringError(f"{method} {url}: {_prometheus_error(body)}")
        return payload.get("data")

    async def ready(self) -> None:
        """Return when ``/-/ready`` answers 200; ``MonitoringError`` otherwise."""
        await self.get_text("/-/ready")

    async def query(self, promql: str, at: float | None = None) -> list[dict[str, Any]]:
        """An instant query; the ``result`` list (a vector: ``metric`` and ``value``)."""
        params = [("query", promql), ("timeout", QUERY_TIMEOUT)]
        if at is not None:
            params.append(("time", f"{at:.3f}"))
        return _result(await self.get("/api/v1/query", params), promql)

    async def query_range(self, promql: str, start: float, end: float,
                          step: float) -> list[dict[str, Any]]:
        """A range query; the ``result`` list (a matrix: ``metric`` and ``values``)."""
        params = [("query", promql), ("start", f"{start:.3f}"), ("end", f"{end:.3f}"),
                  ("step", f"{step:g}"), ("timeout", QUERY_TIMEOUT)]
        return _result(await self.get("/api/v1/query_range", params), promql)

    async def targets(self) -> list[dict[str, Any]]:
        """The active scrape targets, each with ``labels``, ``health`` and ``lastError``."""
        data = await self.get("/api/v1/targets", [("state", "active")])
        active = data.get("activeTargets") if isinstance(data, dict) else None
        if not isinstance(active or [], list) or not all(isinstance(t, dict)
                                                         for t in active or []):
            raise MonitoringError(f"{self.url('/api/v1/targets')}: 'activeTargets' is not a "
                                  f"list of objects: {str(active)[:200]}")
        return list(active or [])


def _result(data: Any, promql: str) -> list[dict[str, Any]]:
    if not isinstance(data, dict) or not isinstance(data.get("result"), list):
        raise MonitoringError(f"query {promql!r}: unexpected answer {str(data)[:200]}")
    return list(data["result"])


async def check_port_free(what: str, host: str, address: str, port: int,
                          reach: PortForward | None = None) -> None:
    """``MonitoringError`` if ``address:port`` is taken (before starting ``what`` on it).

    ``reach`` is the way to that port from this process when it is not direct (a forward over
    SSH asks the host itself).
    """
    if await (reach or DirectPort(address, port)).accepting():
        raise MonitoringError(
            f"cannot start {what} on {host}: {host_port(address, port)} is already in use by "
            "another process (another session's monitoring?); choose another port")


async def binary_version(executor: Executor, binary: str, package: str, what: str) -> str:
    """First line of ``<binary> --version`` on the executor's host, or a clear error."""
    hint = (f"install Debian's `{package}` package (`make deps` runs "
            "scripts/ensure-system-deps.sh, which does)")
    try:
        result = await executor.run([binary, "--version"], timeout=30, check=False)
    except CommandError as exc:
        raise MonitoringError(f"{executor.host}: {what} is not installed: {binary} cannot be "
                              f"run ({exc.stderr.strip() or exc}); {hint}") from exc
    if result.exit_code in (126, 127):
        raise MonitoringError(f"{executor.host}: {what} is not installed: {binary} not found "
                              f"(exit code {result.exit_code}); {hint}")
    output = (result.stdout + "\n" + result.stderr).strip()
    return output.splitlines()[0] if output else "unknown version"


async def installed_version(executor: Executor, binary: str, package: str, what: str, *,
                            install: bool, default_binary: str) -> str:
    """:func:`binary_version`, after installing Debian's ``package`` (its own service stopped
    and disabled, so that the session's process gets the port) when the binary is missing,
    ``install`` is allowed and ``binary`` is the package's own ``default_binary``."""
    try:
        return await binary_version(executor, binary, package, what)
    except MonitoringError:
        if not (install and binary == default_binary):
            raise
    try:
        await apt_install(executor, [package], services_off=[package])
    except (CommandError, MissingDependencyError) as exc:
        raise MonitoringError(f"{executor.host}: {what} is not installed, and installing "
                              f"Debian's `{package}` failed: {exc}") from exc
    return await binary_version(executor, binary, package, what)


async def wait_until_ready(process: RunningProcess, probe: Callable[[], Awaitable[None]],
                           timeout: float, what: str) -> float:
    """Poll ``probe`` until it passes; the seconds it took.

    Fails at once when ``process`` exits (with its stderr tail; a taken port is named as
    such), and after ``timeout`` seconds with the last error the probe raised.
    """
    began = time.monotonic()
    last = "not checked yet"
    try:
        async with asyncio.timeout(timeout):
            while True:
                _check_alive(process, what)
                try:
                    await probe()
                except MonitoringError as exc:
                    last = str(exc)
                else:
                    _check_alive(process, what)
                    return time.monotonic() - began
                await asyncio.sleep(POLL_INTERVAL)
    except TimeoutError:
        raise MonitoringError(f"{what} not ready after {timeout:g} s; last error: {last}"
                              ) from None


def _check_alive(process: RunningProcess, what: str) -> None:
    code = process.returncode
    if code is None:
        return
    tail = process.stderr_tail(15)
    cause = ""
    if "address already in use" in tail:
        cause = " (its listen address is already in use by another process)"
    raise MonitoringError(f"{what} exited with code {code} before it was ready{cause}"
                          + (f"\n--- last lines of stderr ---\n{tail}" if tail else ""))
