"""The terminal: live progress during a step, the end-of-session summary, and the number
formats every report shares.

:class:`ProgressLine` turns the loaders' :class:`~pytest_scyllabench.stress.base.Progress`
events into one line -- step n of m, elapsed and remaining time, current throughput and p99 --
and hands it to a :class:`LiveSink`. On a terminal the line is rewritten in place; otherwise
(CI logs) a line is written at most every ``interval`` seconds. :class:`TerminalSink` is the
sink that writes through pytest's terminal reporter with capture suspended, so the line
neither lands in a test's captured output nor breaks pytest's own.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, Protocol

from pytest_scyllabench.report.serialize import StepSummary
from pytest_scyllabench.result import SERVICE_TIME
from pytest_scyllabench.stress.base import Progress

MISSING = "-"
#: (column title, percentile name) of the terminal table.
TERMINAL_PERCENTILES = (("p50", "p50"), ("p99", "p99"), ("p99.9", "p999"), ("max", "max"))


def fmt_ms(value: float | None) -> str:
    """Milliseconds with about four significant digits: ``0.412``, ``12.35``, ``1,234``."""
    if value is None or not math.isfinite(value):
        return MISSING
    if value < 10:
        return f"{value:.3f}"
    if value < 100:
        return f"{value:.2f}"
    if value < 1000:
        return f"{value:.1f}"
    return f"{value:,.0f}"


def fmt_rate(value: float | None) -> str:
    """Operations per second: ``2,000`` or ``1,998.7``."""
    if value is None or not math.isfinite(value):
        return MISSING
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


def fmt_ratio(achieved: float, target: float) -> str:
    """``99.9%`` of the target rate."""
    if not (math.isfinite(target) and target > 0 and math.isfinite(achieved)):
        return MISSING
    return f"{100.0 * achieved / target:.1f}%"


def verdict(step: StepSummary) -> str:
    if step.passed:
        return "PASS"
    return "FAIL (rate)" if step.rate_reached is False and not step.breaches else "FAIL"


def sustained(steps: Sequence[StepSummary]) -> str | None:
    """What the steps of one benchmark say about its capacity: the highest target rate up to
    which every step passed (a repeated or renamed step counts at its rate), or ``None`` for
    a benchmark of fewer than two rates."""
    rates = sorted({step.target_rate for step in steps})
    if len(rates) < 2:
        return None
    best: float | None = None
    for rate in rates:
        if not all(step.passed for step in steps if step.target_rate == rate):
            if best is None:
                return f"no rate passed: the lowest, {fmt_rate(rate)} ops/s, failed"
            return (f"sustains {fmt_rate(best)} ops/s within its limits; "
                    f"{fmt_rate(rate)} ops/s failed")
        best = rate
    return f"every rate passed: it sustains at least {fmt_rate(best)} ops/s within its limits"


def summary_lines(steps: Iterable[StepSummary]) -> list[str]:
    """Lines of a table with one row per step, grouped by benchmark, for the terminal summary.

    Empty when no step ran. Service time stands in for response time when the tool measured
    only service time; the step is then marked ``(st)``.
    """
    ordered = sorted(steps, key=lambda s: (s.benchmark, s.target_rate, s.step))
    if not ordered:
        return []
    header = ["benchmark", "step", "achieved/target ops/s"]
    header += [f"{title} ms" for title, _ in TERMINAL_PERCENTILES]
    header.append("verdict")
    rows: list[list[str]] = []
    service_only = False
    for step in ordered:
        latency, kind = step.headline()
        service_only = service_only or kind == SERVICE_TIME
        rate = (f"{fmt_rate(step.achieved_rate)}/{fmt_rate(step.target_rate)} "
                f"({fmt_ratio(step.achieved_rate, step.target_rate)})")
        marked = f"{step.step} (st)" if kind == SERVICE_TIME else step.step
        cells = [step.benchmark, marked, rate]
        cells += [fmt_ms(latency.values_ms.get(name) if latency else None)
                  for _, name in TERMINAL_PERCENTILES]
        cells.append(verdict(step))
        rows.append(cells)
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    numeric = range(2, len(header) - 1)

    def line(cells: list[str]) -> str:
        return "  ".join(cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i])
                         for i, cell in enumerate(cells)).rstrip()

    passed = sum(1 for step in ordered if step.passed)
    title = f"scyllabench: {len(ordered)} steps, {passed} passed, {len(ordered) - passed} failed"
    if service_only:
        title += " (st: service time only, coordinated omission not corrected)"
    lines = [title, line(header), line(["-" * w for w in widths])]
    lines += [line(row) for row in rows]
    benchmarks: dict[str, list[StepSummary]] = {}
    for step in ordered:
        benchmarks.setdefault(step.benchmark, []).append(step)
    lines += [f"{benchmark}: {text}" for benchmark, members in benchmarks.items()
              if (text := sustained(members)) is not None]
    return lines


# --- live progress -------------------------------------------------------------------------

#: Seconds between two progress lines when the output is not a terminal.
LOG_INTERVAL = 10.0


def fmt_seconds(value: float | None) -> str:
    """``42 s``, ``3m05s``, ``1h02m``; ``?`` when unknown."""
    if value is None or not math.isfinite(value):
        return "?"
    seconds = max(0, round(value))
    if seconds < 100:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class LiveSink(Protocol):
    """Where :class:`ProgressLine` writes."""

    #: True on a terminal: the line is rewritten in place.
    tty: bool
    #: Columns available; longer lines are cut.
    width: int

    def rewrite(self, text: str) -> None:
        """Replace the live line with ``text`` (terminal only)."""

    def finish(self) -> None:
        """End the live line: what follows starts on a line of its own (terminal only)."""

    def line(self, text: str) -> None:
        """Write ``text`` as a line of its own."""


@dataclass(frozen=True)
class StepInfo:
    """What is known of the running step when its first progress arrives."""

    test: str
    index: int
    #: Steps expected in the benchmark, when known.
    total: int | None = None
    step: str = ""
    #: Planned seconds from the loaders' start (warm-up included), when known.
    seconds: float | None = None


class ProgressLine:
    """The live line of the running step, fed with every loader's :class:`Progress`.

    Throughput is the sum of the loaders' latest rates; p99 is the worst loader's (the
    percentiles of separate loaders cannot be merged without their histograms, and the worst
    is a bound, not an average). Elapsed time is the furthest loader's.
    """

    def __init__(self, sink: LiveSink, *, interval: float = LOG_INTERVAL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._sink = sink
        self._interval = interval
        self._clock = clock
        self._step: StepInfo | None = None
        self._latest: dict[str, Progress] = {}
        self._last_line: float | None = None
        self._shown = False

    @property
    def active(self) -> bool:
        """Whether a step is running (begun and not ended)."""
        return self._step is not None

    def begin_step(self, step: StepInfo) -> None:
        """Start the line of a new step (ending the previous one, if any)."""
        self.end_step()
        self._step = step

    def update(self, progress: Progress) -> None:
        """Take one loader's progress and show the line (throttled off a terminal)."""
        if self._step is None:
            return
        self._latest[progress.loader] = progress
        text = self.text()
        if self._sink.tty:
            self._sink.rewrite(text[: max(10, self._sink.width - 1)])
            self._shown = True
            return
        now = self._clock()
        if self._last_line is None or now - self._last_line >= self._interval:
            self._sink.line(text)
            self._last_line = now

    def end_step(self) -> None:
        """End the running step's line; the last state stays on screen."""
        if self._shown:
            self._sink.finish()
        self._step = None
        self._latest = {}
        self._last_line = None
        self._shown = False

    def text(self) -> str:
        """The line as it stands: ``scyllabench test_w[500] step 1 of 3 write@500: ...``."""
        step = self._step
        if step is None:
            return ""
        name = step.test.rpartition("::")[2] or step.test
        counter = f"step {step.index}" + (f" of {step.total}" if step.total else "")
        head = f"scyllabench {name} {counter}" + (f" {step.step}" if step.step else "")
        if not self._latest:
            return head
        latest = list(self._latest.values())
        elapsed = max(p.elapsed for p in latest)
        remaining = None if step.seconds is None else max(0.0, step.seconds - elapsed)
        rate = sum(p.rate for p in latest)
        rate = round(rate) if math.isfinite(rate) else rate  # a loader's NaN: round() raises
        p99 = max((p.p99_ms for p in latest if math.isfinite(p.p99_ms)), default=math.nan)
        p99_label = "p99" if len(latest) == 1 else f"p99 (worst of {len(latest)} loaders)"
        errors = sum(p.errors for p in latest)
        return (f"{head}: {fmt_seconds(elapsed)} elapsed, {fmt_seconds(remaining)} left, "
                f"{fmt_rate(rate)} ops/s, {p99_label} {fmt_ms(p99)} ms, "
                f"{errors:,} errors")


