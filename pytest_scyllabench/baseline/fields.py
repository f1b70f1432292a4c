"""Reading the fields of a baseline file, each checked for its type and range.

A baseline is a file someone may have edited, truncated or written with another version, and
it decides whether a branch passes: a field of the wrong type must not be coerced into a
plausible value (``"local"`` read as five instance types, a ``value_unit_ns`` of 0 making
every latency 0 ms and every comparison an improvement). Each reader takes the field's path
(``merged.ops``) and raises ``KeyError(path)`` when it is missing and ``ValueError`` naming the
path otherwise, which :func:`~pytest_scyllabench.baseline.store.read_record` puts after the
file's name.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_scyllabench.profile_schema.fields import shown


def get(data: Mapping[str, Any], key: str, where: str) -> Any:
    """``data[key]``; ``KeyError`` naming ``<where>.<key>`` when it is missing."""
    if key not in data:
        raise KeyError(_path(where, key))
    return data[key]


def obj(value: Any, where: str) -> Mapping[str, Any]:
    """``value`` if it is a JSON object."""
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: expected an object, got {_show(value)}")
    return value


def array(value: Any, where: str) -> Sequence[Any]:
    """``value`` if it is a JSON array."""
    if not isinstance(value, list | tuple):
        raise ValueError(f"{where}: expected a list, got {_show(value)}")
    return value


def text(value: Any, where: str) -> str:
    """``value`` if it is a string."""
    if not isinstance(value, str):
        raise ValueError(f"{where}: expected a string, got {_show(value)}")
    return value


def flag(value: Any, where: str) -> bool:
    """``value`` if it is ``true`` or ``false``."""
    if not isinstance(value, bool):
        raise ValueError(f"{where}: expected true or false, got {_show(value)}")
    return value


def whole(value: Any, where: str, *, minimum: int) -> int:
    """``value`` if it is a whole number (not ``true``, not ``2.5``) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{where}: expected a whole number of at least {minimum}, "
                         f"got {_show(value)}")
    return value


def number(value: Any, where: str, *, positive: bool = False, nullable: bool = True) -> float:
    """A finite number, zero or more (above zero with ``positive``); ``null`` is NaN when
    ``nullable`` (what a record writes for a value it did not have)."""
    if value is None and nullable:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where}: expected a number, got {_show(value)}")
    try:
        result = float(value)
    except OverflowError:  # an integer beyond a float
        raise ValueError(f"{where}: expected a finite number, got {_show(value)}") from None
    if not math.isfinite(result) or result < 0 or (positive and result == 0):
        need = "a positive" if positive else "a finite, non-negative"
        raise ValueError(f"{where}: expected {need} number, got {_show(value)}")
    return result


def _path(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    return shown(value, 40)  # repr, cut; an integer too long for repr described
