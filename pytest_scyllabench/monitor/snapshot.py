"""TSDB snapshots: take one per test (or per session), keep it as a ``.tar.gz``, serve it later.

:func:`take_snapshot` waits for every target's next scrape, then asks the running Prometheus
for a snapshot through its admin API (the head block included, as tests are shorter than a
block), packs the snapshot directory with ``tar`` on Prometheus's host, copies the archive
into the trials directory and removes both from that host. :func:`delete_series` empties
the TSDB between tests instead of a restart.

:func:`serve_snapshot` unpacks an archive into a temporary directory and starts a local,
read-only Prometheus on it (no scrape target, admin API off, a retention long enough that
old blocks are not deleted); stop it with :meth:`ServedSnapshot.stop`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import shutil
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from pytest_scyllabench.errors import CommandError, MonitoringError
from pytest_scyllabench.execute.base import RunningProcess
from pytest_scyllabench.execute.local import LocalExecutor
from pytest_scyllabench.monitor.client import (
    ADMIN_TIMEOUT,
    POLL_INTERVAL,
    PrometheusClient,
    binary_version,
    check_port_free,
    host_port,
    wait_until_ready,
)
from pytest_scyllabench.monitor.prometheus import (
    PROMETHEUS_BINARY,
    START_TIMEOUT,
    STOP_GRACE,
    Prometheus,
    prometheus_command,
)

log = logging.getLogger(__name__)

#: Long enough that Prometheus never deletes the blocks of an old snapshot it serves.
SERVE_RETENTION = "100y"
PACK_TIMEOUT = 600.0
#: Seconds a snapshot waits for every target's next scrape (a slow JMX scrape takes ~1 s).
CATCH_UP_TIMEOUT = 15.0
_NAME = re.compile(r"^[0-9A-Za-z._-]+$")
#: Every series: what ``delete_series`` removes by default.
ALL_SERIES = '{__name__=~".+"}'


@dataclass(frozen=True)
class Snapshot:
    """A TSDB snapshot packed into ``archive``."""

    archive: Path
    #: Prometheus's name of the snapshot (``20240102T030405Z-<hex>``).
    name: str
    size: int
    #: Seconds from the API call until the archive was in place.
    seconds: float


async def scraped_since(client: PrometheusClient, since: float, timeout: float) -> bool:
    """Wait until every target was scraped after ``since`` (epoch seconds); ``False`` if
    that did not happen within ``timeout`` seconds (a target may be slow: not an error)."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                with contextlib.suppress(MonitoringError):
                    oldest = await client.query("min(timestamp(up))")
                    if oldest and float(oldest[0]["value"][1]) > since:
                        return True
                await asyncio.sleep(POLL_INTERVAL)
    except TimeoutError:
        return False


async def take_snapshot(prometheus: Prometheus, trials_dir: Path, name: str = "prometheus",
                        *, timeout: float = PACK_TIMEOUT,
                        catch_up: float = CATCH_UP_TIMEOUT) -> Snapshot:
    """Snapshot the TSDB into ``<trials_dir>/<name>.tar.gz`` (removed from Prometheus's host).

    It first waits (up to ``catch_up`` seconds) until every target was scraped after the
    call: the snapshot then holds everything until the call (Prometheus leaves the newest
    sample out of the head block it writes), the end of the test's last step included.
    """
    if not _NAME.match(name):
        raise MonitoringError(f"invalid snapshot name {name!r}: letters, digits, . _ - only")
    began = time.monotonic()
    if catch_up > 0 and not await scraped_since(prometheus.client, time.time(), catch_up):
        log.info("%s: not every target was scraped within %g s; snapshotting anyway",
                 prometheus.what, catch_up)
    data = await prometheus.client.post("/api/v1/admin/tsdb/snapshot", timeout=ADMIN_TIMEOUT)
    snapshot = data.get("name") if isinstance(data, dict) else None
    if not isinstance(snapshot, str) or not _NAME.match(snapshot):
        raise MonitoringError(f"{prometheus.what}: unexpected snapshot answer {data!r}")
    executor = prometheus.executor
    source = f"{prometheus.data_dir}/snapshots/{snapshot}"
    packed = f"{prometheus.workdir}/{snapshot}.tar.gz"
    archive = trials_dir / f"{name}.tar.gz"
    # Copied under another name and renamed once complete: a copy cut short (a full disk,
    # Ctrl-C) never stands in the trials directory as the archive the report links to.
    partial = trials_dir / f".{name}.tar.gz.partial"
    try:
        await executor.run(["tar", "-czf", packed, "-C", source, "."], timeout=timeout)
        trials_dir.mkdir(parents=True, exist_ok=True)
        await executor.get(packed, partial)
        partial.replace(archive)
    except CommandError as exc:
        raise MonitoringError(f"{prometheus.what}: cannot pack snapshot {snapshot}: "
                              f"{exc}") from exc
    except OSError as exc:
        raise MonitoringError(f"{prometheus.what}: cannot keep snapshot {snapshot} as "
                              f"{archive}: {exc}") from exc
    finally:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        with contextlib.suppress(CommandError):
            await executor.run(["rm", "-rf", source, packed], timeout=120)
    seconds = time.monotonic() - began
    size = archive.stat().st_size
    log.info("Prometheus snapshot %s: %s (%d bytes) in %.1f s", snapshot, archive, size, seconds)
    return Snapshot(archive=archive, name=snapshot, size=size, seconds=seconds)


