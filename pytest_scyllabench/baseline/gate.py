"""A session's baseline work: compare each step as it ends, save the run when the session ends.

The plugin makes one :class:`BaselineGate` from the settings (no side effects), calls
:meth:`BaselineGate.open` once before the first test (a missing baseline is known before
anything is provisioned), :meth:`BaselineGate.check` after each step (the test fails on the
regressions it returns), :meth:`BaselineGate.keep` for each step worth saving, and
:meth:`BaselineGate.save` at the end of the session.

Saving with ``save_sessions`` K above 1 keeps, for each benchmark, the runs of the last K-1
sessions of the record already saved under that name (:func:`~.sessions.accumulate`); every
run saved is stamped with this session's id (:attr:`BaselineGate.session`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pytest_scyllabench.baseline.compare import Comparison, compare
from pytest_scyllabench.baseline.noise import CONFIDENCE, RESAMPLES
from pytest_scyllabench.baseline.record import BaselineRecord, Identity
from pytest_scyllabench.baseline.rules import RuleLayer, effective_rules
from pytest_scyllabench.baseline.sessions import accumulate, new_session_id
from pytest_scyllabench.baseline.store import (
    BaselineFileError,
    BaselineMissing,
    BaselineStore,
)


class BaselineGate:
    """Compares against one saved run and saves this one, as the options ask."""

    def __init__(self, store: BaselineStore, *, compare_with: str | None = None,
                 save_as: str | None = None, rules: RuleLayer | None = None,
                 fail_missing: bool = False, resamples: int = RESAMPLES,
                 confidence: float = CONFIDENCE, save_sessions: int = 1,
                 session: str | None = None) -> None:
        if save_sessions < 1:
            raise ValueError(f"save_sessions: expected 1 or more, got {save_sessions}")
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
        #: How many sessions a saved record keeps (this one included).
        self.save_sessions = save_sessions
        #: The id this session's runs are saved with.
        self.session = session or new_session_id()
        #: Lines for the terminal summary of the save: earlier sessions not kept, and why.
        self.save_notes: list[str] = []

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
        records = [self._kept[key].with_session(self.session) for key in sorted(self._kept)]
        if self.save_sessions > 1:
            records = self._accumulate(self.save_as, records)
        self.store.save(self.save_as, records)
        self.saved = True
        return self.save_as

    def _accumulate(self, name: str, records: list[BaselineRecord]) -> list[BaselineRecord]:
        """``records`` with the runs of the earlier sessions saved under ``name``."""
        try:
            previous = self.store.load(name)
        except BaselineMissing:
            previous = {}
        except BaselineFileError as exc:
            self.save_notes.append(f"baseline {name!r}: its earlier sessions cannot be read, "
                                   f"so the records saved now hold this session's runs only: "
                                   f"{exc}")
            previous = {}
        result = []
        for record in records:
            merged, problem = accumulate(previous.get(record.identity), record,
                                         self.save_sessions)
            if problem is not None:
                self.save_notes.append(f"{record.identity.label}: earlier sessions of baseline "
                                       f"{name!r} not kept, the record is replaced: {problem}")
            result.append(merged)
        return result

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
