"""Latency versus throughput: write, read and mixed workloads at increasing rates.

Each parametrized case is one throughput step. Steps are full-length by default (60 s measured
after a 10 s warm-up); ``make bench`` runs them at a quarter of that with
``--scyllabench-duration-scale=0.25``. Limits are loose on purpose: the embedded default runs
three nodes and the loader on one small machine. Tighten them for real hardware.
"""

from __future__ import annotations

import pytest

from pytest_scyllabench.result import StepResult
from pytest_scyllabench.stepcall import StepCall

RATES = [250, 500, 1000]
DURATION = "60s"
WARMUP = "10s"


def rate_id(rate: int) -> str:
    return f"{rate}ops"


@pytest.mark.parametrize("rate", RATES, ids=rate_id)
@pytest.mark.scyllabench_thresholds(p99="200ms", p999="500ms")
def test_write(scyllabench_step: StepCall, rate: int) -> None:
    result = scyllabench_step("write", rate=rate, duration=DURATION, warmup=WARMUP)
    assert result.errors == 0


@pytest.mark.parametrize("rate", RATES, ids=rate_id)
@pytest.mark.scyllabench_thresholds(p99="200ms", p999="500ms")
def test_read(scyllabench_step: StepCall, rate: int) -> None:
    result = scyllabench_step("read", rate=rate, duration=DURATION, warmup=WARMUP)
    assert result.errors == 0


@pytest.mark.parametrize("rate", RATES, ids=rate_id)
@pytest.mark.scyllabench_thresholds(p99="200ms", read_p99="200ms", write_p99="200ms")
def test_mixed(scyllabench_step: StepCall, rate: int) -> None:
    result: StepResult = scyllabench_step("mixed", rate=rate, duration=DURATION, warmup=WARMUP)
    read, write = result.latency("read"), result.latency("write")
    assert read.count > 0 and write.count > 0
