"""``scyllabench compare``: two saved runs compared offline, its lines and its exit codes."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from test_baseline_support import READ, environment, record

from pytest_scyllabench import cli
from pytest_scyllabench.baseline.compare import Verdict
from pytest_scyllabench.baseline.offline import (
    BAD_INPUT,
    PASSED,
    REGRESSED,
    RunComparison,
    compare_runs,
)
from pytest_scyllabench.baseline.record import BaselineRecord
from pytest_scyllabench.baseline.rules import parse_rules
from pytest_scyllabench.baseline.store import BaselineFileError, BaselineMissing, DirectoryStore
from pytest_scyllabench.errors import ConfigError


@pytest.fixture(scope="module")
def same() -> BaselineRecord:
    return record(1)


@pytest.fixture(scope="module")
def slower() -> BaselineRecord:
    """Every latency 20% higher than :func:`same`'s distribution."""
    return record(2, scale=1.2)


def store_of(tmp_path: Path, **runs: list[BaselineRecord]) -> DirectoryStore:
    store = DirectoryStore(tmp_path / "baselines")
    for name, records in runs.items():
        store.save(name, records)
    return store


def verdicts(result: RunComparison) -> dict[str, Verdict]:
    return {change.rule.name: change.verdict for comparison in result.comparisons
            for change in comparison.changes}


def with_rules(kept: BaselineRecord, expression: str) -> BaselineRecord:
    """``kept`` as saved from a test whose markers had the rules of ``expression``."""
    return dataclasses.replace(kept, rules=parse_rules(expression))


# --- the module ----------------------------------------------------------------------------


def test_a_20_percent_slower_run_regresses_and_exits_1(
        tmp_path: Path, same: BaselineRecord, slower: BaselineRecord) -> None:
    store = store_of(tmp_path, main=[same], pr=[slower])

    result = compare_runs(store, "main", "pr", ["p99:+10% throughput:-5%"])

    assert verdicts(result) == {"p99": Verdict.REGRESSION, "throughput": Verdict.NOISE}
    assert result.exit_code == REGRESSED
    assert result.problem() is None
    [regression] = result.regressions
    lines = result.lines()
    assert lines[0] == str(regression)
    assert re.fullmatch(r"test_write\[2000\] write@2000: p99 regressed: (\S+) ms -> (\S+) ms "
                        r"\(\+\d\d\.\d%, 95% CI .*\) breaks rule p99:\+10%", lines[0]), lines[0]
    assert lines[1].startswith("test_write[2000] write@2000: throughput within noise: ")
    assert lines[1].endswith("rule throughput:-5%")
    assert result.summary() == "pr against main: 1 benchmark, 1 regressed, 0 improved, " \
                               "1 within noise"


def test_a_run_compared_with_itself_passes_under_the_default_rules(
        tmp_path: Path, same: BaselineRecord) -> None:
    store = store_of(tmp_path, main=[same])

    result = compare_runs(store, "main", "latest")

    assert result.current_name == "main"
    assert verdicts(result) == dict.fromkeys(["p99", "p999", "throughput"], Verdict.NOISE)
    assert result.exit_code == PASSED


def test_later_rule_expressions_win_per_metric(tmp_path: Path, same: BaselineRecord,
                                               slower: BaselineRecord) -> None:
    store = store_of(tmp_path, main=[same], pr=[slower])

    result = compare_runs(store, "main", "pr", ["p99:+10% p50:+5%", "p99:+50%"])

    assert verdicts(result) == {"p99": Verdict.NOISE, "p50": Verdict.REGRESSION}


@pytest.mark.parametrize(("command_line", "marker", "expected"), [
    ("p99:+10%", "p99:+50%", {"p99": Verdict.NOISE}),  # looser than the command line's
    ("p99:+50%", "p99:+2%", {"p99": Verdict.REGRESSION}),  # stricter
    ("p99:+10%", "p99:off p50:+5%", {"p50": Verdict.REGRESSION}),  # off, and one of its own
])
def test_the_rules_saved_with_the_current_run_win_over_the_command_line(
        tmp_path: Path, same: BaselineRecord, slower: BaselineRecord, command_line: str,
        marker: str, expected: dict[str, Verdict]) -> None:
    # Saved and read back: the marker rules go through the record's JSON. The baseline's own
    # saved rules are not the ones used (the test's markers now are).
    store = store_of(tmp_path, main=[with_rules(same, "p99:+1%")],
                     pr=[with_rules(slower, marker)])

    result = compare_runs(store, "main", "pr", [command_line])

    assert verdicts(result) == expected


def test_environments_that_differ_are_flagged_not_gated_and_exit_2(
        tmp_path: Path, same: BaselineRecord) -> None:
    other = record(2, scale=1.5, env=environment(database_version="5.1.0"))
    store = store_of(tmp_path, main=[same], pr=[other])

    result = compare_runs(store, "main", "pr", ["p99:+10%"])

    assert result.regressions == []
    assert result.exit_code == BAD_INPUT
    assert result.problem() == ("environments differ between baseline 'main' and 'pr' "
                                "(database_version: 5.0.9 -> 5.1.0) in 1 of 1 benchmarks: "
                                "not gated")
    assert result.lines()[0] == ("test_write[2000] write@2000: not gated against baseline "
                                 "'main': the environment differs: database_version: "
                                 "5.0.9 -> 5.1.0")
    # 1.5 times slower, but in another environment: nothing is counted as regressed.
    assert result.summary() == ("pr against main: 1 benchmark, 0 regressed, 0 improved, "
                                "0 within noise, 1 flagged (environment differs)")