class TerminalSink:
    """A :class:`LiveSink` on pytest's terminal reporter, with output capture suspended.

    ``reporter`` is pytest's ``TerminalReporter``; ``capture`` its ``CaptureManager`` (or
    ``None``). Progress gets whole lines of its own, as pytest's live logging does: the first
    starts below pytest's current line (and pytest writes the test's location again before
    the outcome), and each ends with a newline. With ``verbose`` the live line's newline is
    left to whoever writes next: pytest starts the outcome's line with one anyway.
    """

    def __init__(self, reporter: Any, capture: Any = None, width: int = 80, *,
                 verbose: bool = False) -> None:
        self._reporter = reporter
        self._capture = capture
        self._verbose = verbose
        self.tty = bool(getattr(reporter, "isatty", False))
        self.width = width
        #: The live line is on screen, being rewritten.
        self._open = False
        #: A finished live line is on screen without its newline.
        self._dangling = False

    def _suspended(self) -> AbstractContextManager[Any]:
        if self._capture is None:
            return nullcontext()
        context: AbstractContextManager[Any] = self._capture.global_and_fixture_disabled()
        return context

    def _new_line(self) -> None:
        if getattr(self._reporter, "currentfspath", None):
            self._reporter.ensure_newline()  # pytest wrote after us: it ended our line
        elif self._dangling:
            self._reporter.write("\n")
        self._dangling = False

    def rewrite(self, text: str) -> None:
        with self._suspended():
            if not self._open:
                self._new_line()
                self._open = True
            self._reporter.rewrite(text, erase=True)
            self._reporter.flush()

    def finish(self) -> None:
        if not self._open:
            return
        self._open = False
        if self._verbose:
            self._dangling = True
            return
        with self._suspended():
            self._reporter.write("\n", flush=True)

    def line(self, text: str) -> None:
        with self._suspended():
            self._new_line()
            self._reporter.write_line(text)
            self._reporter.flush()


def progress_line(config: Any) -> ProgressLine | None:
    """The live line of a pytest session, or ``None`` with ``-q`` or without a terminal
    reporter (an xdist worker, ``-p no:terminal``)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or config.get_verbosity() < 0:
        return None
    capture = config.pluginmanager.get_plugin("capturemanager")
    width = config.get_terminal_writer().fullwidth
    return ProgressLine(TerminalSink(reporter, capture, width,
                                     verbose=config.get_verbosity() > 0))
