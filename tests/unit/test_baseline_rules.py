"""Regression rule expressions, marker arguments and their precedence."""

from __future__ import annotations

import pytest

from pytest_scyllabench.baseline.rules import (
    DEFAULT_RULES,
    Rule,
    effective_rules,
    format_rules,
    merge_layers,
    parse_marker_rules,
    parse_rules,
    rules_option,
)
from pytest_scyllabench.errors import ConfigError


def test_parses_relative_absolute_and_operation_rules() -> None:
    rules = parse_rules("p99:+10%, p999:+2ms throughput:-5%,read_p50:+500us  max:3")

    assert list(rules) == ["p99", "p999", "throughput", "read_p50", "max"]
    assert rules["p99"] == Rule("p99", "all", "p99", relative=0.10)
    assert rules["p999"] == Rule("p999", "all", "p999", absolute=2.0)
    assert rules["throughput"] == Rule("throughput", "all", "throughput", relative=0.05)
    read = rules["read_p50"]
    assert read is not None and (read.operation, read.metric) == ("read", "p50")
    assert read.absolute == pytest.approx(0.5) and read.relative is None
    assert rules["max"] == Rule("max", "all", "max", absolute=3.0)


def test_rule_directions_percentiles_and_canonical_text() -> None:
    rules = effective_rules(parse_rules("p99:+10% throughput:-5% write_p9999:+1.5ms"))

    assert [rules[name].direction for name in rules] == [1, -1, 1]
    assert rules["p99"].percentile == 99.0
    assert rules["write_p9999"].percentile == 99.99
    assert rules["throughput"].percentile is None
    assert [str(rule) for rule in rules.values()] == [
        "p99:+10%", "throughput:-5%", "write_p9999:+1.5ms"]
    assert rules["write_p9999"].label == "write p9999"


def test_the_sign_may_be_left_out() -> None:
    rules = parse_rules("p99:10% throughput:5% p50:2")

    assert str(rules["p99"]) == "p99:+10%"
    assert str(rules["throughput"]) == "throughput:-5%"
    assert str(rules["p50"]) == "p50:+2ms"


def test_off_turns_a_metric_off_and_an_empty_expression_has_no_rules() -> None:
    assert parse_rules("p9999:off p99:+5%")["p9999"] is None
    assert parse_rules("  ,  ") == {}


def test_default_rules_parse() -> None:
    assert set(parse_rules(DEFAULT_RULES)) == {"p99", "p999", "throughput"}


