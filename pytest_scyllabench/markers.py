"""The plugin's markers and the parsing of their arguments."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from pytest_scyllabench.baseline.rules import RuleLayer, parse_marker_rules
from pytest_scyllabench.errors import ConfigError
from pytest_scyllabench.thresholds import Threshold, parse_thresholds

MARKER = "scyllabench_thresholds"
#: ``@pytest.mark.scyllabench_regression("p99:+5%", throughput="-2%")``: baseline rules of a
#: test, overriding the command line's per metric.
REGRESSION_MARKER = "scyllabench_regression"
#: The fixture whose steps the markers apply to.
STEP_FIXTURE = "scyllabench_step"


class MarkerWarning(UserWarning):
    """A marker of this plugin on a test that runs no step: it has no effect."""


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


def marker_rule_layers(item: pytest.Item) -> list[RuleLayer]:
    """The rules of every ``scyllabench_regression`` marker on ``item``, farthest first."""
    return [parse_marker_rules(marker.args, marker.kwargs)
            for marker in reversed(list(item.iter_markers(REGRESSION_MARKER)))]


def runs_steps(item: pytest.Item) -> bool:
    """Whether ``item`` uses the step fixture (directly or through another fixture)."""
    return STEP_FIXTURE in getattr(item, "fixturenames", ())


def validate_markers(item: pytest.Item) -> None:
    """Parse every marker of ``item`` (``ConfigError`` naming the marker if one is bad); a
    :class:`MarkerWarning` for a marker put on the test itself when it runs no step."""
    for name, parse in ((MARKER, parse_marker), (REGRESSION_MARKER, parse_marker_rules)):
        for marker in item.iter_markers(name):
            try:
                parse(marker.args, marker.kwargs)
            except ConfigError as exc:
                raise ConfigError(f"@pytest.mark.{name}: {exc}") from None
        own = getattr(item, "own_markers", ())
        if not runs_steps(item) and any(marker.name == name for marker in own):
            item.warn(MarkerWarning(f"@pytest.mark.{name} on {item.nodeid}, which does not "
                                    f"use the {STEP_FIXTURE} fixture: it has no effect"))
