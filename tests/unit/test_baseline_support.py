"""Synthetic benchmarks for the baseline tests: lognormal latencies in real HDR histograms.

Histograms are hdrh ``HdrHistogram(1, 60_000_000, 3)`` (the layout the loader writes) filled
with seeded lognormal samples of microseconds; records are made from them exactly as the
plugin makes them (:func:`record_from_results` encodes the histograms as ``result.json``
does). A shift is applied to the samples, so a "20% slower p99" is a property of the data,
not of a number typed here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from statistics import NormalDist

import numpy as np
from hdrh.histogram import HdrHistogram

from pytest_scyllabench.baseline.record import (
    BaselineRecord,
    Environment,
    Identity,
    record_from_results,
)
from pytest_scyllabench.result import LoaderRun, StepResult

IDENTITY = Identity(profile="local", test="benchmarks/test_latency.py::test_write[2000]",
                    step="write@2000")
#: A second benchmark, beside :data:`IDENTITY`.
READ = Identity(profile="local", test="benchmarks/test_latency.py::test_read[1000]",
                step="read@1000")
CREATED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
#: Median and shape of the synthetic latency, microseconds.
MEDIAN_US = 800.0
SIGMA = 0.5


def environment(**changes: object) -> Environment:
    fields: dict[str, object] = {
        "database": "cassandra", "database_version": "5.0.9", "nodes": 3,
        "instance_types": ("local",), "loaders": 1, "tool": "builtin", "tool_version": "0.1.0"}
    fields.update(changes)
    return Environment(**fields)  # type: ignore[arg-type]


def samples_us(seed: int, n: int, *, scale: float = 1.0, tail_from: float | None = None,
               tail_scale: float = 1.0) -> np.ndarray:
    """Lognormal latencies; ``scale`` stretches all, ``tail_scale`` only those above the
    ``tail_from`` percentile of the unshifted distribution."""
    rng = np.random.default_rng(seed)
    values = rng.lognormal(np.log(MEDIAN_US), SIGMA, n) * scale
    if tail_from is not None:
        cut = MEDIAN_US * np.exp(SIGMA * _normal_quantile(tail_from / 100.0))
        values = np.where(values > cut, values * tail_scale, values)
    return values


def histogram(values_us: np.ndarray) -> HdrHistogram:
    result = HdrHistogram(1, 60_000_000, 3)
    unique, counts = np.unique(np.maximum(1, np.rint(values_us)).astype(np.int64),
                               return_counts=True)
    for value, count in zip(unique.tolist(), counts.tolist(), strict=True):
        result.record_value(value, count)
    return result


def step_result(seed: int, *, n: int = 50_000, duration: float = 25.0, scale: float = 1.0,
                tail_from: float | None = None, tail_scale: float = 1.0,
                rate_scale: float = 1.0, seconds: bool = True,
                service_time_only: bool = False) -> StepResult:
    """A 2000 ops/s write step whose latencies are :func:`samples_us`."""
    merged = histogram(samples_us(seed, n, scale=scale, tail_from=tail_from,
                                  tail_scale=tail_scale))
    kind = "st" if service_time_only else "rt"
    ops = int(n * rate_scale)
    rng = np.random.default_rng(seed + 10_000)
    rate = ops / duration
    series = [(float(t), float(rate * rng.normal(1.0, 0.01)), 1.0)
              for t in range(int(duration))] if seconds else []
    loader = LoaderRun(name="loader-1", host="127.0.0.1", tool="builtin", tool_version="0.1.0",
                       exit_code=0, target_rate=2000.0, ops=ops, errors=0,
                       achieved_rate=rate, hdr_log=None, output=None)
    return StepResult(step="write@2000", workload="write", target_rate=2000.0,
                      duration=duration, achieved_rate=rate, ops=ops, errors=0,
                      histograms={f"all-{kind}": merged, f"write-{kind}": merged},
                      loaders=(loader,), service_time_only=service_time_only, series=series)


def record(seeds: Sequence[int] | int, *, env: Environment | None = None,
           identity: Identity = IDENTITY, **shift: object) -> BaselineRecord:
    """A record of one run (an int seed) or of repetitions (several seeds)."""
    seeds = [seeds] if isinstance(seeds, int) else list(seeds)
    results = [step_result(seed, **shift) for seed in seeds]  # type: ignore[arg-type]
    return record_from_results(identity, env or environment(), results,
                               params={"rate": 2000}, created=CREATED)


def _normal_quantile(p: float) -> float:
    return NormalDist().inv_cdf(p)
