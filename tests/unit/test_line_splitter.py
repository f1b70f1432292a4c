"""Output split into lines for the executors' sinks; a failing sink is dropped, not fatal."""

from __future__ import annotations

import pytest

from pytest_scyllabench.execute.base import LineSplitter


def test_lines_across_chunks_and_the_last_line_without_newline() -> None:
    seen: list[str] = []
    lines = LineSplitter([seen.append], "p")
    for chunk in (b"a", b"b\nc\r\n", b"\xff\n", b"tail"):
        lines.feed(chunk)
    assert seen == ["ab", "c", "\ufffd"]
    lines.end()
    lines.end()  # nothing pending: no second "tail"
    assert seen == ["ab", "c", "\ufffd", "tail"]


def test_a_sink_that_raises_is_dropped_and_the_others_go_on(
        caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []

    def broken(line: str) -> None:
        raise ValueError(f"cannot show {line}")

    lines = LineSplitter([broken, seen.append], "loader-1 (pid 7)")
    lines.feed(b"one\ntwo\n")
    assert seen == ["one", "two"]
    assert caplog.text.count("a line handler failed") == 1
    assert "output of loader-1 (pid 7)" in caplog.text and "ValueError: cannot show one" \
        in caplog.text
