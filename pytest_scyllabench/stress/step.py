"""One throughput step, described once and turned into each stress tool's command line."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from pytest_scyllabench.errors import ConfigError

Operation = Literal["write", "read"]
Distribution = Literal["uniform", "sequential", "zipfian", "gaussian"]
Consistency = Literal["ONE", "TWO", "THREE", "QUORUM", "ALL", "LOCAL_QUORUM", "LOCAL_ONE"]

OPERATIONS: tuple[Operation, ...] = ("write", "read")
DISTRIBUTIONS: tuple[Distribution, ...] = ("uniform", "sequential", "zipfian", "gaussian")
CONSISTENCY_LEVELS: tuple[Consistency, ...] = (
    "ONE", "TWO", "THREE", "QUORUM", "ALL", "LOCAL_QUORUM", "LOCAL_ONE",
)


@dataclass(frozen=True)
class Workload:
    """What a step does to the database, independent of rate and duration."""

    name: str
    #: Operation weights, e.g. ``{"write": 1.0}`` or ``{"read": 0.8, "write": 0.2}``.
    mix: Mapping[Operation, float]
    #: Number of distinct partitions the keys are drawn from.
    partitions: int = 100_000
    distribution: Distribution = "uniform"
    #: Zipfian exponent (``distribution: zipfian``).
    zipf_exponent: float = 1.1
    #: Standard deviation as a fraction of ``partitions`` (``distribution: gaussian``).
    gaussian_stddev: float = 0.1
    #: Bytes in the value column of each row.
    row_size: int = 256
    consistency: Consistency = "QUORUM"
    keyspace: str = "scyllabench"
    table: str = "kv"
    #: Rows written before the first step that reads (0: no populate phase).
    populate: int = 0

    @property
    def reads(self) -> bool:
        return self.mix.get("read", 0.0) > 0


@dataclass(frozen=True)
class Step:
    """A workload at one target rate for one measured duration."""

    workload: Workload
    #: Target rate in operations per second, summed over all loaders.
    rate: int
    #: Length of the measured window, seconds (after the duration scale).
    duration: float
    #: Seconds run before the measured window and trimmed from the results.
    warmup: float = 5.0
    #: Maximum operations in flight per loader.
    concurrency: int = 128
    #: Connections per host per loader.
    connections: int = 1
    #: A readable id such as ``write@2000``.
    name: str = field(default="")

    @property
    def id(self) -> str:
        return self.name or f"{self.workload.name}@{self.rate}"

    def per_loader_rate(self, loaders: int) -> list[int]:
        """Split the target rate over ``loaders`` loaders, the remainder to the first ones;
        every loader must get at least 1 op/s (``ConfigError`` naming the rate)."""
        if self.rate < loaders:
            raise ConfigError(f"scyllabench_step: rate: {self.rate} ops/s cannot be shared by "
                              f"{loaders} loader processes (at least 1 op/s each); ask for "
                              f"{loaders} ops/s or more, or run fewer loaders")
        return [contiguous_share(self.rate, index, loaders)[1] for index in range(loaders)]


def contiguous_share(total: int, index: int, count: int) -> tuple[int, int]:
    """``(offset, size)`` of part ``index`` of ``total`` split into ``count`` contiguous
    parts, the remainder going one each to the first parts."""
    base, rest = divmod(total, count)
    return base * index + min(index, rest), base + (1 if index < rest else 0)
