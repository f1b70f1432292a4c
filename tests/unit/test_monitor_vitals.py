"""Vital-sign queries: PromQL building, windows, and reading recorded Prometheus answers."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import re
from pathlib import Path
from typing import Any

import pytest

from pytest_scyllabench.errors import MonitoringError
from pytest_scyllabench.monitor.vitals import (
    MAX_POINTS,
    PENDING_COMPACTIONS,
    collect_vitals,
    matrix_series,
    range_step,
    rate_window,
    vital_queries,
)
from pytest_scyllabench.profile import DatabaseKind

DATA = Path(__file__).parent / "data" / "prometheus"
HOST_METRICS = ["cpu busy %", "disk read MB/s", "disk write MB/s", "net rx MB/s", "net tx MB/s"]
DB_METRICS = ["reads/s", "read latency mean ms", "read latency p99 ms", "writes/s",
              "write latency mean ms", "write latency p99 ms", "pending compactions"]


def test_names_and_order() -> None:
    assert [q.name for q in vital_queries(None)] == HOST_METRICS
    assert [q.name for q in vital_queries("cassandra")] == HOST_METRICS + DB_METRICS
    assert [q.name for q in vital_queries("scylla")] == HOST_METRICS + DB_METRICS
    with pytest.raises(MonitoringError, match="no vital signs for database 'mongo'"):
        vital_queries("mongo")  # type: ignore[arg-type]


def test_every_query_aggregates_by_host() -> None:
    databases: tuple[DatabaseKind | None, ...] = (None, "cassandra", "scylla")
    for database in databases:
        for query in vital_queries(database):
            assert "by (host" in query.promql, query


def test_host_queries() -> None:
    queries = {q.name: q.promql for q in vital_queries(None, scrape_interval=1.0, step=1.0)}
    assert queries["cpu busy %"] == ('100 * (1 - avg by (host) (rate(node_cpu_seconds_total'
                                     '{job="node",mode="idle"}[4s])))')
    assert queries["disk write MB/s"] == ('sum by (host) (rate(node_disk_written_bytes_total'
                                          '{job="node",device!~"dm-.*|md.*|zram.*"}[4s]))'
                                          ' / 1e+06')
    assert 'device!~"veth.*|docker.*' in queries["net rx MB/s"]
    plain = {q.name: q.promql for q in vital_queries(None, net_device_exclude="")}
    assert "device" not in plain["net tx MB/s"]


def test_cassandra_queries_use_the_jmx_exporter_names() -> None:
    queries = {q.name: q.promql for q in vital_queries("cassandra", scrape_interval=2.0)}
    assert queries["writes/s"] == ('sum by (host) (rate(cassandra_client_requests_total'
                                   '{operation="Write"}[8s]))')
    assert queries["read latency mean ms"] == (
        '1000 * sum by (host) (rate(cassandra_client_request_latency_seconds_total'
        '{operation="Read"}[8s])) / sum by (host) (rate(cassandra_client_requests_total'
        '{operation="Read"}[8s]))')
    assert 'quantile="0.99"' in queries["write latency p99 ms"]
    assert queries["pending compactions"] == (
        "sum by (host) (cassandra_compaction_pending_tasks)")


def test_scylla_queries_use_scyllas_names() -> None:
    queries = {q.name: q.promql for q in vital_queries("scylla", scrape_interval=1.0)}
    assert queries["reads/s"] == ("sum by (host) "
                                  "(rate(scylla_storage_proxy_coordinator_read_latency_count[4s]))")
    assert queries["write latency p99 ms"] == (
        "histogram_quantile(0.99, sum by (host, le) "
        "(rate(scylla_storage_proxy_coordinator_write_latency_bucket[4s]))) / 1000")
    assert "scylla_compaction_manager_pending_compactions" in queries["pending compactions"]


def test_metric_names_exist_in_real_exporter_output() -> None:
    """Every node_* and cassandra_* name queried is in what the exporters really serve."""
    served = ((DATA / "node-exporter-1.5.0.txt").read_text()
              + (DATA / "jmx-exporter-1.0.1-cassandra-5.0.9.txt").read_text())
    exported = set(re.findall(r"^([a-z_:][a-z0-9_:]*)[{ ]", served, re.MULTILINE))
    promql = " ".join(q.promql for q in vital_queries("cassandra")) + " " + PENDING_COMPACTIONS
    used = set(re.findall(r"\b((?:node|cassandra)_[a-z0-9_]+)", promql))
    assert used, promql
    assert used <= exported, used - exported


def test_rate_window_and_step() -> None:
    assert rate_window(1.0, 1.0) == "4s"
    assert rate_window(2.0, 2.0) == "8s"
    assert rate_window(1.0, 30.0) == "60s"
    assert rate_window(0.25, 0.25) == "2s"
    assert range_step(0.0, 60.0, 1.0) == 1.0
    assert (3 * 3600 * 24) / range_step(0.0, 3 * 3600 * 24, 1.0) <= MAX_POINTS
    with pytest.raises(MonitoringError, match="empty query window"):
        range_step(10.0, 10.0, 1.0)


def test_matrix_from_a_real_range_query() -> None:
    answer = json.loads((DATA / "query_range-write-latency-mean.json").read_text())
    series = matrix_series(answer["data"]["result"])
    assert list(series) == ["node1"]
    points = series["node1"]
    assert points[0] == (1795463420.66, 1.8231278195488723)
    assert all(b[0] - a[0] == pytest.approx(1.0) for a, b in itertools.pairwise(points))
    assert math.isnan(points[-1][1])  # no request in the window: 0/0


def test_matrix_without_host_label_falls_back_to_instance() -> None:
    result: list[dict[str, Any]] = [
        {"metric": {"instance": "10.0.0.1:9100"}, "values": [[2, "1"], [1, "0.5"]]},
        {"metric": {}, "values": [[1, "bad"]]},
    ]
    series = matrix_series(result)
    assert series["10.0.0.1:9100"] == [(1.0, 0.5), (2.0, 1.0)]
    assert math.isnan(series["all"][0][1])


def _recorded_matrix(name: str) -> dict[str, list[tuple[float, float]]]:
    return matrix_series(json.loads((DATA / name).read_text())["data"]["result"])


def test_matrix_of_the_recorded_cpu_and_write_queries() -> None:
    cpu = _recorded_matrix("query_range-cpu.json")
    assert list(cpu) == ["local"] and len(cpu["local"]) == 16
    assert cpu["local"][0] == (1795463418.66, 98.99665551839556)
    assert cpu["local"][-1] == (1795463433.66, 100.0)
    writes = _recorded_matrix("query_range-writes.json")
    assert list(writes) == ["node1"] and len(writes["node1"]) == 14
    assert writes["node1"][1] == (1795463421.66, 72.7)
    assert writes["node1"][-1] == (1795463433.66, 0.0)


def test_matrix_of_recorded_whole_second_stamps_and_an_empty_answer() -> None:
    """Prometheus 2.42 writes a whole-second stamp as an integer (``[1795493224,"1"]``)."""
    up = _recorded_matrix("query_range-up.json")
    assert up == {"monitor": [(1795493224.0 + i, 1.0) for i in range(5)]}
    assert _recorded_matrix("query_range-empty.json") == {}


@pytest.mark.parametrize(("result", "problem"), [
    (["not a series"], "series 0 is not a matrix series"),
    ([{"values": [[1, "2"]]}], "series 0 is not a matrix series"),
    ([{"metric": {"host": "n1"}, "values": "1,2"}], r"series 0 is not a matrix series"),
    ([{"metric": {}, "values": [[1, "2"]]}, {"metric": {"host": "n2"}, "values": [[1]]}],
     r"series 1 \(n2\): bad point \[1\]"),
    ([{"metric": {"host": "n1"}, "values": [[1, "2", "3"]]}],
     r"series 0 \(n1\): bad point \[1, '2', '3'\]"),
    ([{"metric": {"host": "n1"}, "values": [["soon", "2"]]}],
     r"series 0 \(n1\): bad point \['soon', '2'\]"),
    ([{"metric": {"host": "n1"}, "values": [[10 ** 400, "2"]]}],
     r"series 0 \(n1\): bad point \[1000"),
])
def test_odd_range_answers_name_the_series_and_point(result: list[Any], problem: str) -> None:
    with pytest.raises(MonitoringError, match=f"^range query answer: {problem}"):
        matrix_series(result)


def test_a_value_beyond_a_float_is_nan() -> None:
    """JSON integers have no bound: one beyond a float is not a number, not an OverflowError."""
    series = matrix_series([{"metric": {"host": "n1"}, "values": [[1, 10 ** 400], [2, "3"]]}])
    assert math.isnan(series["n1"][0][1]) and series["n1"][1] == (2.0, 3.0)


class RecordingClient:
    """Answers every range query with one flat series; records (start, end, step)."""

    def __init__(self) -> None:
        self.asked: list[tuple[float, float, float]] = []

    async def query_range(self, promql: str, start: float, end: float,
                          step: float) -> list[dict[str, Any]]:
        self.asked.append((start, end, step))
        return [{"metric": {"host": "node1"}, "values": [[end, "1"]]}]


@pytest.mark.parametrize(("start", "end", "scrape"), [(100.0, 101.0, 2.0),
                                                       (100.0, 105.0, 2.0),
                                                       (100.0, 3700.0, 1.0)])
def test_range_queries_evaluate_at_the_windows_end(start: float, end: float,
                                                   scrape: float) -> None:
    # A window shorter than the step got one point, at its start: a rate of the seconds
    # before the step, shown as the step's vital signs.
    client = RecordingClient()
    asyncio.run(collect_vitals(client, start, end,  # type: ignore[arg-type]
                               database=None, scrape_interval=scrape))
    assert len(set(client.asked)) == 1
    first, last, step = client.asked[0]
    assert last == end
    assert start <= first <= end
    assert (end - first) / step == pytest.approx(round((end - first) / step))
    assert end - first > end - start - step
    assert (end - first) / step + 1 <= MAX_POINTS
