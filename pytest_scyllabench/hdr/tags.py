"""Which merged histograms a tag feeds, and which tags count operations."""

from __future__ import annotations

from collections.abc import Iterable

from pytest_scyllabench.result import RESPONSE_TIME, SERVICE_TIME, split_tag, tag

#: Operation name of the merged-over-operations histograms (``all-rt``, ``all-st``).
ALL = "all"


def aggregate_tag(interval_tag: str) -> str | None:
    """The ``all-<kind>`` tag an interval's tag adds to, ``None`` if it is not ``<op>-<kind>``."""
    operation, kind = split_tag(interval_tag)
    if not operation or operation == ALL or kind not in (RESPONSE_TIME, SERVICE_TIME):
        return None
    return tag(ALL, kind)


def counted(tags: Iterable[str]) -> frozenset[str]:
    """The tags whose counts are operations: response-time tags, else service-time, else all.

    Each operation is logged once per latency kind: counting one kind counts it once.
    """
    present = frozenset(tags)
    for kind in (RESPONSE_TIME, SERVICE_TIME):
        chosen = frozenset(t for t in present if aggregate_tag(t) == tag(ALL, kind))
        if chosen:
            return chosen
    return present
