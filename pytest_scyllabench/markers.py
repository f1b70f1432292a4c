"""The plugin's markers and the parsing of their arguments."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from pytest_scyllabench.errors import ConfigError
from pytest_scyllabench.thresholds import Threshold, parse_thresholds

MARKER = "scyllabench_thresholds"


def parse_marker(args: Sequence[Any], kwargs: Mapping[str, Any]) -> dict[str, Threshold]:
    """Validate ``@pytest.mark.scyllabench_thresholds(p99="20ms", ...)``."""
    if args:
        raise ConfigError("takes keyword arguments only, e.g. p99='20ms'")
    if not kwargs:
        raise ConfigError("needs at least one limit, e.g. p99='20ms'")
    return parse_thresholds(kwargs)


def marker_thresholds(item: pytest.Item) -> dict[str, Threshold]:
    """The limits of every ``scyllabench_thresholds`` marker on ``item``, closest last wins."""
    limits: dict[str, Threshold] = {}
    for marker in reversed(list(item.iter_markers(MARKER))):
        limits.update(parse_marker(marker.args, marker.kwargs))
    return limits
