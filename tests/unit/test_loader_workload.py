"""Op mix, values, CQL text and the --workload-json round trip."""

from __future__ import annotations

import collections
import random

import pytest

from pytest_scyllabench.errors import ConfigError
from pytest_scyllabench.loader import workload as cql
from pytest_scyllabench.stress.step import Workload


def test_op_mix_follows_the_weights() -> None:
    mix = cql.OpMix({"read": 3.0, "write": 1.0}, random.Random(1))
    counts = collections.Counter(mix.next() for _ in range(40_000))
    assert counts["read"] / 40_000 == pytest.approx(0.75, abs=0.01)
    assert counts["write"] / 40_000 == pytest.approx(0.25, abs=0.01)


def test_op_mix_skips_zero_weights() -> None:
    mix = cql.OpMix({"read": 0.0, "write": 2.0}, random.Random(1))
    assert mix.operations == ("write",)
    assert {mix.next() for _ in range(100)} == {"write"}
    with pytest.raises(ConfigError):
        cql.OpMix({"read": 0.0}, random.Random(1))


def test_values_have_the_row_size_and_vary() -> None:
    values = cql.Values(100, pool=4)
    drawn = [values.next() for _ in range(8)]
    assert all(len(v) == 100 for v in drawn)
    assert len(set(drawn)) == 4
    assert drawn[:4] == drawn[4:]


def test_workload_json_round_trips() -> None:
    workload = Workload("mixed", {"read": 0.8, "write": 0.2}, partitions=5000,
                        distribution="zipfian", zipf_exponent=1.3, row_size=64,
                        consistency="ONE", keyspace="ks", table="t", populate=5000)
    assert cql.workload_from_json(cql.workload_to_json(workload)) == workload


@pytest.mark.parametrize(("text", "message"), [
    ("nope", "not JSON"),
    ("[]", "JSON object"),
    ('{"name": "w"}', "'name' and 'mix'"),
    ('{"name": "w", "mix": {"delete": 1}}', "mix.delete: must be one of"),
    ('{"name": "w", "mix": {"write": 1}, "colour": 1}', "colour: unknown key"),
    ('{"name": "w", "mix": {"write": 1}, "partitions": "many"}', "partitions"),
    ('{"name": "w", "mix": {"write": 1}, "partitions": 1.5}', "integer"),
    ('{"name": "w", "mix": {"write": 1}, "distribution": "pareto"}', "distribution"),
    ('{"name": "w", "mix": {"write": 1}, "consistency": "MOST"}', "consistency"),
    ('{"name": "w", "mix": {"write": 1}, "row_size": 0}', "row_size"),
])
def test_bad_workload_json_names_the_problem(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        cql.workload_from_json(text)


def test_cql_statements() -> None:
    workload = Workload("w", {"write": 1.0}, keyspace="ks", table="kv")
    assert "'SimpleStrategy', 'replication_factor': 3" in cql.create_keyspace(workload, 3)
    assert "'NetworkTopologyStrategy', 'dc1': 2" in cql.create_keyspace(workload, 2, "dc1")
    assert cql.create_table(workload) == (
        "CREATE TABLE IF NOT EXISTS ks.kv (pk bigint PRIMARY KEY, v blob)")
    assert cql.insert(workload) == "INSERT INTO ks.kv (pk, v) VALUES (?, ?)"
    assert cql.select(workload) == "SELECT v FROM ks.kv WHERE pk = ?"
    with pytest.raises(ConfigError, match="identifier"):
        cql.insert(Workload("w", {"write": 1.0}, keyspace="ks; DROP"))
