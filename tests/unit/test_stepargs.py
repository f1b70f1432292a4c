"""The arguments of scyllabench_step(...): every bad one is a one-line ConfigError naming it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy
import pytest

from pytest_scyllabench.errors import ConfigError
from pytest_scyllabench.profile import Profile
from pytest_scyllabench.profile_schema import load_profile
from pytest_scyllabench.stepargs import (
    MIN_DURATION,
    build_step,
    call_thresholds,
    check_name,
    check_tool,
)
from pytest_scyllabench.stress.step import Step, Workload

PROFILE = """
name: args
database: {nodes: 1, replication_factor: 1}
loaders: {concurrency: 16, connections: 2}
workloads:
  write: {mix: {write: 1}}
"""


@pytest.fixture(scope="module")
def profile(tmp_path_factory: pytest.TempPathFactory) -> Profile:
    path: Path = tmp_path_factory.mktemp("profile") / "args.yaml"
    path.write_text(PROFILE)
    return load_profile(path)


def step_error(profile: Profile, **overrides: Any) -> str:
    arguments: dict[str, Any] = {"rate": 100, "duration": "10s", "warmup": "1s", **overrides}
    workload = arguments.pop("workload", "write")
    with pytest.raises(ConfigError) as error:
        build_step(profile, 1.0, workload, **arguments)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("scyllabench_step: "), message
    return message


def test_defaults_come_from_the_profile(profile: Profile) -> None:
    step = build_step(profile, 1.0, "write", rate=1e3, duration="2m", warmup=5)
    assert (step.rate, step.duration, step.warmup) == (1000, 120.0, 5.0)
    assert (step.concurrency, step.connections, step.id) == (16, 2, "write@1000")
    assert build_step(profile, 1.0, "write", rate=numpy.int64(300), duration=1,
                      warmup=0).rate == 300  # a rate from numpy.arange in a parametrize


def test_scale_multiplies_both_durations_with_a_floor(profile: Profile) -> None:
    step = build_step(profile, 0.01, "write", rate=10, duration="30s", warmup="10s",
                      concurrency=4, connections=1, name=" mine ")
    assert (step.duration, step.warmup) == (MIN_DURATION, pytest.approx(0.1))
    assert (step.concurrency, step.connections, step.id) == (4, 1, "mine")


@pytest.mark.parametrize(("overrides", "expected"), [
    ({"workload": "nope"}, "workload 'nope' is not in profile 'args'; known: write"),
    ({"workload": ["write"]}, "workload ['write'] is not in profile"),
    ({"rate": 0}, "rate must be a positive whole number (ops/s), got 0"),
    ({"rate": -1}, "rate must be a positive whole number (ops/s), got -1"),
    ({"rate": 100.5}, "rate must be a positive whole number (ops/s), got 100.5"),
    ({"rate": "100"}, "rate must be a positive whole number (ops/s), got '100'"),
    ({"rate": True}, "rate must be a positive whole number (ops/s), got True"),
    ({"rate": float("inf")}, "rate must be a positive whole number (ops/s), got inf"),
    ({"rate": 2 ** 80}, "rate: at most 100,000,000 ops/s, got 1208925819614629174706176"),
    ({"rate": 1e300}, "rate: at most 100,000,000 ops/s, got 1e+300"),
    ({"concurrency": 0}, "concurrency must be a positive whole number, got 0"),
    ({"connections": 1.5}, "connections must be a positive whole number, got 1.5"),
    ({"duration": "abc"}, "duration: cannot read 'abc' as a duration"),
    ({"duration": 0}, "duration: must be positive, got 0"),
    ({"duration": "-5s"}, "duration: must be zero or positive, got '-5s'"),
    ({"duration": 90000}, "duration: at most 24h, got 90000 (90000 s; a bare number is seconds)"),
    ({"warmup": "3h"}, "warmup: at most 1h, got '3h' (10800 s;"),
    ({"warmup": None}, "warmup: expected a number or a string such as '30s', got None"),
    ({"name": ""}, "name must be a non-empty one-line string of at most 100 characters, got ''"),
    ({"name": "a\nb"}, "name must be a non-empty one-line string"),
    ({"name": 7}, "name must be a non-empty one-line string"),
    ({"name": "x" * 101}, "name must be a non-empty one-line string of at most 100"),
])
def test_bad_argument_is_named(profile: Profile, overrides: dict[str, Any],
                               expected: str) -> None:
    assert expected in step_error(profile, **overrides)


def test_limits_are_checked_before_the_scale(profile: Profile) -> None:
    """The scale shortens runs; it does not make a day-long warm-up acceptable."""
    with pytest.raises(ConfigError, match="warmup: at most 1h"):
        build_step(profile, 0.001, "write", rate=1, duration=1, warmup="2h")
    assert build_step(profile, 1.0, "write", rate=1, duration="24h", warmup="1h").warmup == 3600


def test_tool_must_be_registered() -> None:
    assert check_tool(None, ("builtin",)) is None
    assert check_tool("builtin", ("builtin", "latte")) == "builtin"
    for bad in ("nope", 3):
        with pytest.raises(ConfigError, match=r"^scyllabench_step: tool must be one of "
                                              r"builtin, latte, got "):
            check_tool(bad, ("latte", "builtin"))


def test_call_thresholds() -> None:
    assert call_thresholds(None) == {}
    assert call_thresholds({"read_p99": "10ms"})["read_p99"].limit_ms == 10.0
    with pytest.raises(ConfigError, match=r"^scyllabench_step: thresholds must be a mapping "
                                          r"such as \{'p99': '20ms'\}, got \['p99'\]$"):
        call_thresholds(["p99"])
    with pytest.raises(ConfigError, match=r"^scyllabench_step: thresholds must be a mapping"):
        call_thresholds({99: "1ms"})
    with pytest.raises(ConfigError, match=r"^scyllabench_step: thresholds: threshold 'p98': "
                                          r"unknown metric"):
        call_thresholds({"p98": "1ms"})
    with pytest.raises(ConfigError, match=r"^scyllabench_step: thresholds: threshold p99: "
                                          r"must be positive"):
        call_thresholds({"p99": 0})


def test_name() -> None:
    assert check_name(None) is None
    assert check_name("warm cache") == "warm cache"


def test_the_rate_is_split_over_the_loaders_keeping_its_total() -> None:
    step = Step(Workload("w", mix={"write": 1.0}), rate=1000, duration=1.0)
    assert step.per_loader_rate(3) == [334, 333, 333]
    assert step.per_loader_rate(1000) == [1] * 1000
    with pytest.raises(ConfigError, match=r"^scyllabench_step: rate: 2 ops/s cannot be shared "
                                          r"by 3 loader processes"):
        Step(Workload("w", mix={"write": 1.0}), rate=2, duration=1.0).per_loader_rate(3)
