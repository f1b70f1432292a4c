"""Durations and latencies written with a unit: ``"500us"``, ``"20ms"``, ``"1.5s"``, ``"2m"``.

Units: ``us`` (also ``µs``, with the micro sign or the Greek mu), ``ms``, ``s``, ``m``, ``h``.
A bare number (or a numeric string) takes the default unit of the function: seconds for
:func:`parse_duration`, milliseconds for :func:`parse_latency_ms`. Negative, infinite, NaN
and unparsable values raise :class:`~pytest_scyllabench.errors.ConfigError` whose message
starts with the field name the caller passes in, e.g. ``scyllabench_step: duration: ...``.
"""

from __future__ import annotations

import math

from pytest_scyllabench.errors import ConfigError

#: Seconds per unit. Longest suffixes first so that ``ms`` is not read as ``m`` + ``s``.
UNIT_SECONDS: dict[str, float] = {
    "us": 1e-6,
    "\u00b5s": 1e-6,  # micro sign
    "\u03bcs": 1e-6,  # Greek small letter mu: it looks the same
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_SUFFIXES = sorted(UNIT_SECONDS, key=len, reverse=True)
_UNITS_HELP = "us, ms, s, m, h"


def parse_duration(value: float | str, field: str) -> float:
    """Seconds of ``value``; a bare number is seconds. Zero is allowed."""
    return _parse(value, field, default_unit="s", scale=1.0, allow_zero=True)


def parse_latency_ms(value: float | str, field: str) -> float:
    """Milliseconds of ``value``; a bare number is milliseconds. Must be positive."""
    return _parse(value, field, default_unit="ms", scale=1e3, allow_zero=False)


def _parse(value: float | str, field: str, *, default_unit: str, scale: float,
           allow_zero: bool) -> float:
    example = "'20ms'" if default_unit == "ms" else "'30s'"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(f"{field}: expected a number or a string such as {example}, "
                          f"got {value!r}")
    if isinstance(value, str):
        number, unit = _split_unit(value.strip())
        try:
            if "_" in number:  # float() reads "1_0" as 10: a typo, not a number
                raise ValueError(number)
            amount = float(number)
        except ValueError:
            raise ConfigError(f"{field}: cannot read {value!r} as a {_kind(default_unit)}; "
                              f"write a number with a unit ({_UNITS_HELP}), "
                              f"e.g. {example}") from None
        seconds = amount * UNIT_SECONDS[unit or default_unit]
    else:
        try:
            amount = float(value)
        except OverflowError:  # an integer beyond any float
            raise ConfigError(f"{field}: must be finite, got an integer of about "
                              f"{int(value).bit_length() * math.log10(2):.0f} digits") from None
        seconds = amount * UNIT_SECONDS[default_unit]
    if not math.isfinite(amount):
        raise ConfigError(f"{field}: must be finite, got {value!r}")
    if amount < 0 or (amount == 0 and not allow_zero):
        need = "zero or positive" if allow_zero else "positive"
        raise ConfigError(f"{field}: must be {need}, got {value!r}")
    if not math.isfinite(seconds * scale):  # finite, but not once in the unit ("1e306s")
        raise ConfigError(f"{field}: must be finite, got {value!r}")
    return seconds * scale


def _split_unit(text: str) -> tuple[str, str]:
    for suffix in _SUFFIXES:
        if text.endswith(suffix):
            return text[: -len(suffix)].strip(), suffix
    return text, ""


def _kind(default_unit: str) -> str:
    return "latency" if default_unit == "ms" else "duration"


def size_bytes(size: str) -> int:
    """Bytes of a memory size as the JVM's ``-Xmx`` and Seastar's ``--memory`` read it:
    ``512M``, ``4G`` (binary units ``K M G T``), a bare number being bytes. ``size`` is
    already checked to be digits and at most one such suffix."""
    shift = {"K": 10, "M": 20, "G": 30, "T": 40}.get(size[-1:], 0)
    return int(size[:-1] if shift else size) << shift
