"""Baselines that keep several sessions: merging on save, old files, the sessions interval."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from test_baseline_support import CREATED, IDENTITY, environment, record, step_result

from pytest_scyllabench.baseline.compare import Verdict, compare
from pytest_scyllabench.baseline.gate import BaselineGate
from pytest_scyllabench.baseline.noise import (
    REPETITIONS,
    SESSIONS,
    sessions_interval,
    welch_interval,
)
from pytest_scyllabench.baseline.record import BaselineRecord, Environment, record_from_results
from pytest_scyllabench.baseline.rules import effective_rules, parse_rules
from pytest_scyllabench.baseline.sessions import accumulate, new_session_id
from pytest_scyllabench.baseline.store import DirectoryStore, file_name, read_record


def session_record(session: str, *, seeds: range | list[int], scale: float = 1.0,
                   env: Environment | None = None) -> BaselineRecord:
    """The record one session makes of the synthetic step (``scale`` stretches latencies)."""
    results = [step_result(seed, n=20_000, scale=scale) for seed in seeds]
    return record_from_results(IDENTITY, env or environment(), results,
                               params={"rate": 2000}, created=CREATED).with_session(session)


def sessions_record(scales: list[float], runs: int = 3) -> BaselineRecord:
    """A baseline of one session per scale, ``runs`` runs each, saved one after the other."""
    kept: BaselineRecord | None = None
    for number, scale in enumerate(scales):
        seeds = range(100 * number + 1, 100 * number + 1 + runs)
        kept, problem = accumulate(kept, session_record(f"s{number}", seeds=seeds, scale=scale),
                                   len(scales))
        assert problem is None
    assert kept is not None
    return kept


def session_ids(kept: BaselineRecord) -> list[str]:
    return [kept.runs[group[0]].session for group in kept.sessions]


# --- merging on save -------------------------------------------------------------------------


def test_a_save_keeps_the_earlier_sessions_and_sums_every_run() -> None:
    first = session_record("s0", seeds=[1])
    second = session_record("s1", seeds=[2, 3])

    kept, problem = accumulate(first, second, 2)

    assert problem is None
    assert [run.session for run in kept.runs] == ["s0", "s1", "s1"]
    assert kept.sessions == [(0,), (1, 2)]
    assert kept.merged.ops == first.merged.ops + second.merged.ops
    assert kept.merged.session == ""
    assert kept.merged.histogram("all-rt").get_total_count() == sum(
        run.histogram("all-rt").get_total_count() for run in kept.runs)
    assert len(kept.merged.ops_per_s) == 3 * len(first.merged.ops_per_s)


def test_the_session_limit_drops_the_oldest_sessions() -> None:
    kept = sessions_record([1.0, 1.0, 1.0, 1.0], runs=2)
    assert session_ids(kept) == ["s0", "s1", "s2", "s3"]

    newest, problem = accumulate(kept, session_record("s4", seeds=[9]), 3)

    assert problem is None
    assert session_ids(newest) == ["s2", "s3", "s4"]
    assert len(newest.runs) == 5
    assert newest.merged.ops == sum(run.ops for run in newest.runs)
    # One session: saving replaces, as without the option.
    alone, problem = accumulate(kept, session_record("s5", seeds=[9]), 1)
    assert problem is None and session_ids(alone) == ["s5"] and alone.repetitions == ()


@pytest.mark.parametrize(("current", "reason"), [
    (session_record("s1", seeds=[2], env=environment(nodes=5)),
     "the environment differs (nodes: 3 -> 5)"),
    (replace(session_record("s1", seeds=[2]), value_unit_ns=1.0),
     "the value unit differs (1000 ns -> 1 ns)"),
    (replace(session_record("s1", seeds=[2]), target_rate=1000.0),
     "the target rate differs (2000 -> 1000 ops/s)"),
])
def test_a_record_from_elsewhere_is_replaced_and_says_why(current: BaselineRecord,
                                                          reason: str) -> None:
    kept, problem = accumulate(session_record("s0", seeds=[1]), current, 3)

    assert kept is current
    assert problem == reason


def test_a_file_without_sessions_loads_as_one_session(tmp_path: Path) -> None:
    old = record([1, 2, 3]).to_dict()  # as version 1 wrote it: no session anywhere
    old["schema_version"] = 1
    assert "session" not in json.dumps(old)
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old))

    loaded = read_record(path)

    assert loaded.sessions == [(0, 1, 2)]
    kept, problem = accumulate(loaded, session_record("s1", seeds=[4, 5]), 2)
    assert problem is None
    assert [len(group) for group in kept.sessions] == [3, 2]
    assert session_ids(kept) == ["", "s1"]


def test_saved_sessions_round_trip_through_the_directory(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path)
    kept = sessions_record([1.0, 1.1], runs=1)
    store.save("main", [kept])

    assert store.load("main") == {IDENTITY: kept}
    data = json.loads((tmp_path / "main" / file_name(IDENTITY)).read_text())
    assert data["schema_version"] == 2
    assert [run["session"] for run in data["repetitions"]] == ["s0", "s1"]
    assert "session" not in data["merged"]


def test_the_gate_accumulates_sessions_and_notes_a_replaced_record(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path)
    for number in range(3):
        gate = BaselineGate(store, save_as="main", save_sessions=2, session=f"night-{number}")
        gate.keep(record(number + 1))
        assert gate.save() == "main" and gate.save_notes == []
    saved = store.load("main")[IDENTITY]
    assert session_ids(saved) == ["night-1", "night-2"]

    moved = BaselineGate(store, save_as="main", save_sessions=2, session="night-3")
    moved.keep(record(9, env=environment(database_version="5.0.10")))
    moved.save()

    assert moved.save_notes == [
        "test_write[2000] write@2000: earlier sessions of baseline 'main' not kept, the record "
        "is replaced: the environment differs (database_version: 5.0.9 -> 5.0.10)"]
    assert session_ids(store.load("main")[IDENTITY]) == ["night-3"]


def test_session_ids_differ_between_sessions_started_together() -> None:
    assert new_session_id(CREATED) != new_session_id(CREATED)
    assert new_session_id(CREATED).startswith("2026-01-02T03:04:05+00:00/")


# --- the interval ---------------------------------------------------------------------------


def test_a_shift_within_the_spread_between_sessions_is_noise() -> None:
    """Sessions 10% apart: a new session 20% above the middle one is within their noise,
    though the same runs taken as one session, or the middle session alone, call it a
    regression."""
    baseline = sessions_record([0.9, 1.0, 1.1])
    current = session_record("new", seeds=[901, 902, 903], scale=1.2)
    one_session = sessions_record([1.0])
    pooled = replace(baseline, repetitions=tuple(replace(run, session="")
                                                 for run in baseline.repetitions))
    p99 = effective_rules(parse_rules("p99:+10%"))

    spread = compare(current, baseline, p99).changes[0]
    alone = compare(current, one_session, p99).changes[0]
    as_one = compare(current, pooled, p99).changes[0]

    assert spread.relative > 0.1  # beyond the rule...
    assert spread.interval is not None and spread.interval.method == SESSIONS
    assert spread.interval.low < 0 < spread.interval.high  # ...but not beyond the noise
    assert spread.verdict is Verdict.NOISE
    assert "; baseline 3 sessions, 9 runs)" in str(spread)
    for narrow in (alone, as_one):
        assert narrow.interval is not None and narrow.interval.method == REPETITIONS
        assert narrow.verdict is Verdict.REGRESSION, str(narrow)


def test_a_real_20_percent_p99_shift_over_steady_sessions_is_a_regression() -> None:
    baseline = sessions_record([0.99, 1.0, 1.01, 1.0])
    rules = effective_rules(parse_rules("p99:+10% throughput:-5%"))

    slower = compare(session_record("new", seeds=[901, 902, 903], scale=1.2), baseline, rules)
    single = compare(session_record("new", seeds=[904], scale=1.2), baseline, rules)
    same = compare(session_record("new", seeds=[905, 906, 907]), baseline, rules)

    for comparison in (slower, single):
        p99, throughput = comparison.changes
        assert p99.relative == pytest.approx(0.2, abs=0.04)
        assert p99.interval is not None and p99.interval.method == SESSIONS
        assert p99.verdict is Verdict.REGRESSION, str(p99)
        assert throughput.interval is not None and throughput.interval.method == SESSIONS
        assert throughput.verdict is Verdict.NOISE, str(throughput)
    assert [change.verdict for change in same.changes] == [Verdict.NOISE, Verdict.NOISE]
    assert slower.changes[0].to_dict()["baseline_sessions"] == 4
    assert slower.changes[0].to_dict()["baseline_runs"] == 12


def test_the_sessions_interval_counts_the_new_sessions_own_offset() -> None:
    """Sessions whose runs agree closely but whose means spread: the interval of a new
    session is about as wide as that spread, not the narrow one of the means' mean."""
    sessions = [[10.0, 10.01, 9.99], [11.0, 11.01, 10.99], [10.5, 10.51, 10.49],
                [9.5, 9.51, 9.49], [10.2, 10.21, 10.19]]
    current = [[10.0, 10.01, 9.99]]

    interval = sessions_interval(sessions, current)
    means = welch_interval([float(np.mean(s)) for s in sessions], current[0])

    spread = float(np.std([np.mean(s) for s in sessions], ddof=1))
    assert interval.high - interval.low > 2 * spread
    assert means.high - means.low < interval.high - interval.low
    # Sessions on both sides: Welch's interval between the session means.
    both = sessions_interval(sessions, sessions[:2])
    expected = welch_interval([float(np.mean(s)) for s in sessions],
                              [float(np.mean(s)) for s in sessions[:2]])
    assert (both.low, both.high) == pytest.approx((expected.low, expected.high))
    assert both.method == SESSIONS


def test_the_sessions_interval_needs_two_sessions_on_a_side() -> None:
    with pytest.raises(ValueError, match="two sessions or more"):
        sessions_interval([[1.0, 2.0]], [[1.0, 2.0]])
    with pytest.raises(ValueError, match="one value or more"):
        sessions_interval([[1.0], []], [[1.0]])


def test_scyllabench_compare_reads_a_baseline_of_several_sessions(tmp_path: Path) -> None:
    from pytest_scyllabench.baseline.offline import REGRESSED, compare_runs

    store = DirectoryStore(tmp_path)
    store.save("main", [sessions_record([0.99, 1.0, 1.01])])
    store.save("pr", [session_record("pr", seeds=[901, 902], scale=1.2)])

    result = compare_runs(store, "main", "pr", ["p99:+10%"])

    assert result.exit_code == REGRESSED
    [line] = result.lines()
    assert " p99 regressed: " in line and "; baseline 3 sessions, 9 runs) " in line, line
