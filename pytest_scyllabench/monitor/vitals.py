"""Vital signs of a step's window, from Prometheus range queries, as plain series for charts.

:func:`collect_vitals` returns ``{metric: {host: [(t, value), ...]}}`` (the shape of
``report.charts.Vitals``), the metric names carrying their unit:

=========================  ===================================================================
``cpu busy %``             100 x (1 - idle rate), averaged over the host's CPUs
``disk read MB/s``         bytes read per second, every disk of the host (partitions and the
                           virtual devices on top of disks excluded: device-mapper, md RAID)
``disk write MB/s``        bytes written per second
``net rx MB/s``            bytes received per second (virtual bridges and veths excluded)
``net tx MB/s``            bytes sent per second
``reads/s``, ``writes/s``  coordinator requests per second of each database node
``read latency mean ms``   their mean latency over the rate window (from counters)
``read latency p99 ms``    Cassandra's decaying p99 / ScyllaDB's histogram p99
``pending compactions``    compactions waiting on each node
=========================  ===================================================================

(and the same for writes). :func:`wait_quiet` waits until no node has pending compactions.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pytest_scyllabench.errors import MonitoringError
from pytest_scyllabench.monitor.client import PrometheusClient
from pytest_scyllabench.profile import DatabaseKind

#: metric name -> host -> [(t seconds since the epoch, value)]
VitalSeries = dict[str, dict[str, list[tuple[float, float]]]]

#: Network interfaces left out of the network rates: bridges and the veth pairs of containers
#: and test namespaces (their traffic is counted on the other end too).
NET_DEVICE_EXCLUDE = "veth.*|docker.*|br-.*|virbr.*|cni.*"
#: Prometheus refuses range queries of more than 11,000 points per series.
MAX_POINTS = 10_000
#: Block devices left out of the disk rates: device-mapper (LVM, dm-crypt) and md RAID devices,
#: whose I/O is counted again on the disks under them (a RAID 0 of two NVMe disks, as
#: ScyllaDB's setup makes, would read twice its throughput), and zram (memory). The node
#: exporter leaves partitions, ``ram``, ``loop`` and ``fd`` devices out itself.
DISK_DEVICE_EXCLUDE = "dm-.*|md.*|zram.*"
PENDING_COMPACTIONS = ("sum by (host) (cassandra_compaction_pending_tasks) or "
                       "sum by (host) (scylla_compaction_manager_pending_compactions)")
MB = 1e6


@dataclass(frozen=True)
class VitalQuery:
    """One vital sign: its name (with unit) and the PromQL giving one series per host."""

    name: str
    promql: str


def rate_window(scrape_interval: float, step: float) -> str:
    """The range of ``rate()``: at least four scrapes and two steps, in whole seconds."""
    return f"{max(math.ceil(4 * scrape_interval), math.ceil(2 * step), 2)}s"


def _cassandra(window: str) -> list[VitalQuery]:
    queries = []
    for operation, label in (("Read", "read"), ("Write", "write")):
        selector = f'{{operation="{operation}"}}'
        requests = f"sum by (host) (rate(cassandra_client_requests_total{selector}[{window}]))"
        latency = (f"sum by (host) (rate(cassandra_client_request_latency_seconds_total"
                   f"{selector}[{window}]))")
        queries += [
            VitalQuery(f"{label}s/s", requests),
            VitalQuery(f"{label} latency mean ms", f"1000 * {latency} / {requests}"),
            VitalQuery(f"{label} latency p99 ms",
                       f"1000 * max by (host) (cassandra_client_request_recent_latency_seconds"
                       f'{{operation="{operation}",quantile="0.99"}})'),
        ]
    queries.append(VitalQuery("pending compactions",
                              "sum by (host) (cassandra_compaction_pending_tasks)"))
    return queries


def _scylla(window: str) -> list[VitalQuery]:
    queries = []
    for label in ("read", "write"):
        metric = f"scylla_storage_proxy_coordinator_{label}_latency"
        requests = f"sum by (host) (rate({metric}_count[{window}]))"
        queries += [
            VitalQuery(f"{label}s/s", requests),
            # ScyllaDB reports microseconds.
            VitalQuery(f"{label} latency mean ms",
                       f"sum by (host) (rate({metric}_sum[{window}])) / {requests} / 1000"),
            VitalQuery(f"{label} latency p99 ms",
                       f"histogram_quantile(0.99, sum by (host, le) "
                       f"(rate({metric}_bucket[{window}]))) / 1000"),
        ]
    queries.append(VitalQuery("pending compactions",
                              "sum by (host) (scylla_compaction_manager_pending_compactions)"))
    return queries


def vital_queries(database: DatabaseKind | None, *, scrape_interval: float = 2.0,
                  step: float | None = None,
                  net_device_exclude: str = NET_DEVICE_EXCLUDE) -> tuple[VitalQuery, ...]:
    """The queries of every vital sign, hosts' first, then the database's (if any)."""
    window = rate_window(scrape_interval, step or scrape_interval)
    node = 'job="node"'
    net = f'{node},device!~"{net_device_exclude}"' if net_device_exclude else node
    disk = f'{node},device!~"{DISK_DEVICE_EXCLUDE}"'

    def per_host(metric: str, selector: str) -> str:
        return f"sum by (host) (rate({metric}{{{selector}}}[{window}])) / {MB:g}"

    queries = [
        VitalQuery("cpu busy %", f"100 * (1 - avg by (host) "
                                 f'(rate(node_cpu_seconds_total{{{node},mode="idle"}}[{window}])))'),
        VitalQuery("disk read MB/s", per_host("node_disk_read_bytes_total", disk)),
        VitalQuery("disk write MB/s", per_host("node_disk_written_bytes_total", disk)),
        VitalQuery("net rx MB/s", per_host("node_network_receive_bytes_total", net)),
        VitalQuery("net tx MB/s", per_host("node_network_transmit_bytes_total", net)),
    ]
    if database == "cassandra":
        queries += _cassandra(window)
    elif database == "scylla":
        queries += _scylla(window)
    elif database is not None:
        raise MonitoringError(f"no vital signs for database {database!r}")
    return tuple(queries)


def range_step(start: float, end: float, scrape_interval: float) -> float:
    """The step of a range query over ``[start, end]``: the scrape interval, or coarser."""
    if end <= start:
        raise MonitoringError(f"empty query window: start {start} is not before end {end}")
    return max(scrape_interval, math.ceil((end - start) / MAX_POINTS))


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an integer beyond a float
        return math.nan


def matrix_series(result: Sequence[dict[str, Any]]) -> dict[str, list[tuple[float, float]]]:
    """A range query's matrix as host -> [(t, value)] (``host`` label, else ``instance``).

    ``MonitoringError`` names the series and the point of an answer that is not a matrix
    (a value that is not a number is NaN, as Prometheus writes ``"NaN"``)."""
    series: dict[str, list[tuple[float, float]]] = {}
    for number, item in enumerate(result):
        labels = item.get("metric") if isinstance(item, dict) else None
        if not isinstance(labels, dict) or not isinstance(item.get("values") or [], list):
            raise MonitoringError(f"range query answer: series {number} is not a matrix "
                                  f"series (no 'metric' object or 'values' list): "
                                  f"{str(item)[:200]}")
        host = str(labels.get("host") or labels.get("instance") or "all")
        points = []
        for point in item.get("values") or []:
            try:
                stamp, value = point
                points.append((float(stamp), _float(value)))
            except (TypeError, ValueError, OverflowError):
                raise MonitoringError(f"range query answer: series {number} ({host}): bad "
                                      f"point {str(point)[:100]} (expected [time, "
                                      f"\"value\"])") from None
        series.setdefault(host, []).extend(points)
    return {host: sorted(points) for host, points in series.items()}


async def collect_vitals(client: PrometheusClient, start: float, end: float, *,
                         database: DatabaseKind | None, scrape_interval: float = 2.0,
                         net_device_exclude: str = NET_DEVICE_EXCLUDE) -> VitalSeries:
    """Every vital sign over ``[start, end]`` (epoch seconds); metrics without data are left
    out. ``MonitoringError`` names each query that failed."""
    step = range_step(start, end, scrape_interval)
    queries = vital_queries(database, scrape_interval=scrape_interval, step=step,
                            net_device_exclude=net_device_exclude)
    # Prometheus evaluates at first, first + step, ... up to end: counted back from the end,
    # so that the last point covers the step's end (from ``start``, a window shorter than
    # ``step`` would get one point, whose rate is of the seconds before the step).
    first = end - math.floor(round((end - start) / step, 6)) * step
    answers = await asyncio.gather(
        *(client.query_range(query.promql, first, end, step) for query in queries),
        return_exceptions=True)
    vitals: VitalSeries = {}
    failures = []
    for query, answer in zip(queries, answers, strict=True):
        if isinstance(answer, MonitoringError):
            failures.append(f"{query.name}: {answer}")
        elif isinstance(answer, BaseException):
            raise answer
        else:
            try:
                series = matrix_series(answer)
            except MonitoringError as exc:
                failures.append(f"{query.name}: {exc}")
                continue
            if series:
                vitals[query.name] = series
    if failures:
        raise MonitoringError("vital-sign queries failed:\n" + "\n".join(failures))
    return vitals


async def pending_compactions(client: PrometheusClient) -> dict[str, float]:
    """Pending compactions of each database node now (empty if the database is not scraped)."""
    pending: dict[str, float] = {}
    for item in await client.query(PENDING_COMPACTIONS):
        try:
            host = str((item.get("metric") or {}).get("host", "all"))
            _, value = item["value"]
        except (AttributeError, KeyError, TypeError, ValueError):
            raise MonitoringError(f"query {PENDING_COMPACTIONS!r}: not a vector sample "
                                  f"(no 'metric' and [time, \"value\"]): "
                                  f"{str(item)[:200]}") from None
        pending[host] = _float(value)
    return pending


async def wait_quiet(client: PrometheusClient, timeout: float, *, poll: float = 1.0,
                     settle: int = 2) -> float:
    """Wait until no node has a pending compaction, ``settle`` polls in a row; the seconds
    it took. ``MonitoringError`` after ``timeout`` names the last values (or their absence)."""
    began = time.monotonic()
    last = "not checked yet"
    streak = 0
    try:
        async with asyncio.timeout(timeout):
            while True:
                try:
                    pending = await pending_compactions(client)
                except MonitoringError as exc:
                    last, streak = str(exc), 0
                else:
                    busy = {host: value for host, value in pending.items() if value != 0}
                    if not pending:
                        last, streak = ("no pending-compaction series (is the database "
                                        "scraped?)"), 0
                    elif busy:
                        last, streak = "pending compactions: " + ", ".join(
                            f"{host}={value:g}" for host, value in sorted(busy.items())), 0
                    else:
                        streak += 1
                        if streak >= settle:
                            return time.monotonic() - began
                        last = (f"no pending compaction, {streak} of the {settle} polls in a "
                                f"row needed ({poll:g} s apart)")
                await asyncio.sleep(poll)
    except TimeoutError:
        raise MonitoringError(f"compactions did not settle within {timeout:g} s; "
                              f"last seen: {last}") from None
