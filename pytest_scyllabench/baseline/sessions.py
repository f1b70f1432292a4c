"""A baseline that keeps the runs of several sessions (``--scyllabench-save-sessions K``).

Repetitions in one session vary less than sessions do: each session starts a fresh cluster,
and on real clusters compaction state, JIT and page cache differ. A baseline saved from the
last K sessions of a branch (main's nightly runs) holds that session-to-session variation,
and the comparison uses it (:func:`~pytest_scyllabench.baseline.noise.sessions_interval`).

Saving a record under a run name that already holds one for the benchmark
(:func:`accumulate`) keeps the runs of the previous record's last K-1 sessions, oldest first,
adds the new session's, and sums every kept run into ``merged`` again. The previous record is
replaced instead, with a one-line reason (:func:`incompatibility`), when it was measured
elsewhere (its environment differs as a comparison sees it), in another value unit, at
another target rate, or with another kind of latency (service time only, or not): runs that
cannot be compared cannot be pooled either. K = 1 replaces the record, as before.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import replace
from datetime import UTC, datetime

from pytest_scyllabench.baseline.record import BaselineRecord, sum_runs


def new_session_id(now: datetime | None = None) -> str:
    """``2026-01-01T00:00:00+00:00/1a2b3c``: when the session started, and a random part so
    that two sessions started in the same second differ."""
    started = (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")
    return f"{started}/{secrets.token_hex(3)}"


def incompatibility(previous: BaselineRecord, current: BaselineRecord) -> str | None:
    """Why the runs of ``previous`` cannot be pooled with those of ``current`` (one line),
    or ``None`` when they can."""
    differences = previous.environment.differences(current.environment)
    if differences:
        return f"the environment differs ({'; '.join(differences)})"
    if previous.value_unit_ns != current.value_unit_ns:
        return (f"the value unit differs ({previous.value_unit_ns:g} ns -> "
                f"{current.value_unit_ns:g} ns)")
    before, after = previous.target_rate, current.target_rate
    if before != after and not (math.isnan(before) and math.isnan(after)):
        return f"the target rate differs ({before:g} -> {after:g} ops/s)"
    if previous.service_time_only != current.service_time_only:
        kinds = {True: "service time only", False: "response time"}
        return (f"the latency measured differs ({kinds[previous.service_time_only]} -> "
                f"{kinds[current.service_time_only]})")
    return None


def accumulate(previous: BaselineRecord | None, current: BaselineRecord,
               sessions: int) -> tuple[BaselineRecord, str | None]:
    """``current`` with the runs of the last ``sessions - 1`` sessions of ``previous`` before
    its own, and why ``previous`` was not kept (``None`` when it was, or when there is none).

    The result takes everything but its runs from ``current`` (environment, rules, creation
    time). The runs of ``previous`` made by ``current``'s own (named) session are dropped.
    """
    if sessions < 1:
        raise ValueError(f"sessions: expected 1 or more, got {sessions}")
    if previous is None or sessions == 1:
        return current, None
    problem = incompatibility(previous, current)
    if problem is not None:
        return current, problem
    own = {run.session for run in current.runs} - {""}
    groups = [group for group in previous.sessions
              if previous.runs[group[0]].session not in own]
    kept = [previous.runs[number] for group in groups[-(sessions - 1):] for number in group]
    runs = (*kept, *current.runs)
    return replace(current, merged=sum_runs(runs),
                   repetitions=runs if len(runs) > 1 else ()), None
