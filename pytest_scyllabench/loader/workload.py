"""What the loader sends: the workload read from JSON, the op mix, row values and CQL text."""

from __future__ import annotations

import bisect
import dataclasses
import json
import os
import random
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_scyllabench.errors import ConfigError
from pytest_scyllabench.stress.step import (
    CONSISTENCY_LEVELS,
    DISTRIBUTIONS,
    OPERATIONS,
    Operation,
    Workload,
)

#: Distinct pre-generated values cycled through (values are random, but generated once).
VALUE_POOL = 64


def workload_to_json(workload: Workload) -> str:
    """The ``--workload-json`` argument for ``workload`` (compact, key order stable)."""
    data = dataclasses.asdict(workload)
    data["mix"] = dict(workload.mix)
    return json.dumps(data, separators=(",", ":"), sort_keys=True)


def workload_from_json(text: str) -> Workload:
    """Parse and validate ``--workload-json``; ``ConfigError`` naming the bad field."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--workload-json is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError("--workload-json must be a JSON object")
    known = {f.name: f for f in dataclasses.fields(Workload)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(f"--workload-json: unknown field(s) {', '.join(unknown)}")
    if "name" not in data or "mix" not in data:
        raise ConfigError("--workload-json: fields 'name' and 'mix' are required")
    _check_mix(data["mix"])
    for name, value in data.items():
        if name != "mix":
            _check_field(name, value, known[name].default)
    if data.get("distribution", "uniform") not in DISTRIBUTIONS:
        raise ConfigError(f"--workload-json: distribution must be one of {DISTRIBUTIONS}")
    if data.get("consistency", "QUORUM") not in CONSISTENCY_LEVELS:
        raise ConfigError(f"--workload-json: consistency must be one of {CONSISTENCY_LEVELS}")
    for name in ("partitions", "row_size"):
        if int(data.get(name, 1)) < 1:
            raise ConfigError(f"--workload-json: {name} must be >= 1")
    return Workload(**data)


def _check_mix(mix: Any) -> None:
    if not isinstance(mix, dict) or not mix:
        raise ConfigError("--workload-json: mix must be a non-empty object of weights")
    for op, weight in mix.items():
        if op not in OPERATIONS:
            raise ConfigError(f"--workload-json: mix: unknown operation {op!r} "
                              f"(known: {', '.join(OPERATIONS)})")
        if not isinstance(weight, int | float) or weight < 0:
            raise ConfigError(f"--workload-json: mix.{op}: weight must be a number >= 0")
    if sum(mix.values()) <= 0:
        raise ConfigError("--workload-json: mix: weights sum to 0")


def _check_field(name: str, value: Any, default: Any) -> None:
    expected: tuple[type, ...] = (int, float) if isinstance(default, int | float) else (str,)
    if isinstance(default, bool) or isinstance(value, bool) or not isinstance(value, expected):
        raise ConfigError(f"--workload-json: {name}: expected {expected[0].__name__}, "
                          f"got {value!r}")
    if isinstance(default, int) and not isinstance(value, int):
        raise ConfigError(f"--workload-json: {name}: expected an integer, got {value!r}")


class OpMix:
    """Weighted choice of the next operation type."""

    def __init__(self, mix: Mapping[Operation, float], rng: random.Random) -> None:
        self.operations: tuple[Operation, ...] = tuple(op for op in OPERATIONS
                                                       if mix.get(op, 0.0) > 0)
        if not self.operations:
            raise ConfigError("the operation mix has no operation with a weight > 0")
        total = sum(mix[op] for op in self.operations)
        cumulative, running = [], 0.0
        for op in self.operations:
            running += mix[op] / total
            cumulative.append(running)
        cumulative[-1] = 1.0
        self._cumulative = cumulative
        self._random = rng.random
        self._single = self.operations[0] if len(self.operations) == 1 else None

    def next(self) -> Operation:
        if self._single is not None:
            return self._single
        return self.operations[bisect.bisect_right(self._cumulative, self._random())]


class Values:
    """Row values of ``row_size`` bytes: a pool of random buffers generated once, cycled."""

    def __init__(self, row_size: int, pool: int = VALUE_POOL) -> None:
        self._pool: Sequence[bytes] = [os.urandom(row_size) for _ in range(pool)]
        self._next = 0

    def next(self) -> bytes:
        index = self._next
        self._next = index + 1 if index + 1 < len(self._pool) else 0
        return self._pool[index]


def _ident(name: str) -> str:
    if not name.replace("_", "").isalnum() or not name[0].isalpha():
        raise ConfigError(f"not a valid CQL identifier: {name!r}")
    return name


def create_keyspace(workload: Workload, replication_factor: int,
                    datacenter: str | None = None) -> str:
    """``CREATE KEYSPACE IF NOT EXISTS``: NetworkTopologyStrategy when a data center is named."""
    if replication_factor < 1:
        raise ConfigError(f"replication factor must be >= 1, got {replication_factor}")
    if datacenter:
        replication = (f"{{'class': 'NetworkTopologyStrategy', "
                       f"'{datacenter}': {replication_factor}}}")
    else:
        replication = f"{{'class': 'SimpleStrategy', 'replication_factor': {replication_factor}}}"
    return (f"CREATE KEYSPACE IF NOT EXISTS {_ident(workload.keyspace)} "
            f"WITH replication = {replication}")


def create_table(workload: Workload) -> str:
    return (f"CREATE TABLE IF NOT EXISTS {_ident(workload.keyspace)}.{_ident(workload.table)} "
            f"(pk bigint PRIMARY KEY, v blob)")


def insert(workload: Workload) -> str:
    return f"INSERT INTO {_ident(workload.keyspace)}.{_ident(workload.table)} (pk, v) VALUES (?, ?)"


def select(workload: Workload) -> str:
    return f"SELECT v FROM {_ident(workload.keyspace)}.{_ident(workload.table)} WHERE pk = ?"
