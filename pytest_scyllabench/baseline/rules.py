"""Regression rules: how much worse than the baseline a metric may get.

Syntax: rules separated by commas and/or spaces, each ``<metric>:<change>``::

    p99:+10%            p99 may grow by 10% of the baseline's
    p999:+2ms           p999 may grow by 2 ms (units: us ms s m h; a bare number is ms)
    read_p99:+500us     the p99 of read operations only
    throughput:-5%      the achieved throughput may drop by 5% (a bare number is ops/s)
    p9999:off           no rule for p9999 (to drop a rule set elsewhere)

Metrics are the percentiles of the thresholds (``p50 p90 p99 p999 p9999 max``, see
:mod:`pytest_scyllabench.thresholds`), optionally prefixed by an operation (``read_``,
``write_``), and ``throughput``. The sign says which direction is a regression: ``+`` for a
latency (it grows), ``-`` for throughput (it drops); it may be left out, a wrong one is an
error. Rules of several layers (ini or command line, then markers from the farthest to the
closest) are combined per metric by :func:`effective_rules`: a later layer's rule for a metric
replaces an earlier one's, ``off`` removes it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pytest_scyllabench.errors import ConfigError
from pytest_scyllabench.result import PERCENTILES
from pytest_scyllabench.stress.step import OPERATIONS
from pytest_scyllabench.thresholds import ALL_OPERATIONS, METRICS, split_metric
from pytest_scyllabench.units import parse_latency_ms

THROUGHPUT = "throughput"
OFF = "off"
#: The rules used when none are given.
DEFAULT_RULES = "p99:+10% p999:+20% throughput:-5%"
_QUANTILES = dict(PERCENTILES)
_SEPARATORS = re.compile(r"[,\s]+")
_NUMBER = re.compile(r"[0-9]+(\.[0-9]*)?|\.[0-9]+")

#: A layer of rules by metric name; ``None`` turns the metric's rule off.
RuleLayer = Mapping[str, "Rule | None"]


@dataclass(frozen=True)
class Rule:
    """How far one metric may move in the bad direction before it is a regression."""

    #: ``p99``, ``read_p999``, ``throughput``: the key by which layers override each other.
    name: str
    operation: str
    #: ``p50``... ``max``, or ``throughput``.
    metric: str
    #: Allowed change as a fraction of the baseline (0.1 for 10%), or ``None``.
    relative: float | None = None
    #: Allowed change in milliseconds (latency) or ops/s (throughput), or ``None``.
    absolute: float | None = None

    @property
    def direction(self) -> int:
        """+1 when growth is a regression (latency), -1 when a drop is (throughput)."""
        return -1 if self.metric == THROUGHPUT else 1

    @property
    def percentile(self) -> float | None:
        """The percentile (0..100) of a latency metric; ``None`` for throughput."""
        return None if self.metric == THROUGHPUT else _QUANTILES[self.metric]

    @property
    def unit(self) -> str:
        return "ops/s" if self.metric == THROUGHPUT else "ms"

    @property
    def label(self) -> str:
        """``p99`` for all operations, ``read p99`` for one operation type."""
        return self.metric if self.operation == ALL_OPERATIONS else (
            f"{self.operation} {self.metric}")

    def __str__(self) -> str:
        """The rule as written, with the fewest digits that read back as this rule (a record
        keeps its rules as text): ``p99:+7%``, not ``p99:+7.000000000000001%``."""
        sign = "-" if self.direction < 0 else "+"
        if self.relative is not None:
            value, unit = self.relative * 100, "%"
        else:
            value, unit = float(self.absolute or 0.0), "" if self.metric == THROUGHPUT else "ms"
        text = ""
        for digits in range(1, 18):
            text = f"{self.name}:{sign}{_decimal(value, digits)}{unit}"
            if _reads_as(text, self):
                break
        return text


def metric_names() -> list[str]:
    """Every accepted metric name."""
    return [*METRICS, *(f"{op}_{metric}" for op in OPERATIONS for metric in METRICS),
            THROUGHPUT]


def parse_rule(text: str) -> Rule | None:
    """One ``metric:change`` rule (``None`` for ``metric:off``); ConfigError naming it."""
    name, colon, change = text.partition(":")
    if any(c.isspace() or not c.isprintable() for c in text):
        raise ConfigError(f"rule {text!r}: a rule holds no spaces or control characters, "
                          f"e.g. p99:+10%")
    if not colon or not name or not change:
        raise ConfigError(f"rule {text!r}: expected <metric>:<change>, "
                          f"e.g. p99:+10%, p999:+2ms or throughput:-5%")
    operation, metric = _metric(text, name)
    if change == OFF:
        return None
    direction = -1 if metric == THROUGHPUT else 1
    sign, amount = (change[0], change[1:]) if change[0] in "+-" else ("", change)
    if sign and (-1 if sign == "-" else 1) != direction:
        raise ConfigError(
            f"rule {text!r}: {_direction_hint(name, metric)}, write {name}:"
            f"{'-' if direction < 0 else '+'}{amount}")
    if amount.endswith("%"):
        number = amount[:-1].strip()
        if not _NUMBER.fullmatch(number):
            raise ConfigError(f"rule {text!r}: cannot read {change!r} as a change; "
                              f"{_value_hint(metric)}")
        relative = float(number) / 100.0
        if not math.isfinite(relative):
            raise ConfigError(f"rule {text!r}: the change must be a finite percentage")
        if metric == THROUGHPUT and relative >= 1.0:
            raise ConfigError(f"rule {text!r}: throughput cannot drop by {number}%, so the "
                              f"rule would never fire; write a drop under 100% "
                              f"({name}:-50%), or {name}:{OFF} for no rule")
        return Rule(name, operation, metric, relative=relative)
    if metric == THROUGHPUT:
        if not _NUMBER.fullmatch(amount):
            raise ConfigError(f"rule {text!r}: cannot read {change!r} as a change; "
                              f"{_value_hint(metric)}")
        absolute = float(amount)
    else:
        if not amount[:1].isdigit() and not amount.startswith("."):
            raise ConfigError(f"rule {text!r}: cannot read {change!r} as a change; "
                              f"{_value_hint(metric)}")
        try:
            absolute = parse_latency_ms(amount, f"rule {text!r}")
        except ConfigError as exc:
            if "must be" in str(exc):  # read, but zero or beyond any float
                raise ConfigError(f"rule {text!r}: the change must be positive and "
                                  f"finite") from None
            raise ConfigError(f"rule {text!r}: cannot read {change!r} as a change; "
                              f"{_value_hint(metric)}") from None
    if not math.isfinite(absolute) or absolute <= 0:
        raise ConfigError(f"rule {text!r}: the change must be positive and finite")
    return Rule(name, operation, metric, absolute=absolute)


def parse_rules(text: str) -> dict[str, Rule | None]:
    """Every rule of an expression, by metric name (``None``: turned off).

    An empty expression gives no rules; a metric named twice is an error.
    """
    rules: dict[str, Rule | None] = {}
    for item in _SEPARATORS.split(text.strip()):
        if not item:
            continue
        rule = parse_rule(item)
        name = item.partition(":")[0]
        if name in rules:
            raise ConfigError(f"rule {item!r}: {name} has a rule already in {text.strip()!r}")
        rules[name] = rule
    return rules


def parse_given_rules(text: str) -> dict[str, Rule | None]:
    """The rules of an expression a user wrote (an option, ``--rules``, a marker's positional
    argument): as :func:`parse_rules`, but an expression with no rule is an error, since an
    empty variable (``--rules "$RULES"``) would otherwise silently turn every rule off."""
    rules = parse_rules(text)
    if not rules:
        raise ConfigError(f"rules {text!r}: no rule given; write rules such as "
                          f"'p99:+10% throughput:-5%' (p99:off turns one metric's rule off)")
    return rules


def rules_option(text: str) -> str:
    """Validate an option's or ini key's expression; ``ValueError`` (for argparse) if bad."""
    try:
        parse_given_rules(text)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    return text.strip()


def parse_marker_rules(args: Sequence[Any], kwargs: Mapping[str, Any]) -> dict[str, Rule | None]:
    """The rules of a marker: expressions as positional strings, or ``p99="+5%"`` keywords.

    A keyword set to ``None`` or ``"off"`` turns that metric's rule off for the test.
    """
    if not args and not kwargs:
        raise ConfigError("needs at least one rule, e.g. 'p99:+5%' or p99='+5%'")
    rules: dict[str, Rule | None] = {}

    def add(name: str, rule: Rule | None) -> None:
        if name in rules:  # which one was meant? (markers of their own layer instead)
            raise ConfigError(f"rule {name}: named twice in one marker")
        rules[name] = rule

    for arg in args:
        if not isinstance(arg, str):
            raise ConfigError(f"positional arguments are rule expressions such as "
                              f"'p99:+5%', got {arg!r}")
        for name, rule in parse_given_rules(arg).items():
            add(name, rule)
    for name, value in kwargs.items():
        if value is None:
            value = OFF
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ConfigError(f"rule {name}: expected a change such as '+5%' or '+2ms', "
                              f"got {value!r}")
        add(name, parse_rule(f"{name}:{value}"))
    return rules


def merge_layers(*layers: RuleLayer) -> dict[str, Rule | None]:
    """One layer standing for ``layers`` (weakest first): a metric's last rule, ``off`` kept."""
    combined: dict[str, Rule | None] = {}
    for layer in layers:
        combined.update(layer)
    return combined


