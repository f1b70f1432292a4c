"""A step result as JSON, and back into what the reports need.

The JSON keeps the merged histograms (compressed HDR, base64), so any percentile can be
recomputed later; the percentiles in it are a convenience for readers without hdrh.
Schema (``schema_version`` 1)::

    {
      "schema": "pytest-scyllabench/step-result", "schema_version": 1,
      "test": "<node id>", "step": "write@2000", "workload": "write",
      "target_rate": 2000.0, "achieved_rate": 1998.7, "duration_s": 30.0, "overhead_s": 9.1,
      "ops": 59961, "errors": 0, "service_time_only": false,
      "verdict": {"passed": true, "breaches": [], "rate_reached": true, "rate_tolerance": 0.05,
                  "thresholds": [{"name": "p99", "limit_ms": 20.0, "observed_ms": 3.1,
                                  "passed": true}]},
      "latency_ms": {"all-rt": {"count": 59961, "p50": 0.41, ..., "max": 12.3}, "write-st": ...},
      "loaders": [{"name", "host", "tool", "tool_version", "exit_code", "target_rate", "ops",
                   "errors", "achieved_rate", "hdr_log", "output", "error_samples"}],
      "series": [{"t_s": 0.0, "ops_per_s": 2001.0, "p99_ms": 1.2}, ...],
      "histograms": {"unit": "us", "value_unit_ns": 1000.0, "encoding": "hdrh",
                     "tags": {"all-rt": "HISTFAAA..."}},
      "artifacts": "<step directory>"
    }

The histograms keep the values the stress tool recorded: ``value_unit_ns`` says how many
nanoseconds one value is (1000.0 for microseconds, the built-in loader; 1.0 for nanoseconds,
cassandra-stress) and ``unit`` names it (``us``, ``ns``...). ``latency_ms`` is in milliseconds
whatever the unit. A file without ``value_unit_ns`` (written before it existed) is in
microseconds.

Paths (``hdr_log``, ``output``, ``artifacts``) are relative to the trial directory when they
are inside it. Numbers that are not finite are written as ``null``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_scyllabench.errors import ScyllaBenchError
from pytest_scyllabench.hdr.histogram import MICROSECONDS, unit_name
from pytest_scyllabench.result import (
    PERCENTILES,
    RESPONSE_TIME,
    SERVICE_TIME,
    Latency,
    StepResult,
    split_tag,
    tag,
)
from pytest_scyllabench.thresholds import Verdict

SCHEMA = "pytest-scyllabench/step-result"
SCHEMA_VERSION = 1
_PARAMS = re.compile(r"\[.*\]$")


def _number(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _path(path: Path | None, base: Path | None) -> str | None:
    if path is None:
        return None
    if base is not None:
        try:
            return Path(path).absolute().relative_to(Path(base).absolute()).as_posix()
        except ValueError:
            pass
    return Path(path).as_posix()


def benchmark_of(nodeid: str) -> str:
    """The test function of a node id: ``mod.py::test_write[2000]`` -> ``mod.py::test_write``."""
    return _PARAMS.sub("", nodeid)


@dataclass(frozen=True)
class StepSummary:
    """What the reports show of one step: figures, percentiles per tag, verdict."""

    test: str
    step: str
    workload: str
    target_rate: float
    achieved_rate: float
    duration: float
    ops: int
    errors: int
    service_time_only: bool
    #: Percentiles keyed by tag (``all-rt``, ``write-st``...).
    latency: Mapping[str, Latency]
    breaches: tuple[str, ...] = ()
    rate_reached: bool | None = None
    #: Step directory (relative to the trial directory when read back from JSON).
    artifacts: str | None = None
    #: Compressed base64 HDR histograms by tag, when read back from JSON.
    encoded_histograms: Mapping[str, str] = field(default_factory=dict)
    #: Nanoseconds per value of those histograms (1000.0: microseconds).
    value_unit_ns: float = MICROSECONDS
    #: The latency limits applied to the step, each with its observed value and verdict.
    limits: tuple[Verdict, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.breaches and self.rate_reached is not False

    @property
    def benchmark(self) -> str:
        return benchmark_of(self.test)

    def get(self, operation: str = "all", kind: str = RESPONSE_TIME) -> Latency | None:
        return self.latency.get(tag(operation, kind))

    def operations(self) -> list[str]:
        """Operation types present, ``all`` first, then the others sorted."""
        found = {split_tag(name)[0] for name in self.latency}
        return sorted(found, key=lambda op: (op != "all", op))

    def headline(self) -> tuple[Latency | None, str]:
        """The latency to show when there is room for one: response time if measured.

        A step that recorded neither is of the kind its tool measures (``None``, and
        response time unless the tool is closed-loop).
        """
        response = self.get("all", RESPONSE_TIME)
        if response is not None and not self.service_time_only:
            return response, RESPONSE_TIME
        service = self.get("all", SERVICE_TIME)
        if service is None and response is None and not self.service_time_only:
            return None, RESPONSE_TIME
        return service or response, SERVICE_TIME

    def histogram(self, name: str) -> Any:
        """The merged ``HdrHistogram`` of tag ``name``, decoded from JSON (KeyError if absent).

        Its values are in units of :attr:`value_unit_ns` nanoseconds.
        """
        return decode_histogram(self.encoded_histograms[name])


def _latencies(result: StepResult) -> dict[str, Latency]:
    """Percentiles by tag; those of an empty histogram (no operation recorded: hdrh says
    0 ms) are NaN, shown as missing, as the thresholds treat them."""
    latencies: dict[str, Latency] = {}
    for name in sorted(result.histograms):
        operation, kind = split_tag(name)
        latency = result.latency(operation, kind)
        if latency.count <= 0:
            latency = Latency(count=0, values_ms={key: math.nan for key, _ in PERCENTILES})
        latencies[name] = latency
    return latencies


def summarize(result: StepResult, *, test: str, breaches: Sequence[str] = (),
              rate_tolerance: float | None = None,
              limits: Sequence[Verdict] = ()) -> StepSummary:
    """The report's view of a step that just ran."""
    return StepSummary(
        test=test, step=result.step, workload=result.workload,
        target_rate=result.target_rate, achieved_rate=result.achieved_rate,
        duration=result.duration, ops=result.ops, errors=result.errors,
        service_time_only=result.service_time_only, latency=_latencies(result),
        breaches=tuple(breaches),
        rate_reached=None if rate_tolerance is None else result.rate_reached(rate_tolerance),
        artifacts=str(result.artifacts) if result.artifacts else None,
        limits=tuple(limits),
    )


