"""Latency versus throughput: write, read and mixed workloads at increasing rates.

Each parametrized case is one throughput step. Steps are full-length by default (60 s measured
after a 10 s warm-up); ``make bench`` runs them at a quarter of that with
``--scyllabench-duration-scale=0.25``. Latency limits come from the deployment profile
(``thresholds:``), so the same suite holds each deployment to its own service levels; the
mixed benchmark adds per-operation limits with the marker.
"""

from __future__ import annotations

import pytest

from pytest_scyllabench.result import StepResult
from pytest_scyllabench.stepcall import StepCall

#: Sized for the embedded default on 2 cores (3 nodes, replication factor 3): at 400 ops/s its
#: p99 sat at the profile's 1 s limit, and at 300 reads reached 0.7-0.9 s (p50 60 ms). Scale
#: them to your cluster.
RATES = [100, 200, 250]
DURATION = "60s"
WARMUP = "10s"


def rate_id(rate: int) -> str:
    return f"{rate}ops"


@pytest.mark.parametrize("rate", RATES, ids=rate_id)
def test_write(scyllabench_step: StepCall, rate: int) -> None:
    result = scyllabench_step("write", rate=rate, duration=DURATION, warmup=WARMUP)
    assert result.errors == 0


@pytest.mark.parametrize("rate", RATES, ids=rate_id)
def test_read(scyllabench_step: StepCall, rate: int) -> None:
    result = scyllabench_step("read", rate=rate, duration=DURATION, warmup=WARMUP)
    assert result.errors == 0


@pytest.mark.parametrize("rate", RATES, ids=rate_id)
@pytest.mark.scyllabench_thresholds(read_p99="1s", write_p99="1s")
def test_mixed(scyllabench_step: StepCall, rate: int) -> None:
    result: StepResult = scyllabench_step("mixed", rate=rate, duration=DURATION, warmup=WARMUP)
    read, write = result.latency("read"), result.latency("write")
    assert read.count > 0 and write.count > 0