def effective_rules(*layers: RuleLayer) -> dict[str, Rule]:
    """The rules in force: each metric's rule from the last layer that names it.

    Pass the layers from the weakest to the strongest: defaults or ini, the command line,
    then markers from the farthest (module) to the closest (function).
    """
    return {name: rule for name, rule in merge_layers(*layers).items() if rule is not None}


def format_rules(layer: RuleLayer) -> str:
    """The expression of a layer, sorted by metric (``p99:+5% throughput:off``): what
    :func:`parse_rules` reads back into the same layer."""
    return " ".join(f"{name}:{OFF}" if rule is None else str(rule)
                    for name, rule in sorted(layer.items()))


def _metric(text: str, name: str) -> tuple[str, str]:
    if name == THROUGHPUT:
        return ALL_OPERATIONS, THROUGHPUT
    split = split_metric(name)
    if split is None:
        raise ConfigError(
            f"rule {text!r}: unknown metric {name!r}; valid: {', '.join(METRICS)} "
            f"(optionally prefixed by {' or '.join(f'{op}_' for op in OPERATIONS)}) "
            f"and {THROUGHPUT}")
    return split


def _decimal(value: float, digits: int) -> str:
    """``10``, ``0.5``, ``0.00001``: ``value`` to ``digits`` significant digits, as a rule is
    written (no exponent)."""
    return np.format_float_positional(value, precision=digits, unique=False, fractional=False,
                                      trim="-")


def _reads_as(text: str, rule: Rule) -> bool:
    """Whether ``text`` reads back as ``rule`` (to a float's last digits: parsing ``36.127ms``
    may itself land one unit of the last place away)."""
    try:
        read = parse_rule(text)
    except ConfigError:
        return False
    return read is not None and all(
        (mine is None) == (theirs is None)
        and (mine is None or theirs is None or math.isclose(mine, theirs, rel_tol=1e-14))
        for mine, theirs in ((rule.relative, read.relative), (rule.absolute, read.absolute)))


def _direction_hint(name: str, metric: str) -> str:
    if metric == THROUGHPUT:
        return "a drop of throughput is the regression"
    return f"growth of {name} is the regression"


def _value_hint(metric: str) -> str:
    if metric == THROUGHPUT:
        return "write a percentage (-5%) or ops/s (-200)"
    return "write a percentage (+10%) or a latency with a unit (+2ms, +500us)"