def _latency_dict(latency: Latency) -> dict[str, Any]:
    values: dict[str, Any] = {"count": latency.count}
    for name, _ in PERCENTILES:
        value = latency.values_ms.get(name)
        values[name] = None if value is None else _number(value)
    return values


def encode_histogram(histogram: Any) -> str:
    """Compressed base64 HDR (the format of hdrh ``encode()`` and of HdrHistogram logs)."""
    encoded = histogram.encode()
    return encoded.decode("ascii") if isinstance(encoded, bytes) else str(encoded)


def decode_histogram(encoded: str) -> Any:
    from hdrh.histogram import HdrHistogram

    return HdrHistogram.decode(encoded.encode("ascii"))


def result_to_dict(result: StepResult, *, test: str = "", breaches: Sequence[str] = (),
                   rate_tolerance: float | None = None, base: Path | None = None,
                   limits: Sequence[Verdict] = ()) -> dict[str, Any]:
    """The JSON-able form of ``result``; paths are made relative to ``base`` when inside it."""
    summary = summarize(result, test=test, breaches=breaches, rate_tolerance=rate_tolerance,
                        limits=limits)
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "test": test,
        "step": result.step,
        "workload": result.workload,
        "target_rate": _number(result.target_rate),
        "achieved_rate": _number(result.achieved_rate),
        "duration_s": _number(result.duration),
        "overhead_s": _number(result.overhead),
        "ops": result.ops,
        "errors": result.errors,
        "service_time_only": result.service_time_only,
        "verdict": {
            "passed": summary.passed,
            "breaches": list(summary.breaches),
            "rate_reached": summary.rate_reached,
            "rate_tolerance": rate_tolerance,
            "thresholds": [
                {"name": limit.label, "limit_ms": _number(limit.limit_ms),
                 "observed_ms": None if limit.observed_ms is None else _number(
                     limit.observed_ms), "passed": limit.passed}
                for limit in summary.limits
            ],
        },
        "latency_ms": {name: _latency_dict(value) for name, value in summary.latency.items()},
        "loaders": [
            {
                "name": run.name, "host": run.host, "tool": run.tool,
                "tool_version": run.tool_version, "exit_code": run.exit_code,
                "target_rate": _number(run.target_rate), "ops": run.ops, "errors": run.errors,
                "achieved_rate": _number(run.achieved_rate),
                "hdr_log": _path(run.hdr_log, base), "output": _path(run.output, base),
                "error_samples": list(run.error_samples),
            }
            for run in result.loaders
        ],
        "series": [
            {"t_s": _number(t), "ops_per_s": _number(rate), "p99_ms": _number(p99)}
            for t, rate, p99 in result.series
        ],
        "histograms": {
            "unit": unit_name(result.value_unit_ns),
            "value_unit_ns": result.value_unit_ns,
            "encoding": "hdrh",
            "tags": {name: encode_histogram(result.histograms[name])
                     for name in sorted(result.histograms)},
        },
        "artifacts": _path(result.artifacts, base),
    }


