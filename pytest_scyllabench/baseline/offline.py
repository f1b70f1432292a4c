"""Two saved runs compared offline: what ``scyllabench compare BASELINE CURRENT`` does.

Each benchmark of the current run is compared with its record in the baseline run exactly as
a session compares a step (:class:`~.gate.BaselineGate`, :func:`~.compare.compare`): under
the given rules (the defaults of ``--scyllabench-rules`` when none are given; several
expressions are layered, a later one's rule for a metric winning), overridden per metric by
the rules the test's markers had when the current run was saved (:attr:`BaselineRecord.rules`).

A benchmark that only one run holds is a note, or an error with ``fail_missing``. Environments
that differ are flagged as in a session (nothing is gated on them) and make the comparison
unusable: :meth:`RunComparison.problem` says so in one line.

Exit status (:attr:`RunComparison.exit_code`, and :data:`BAD_INPUT` for the errors
:func:`compare_runs` raises): 0 when nothing regressed, 1 on a regression, 2 on bad input
(a bad rule expression or run name, a missing run, a damaged file, no benchmark in common,
environments that differ).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pytest_scyllabench.baseline.compare import Comparison, MetricChange, Verdict
from pytest_scyllabench.baseline.gate import BaselineGate
from pytest_scyllabench.baseline.noise import CONFIDENCE, RESAMPLES
from pytest_scyllabench.baseline.rules import DEFAULT_RULES, merge_layers, parse_given_rules
from pytest_scyllabench.baseline.store import BaselineMissing, BaselineStore

PASSED = 0
REGRESSED = 1
BAD_INPUT = 2


@dataclass(frozen=True)
class RunComparison:
    """Every benchmark of a run compared with a baseline run."""

    baseline_name: str
    current_name: str
    comparisons: tuple[Comparison, ...]
    #: Benchmarks only one of the runs holds.
    notes: tuple[str, ...] = ()

    @property
    def regressions(self) -> list[MetricChange]:
        """The regressions of the comparable benchmarks."""
        return [change for comparison in self.comparisons
                for change in comparison.regressions]

    @property
    def mismatched(self) -> list[Comparison]:
        """The comparisons flagged because the environments differ."""
        return [comparison for comparison in self.comparisons if comparison.mismatch]

    def lines(self) -> list[str]:
        """One line per benchmark, step and rule (baseline and new value, change, verdict,
        rule), each flagged benchmark led by its mismatch, then the notes."""
        return [*(line for comparison in self.comparisons for line in comparison.lines()),
                *self.notes]

    def summary(self) -> str:
        """``pr-1 against main: 4 benchmarks, 1 regressed, 0 improved, 7 within noise``: the
        verdicts of the comparable benchmarks (a flagged one's are not judged)."""
        counts = dict.fromkeys(Verdict, 0)
        for comparison in self.comparisons:
            for change in comparison.changes if comparison.comparable else ():
                counts[change.verdict] += 1
        figures = [f"{len(self.comparisons)} benchmark{'s' * (len(self.comparisons) != 1)}",
                   *(f"{counts[verdict]} {verdict.value}" for verdict in Verdict
                     if counts[verdict] or verdict is not Verdict.NO_DATA)]
        if self.mismatched:
            figures.append(f"{len(self.mismatched)} flagged (environment differs)")
        return f"{self.current_name} against {self.baseline_name}: {', '.join(figures)}"

    def problem(self) -> str | None:
        """One line when the runs cannot be judged (their environments differ), else ``None``."""
        flagged = self.mismatched
        if not flagged:
            return None
        differences = sorted({line for comparison in flagged for line in comparison.mismatch})
        return (f"environments differ between baseline {self.baseline_name!r} and "
                f"{self.current_name!r} ({'; '.join(differences)}) in {len(flagged)} of "
                f"{len(self.comparisons)} benchmarks: not gated")

    @property
    def exit_code(self) -> int:
        if self.problem() is not None:
            return BAD_INPUT
        return REGRESSED if self.regressions else PASSED


def compare_runs(store: BaselineStore, baseline: str, current: str,
                 rules: Sequence[str] = (), *, fail_missing: bool = False,
                 resamples: int = RESAMPLES, confidence: float = CONFIDENCE) -> RunComparison:
    """Compare run ``current`` with run ``baseline`` of ``store`` (either may be ``latest``).

    ``rules`` are expressions, weakest first (none: :data:`DEFAULT_RULES`). Raises
    ``ConfigError`` for a bad expression or run name, :class:`BaselineMissing` for a missing
    run (or benchmark, with ``fail_missing``) or when no benchmark is in both runs, and
    ``BaselineFileError`` for a damaged file.
    """
    layers = [parse_given_rules(expression) for expression in (rules or (DEFAULT_RULES,))]
    try:
        records = store.load(current)
    except BaselineMissing as exc:
        raise BaselineMissing(f"current run: {exc}") from None
    current_name = store.resolve(current)
    gate = BaselineGate(store, compare_with=baseline, rules=merge_layers(*layers),
                        fail_missing=True, resamples=resamples, confidence=confidence)
    gate.open()
    notes: list[str] = []
    for identity in sorted(records):
        record = records[identity]
        try:
            gate.check(record, [record.rules])
        except BaselineMissing as exc:
            if fail_missing:
                raise
            notes.append(f"{exc}: not compared")
    baseline_name = gate.baseline_name
    notes += [f"{identity.label}: no record in {current_name!r} (profile {identity.profile}): "
              f"not compared" for identity in sorted(set(gate.baseline_records) - set(records))]
    if not gate.comparisons:
        raise BaselineMissing(f"no benchmark of {current_name!r} has a record in baseline "
                              f"{baseline_name!r}: nothing to compare")
    return RunComparison(baseline_name=baseline_name, current_name=current_name,
                         comparisons=tuple(gate.comparisons), notes=tuple(notes))
