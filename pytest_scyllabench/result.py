"""The result of one throughput step, whatever tool produced it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Percentiles reported for every step, as (name, quantile in percent).
PERCENTILES: tuple[tuple[str, float], ...] = (
    ("p50", 50.0),
    ("p90", 90.0),
    ("p99", 99.0),
    ("p999", 99.9),
    ("p9999", 99.99),
    ("max", 100.0),
)

#: Latency kinds: response time measured from the intended start (coordinated-omission
#: corrected) and service time measured from the actual send.
RESPONSE_TIME = "rt"
SERVICE_TIME = "st"


def tag(operation: str, kind: str) -> str:
    """The HDR log tag of one operation type and latency kind, e.g. ``write-rt``."""
    return f"{operation}-{kind}"


def split_tag(value: str) -> tuple[str, str]:
    """The (operation, kind) of a tag written by :func:`tag`."""
    operation, _, kind = value.rpartition("-")
    return operation, kind


@dataclass(frozen=True)
class LoaderRun:
    """What one loader did during a step."""

    name: str
    host: str
    tool: str
    tool_version: str
    exit_code: int
    target_rate: float
    ops: int
    errors: int
    achieved_rate: float
    hdr_log: Path | None
    output: Path | None
    error_samples: tuple[str, ...] = ()


@dataclass(frozen=True)
class Latency:
    """Percentiles of one merged histogram, milliseconds."""

    count: int
    values_ms: Mapping[str, float]

    def __getitem__(self, name: str) -> float:
        return self.values_ms[name]


@dataclass
class StepResult:
    """One step's merged outcome: the raw histograms are kept, percentiles are derived."""

    step: str
    workload: str
    target_rate: float
    duration: float
    achieved_rate: float
    ops: int
    errors: int
    #: Merged histograms of the measured window, keyed by tag (``write-rt``, ``read-st``...),
    #: plus ``all-rt`` and ``all-st`` over every operation type. Values as the tool recorded
    #: them, in units of ``value_unit_ns`` nanoseconds.
    histograms: Mapping[str, Any]
    loaders: tuple[LoaderRun, ...]
    #: Seconds spent outside the measured window (start, warm-up, collection).
    overhead: float = 0.0
    #: True when the tool measured only service time (closed loop): marked in the report.
    service_time_only: bool = False
    artifacts: Path | None = None
    #: Per-second series for charts: list of (seconds since measure start, ops/s, p99 ms).
    series: list[tuple[float, float, float]] = field(default_factory=list)
    #: Problems tolerated while merging (a truncated last log line, a loader whose logged
    #: count disagrees with its summary), one line each, shown with the result.
    warnings: list[str] = field(default_factory=list)
    #: Nanoseconds per recorded value of ``histograms`` (1000.0: microseconds, the built-in
    #: loader; 1.0: nanoseconds, cassandra-stress). One unit per step: its loaders run one tool.
    value_unit_ns: float = 1000.0
    #: Start of the measured window, epoch seconds (0.0 when unknown); it lasts ``duration``.
    measure_start: float = 0.0
    #: Problems of the whole step found while merging (too many failed operations, a loader
    #: below its share of the rate...), one line each: every loader's data is in the result,
    #: and each line is a breach of the step.
    problems: list[str] = field(default_factory=list)

    def latency(self, operation: str = "all", kind: str = RESPONSE_TIME) -> Latency:
        """Percentiles of one operation type (or ``all``) and latency kind, milliseconds."""
        from pytest_scyllabench.hdr.merge import percentiles

        return percentiles(self.histograms[tag(operation, kind)], self.value_unit_ns)

    @property
    def percentiles(self) -> Mapping[str, float]:
        """p50..max of the response time over all operations, milliseconds."""
        return self.latency().values_ms

    def rate_reached(self, tolerance: float) -> bool:
        """Whether the achieved rate is within ``tolerance`` (a fraction) of the target."""
        return self.achieved_rate >= self.target_rate * (1.0 - tolerance)
