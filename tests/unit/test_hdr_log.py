"""Reading interval logs: tags kept apart, timestamps resolved as Java does, errors located."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from test_hdr_support import T0, Line, latencies, record, write_lines, write_with_hdrh

from pytest_scyllabench.errors import HdrLogError
from pytest_scyllabench.hdr.log import RELATIVE_HEURISTIC, read_log


def test_reads_log_written_by_hdrh(tmp_path: Path) -> None:
    rng = random.Random(1)
    histograms = [record(latencies(rng, 500)) for _ in range(3)]
    starts_ms = [T0 * 1000 + i * 1000 for i in range(3)]
    path = write_with_hdrh(tmp_path / "a.hlog", starts_ms, histograms)
    log = read_log(path, "loader-1")
    assert [i.tag for i in log.intervals] == ["", "", ""]
    assert [i.start for i in log.intervals] == pytest.approx([T0, T0 + 1, T0 + 2], abs=1e-6)
    assert [i.end - i.start for i in log.intervals] == pytest.approx([1.0] * 3, abs=1e-6)
    assert log.base_time == 0.0
    for interval, histogram in zip(log.intervals, histograms, strict=True):
        decoded = interval.decode()
        assert decoded.get_total_count() == 500
        assert list(decoded.counts) == list(histogram.counts)


def test_hdrh_relative_log_with_base_time(tmp_path: Path) -> None:
    histograms = [record([100]), record([200])]
    path = write_with_hdrh(tmp_path / "r.hlog", [T0 * 1000 + 5000, T0 * 1000 + 6000],
                           histograms, base_time_ms=T0 * 1000)
    assert "5.000000," in path.read_text()  # the writer did write relative stamps
    log = read_log(path, "l")
    assert [i.start for i in log.intervals] == pytest.approx([T0 + 5, T0 + 6], abs=1e-6)


def test_tags_are_kept_apart(tmp_path: Path) -> None:
    lines = [Line("write-rt", T0, [100] * 3), Line("read-rt", T0, [900] * 5),
             Line("write-rt", T0 + 1, [110] * 2), Line(None, T0 + 1, [7])]
    log = read_log(write_lines(tmp_path / "t.hlog", lines), "l")
    assert log.tags == {"write-rt", "read-rt", ""}
    writes = list(log.select(tags={"write-rt"}))
    assert [i.line for i in writes] == [3, 5]
    assert sum(i.decode().get_total_count() for i in writes) == 5
    assert [i.decode().get_max_value() for i in log.select(tags={"read-rt"})] == [900]


def test_relative_timestamps_resolve_against_start_time(tmp_path: Path) -> None:
    lines = [Line("a", 0.0, [1]), Line("a", 1.0, [1]), Line("a", 2.5, [1], length=0.5)]
    log = read_log(write_lines(tmp_path / "r.hlog", lines, start_time=T0), "l")
    assert log.base_time == T0
    assert [i.start for i in log.intervals] == pytest.approx([T0, T0 + 1, T0 + 2.5])
    assert [i.end for i in log.intervals] == pytest.approx([T0 + 1, T0 + 2, T0 + 3])


def test_absolute_timestamps_with_start_time(tmp_path: Path) -> None:
    # Within a year of StartTime: Java's heuristic takes the stamps as absolute.
    lines = [Line("a", T0 + 3, [1]), Line("a", T0 + 4, [1])]
    log = read_log(write_lines(tmp_path / "a.hlog", lines, start_time=T0), "l")
    assert log.base_time == 0.0
    assert [i.start for i in log.intervals] == pytest.approx([T0 + 3, T0 + 4])


def test_heuristic_boundary_one_year(tmp_path: Path) -> None:
    just_inside = T0 - RELATIVE_HEURISTIC + 1
    log = read_log(write_lines(tmp_path / "b.hlog", [Line("a", just_inside, [1])],
                               start_time=T0), "l")
    assert log.intervals[0].start == pytest.approx(just_inside)  # absolute
    just_outside = T0 - RELATIVE_HEURISTIC - 1
    log = read_log(write_lines(tmp_path / "c.hlog", [Line("a", just_outside, [1])],
                               start_time=T0), "l")
    assert log.intervals[0].start == pytest.approx(just_outside + T0)  # relative


def test_explicit_base_time_wins_over_heuristic(tmp_path: Path) -> None:
    lines = [Line("a", 10.0, [1])]
    log = read_log(write_lines(tmp_path / "b.hlog", lines, start_time=T0 + 100,
                               base_time=T0), "l")
    assert log.intervals[0].start == pytest.approx(T0 + 10)


def test_no_start_time_uses_first_timestamp(tmp_path: Path) -> None:
    # Without StartTime the first stamp is the start time, so stamps are taken as they are.
    log = read_log(write_lines(tmp_path / "n.hlog", [Line("a", 12.0, [1])]), "l")
    assert log.start_time == 12.0
    assert log.intervals[0].start == 12.0


def test_window_selection(tmp_path: Path) -> None:
    lines = [Line("a", T0 + s, [1]) for s in range(5)]
    log = read_log(write_lines(tmp_path / "w.hlog", lines), "l")
    assert [i.start - T0 for i in log.select(start=T0 + 1, end=T0 + 3)] == [1.0, 2.0]


def _good(tmp_path: Path) -> str:
    return write_lines(tmp_path / "good.hlog", [Line("a", T0, [5]), Line("a", T0 + 1, [6])],
                       start_time=T0).read_text()


@pytest.mark.parametrize(("damage", "line", "problem"), [
    (lambda t: t.replace("HISTF", "HI$TF", 1), 4, "not base64"),
    (lambda t: t + "this is not an interval\nTag=a,1.0,1.0,1.0,HISTFAAA\n", 6, "expected"),
    (lambda t: t.replace(f"Tag=a,{T0 + 1:.3f}", "Tag=a,x1.0", 1), 5, "bad number"),
    (lambda t: t.replace('"StartTimestamp"', "#", 1), 4, "missing header"),
    (lambda t: t.replace("version 1.3", "version 1.1"), 1, "not supported"),
    (lambda t: t.replace("StartTime: 1", "StartTime: x1"), 2, "bad StartTime"),
    (lambda t: t.replace("Tag=a,", "Tag=,", 1), 4, "bad tag"),
])
def test_corrupt_log_names_loader_file_and_line(tmp_path: Path, damage, line: int,  # type: ignore[no-untyped-def]
                                                problem: str) -> None:
    path = tmp_path / "bad.hlog"
    path.write_text(damage(_good(tmp_path)), encoding="utf-8")
    with pytest.raises(HdrLogError) as info:
        read_log(path, "loader-7")
    message = str(info.value)
    assert message.startswith(f"loader loader-7: {path}: line {line}: "), message
    assert problem in message
    assert info.value.loader == "loader-7" and info.value.path == str(path)


def test_payload_that_is_not_a_histogram_fails_on_decode(tmp_path: Path) -> None:
    path = tmp_path / "p.hlog"
    text = _good(tmp_path)
    payload = text.splitlines()[3].rsplit(",", 1)[1]
    path.write_text(text.replace(payload, "QUJDRA" + payload[6:], 1), encoding="utf-8")
    log = read_log(path, "l")  # base64 is fine: the damage shows when decoded
    with pytest.raises(HdrLogError, match=r"line 4: payload is not an HdrHistogram"):
        log.intervals[0].decode()
    assert log.intervals[1].decode().get_total_count() == 1


@pytest.mark.parametrize(("text", "problem"), [("", "empty file"),
                                               ("#[StartTime: 1.0]\n", "no legend"),
                                               ('{"ops": 5}', "no legend")])
def test_not_a_log(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "e.hlog"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(HdrLogError, match=problem):
        read_log(path, "l")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(HdrLogError, match=r"loader l: .*missing.hlog: no such file"):
        read_log(tmp_path / "missing.hlog", "l")


def test_truncated_last_line_is_dropped_with_warning(tmp_path: Path) -> None:
    path = tmp_path / "cut.hlog"
    text = _good(tmp_path)
    path.write_text(text[: len(text) - 20], encoding="utf-8")  # cut mid-payload, no newline
    log = read_log(path, "loader-2")
    assert len(log.intervals) == 1
    assert log.truncated_line == 5
    (warning,) = log.warnings()
    assert warning.startswith(f"loader loader-2: {path}: line 5 is truncated")


def test_cut_after_the_tag_is_dropped_too(tmp_path: Path) -> None:
    path = tmp_path / "cut.hlog"
    text = _good(tmp_path)
    path.write_text(text[: text.rindex("Tag=a") + 7], encoding="utf-8")
    log = read_log(path, "l")
    assert (len(log.intervals), log.truncated_line) == (1, 5)


def test_damaged_last_line_with_newline_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "cut.hlog"
    text = _good(tmp_path)
    path.write_text(text[: len(text) - 20] + "\n", encoding="utf-8")
    with pytest.raises(HdrLogError, match="line 5"):  # when parsed, or at the latest decoded
        for interval in read_log(path, "l").intervals:
            interval.decode()


def test_complete_last_line_without_newline_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "ok.hlog"
    path.write_text(_good(tmp_path).rstrip("\n"), encoding="utf-8")
    log = read_log(path, "l")
    assert len(log.intervals) == 2 and log.truncated_line is None and not log.warnings()


def test_crlf_and_comments_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "crlf.hlog"
    text = _good(tmp_path).replace("\n", "\r\n")
    path.write_text("#some comment\r\n" + text, encoding="utf-8", newline="")
    assert len(read_log(path, "l").intervals) == 2
