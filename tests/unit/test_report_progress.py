"""The live progress line: what it says, when it writes, and how it uses pytest's reporter."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pytest_scyllabench.report.terminal import (
    ProgressLine,
    StepInfo,
    TerminalSink,
    fmt_seconds,
)
from pytest_scyllabench.stress.base import Progress


class FakeSink:
    def __init__(self, tty: bool, width: int = 200) -> None:
        self.tty = tty
        self.width = width
        self.calls: list[tuple[str, str]] = []

    def rewrite(self, text: str) -> None:
        self.calls.append(("rewrite", text))

    def finish(self) -> None:
        self.calls.append(("finish", ""))

    def line(self, text: str) -> None:
        self.calls.append(("line", text))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def progress(loader: str, elapsed: float, rate: float, p99: float, errors: int = 0) -> Progress:
    return Progress(loader=loader, elapsed=elapsed, rate=rate, p99_ms=p99, errors=errors)


def test_the_line_sums_rates_and_takes_the_worst_p99() -> None:
    sink = FakeSink(tty=True)
    live = ProgressLine(sink)
    live.begin_step(StepInfo(test="b/t.py::test_write[500]", index=2, total=3,
                             step="write@500", seconds=35.0))
    live.update(progress("loader-1", 11.0, 250.0, 1.5))
    live.update(progress("loader-2", 12.0, 249.0, 2.25, errors=3))
    live.update(progress("loader-1", 12.0, 251.0, 1.25))
    assert sink.calls[-1] == ("rewrite", live.text())
    assert live.text() == ("scyllabench test_write[500] step 2 of 3 write@500: 12 s elapsed, "
                           "23 s left, 500 ops/s, p99 (worst of 2 loaders) 2.250 ms, 3 errors")
    assert [kind for kind, _ in sink.calls] == ["rewrite"] * 3


def test_unknown_total_and_remaining_time() -> None:
    live = ProgressLine(FakeSink(tty=True))
    live.begin_step(StepInfo(test="t.py::test_steps", index=4))
    assert live.text() == "scyllabench test_steps step 4"
    live.update(progress("loader-1", 130.0, 1998.6, float("nan")))
    assert live.text() == ("scyllabench test_steps step 4: 2m10s elapsed, ? left, "
                           "1,999 ops/s, p99 - ms, 0 errors")


def test_terminal_rewrites_in_place_and_cuts_to_the_width() -> None:
    sink = FakeSink(tty=True, width=40)
    live = ProgressLine(sink)
    live.begin_step(StepInfo(test="t.py::test_a_rather_long_name[with-params]", index=1))
    live.update(progress("l1", 1.0, 10.0, 1.0))
    assert sink.calls == [("rewrite", live.text()[:39])]
    live.end_step()
    assert sink.calls[-1] == ("finish", "") and not live.active
    live.update(progress("l1", 2.0, 10.0, 1.0))  # after the step: ignored
    assert len(sink.calls) == 2


def test_log_output_gets_a_line_every_interval() -> None:
    sink, clock = FakeSink(tty=False), Clock()
    live = ProgressLine(sink, interval=10.0, clock=clock)
    live.begin_step(StepInfo(test="t.py::test_w", index=1, seconds=30.0))
    for second in range(1, 31):
        clock.now = float(second)
        live.update(progress("l1", float(second), 100.0, 1.0))
    lines = [text for kind, text in sink.calls if kind == "line"]
    assert len(lines) == 3
    assert [line.split(": ")[1].split(" elapsed")[0] for line in lines] == ["1 s", "11 s", "21 s"]
    live.end_step()  # nothing to finish: every line was whole
    assert all(kind == "line" for kind, _ in sink.calls)
    # A new step writes at once.
    live.begin_step(StepInfo(test="t.py::test_w", index=2))
    live.update(progress("l1", 1.0, 100.0, 1.0))
    assert sink.calls[-1][1].startswith("scyllabench test_w step 2:")


def test_fmt_seconds() -> None:
    assert [fmt_seconds(v) for v in (None, float("nan"), -3, 0.4, 42, 99.6, 185, 3725)] == [
        "?", "?", "0 s", "0 s", "42 s", "1m40s", "3m05s", "1h02m"]


class FakeReporter:
    """The part of pytest's TerminalReporter the sink uses, recording what reaches it."""

    def __init__(self, isatty: bool, capture: FakeCapture) -> None:
        self.isatty = isatty
        self.capture = capture
        self.currentfspath: str | None = "t.py"
        self.out: list[str] = []

    def _out(self, text: str) -> None:
        assert self.capture.active, "written while output is captured"
        self.out.append(text)

    def ensure_newline(self) -> None:
        if self.currentfspath:
            self._out("\n")
            self.currentfspath = None

    def rewrite(self, line: str, erase: bool = False) -> None:
        self._out("\r" + line + (" <erase>" if erase else ""))

    def write(self, content: str, flush: bool = False) -> None:
        self._out(content)

    def write_line(self, line: str) -> None:
        self.ensure_newline()
        self._out(line + "\n")

    def flush(self) -> None:
        pass


class FakeCapture:
    def __init__(self) -> None:
        self.active = False

    @contextmanager
    def global_and_fixture_disabled(self) -> Iterator[None]:
        self.active = True
        try:
            yield
        finally:
            self.active = False


def test_terminal_sink_rewrites_a_line_of_its_own_with_capture_suspended() -> None:
    capture = FakeCapture()
    reporter = FakeReporter(isatty=True, capture=capture)
    sink = TerminalSink(reporter, capture, width=80)
    assert sink.tty
    sink.rewrite("step 1: 1 s")
    sink.rewrite("step 1: 2 s")
    sink.finish()
    sink.finish()  # idempotent
    # The next step starts below the last line of the previous one.
    sink.rewrite("step 2: 1 s")
    sink.finish()
    assert reporter.out == ["\n", "\rstep 1: 1 s <erase>", "\rstep 1: 2 s <erase>", "\n",
                            "\rstep 2: 1 s <erase>", "\n"]
    # pytest wrote the next test's location: the next line starts below it, and pytest will
    # write the location again before the outcome.
    reporter.currentfspath = "t.py::test_next"
    sink.rewrite("step 1: 1 s")
    assert reporter.out[-2:] == ["\n", "\rstep 1: 1 s <erase>"]
    assert reporter.currentfspath is None
    assert not capture.active


def test_terminal_sink_writes_whole_lines_when_not_a_terminal() -> None:
    capture = FakeCapture()
    reporter = FakeReporter(isatty=False, capture=capture)
    sink = TerminalSink(reporter, capture)
    assert not sink.tty
    sink.line("a")
    sink.line("b")
    sink.finish()  # nothing open
    assert reporter.out == ["\n", "a\n", "b\n"]


def test_verbose_terminal_sink_leaves_the_newline_to_pytest() -> None:
    capture = FakeCapture()
    reporter = FakeReporter(isatty=True, capture=capture)
    sink = TerminalSink(reporter, capture, verbose=True)
    sink.rewrite("step 1")
    sink.finish()
    assert reporter.out == ["\n", "\rstep 1 <erase>"]
    # A second step of the same test: its line starts below.
    sink.rewrite("step 2")
    sink.finish()
    assert reporter.out[2:] == ["\n", "\rstep 2 <erase>"]
    # pytest wrote the outcome (starting with a newline) and the next location.
    reporter.currentfspath = "t.py::test_next"
    sink.rewrite("step 1")
    assert reporter.out[4:] == ["\n", "\rstep 1 <erase>"]