def result_to_json(result: StepResult, **kwargs: Any) -> str:
    return json.dumps(result_to_dict(result, **kwargs), indent=2, allow_nan=False)


class ResultFileError(ScyllaBenchError):
    """A saved step result cannot be read: names the source and the field."""

    def __init__(self, source: str, problem: str) -> None:
        super().__init__(f"{source}: {problem}")


def _float(value: Any) -> float:
    return math.nan if value is None else float(value)


def _unit_ns(histograms: Mapping[str, Any]) -> float:
    """Nanoseconds per histogram value: ``value_unit_ns``, else from ``unit``, else 1000."""
    if "value_unit_ns" in histograms:
        value = float(histograms["value_unit_ns"])
        if not value > 0:
            raise ValueError(f"histograms.value_unit_ns must be positive, got {value}")
        return value
    names = {"ns": 1.0, "us": MICROSECONDS, "ms": 1_000_000.0, "s": 1_000_000_000.0}
    unit = histograms.get("unit", "us")
    if unit not in names:
        raise ValueError(f"histograms.unit {unit!r} is not one of {', '.join(names)}")
    return names[unit]


def summary_from_dict(data: Mapping[str, Any], source: str = "<result>") -> StepSummary:
    """Read a dict written by :func:`result_to_dict` back into a :class:`StepSummary`."""
    if data.get("schema") != SCHEMA:
        raise ResultFileError(source, f"schema: not a step result (got {data.get('schema')!r})")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ResultFileError(source, f"schema_version: {version!r} is not supported "
                                      f"(this version reads {SCHEMA_VERSION})")
    try:
        verdict = data["verdict"]
        latency = {
            name: Latency(count=int(values["count"]),
                          values_ms={key: _float(values.get(key)) for key, _ in PERCENTILES})
            for name, values in data["latency_ms"].items()
        }
        return StepSummary(
            test=str(data["test"]), step=str(data["step"]), workload=str(data["workload"]),
            target_rate=_float(data["target_rate"]), achieved_rate=_float(data["achieved_rate"]),
            duration=_float(data["duration_s"]), ops=int(data["ops"]),
            errors=int(data["errors"]), service_time_only=bool(data["service_time_only"]),
            latency=latency, breaches=tuple(str(b) for b in verdict["breaches"]),
            rate_reached=verdict.get("rate_reached"), artifacts=data.get("artifacts"),
            encoded_histograms=dict(data.get("histograms", {}).get("tags", {})),
            value_unit_ns=_unit_ns(data.get("histograms", {})),
            limits=tuple(_verdict(entry, verdict["breaches"])
                         for entry in verdict.get("thresholds", ())),
        )
    except KeyError as exc:
        raise ResultFileError(source, f"missing field {exc.args[0]!r}") from exc
    except (TypeError, ValueError, AttributeError) as exc:
        raise ResultFileError(source, f"malformed field: {exc}") from exc


def _verdict(entry: Mapping[str, Any], breaches: Sequence[str]) -> Verdict:
    """A threshold's verdict read back; a failed one takes its line among ``breaches``."""
    label = str(entry["name"])
    observed = entry.get("observed_ms")
    breach = None
    if not entry["passed"]:
        breach = next((str(line) for line in breaches if str(line).startswith(f"{label} ")),
                      f"{label}: limit {entry['limit_ms']} ms not met")
    return Verdict(label, _float(entry["limit_ms"]),
                   None if observed is None else float(observed), breach)


def read_summary(path: Path) -> StepSummary:
    """Load a ``result.json`` file."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ResultFileError(str(path), f"cannot read: {exc}") from exc
    if not isinstance(data, dict):
        raise ResultFileError(str(path), "not a JSON object")
    return summary_from_dict(data, str(path))
