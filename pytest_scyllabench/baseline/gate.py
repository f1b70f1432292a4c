"""A session's baseline work: compare each step as it ends, save the run when the session ends.

The plugin makes one :class:`BaselineGate` from the settings (no side effects), calls
:meth:`BaselineGate.open` once before the first test (a missing baseline is known before
anything is provisioned), :meth:`BaselineGate.check` after each step (the test fails on the
regressions it returns), :meth:`BaselineGate.keep` for each step worth saving, and
:meth:`BaselineGate.save` at the end of the session.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pytest_scyllabench.baseline.compare import Comparison, compare
from pytest_scyllabench.baseline.noise import CONFIDENCE, RESAMPLES
from pytest_scyllabench.baseline.record import BaselineRecord, Identity
from pytest_scyllabench.baseline.rules import RuleLayer, effective_rules
from pytest_scyllabench.baseline.store import BaselineMissing, BaselineStore


class BaselineGate:
    """Compares against one saved run and saves this one, as the options ask."""

    def __init__(self, store: BaselineStore, *, compare_with: str | None = None,
                 save_as: str | None = None, rules: RuleLayer | None = None,
                 fail_missing: bool = False, resamples: int = RESAMPLES,
                 confidence: float = CONFIDENCE) -> None:
        self.store = store
        self.compare_with = compare_with
        self.save_as = save_as
        self.rules: RuleLayer = dict(rules or {})
        self.fail_missing = fail_missing
        self.resamples = resamples
        self.confidence = confidence
        #: Lines for the terminal summary: a missing baseline or benchmark, when tolerated.
        self.notes: list[str] = []
        self.comparisons: list[Comparison] = []
        self._baseline: dict[Identity, BaselineRecord] | None = None
        self._baseline_name = ""
        self._kept: dict[Identity, BaselineRecord] = {}
        #: Whether :meth:`save` wrote the run.
        self.saved = False

    def open(self) -> None:
        """Load the baseline to compare with, if any.

        A missing run raises :class:`BaselineMissing` with ``fail_missing``, else becomes a
        note and nothing is compared. A corrupt file always raises (it names the file).
        """
        if self.compare_with is None or self._baseline is not None:
            return
        try:
            self._baseline = self.store.load(self.compare_with)
        except BaselineMissing as exc:
            if self.fail_missing:
                raise
            self.notes.append(f"{exc}; nothing was compared")
            self._baseline = {}
            return
        self._baseline_name = self.store.resolve(self.compare_with)

    @property
    def baseline_name(self) -> str:
        """The run compared with (``latest`` resolved); ``""`` before :meth:`open` or when
        it is missing."""
        return self._baseline_name

    @property
    def baseline_records(self) -> Mapping[Identity, BaselineRecord]:
        """The records of the run compared with (empty before :meth:`open` or when missing)."""
        return self._baseline or {}

    def check(self, record: BaselineRecord,
              layers: Sequence[RuleLayer] = ()) -> Comparison | None:
        """Compare ``record`` with its baseline under the session's rules overridden by
        ``layers`` (markers, farthest first); ``None`` when there is nothing to compare with.

        A benchmark missing from the baseline raises :class:`BaselineMissing` with
        ``fail_missing``, else becomes a note.
        """
        if self.compare_with is None:
            return None
        self.open()
        baseline = (self._baseline or {}).get(record.identity)
        if baseline is None:
            if not self._baseline_name:
                return None
            message = (f"{record.identity.label}: no record in baseline "
                       f"{self._baseline_name!r} (profile {record.identity.profile})")
            if self.fail_missing:
                raise BaselineMissing(message)
            self.notes.append(message)
            return None
        comparison = compare(record, baseline, effective_rules(self.rules, *layers),
                             baseline_name=self._baseline_name, resamples=self.resamples,
                             confidence=self.confidence)
        self.comparisons.append(comparison)
        return comparison

    def keep(self, record: BaselineRecord) -> None:
        """Remember ``record`` for :meth:`save` (a later record of the same benchmark wins)."""
        self._kept[record.identity] = record

    def save(self) -> str | None:
        """Save the kept records under ``save_as``; the run name, or ``None`` if not saving."""
        if self.save_as is None or not self._kept:
            return None
        self.store.save(self.save_as, [self._kept[key] for key in sorted(self._kept)])
        self.saved = True
        return self.save_as

    def summary_lines(self) -> list[str]:
        """The terminal summary: notes, flagged environments, regressions, improvements."""
        lines = list(self.notes)
        for comparison in self.comparisons:
            mismatch = comparison.mismatch_message()
            if mismatch:
                lines.append(mismatch)
            lines.extend(str(change) for change in comparison.regressions)
            lines.extend(str(change) for change in comparison.improvements)
        return lines
