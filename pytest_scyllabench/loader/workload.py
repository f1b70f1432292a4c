"""What the loader sends: the workload read from JSON, the op mix, row values and CQL text."""

from __future__ import annotations

import bisect
import dataclasses
import json
import os
import random
from collections.abc import Mapping, Sequence

from pytest_scyllabench.errors import ConfigError
from pytest_scyllabench.profile_schema.workloads import parse_workloads
from pytest_scyllabench.stress.step import OPERATIONS, Operation, Workload

#: Distinct pre-generated values cycled through (values are random, but generated once).
VALUE_POOL = 64


def workload_to_json(workload: Workload) -> str:
    """The ``--workload-json`` argument for ``workload`` (compact, key order stable)."""
    data = dataclasses.asdict(workload)
    data["mix"] = dict(workload.mix)
    return json.dumps(data, separators=(",", ":"), sort_keys=True)


def workload_from_json(text: str) -> Workload:
    """Parse and validate ``--workload-json`` with the profile schema's own checks.

    Raises ``ConfigError`` naming the bad field, e.g. ``--workload-json: w.mix.delete: ...``.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--workload-json is not JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("name"), str) or "mix" not in data:
        raise ConfigError("--workload-json must be a JSON object with 'name' and 'mix'")
    name = data["name"]
    return parse_workloads({name: {k: v for k, v in data.items() if k != "name"}},
                           "--workload-json", "")[name]


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
