"""The trial directory: names, uniqueness, the latest link, atomic writes, session.json."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from test_report_support import make_result

from pytest_scyllabench.report.artifacts import (
    MAX_NAME,
    TrialsDir,
    atomic_write_text,
    safe_name,
)

STARTED = datetime(2026, 11, 22, 15, 30, 12, tzinfo=UTC)


@pytest.mark.parametrize(("nodeid", "expected"), [
    ("benchmarks/test_latency.py::test_write[2000]", "test_latency.py__test_write-2000"),
    ("test_l.py::TestMix::test_read[zipf-0.9]", "test_l.py__TestMix__test_read-zipf-0.9"),
    ("t.py::test_x[a b/c\\d:e]", "t.py__test_x-a_b_c_d_e"),
    ("t.py::test_é[ünï]", "t.py__test_e-uni"),
    ("../../etc::passwd", "etc__passwd"),
    ("t.py::test[日本]", "t.py__test"),
    ("::", "test"),
])
def test_safe_name_is_readable_ascii(nodeid: str, expected: str) -> None:
    assert safe_name(nodeid) == expected


def test_safe_name_is_bounded() -> None:
    name = safe_name("t.py::test_x[" + "a" * 500 + "]")
    assert len(name) <= MAX_NAME
    assert name.startswith("t.py__test_x-aaa")


def test_session_dir_is_created_on_demand_and_latest_points_at_it(tmp_path: Path) -> None:
    trials = TrialsDir(tmp_path / "out", "local", STARTED)
    assert not (tmp_path / "out").exists()  # the constructor has no side effects
    path = trials.path
    assert path == tmp_path / "out" / "local" / "20261122T153012Z"
    assert path.is_dir()
    latest = tmp_path / "out" / "local" / "latest"
    assert latest.is_symlink()
    assert os.readlink(latest) == "20261122T153012Z"  # relative: the tree can be moved
    assert latest.resolve() == path.resolve()
    assert trials.path is path  # claimed once


def test_two_sessions_in_the_same_second_get_distinct_dirs(tmp_path: Path) -> None:
    first = TrialsDir(tmp_path, "local", STARTED).path
    second = TrialsDir(tmp_path, "local", STARTED).path
    third = TrialsDir(tmp_path, "local", STARTED).path
    assert len({first, second, third}) == 3
    assert second.name == "20261122T153012Z-2"
    assert (tmp_path / "local" / "latest").resolve() == third.resolve()
    # No temporary link is left behind.
    assert sorted(p.name for p in (tmp_path / "local").iterdir()) == [
        "20261122T153012Z", "20261122T153012Z-2", "20261122T153012Z-3", "latest"]


def test_latest_replaces_a_stale_link(tmp_path: Path) -> None:
    (tmp_path / "local").mkdir()
    (tmp_path / "local" / "latest").symlink_to("gone")
    path = TrialsDir(tmp_path, "local", STARTED).path
    assert (tmp_path / "local" / "latest").resolve() == path.resolve()


def test_test_dirs_are_stable_and_unique(tmp_path: Path) -> None:
    trials = TrialsDir(tmp_path, "local", STARTED)
    a = trials.test_dir("a/test_x.py::test_w[1]")
    assert trials.test_dir("a/test_x.py::test_w[1]") == a
    b = trials.test_dir("b/test_x.py::test_w[1]")  # same readable name: a hash tells apart
    c = trials.test_dir("test_x.py::TEST_W[1]")  # differs only in case (macOS, Windows)
    assert a.name == "test_x.py__test_w-1"
    assert b.name.startswith("test_x.py__test_w-1-") and b != a
    assert c.name.casefold() != a.name.casefold()
    assert len({a, b, c}) == 3 and all(p.is_dir() for p in (a, b, c))


def test_long_colliding_names_stay_bounded_and_unique(tmp_path: Path) -> None:
    trials = TrialsDir(tmp_path, "local", STARTED)
    nodeids = [f"t.py::test[{'x' * 300}{i}]" for i in range(3)]
    names = [trials.test_dir(nodeid).name for nodeid in nodeids]
    assert len(set(names)) == 3
    assert all(len(name) <= MAX_NAME for name in names)


def test_step_dirs_are_fresh_for_each_run(tmp_path: Path) -> None:
    trials = TrialsDir(tmp_path, "local", STARTED)
    first = trials.step_dir("t.py::test_w", "write@2000")
    again = trials.step_dir("t.py::test_w", "write@2000")
    third = trials.step_dir("t.py::test_w", "write@2000")
    assert first == trials.test_dir("t.py::test_w") / "write_2000"
    assert len({first, again, third}) == 3 and all(p.is_dir() for p in (first, again, third))
    files = TrialsDir.loader_files(first, "loader 1")
    assert files.hdr_log == first / "loader_1.hlog"
    assert files.summary == first / "loader_1.summary.json"
    assert files.stdout == first / "loader_1.out"


def test_atomic_write_replaces_whole_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "r.json"
    atomic_write_text(target, "old")
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    assert [p.name for p in target.parent.iterdir()] == ["r.json"]


def test_atomic_write_keeps_the_old_file_when_writing_fails(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "r.json"
    target.write_text("old")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_write_result_goes_into_the_step_dir_with_relative_paths(tmp_path: Path) -> None:
    trials = TrialsDir(tmp_path, "local", STARTED)
    step_dir = trials.step_dir("bench/test_l.py::test_w[2000]", "write@2000")
    result = make_result(step_dir)
    path = trials.write_result(result, test="bench/test_l.py::test_w[2000]",
                               breaches=["p99 12.3 ms > 10 ms"], rate_tolerance=0.05)
    assert path == step_dir / "result.json"
    data = json.loads(path.read_text())
    assert data["test"] == "bench/test_l.py::test_w[2000]"
    assert data["artifacts"] == "test_l.py__test_w-2000/write_2000"
    assert data["loaders"][0]["hdr_log"] == "test_l.py__test_w-2000/write_2000/loader-1.hlog"
    assert (trials.path / data["loaders"][1]["output"]).is_file()
    assert data["verdict"]["breaches"] == ["p99 12.3 ms > 10 ms"]
    assert [p.name for p in step_dir.iterdir() if p.name.startswith(".")] == []


def test_write_result_needs_a_directory(tmp_path: Path) -> None:
    trials = TrialsDir(tmp_path, "local", STARTED)
    with pytest.raises(ValueError, match="write@2000"):
        trials.write_result(make_result(None), test="t.py::t")


def test_session_json_at_start_and_end(tmp_path: Path) -> None:
    trials = TrialsDir(tmp_path, "local", STARTED)
    path = trials.start_session()
    data = json.loads(path.read_text())
    assert path == trials.path / "session.json"
    assert data["profile"] == "local"
    assert data["started"] == "2026-11-22T15:30:12+00:00"
    assert data["ended"] is None and data["exit_status"] is None
    assert {"python", "pytest", "hdrhistogram"} <= set(data["versions"])

    trials.update_session(nodes=3, versions={"cassandra": "4.1.7"})
    trials.finish_session(1, ended=datetime(2026, 11, 22, 16, 0, 0, tzinfo=UTC))
    data = json.loads(path.read_text())
    assert data["nodes"] == 3
    assert data["versions"]["cassandra"] == "4.1.7"
    assert data["ended"] == "2026-11-22T16:00:00+00:00"
    assert data["exit_status"] == 1