@pytest.mark.parametrize(("expression", "expected"), [
    ("p98:+10%", "rule 'p98:+10%': unknown metric 'p98'; valid: p50, p90, p99, p999, p9999, "
                 "max (optionally prefixed by write_ or read_) and throughput"),
    ("update_p99:+1%", "rule 'update_p99:+1%': unknown metric 'update_p99'"),
    ("read_throughput:-5%", "rule 'read_throughput:-5%': unknown metric 'read_throughput'"),
    ("p99+10%", "rule 'p99+10%': expected <metric>:<change>, e.g. p99:+10%"),
    ("p99:", "rule 'p99:': expected <metric>:<change>"),
    ("p99:-10%", "rule 'p99:-10%': growth of p99 is the regression, write p99:+10%"),
    ("throughput:+5%", "rule 'throughput:+5%': a drop of throughput is the regression, "
                       "write throughput:-5%"),
    ("p99:+ten%", "rule 'p99:+ten%': cannot read '+ten%' as a change; write a percentage "
                  "(+10%) or a latency with a unit (+2ms, +500us)"),
    ("p99:+2parsecs", "rule 'p99:+2parsecs': cannot read '+2parsecs' as a change"),
    ("p99:+ms", "rule 'p99:+ms': cannot read '+ms' as a change"),
    ("throughput:-2ms", "rule 'throughput:-2ms': cannot read '-2ms' as a change; write a "
                        "percentage (-5%) or ops/s (-200)"),
    ("throughput:-0", "rule 'throughput:-0': the change must be positive"),
    ("throughput:-150%", "rule 'throughput:-150%': throughput cannot drop by 150%, so the rule "
                         "would never fire; write a drop under 100% (throughput:-50%), or "
                         "throughput:off for no rule"),
    ("throughput:-100%", "rule 'throughput:-100%': throughput cannot drop by 100%"),
    ("p99:+0ms", "rule 'p99:+0ms': the change must be positive"),
    ("p99:+5% p999:+1ms p99:+6%", "rule 'p99:+6%': p99 has a rule already in "
                                  "'p99:+5% p999:+1ms p99:+6%'"),
])
def test_invalid_rules_name_the_bad_part_in_one_line(expression: str, expected: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_rules(expression)

    message = str(error.value)
    assert message.startswith(expected)
    assert "\n" not in message


def test_the_option_validator_raises_value_error_for_argparse() -> None:
    assert rules_option(" p99:+10%  ") == "p99:+10%"
    with pytest.raises(ValueError, match=r"^rule 'p99:-1%': growth of p99"):
        rules_option("p99:-1%")


def test_marker_rules_take_expressions_and_keywords() -> None:
    rules = parse_marker_rules(("p99:+5% p999:+20%",), {"throughput": "-2%", "p9999": None,
                                                        "max": "off", "p50": 1.5})

    assert str(rules["p99"]) == "p99:+5%"
    assert str(rules["throughput"]) == "throughput:-2%"
    assert str(rules["p50"]) == "p50:+1.5ms"
    assert rules["p9999"] is None
    assert rules["max"] is None


@pytest.mark.parametrize(("args", "kwargs", "expected"), [
    ((), {}, "needs at least one rule"),
    ((5,), {}, "positional arguments are rule expressions such as 'p99:+5%', got 5"),
    ((), {"p99": True}, "rule p99: expected a change such as '+5%' or '+2ms', got True"),
    ((), {"p98": "+5%"}, "rule 'p98:+5%': unknown metric 'p98'"),
])
def test_invalid_marker_arguments(args: tuple[object, ...], kwargs: dict[str, object],
                                  expected: str) -> None:
    with pytest.raises(ConfigError, match=f"^{expected.replace('+', '[+]')}"):
        parse_marker_rules(args, kwargs)


def test_marker_rules_override_command_line_rules_per_metric() -> None:
    command_line = parse_rules("p99:+10% p999:+20% throughput:-5%")
    marker = parse_marker_rules(("p99:+3%",), {"throughput": None, "read_p99": "+1ms"})

    rules = effective_rules(command_line, marker)

    assert {name: str(rule) for name, rule in rules.items()} == {
        "p99": "p99:+3%", "p999": "p999:+20%", "read_p99": "read_p99:+1ms"}


def test_the_closest_layer_wins() -> None:
    ini = parse_rules("p99:+10%")
    module = parse_marker_rules(("p99:+8% p50:+5%",), {})
    function = parse_marker_rules((), {"p99": "+2%"})

    rules = effective_rules(ini, module, function)

    assert str(rules["p99"]) == "p99:+2%"
    assert str(rules["p50"]) == "p50:+5%"
    assert effective_rules(ini, function, module)["p99"].relative == pytest.approx(0.08)


@pytest.mark.parametrize("expression", [
    "p99:+10% throughput:-5%",
    "p50:+0.5% p999:+2ms read_p99:+0.00001ms throughput:-1000000",
    "p99:off throughput:-12.5%",
    "",
])
def test_a_layer_is_written_as_an_expression_that_reads_back_the_same(expression: str) -> None:
    layer = parse_rules(expression)

    text = format_rules(layer)

    assert "e" not in text.replace("throughput", "").replace("read", "")  # no exponents
    assert parse_rules(text) == layer


def test_merged_layers_keep_the_last_rule_of_each_metric_and_offs() -> None:
    merged = merge_layers(parse_rules("p99:+10% p999:+20%"), parse_rules("p99:off p50:+5%"))

    assert format_rules(merged) == "p50:+5% p99:off p999:+20%"
