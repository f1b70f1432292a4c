"""Rules a user writes: an expression with no rule, or a marker naming a metric twice, is an
error instead of silently turning the regression gate off or picking one of two rules."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_baseline_support import record

from pytest_scyllabench import cli
from pytest_scyllabench.baseline.offline import BAD_INPUT, compare_runs
from pytest_scyllabench.baseline.rules import parse_marker_rules, rules_option
from pytest_scyllabench.baseline.store import DirectoryStore
from pytest_scyllabench.errors import ConfigError


@pytest.mark.parametrize("expression", ["", "   ", " , "])
def test_an_option_with_no_rule_is_refused(expression: str) -> None:
    with pytest.raises(ValueError, match=r"^rules '.*': no rule given; write rules such as"):
        rules_option(expression)


def test_an_option_of_offs_only_is_a_choice_and_kept() -> None:
    assert rules_option("p99:off throughput:off") == "p99:off throughput:off"


def test_compare_with_an_empty_rules_argument_exits_2_before_reading_runs(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = DirectoryStore(tmp_path)
    store.save("main", [record(1)])
    store.save("pr", [record(2, scale=1.5)])

    with pytest.raises(ConfigError, match="no rule given"):
        compare_runs(store, "main", "pr", [""])
    code = cli.main(["compare", "--baseline-dir", str(tmp_path), "main", "pr", "--rules", ""])

    assert code == BAD_INPUT
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err.startswith("scyllabench compare: error: rules '': no rule given")


@pytest.mark.parametrize(("args", "kwargs"), [
    (("",), {}),
    ((" ",), {"p99": "+5%"}),
])
def test_a_marker_expression_with_no_rule_is_refused(args: tuple[object, ...],
                                                     kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match="no rule given"):
        parse_marker_rules(args, kwargs)


@pytest.mark.parametrize(("args", "kwargs"), [
    (("p99:+5%", "p99:+10%"), {}),
    (("p99:+5% throughput:-2%",), {"p99": "+10%"}),
    (("p99:+5%",), {"p99": None}),
])
def test_a_marker_naming_a_metric_twice_is_refused(args: tuple[object, ...],
                                                   kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match=r"^rule p99: named twice in one marker$"):
        parse_marker_rules(args, kwargs)


def test_a_marker_with_one_rule_per_metric_still_parses() -> None:
    rules = parse_marker_rules(("p99:+5%", "p999:+1ms"), {"throughput": "-2%"})

    assert sorted(rules) == ["p99", "p999", "throughput"]
