"""Settings, regression rules and thresholds fuzzed with seeded random text: each value is
accepted, or refused with one line (a ConfigError, or the ValueError argparse turns into a
usage error); never another exception."""

from __future__ import annotations

import argparse
import math
import random
from pathlib import Path
from typing import Any

import pytest

from pytest_scyllabench.baseline.rules import Rule, parse_marker_rules, parse_rules
from pytest_scyllabench.errors import ConfigError
from pytest_scyllabench.settings import OPTIONS, _argparse_type, resolve
from pytest_scyllabench.thresholds import parse_thresholds

#: Pieces of values: names, numbers, units, signs, separators and odd characters.
TOKENS = (
    "p99", "p999", "max", "read_", "write_", "throughput", "off", "latest", ":", "+", "-",
    "%", "ms", "us", "µs", "s", "m", "h", "1", "0", "10", ".5", "1e3", "1e400", "9" * 5000,
    "nan", "inf", "-inf", "true", "no", " ", ",", "\n", "\t", "\x00", "\u2028", "ñ", "\u0661\u0660",
    "/", "..", "x" * 300, "",
)
#: Values of marker keywords and thresholds besides text.
OBJECTS: tuple[Any, ...] = (
    None, True, 0, -1, 10, 10**30, 10**400, 2.5, math.nan, math.inf, -math.inf, [], {},
    ("p99",), b"20ms", 1e-300,
)
CASES = 400


def _text(rng: random.Random) -> str:
    return "".join(rng.choice(TOKENS) for _ in range(rng.randint(0, 6)))


def _value(rng: random.Random) -> Any:
    return rng.choice(OBJECTS) if rng.random() < 0.3 else _text(rng)


def _one_line(message: str) -> None:
    assert message and len(message.splitlines()) == 1, repr(message[:300])


def test_fuzzed_settings_resolve_or_name_the_setting(tmp_path: Path) -> None:
    rng = random.Random(7)
    for _ in range(CASES):
        option = rng.choice(OPTIONS)
        raw = _text(rng)
        where = rng.choice(("ini", "env", "cli"))
        try:
            if where == "cli":
                parsed = _argparse_type(option)(raw)
                resolve({option.dest: parsed}, {}, {}, tmp_path)
            elif where == "ini":
                resolve({}, {option.ini: raw}, {}, tmp_path)
            else:
                resolve({}, {}, {option.env: raw}, tmp_path)
        except argparse.ArgumentTypeError as exc:
            _one_line(str(exc))
        except ConfigError as exc:
            _one_line(str(exc))
            source = f"ini key {option.ini}" if where == "ini" else (
                f"environment variable {option.env}")
            assert str(exc).startswith(f"{source}: "), str(exc)[:300]


def test_fuzzed_rules_parse_or_name_the_rule() -> None:
    rng = random.Random(11)
    for _ in range(CASES):
        try:
            if rng.random() < 0.5:
                rules = parse_rules(_text(rng))
            else:
                rules = parse_marker_rules(
                    [_text(rng) for _ in range(rng.randint(0, 2))],
                    {rng.choice(("p99", "throughput", "read_max", "bogus")): _value(rng)})
        except ConfigError as exc:
            _one_line(str(exc))
            continue
        for rule in rules.values():
            assert rule is None or _finite_positive(rule)


def _finite_positive(rule: Rule) -> bool:
    amount = rule.relative if rule.relative is not None else rule.absolute
    return amount is not None and math.isfinite(amount) and amount >= 0


def test_fuzzed_thresholds_parse_or_name_the_limit() -> None:
    rng = random.Random(13)
    for _ in range(CASES):
        name = rng.choice(("p99", "read_p999", "max", "p98", "", "write_", _text(rng)))
        try:
            limits = parse_thresholds({name: _value(rng)})
        except ConfigError as exc:
            _one_line(str(exc))
            continue
        assert all(math.isfinite(t.limit_ms) and t.limit_ms > 0 for t in limits.values())


@pytest.mark.parametrize("value", [10**400, -(10**400)])
def test_threshold_beyond_a_float(value: int) -> None:
    with pytest.raises(ConfigError,
                       match=r"^threshold p99: must be finite, got an integer of about \d+ digits"):
        parse_thresholds({"p99": value})


def test_threshold_of_too_many_digits_is_cut() -> None:
    with pytest.raises(ConfigError) as info:
        parse_thresholds({"p99": 10**5000})
    assert len(str(info.value)) < 200


def test_rule_with_a_line_break_is_one_line() -> None:
    with pytest.raises(ConfigError) as info:
        parse_marker_rules([], {"p99": "-1\n2"})
    assert str(info.value) == ("rule 'p99:-1\\n2': a rule holds no spaces or control "
                               "characters, e.g. p99:+10%")


def test_rule_beyond_a_float_is_refused() -> None:
    with pytest.raises(ConfigError, match="the change must be a finite percentage"):
        parse_rules("p99:+" + "9" * 400 + "%")
    with pytest.raises(ConfigError, match="the change must be positive and finite"):
        parse_rules("throughput:-" + "9" * 400)
