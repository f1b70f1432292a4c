"""The core of the profile schema: a dataclass built from a YAML mapping, every field's type
checked, unknown keys rejected, and small range checks. Every error is a
:class:`~pytest_scyllabench.errors.ProfileError` naming the file and the field's path."""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

from pytest_scyllabench.errors import ProfileError

T = TypeVar("T")
#: A key written as is in a field path; any other is quoted (its ``repr``).
_PLAIN_KEY = re.compile(r"[\w-]+")


class WrittenFloat(float):
    """A YAML float that keeps the text it was written as: where a string is due, ``version:
    2026.10`` is ``"2026.10"``, not ``str(2026.1)``, another release."""

    text: str

    def __new__(cls, value: float, text: str) -> WrittenFloat:
        number = super().__new__(cls, value)
        number.text = text
        return number

    def __reduce__(self) -> tuple[type[float], tuple[float]]:
        return float, (float(self),)  # a copy or a pickle is a plain float


def plain(value: Any) -> Any:
    """``value`` with every :class:`WrittenFloat` in it a plain float: what a field of any type
    keeps (``database.settings``) is dumped to YAML and JSON later, and PyYAML's safe dumper
    knows no float subclass."""
    if isinstance(value, WrittenFloat):
        return float(value)
    if isinstance(value, Mapping):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def build(cls: type[T], data: Any, source: str, path: str) -> T:
    """Build dataclass ``cls`` from a mapping, checking every field's type."""
    if not isinstance(data, Mapping):
        raise ProfileError(source, path, f"must be a mapping, got {kind(data)}")
    assert dataclasses.is_dataclass(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    reject_unknown(data, set(fields), source, path)
    for name, field in fields.items():
        if name not in data and field.default is dataclasses.MISSING and \
                field.default_factory is dataclasses.MISSING:
            raise ProfileError(source, child(path, name), "missing")
    hints = typing.get_type_hints(cls)
    values = {
        key: convert(value, hints[key], source, child(path, key))
        for key, value in data.items()
    }
    return cls(**values)


def convert(value: Any, hint: Any, source: str, path: str) -> Any:
    """``value`` checked against type ``hint`` (and a number made a float where one is due)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return plain(value)
    if origin is Literal:
        if value not in args:
            choices = ", ".join(str(a) for a in args)
            raise ProfileError(source, path, f"must be one of {choices}, got {shown(value)}")
        return value
    if origin in (typing.Union, types.UnionType):
        last: ProfileError | None = None
        for option in args:
            try:
                return convert(value, option, source, path)
            except ProfileError as exc:
                last = exc
        assert last is not None
        raise last
    if hint is type(None):
        if value is not None:
            raise ProfileError(source, path, f"must be empty, got {kind(value)}")
        return None
    if hint is bool:
        if not isinstance(value, bool):
            raise ProfileError(source, path, f"must be true or false, got {kind(value)}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ProfileError(source, path, f"must be an integer, got {kind(value)}"
                                             f"{_exponent_hint(value, integer=True)}")
        if not -(2**63) <= value < 2**63:  # what the tools, drivers and CQL's bigint take
            raise ProfileError(source, path, f"must be an integer of 64 bits, got "
                               f"{kind(value)}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ProfileError(source, path, f"must be a number, got {kind(value)}"
                                             f"{_exponent_hint(value, integer=False)}")
        try:
            number = float(value)
        except OverflowError:
            raise ProfileError(source, path, f"must be a number of a float's range, got "
                               f"{kind(value)}") from None
        if math.isinf(number):  # NaN is left to the range checks, which all refuse it
            raise ProfileError(source, path, f"must be a finite number, got {number}")
        return number
    if hint is str:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ProfileError(source, path, f"must be a string, got {kind(value)}")
        return value.text if isinstance(value, WrittenFloat) else str(value)
    if origin is tuple:
        if not isinstance(value, list):
            raise ProfileError(source, path, f"must be a list, got {kind(value)}")
        return tuple(convert(v, args[0], source, f"{path}[{i}]") for i, v in enumerate(value))
    if origin in (Mapping, dict) or hint is Mapping:
        if not isinstance(value, Mapping):
            raise ProfileError(source, path, f"must be a mapping, got {kind(value)}")
        key_hint, value_hint = args if args else (Any, Any)
        return {
            convert(k, key_hint, source, child(path, k)): convert(v, value_hint, source,
                                                                  child(path, k))
            for k, v in value.items()
        }
    raise TypeError(f"profile schema cannot check type {hint!r} at {path}")


#: A number with an exponent but no dot: YAML 1.1 (PyYAML) reads ``5e-2`` and ``1e6`` as text.
_EXPONENT = re.compile(r"[-+]?[0-9]+[eE][-+]?[0-9]+")


def _exponent_hint(value: Any, *, integer: bool) -> str:
    """Why a number such as ``1e6`` came as a string, and how to write it."""
    if not isinstance(value, str) or not _EXPONENT.fullmatch(value):
        return ""
    number = float(value)
    if not math.isfinite(number) or (integer and not number.is_integer()):
        return ""
    written = str(int(number)) if integer else repr(number)
    return f": YAML reads {value} as text; write {written}"


def reject_unknown(data: Mapping[Any, Any], known: set[str], source: str, path: str) -> None:
    for key in data:
        if key not in known:
            raise ProfileError(source, child(path, key),
                               f"unknown key; expected one of {', '.join(sorted(known))}")


def at_least(value: float, minimum: float, source: str, path: str) -> None:
    if not value >= minimum:  # NaN too
        raise ProfileError(source, path, f"must be at least {minimum:g}, got {value:g}")


def only_with(data: Mapping[str, Any], section: str, wanted: bool, condition: str,
              source: str) -> None:
    """Section ``section`` may be written only when ``wanted`` (``condition`` says when)."""
    if section in data and not wanted:
        raise ProfileError(source, section, f"only used with {condition}")


def child(path: str, key: Any) -> str:
    """The path of ``key`` under ``path``; a key that is no plain name is quoted, so that the
    message stays one line and the key is seen (``database.'a b'``, ``workloads.''``)."""
    name = key if isinstance(key, str) and _PLAIN_KEY.fullmatch(key) else repr(key)
    return f"{path}.{name}" if path else name


def is_file(path: Path) -> bool:
    """``path.is_file()``, false for a path no file can have (too long, a NUL byte)."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def shown(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut after ``limit`` characters: a message stays readable."""
    try:
        text = repr(value)
    except ValueError:  # an integer of more digits than Python prints
        text = f"<an integer of about {value.bit_length() * 0.30103:.0f} digits>"
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def printable(text: str, limit: int = 200) -> str:
    """``text`` as is when it prints on one line and is short, otherwise :func:`shown`."""
    return text if text.isprintable() and len(text) <= limit else shown(text, limit)


def kind(value: Any) -> str:
    """What ``value`` is, for an error message: ``an integer (3)``."""
    if value is None:
        return "nothing"
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
             list: "a list", dict: "a mapping"}
    return f"{names.get(type(value), type(value).__name__)} ({shown(value)})"
