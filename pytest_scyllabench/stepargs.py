"""The arguments of a ``scyllabench_step(...)`` call, validated into a :class:`Step`.

Every bad argument raises :class:`~pytest_scyllabench.errors.ConfigError` with one line that
starts with ``scyllabench_step:`` and names the argument, before the step touches the cluster
(the tool is neither installed nor asked to create its schema). Nothing here imports pytest.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection, Mapping
from typing import Any

from pytest_scyllabench.errors import ConfigError
from pytest_scyllabench.profile import Profile
from pytest_scyllabench.stress.step import Step
from pytest_scyllabench.thresholds import Threshold, parse_thresholds
from pytest_scyllabench.units import parse_duration

CALL = "scyllabench_step"
#: Scaled durations are never shorter than this, seconds.
MIN_DURATION = 1.0
#: The longest measured duration a call may ask for (before the duration scale), seconds:
#: a day. Longer is taken for a unit mistake (``duration=86400000`` meant as milliseconds).
MAX_DURATION = 24 * 3600.0
#: The longest warm-up a call may ask for (before the duration scale), seconds: an hour.
#: A longer preparation is a step of its own, whose result the test can ignore.
MAX_WARMUP = 3600.0
#: The highest rate a call may ask for, ops/s: far above any cluster's, so a larger one is a
#: mistake (and would not survive the conversions to a float rate per loader).
MAX_RATE = 100_000_000
#: Longest step name: it names a directory and a baseline entry.
MAX_NAME = 100


def build_step(profile: Profile, scale: float, workload: Any, *, rate: Any,
               duration: Any, warmup: Any, concurrency: Any = None, connections: Any = None,
               name: Any = None) -> Step:
    """Validate a call's arguments into a :class:`Step`, durations multiplied by ``scale``
    (the measured one never below :data:`MIN_DURATION`)."""
    if not isinstance(workload, str) or workload not in profile.workloads:
        raise ConfigError(f"{CALL}: workload {workload!r} is not in profile "
                          f"{profile.name!r}; known: {', '.join(sorted(profile.workloads))}")
    ops = _positive_int("rate", rate, " (ops/s)")
    if ops > MAX_RATE:
        raise ConfigError(f"{CALL}: rate: at most {MAX_RATE:,} ops/s, got {rate!r}")
    threads = None if concurrency is None else _positive_int("concurrency", concurrency)
    pool = None if connections is None else _positive_int("connections", connections)
    measured = parse_duration(duration, f"{CALL}: duration")
    if measured <= 0:
        raise ConfigError(f"{CALL}: duration: must be positive, got {duration!r}")
    _at_most("duration", duration, measured, MAX_DURATION, "24h")
    warm = parse_duration(warmup, f"{CALL}: warmup")
    _at_most("warmup", warmup, warm, MAX_WARMUP, "1h")
    return Step(
        workload=profile.workloads[workload], rate=ops,
        duration=max(MIN_DURATION, measured * scale), warmup=warm * scale,
        concurrency=threads or profile.loaders.concurrency,
        connections=pool or profile.loaders.connections,
        name=check_name(name) or f"{workload}@{ops}",
    )


def check_tool(tool: Any, known: Collection[str]) -> str | None:
    """``tool=``: ``None`` (the profile's) or the name of a registered stress tool."""
    if tool is not None and (not isinstance(tool, str) or tool not in known):
        raise ConfigError(f"{CALL}: tool must be one of {', '.join(sorted(known))}, "
                          f"got {tool!r}")
    return tool


def call_thresholds(thresholds: Any) -> dict[str, Threshold]:
    """``thresholds=``: a mapping such as ``{"p99": "20ms"}``, validated."""
    if thresholds is None:
        return {}
    if not isinstance(thresholds, Mapping) or not all(
            isinstance(key, str) for key in thresholds):
        raise ConfigError(f"{CALL}: thresholds must be a mapping such as "
                          f"{{'p99': '20ms'}}, got {thresholds!r}")
    try:
        return parse_thresholds(thresholds)
    except ConfigError as exc:
        raise ConfigError(f"{CALL}: thresholds: {exc}") from None


def check_name(name: Any) -> str | None:
    """``name=``: ``None`` (``<workload>@<rate>``) or a short one-line name."""
    if name is None:
        return None
    if (not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME
            or not name.isprintable()):
        raise ConfigError(f"{CALL}: name must be a non-empty one-line string of at most "
                          f"{MAX_NAME} characters, got {name!r}")
    return name.strip()


def _positive_int(field: str, value: Any, unit: str = "") -> int:
    """A positive whole number; an integral float (``1e3``) or numpy integer is accepted."""
    whole = (isinstance(value, numbers.Integral) and not isinstance(value, bool)) or (
        isinstance(value, float) and math.isfinite(value) and value.is_integer())
    number = int(value) if whole else None
    if number is None or number < 1:
        raise ConfigError(f"{CALL}: {field} must be a positive whole number{unit}, "
                          f"got {value!r}")
    return number


def _at_most(field: str, raw: Any, seconds: float, limit: float, text: str) -> None:
    if seconds > limit:
        raise ConfigError(f"{CALL}: {field}: at most {text}, got {raw!r} "
                          f"({seconds:g} s; a bare number is seconds)")