def test_benchmarks_in_one_run_only_are_noted(tmp_path: Path, same: BaselineRecord) -> None:
    read = dataclasses.replace(same, identity=READ)
    store = store_of(tmp_path, main=[same], pr=[read, same], old=[read, same])

    added = compare_runs(store, "main", "pr")
    assert added.exit_code == PASSED
    assert added.notes == ("test_read[1000] read@1000: no record in baseline 'main' "
                           "(profile local): not compared",)
    assert added.lines()[-1] == added.notes[0]

    removed = compare_runs(store, "old", "main")
    assert removed.notes == ("test_read[1000] read@1000: no record in 'main' (profile local): "
                             "not compared",)

    with pytest.raises(BaselineMissing, match=r"^test_read\[1000\] read@1000: no record in "
                                              r"baseline 'main'"):
        compare_runs(store, "main", "pr", fail_missing=True)


@pytest.mark.parametrize(("baseline", "current", "error", "message"), [
    ("nope", "main", BaselineMissing, r"^baseline 'nope' not found in .* \(saved runs: main, "
                                      r"other\)$"),
    ("main", "nope", BaselineMissing, r"^current run: baseline 'nope' not found in "),
    ("main", "../main", ConfigError, r"^baseline: run name '\.\./main': use up to "),
    ("main", "other", BaselineMissing, r"^no benchmark of 'other' has a record in baseline "
                                       r"'main': nothing to compare$"),
])
def test_runs_that_cannot_be_compared(tmp_path: Path, same: BaselineRecord, baseline: str,
                                      current: str, error: type[Exception],
                                      message: str) -> None:
    store = store_of(tmp_path, main=[same], other=[dataclasses.replace(same, identity=READ)])

    with pytest.raises(error, match=message):
        compare_runs(store, baseline, current)


def test_a_bad_rule_expression_is_refused_before_anything_is_read(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^rule 'p99:lots': cannot read 'lots' as a change"):
        compare_runs(DirectoryStore(tmp_path / "none"), "main", "pr", ["p99:lots"])


def test_marker_rules_round_trip_through_a_saved_record(tmp_path: Path,
                                                       same: BaselineRecord) -> None:
    store = store_of(tmp_path, main=[with_rules(same, "p999:+2ms throughput:off p50:+0.5%")])

    [kept] = store.load("main").values()

    assert kept.rules == parse_rules("p999:+2ms throughput:off p50:+0.5%")


def test_a_record_with_a_bad_saved_rule_names_its_file(tmp_path: Path,
                                                      same: BaselineRecord) -> None:
    store = store_of(tmp_path, main=[same])
    [path] = (tmp_path / "baselines" / "main").glob("*.json")
    path.write_text(path.read_text().replace('"rules": ""', '"rules": "p99:lots"'))

    with pytest.raises(BaselineFileError, match=rf"^{re.escape(str(path))}: malformed: rule "):
        compare_runs(store, "main", "main")


# --- the command ---------------------------------------------------------------------------


def run_cli(tmp_path: Path, *args: str) -> int:
    return cli.main(["compare", "--baseline-dir", str(tmp_path / "baselines"), *args])


def test_cli_prints_a_line_per_metric_and_exits_1_on_a_regression(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], same: BaselineRecord,
        slower: BaselineRecord) -> None:
    store_of(tmp_path, main=[same], pr=[slower])

    assert run_cli(tmp_path, "main", "pr", "--rule", "p99:+10%", "--rule",
                   "throughput:-5%") == 1

    out = capsys.readouterr()
    lines = out.out.splitlines()
    assert len(lines) == 3
    assert " p99 regressed: " in lines[0] and lines[0].endswith("breaks rule p99:+10%")
    assert " throughput within noise: " in lines[1]
    assert lines[2] == "pr against main: 1 benchmark, 1 regressed, 0 improved, 1 within noise"
    assert out.err == ""


def test_cli_exits_0_when_nothing_regressed(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str],
                                            same: BaselineRecord) -> None:
    store_of(tmp_path, main=[same], pr=[record(3)])

    assert run_cli(tmp_path, "main", "latest") == 0

    assert capsys.readouterr().out.splitlines()[-1].endswith("0 regressed, 0 improved, "
                                                             "3 within noise")


def test_cli_honours_the_saved_marker_rules(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str],
                                            same: BaselineRecord,
                                            slower: BaselineRecord) -> None:
    store_of(tmp_path, main=[same], pr=[with_rules(slower, "p99:+50%")])

    assert run_cli(tmp_path, "main", "pr", "--rules", "p99:+10%") == 0
    assert "rule p99:+50%" in capsys.readouterr().out


@pytest.mark.parametrize(("args", "message"), [
    (["main", "pr", "--rules", "p99:lots"], "rule 'p99:lots': cannot read 'lots' as a change"),
    (["main", "gone"], "current run: baseline 'gone' not found in "),
    (["gone", "pr"], "baseline 'gone' not found in "),
])
def test_cli_bad_input_exits_2_with_one_line(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str],
                                             same: BaselineRecord, args: list[str],
                                             message: str) -> None:
    store_of(tmp_path, main=[same], pr=[same])

    assert run_cli(tmp_path, *args) == 2

    out = capsys.readouterr()
    assert out.out == ""
    [line] = out.err.splitlines()
    assert line.startswith(f"scyllabench compare: error: {message}")


def test_cli_flags_a_different_environment_and_exits_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], same: BaselineRecord) -> None:
    store_of(tmp_path, main=[same], pr=[record(2, env=environment(nodes=5))])

    assert run_cli(tmp_path, "main", "pr") == 2

    out = capsys.readouterr()
    assert out.out.splitlines()[0].endswith("the environment differs: nodes: 3 -> 5")
    assert out.err == ("scyllabench compare: error: environments differ between baseline "
                       "'main' and 'pr' (nodes: 3 -> 5) in 1 of 1 benchmarks: not gated\n")

