"""Latency limits on a step and the check that turns a result into breaches.

Syntax (keyword arguments of ``@pytest.mark.scyllabench_thresholds`` or ``thresholds=`` of a
step)::

    p99="20ms"          p99 of the response time of all operations
    p999="50ms", max="1s", p50=5        a bare number is milliseconds
    read_p99="10ms"     p99 of the response time of read operations only
    write_max="2s"      ...and of writes only

The name is ``[<operation>_]<metric>``: metrics are the percentiles of
:data:`~pytest_scyllabench.result.PERCENTILES` (``p50 p90 p99 p999 p9999 max``), operations
are those of :data:`~pytest_scyllabench.stress.step.OPERATIONS`. Values take a unit
(``us ms s m h``, see :mod:`pytest_scyllabench.units`) and must be positive. Limits apply to
response time (measured from the intended start); for a tool that measures only service time
they apply to service time and the breach message says so.

Observed values come from the step's merged histograms through
:meth:`~pytest_scyllabench.result.StepResult.latency`, in milliseconds whatever unit the tool
recorded (microseconds for the built-in loader, nanoseconds for cassandra-stress: the
result's ``value_unit_ns``).

A limit is breached when the observed value is strictly greater. Each
:class:`Breach` prints as one line naming the metric, the step, the observed value and the
limit: ``p99 of write@2000: observed 31.2 ms > limit 20 ms``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pytest_scyllabench.errors import ConfigError
from pytest_scyllabench.result import PERCENTILES, RESPONSE_TIME, SERVICE_TIME, StepResult, tag
from pytest_scyllabench.stress.step import OPERATIONS
from pytest_scyllabench.units import parse_latency_ms

METRICS: tuple[str, ...] = tuple(name for name, _ in PERCENTILES)
#: Words of the breach of a step that missed its target rate (the report's rate row).
RATE_MISSED = "did not reach its target rate"
ALL_OPERATIONS = "all"


@dataclass(frozen=True)
class Threshold:
    """One limit: a metric of one operation type (or all), in milliseconds."""

    name: str
    operation: str
    metric: str
    limit_ms: float

    @property
    def label(self) -> str:
        """``p99`` for all operations, ``read p99`` for one operation type."""
        if self.operation == ALL_OPERATIONS:
            return self.metric
        return f"{self.operation} {self.metric}"


@dataclass(frozen=True)
class Breach:
    """A limit the step did not meet; ``str()`` is the one-line message."""

    metric: str
    step: str
    observed: float
    limit: float
    message: str

    def __str__(self) -> str:
        return self.message


def valid_names() -> list[str]:
    """Every accepted threshold name."""
    return [*METRICS, *(f"{op}_{metric}" for op in OPERATIONS for metric in METRICS)]


def split_metric(name: str) -> tuple[str, str] | None:
    """``read_p99`` -> ``("read", "p99")``, ``p99`` -> ``(ALL_OPERATIONS, "p99")``; ``None``
    when ``name`` is no latency metric, optionally prefixed by an operation."""
    operation, separator, metric = name.rpartition("_")
    if metric not in METRICS or (separator and operation not in OPERATIONS):
        return None
    return operation or ALL_OPERATIONS, metric


def parse_threshold(name: str, value: Any) -> Threshold:
    """Validate one ``name=value`` limit; ConfigError naming the argument if it is bad."""
    split = split_metric(name)
    if split is None:
        raise ConfigError(
            f"threshold {name!r}: unknown metric; valid names are {', '.join(METRICS)}, "
            f"optionally prefixed by an operation ({', '.join(OPERATIONS)}), "
            f"e.g. p99='20ms' or read_p99='10ms'")
    limit = parse_latency_ms(value, f"threshold {name}")
    return Threshold(name=name, operation=split[0], metric=split[1], limit_ms=limit)


def parse_thresholds(values: Mapping[str, Any]) -> dict[str, Threshold]:
    """Validate every limit of a marker or a step call, keyed by argument name."""
    return {name: parse_threshold(name, value) for name, value in values.items()}


@dataclass(frozen=True)
class Verdict:
    """How a step fared against one limit, for the report's per-threshold rows."""

    label: str
    limit_ms: float
    #: The observed value, milliseconds; ``None`` when nothing was recorded to check.
    observed_ms: float | None
    #: The breach's one-line message; ``None`` when the limit was met.
    breach: str | None = None

    @property
    def passed(self) -> bool:
        return self.breach is None


def evaluate(result: StepResult, thresholds: Mapping[str, Threshold]) -> list[Verdict]:
    """One verdict per limit of ``thresholds``, in the order given."""
    verdicts = []
    for threshold in thresholds.values():
        label, observed, breach = _check_one(result, threshold)
        verdicts.append(Verdict(label, threshold.limit_ms,
                                None if math.isnan(observed) else observed,
                                None if breach is None else str(breach)))
    return verdicts


def check(result: StepResult, thresholds: Mapping[str, Threshold]) -> list[Breach]:
    """Every limit of ``thresholds`` that ``result`` exceeds, in the order given."""
    breaches = []
    for threshold in thresholds.values():
        breach = _check_one(result, threshold)[2]
        if breach is not None:
            breaches.append(breach)
    return breaches


def _check_one(result: StepResult, threshold: Threshold) -> tuple[str, float, Breach | None]:
    """(label, observed ms, breach or ``None``) of one limit."""
    kind, suffix = RESPONSE_TIME, ""
    if tag(threshold.operation, kind) not in result.histograms and result.service_time_only:
        kind, suffix = SERVICE_TIME, " (service time)"
    label = f"{threshold.label}{suffix}"
    what = f"{label} of {result.step}"
    limit = _ms(threshold.limit_ms)
    histogram = result.histograms.get(tag(threshold.operation, kind))
    if histogram is None or histogram.get_total_count() == 0:
        operations = "operations" if threshold.operation == ALL_OPERATIONS else (
            f"{threshold.operation} operations")
        return label, math.nan, Breach(
            threshold.label, result.step, math.nan, threshold.limit_ms,
            f"{what}: no {operations} were recorded, cannot check limit {limit} ms")
    observed = result.latency(threshold.operation, kind)[threshold.metric]
    if observed <= threshold.limit_ms:
        return label, observed, None
    return label, observed, Breach(threshold.label, result.step, observed, threshold.limit_ms,
                                   f"{what}: observed {_ms(observed)} ms > limit {limit} ms")


def check_rate(result: StepResult, tolerance: float) -> Breach | None:
    """A breach when the achieved rate is below the target minus ``tolerance`` (a fraction)."""
    if result.rate_reached(tolerance):
        return None
    floor = result.target_rate * (1.0 - tolerance)
    target = _rate(result.target_rate)
    allowance = f"{target} -{tolerance * 100:g}%" if tolerance else f"target {target}"
    return Breach(
        "rate", result.step, result.achieved_rate, floor,
        f"{result.step} {RATE_MISSED}: achieved "
        f"{_rate(result.achieved_rate)} ops/s < {_rate(floor)} ops/s ({allowance})")


def _ms(value: float) -> str:
    """Milliseconds with up to microsecond precision and no trailing zeros: ``31.2``, ``20``."""
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _rate(value: float) -> str:
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}".rstrip("0").rstrip(".")