async def delete_series(prometheus: Prometheus, match: str = ALL_SERIES,
                        start: float | None = None, end: float | None = None) -> None:
    """Delete the series matching ``match`` (every one by default), then their tombstones."""
    params = [("match[]", match)]
    if start is not None:
        params.append(("start", f"{start:.3f}"))
    if end is not None:
        params.append(("end", f"{end:.3f}"))
    await prometheus.client.post("/api/v1/admin/tsdb/delete_series", params,
                                 timeout=ADMIN_TIMEOUT)
    await prometheus.client.post("/api/v1/admin/tsdb/clean_tombstones", timeout=ADMIN_TIMEOUT)


def unpack(archive: Path, target: Path) -> None:
    """Extract a snapshot archive into ``target`` (refusing links and paths leaving it)."""
    try:
        with tarfile.open(archive, "r:gz") as packed:
            packed.extractall(target, filter="data")
    except (OSError, tarfile.TarError) as exc:
        raise MonitoringError(f"{archive}: not a readable snapshot archive: {exc}") from exc
    # A block is a directory with its meta.json (a tarball of anything else is no snapshot).
    if not any((path / "meta.json").is_file() for path in target.iterdir() if path.is_dir()):
        raise MonitoringError(f"{archive}: holds no TSDB block (a directory with a meta.json): "
                              f"not a Prometheus snapshot")


class ServedSnapshot:
    """A local Prometheus serving an unpacked snapshot; ``stop`` ends it and removes the copy."""

    def __init__(self, archive: Path, directory: Path, process: RunningProcess,
                 client: PrometheusClient) -> None:
        self.archive = archive
        self.directory = directory
        self.client = client
        self._process: RunningProcess | None = process

    def __repr__(self) -> str:
        return f"ServedSnapshot({str(self.archive)!r}, {self.url!r})"

    @property
    def url(self) -> str:
        return self.client.base_url

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def wait(self) -> int:
        """Wait until the server exits (the companion command serves until Ctrl-C)."""
        if self._process is None:
            return 0
        return await self._process.wait()

    async def stop(self) -> None:
        """Stop the server and remove the unpacked copy; idempotent."""
        process, self._process = self._process, None
        try:
            if process is not None:
                await process.terminate(STOP_GRACE)
        finally:
            await asyncio.to_thread(shutil.rmtree, self.directory, True)

    async def __aenter__(self) -> ServedSnapshot:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, value: BaseException | None,
                        traceback: TracebackType | None) -> None:
        await self.stop()


async def serve_snapshot(archive: Path, port: int, *, address: str = "127.0.0.1",
                         binary: str = PROMETHEUS_BINARY, timeout: float = START_TIMEOUT,
                         scratch: Path | None = None) -> ServedSnapshot:
    """Unpack ``archive`` into a temporary directory and serve it on ``address:port``."""
    if archive.is_dir():
        raise MonitoringError(f"{archive}: a directory, not a snapshot archive (.tar.gz)")
    if not archive.is_file():
        raise MonitoringError(f"{archive}: no such snapshot archive")
    executor = LocalExecutor()
    await binary_version(executor, binary, "prometheus", "Prometheus")
    await check_port_free("Prometheus", executor.host, address, port)
    directory = Path(tempfile.mkdtemp(prefix="scyllabench-snapshot-", dir=scratch))
    process: RunningProcess | None = None
    try:
        storage = directory / "data"
        storage.mkdir()
        await asyncio.to_thread(unpack, archive, storage)
        config = directory / "prometheus.yml"
        config.write_text("# Serves a snapshot: nothing to scrape.\nscrape_configs: []\n",
                          encoding="utf-8")
        command = prometheus_command(str(directory), address, port, binary=binary,
                                     retention=SERVE_RETENTION, admin_api=False)
        try:
            process = await executor.start(command)
        except CommandError as exc:
            raise MonitoringError(f"cannot serve {archive}: {exc}") from exc
        client = PrometheusClient.at(address, port)
        await wait_until_ready(process, client.ready, timeout,
                               f"Prometheus serving {archive.name} ({host_port(address, port)})")
    except BaseException:
        if process is not None:
            await process.terminate(STOP_GRACE)
        await asyncio.to_thread(shutil.rmtree, directory, True)
        raise
    return ServedSnapshot(archive, directory, process, client)
