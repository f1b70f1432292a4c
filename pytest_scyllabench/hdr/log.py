"""Read HdrHistogram interval logs (format 1.2 and 1.3), keeping tags apart.

A log looks like::

    #[Histogram log format version 1.3]
    #[StartTime: 1700000000.000 (seconds since epoch), ...]
    #[BaseTime: 0.000 (seconds since epoch)]          (optional)
    "StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"
    Tag=write-rt,0.000,1.000,2.047,HISTFAAAA...
    1.000,1.000,3.100,HISTFAAAA...                     (a line without tag)

Timestamps are resolved the way Java's ``HistogramLogReader`` does: the absolute start of an
interval is its logged timestamp plus the base time. The base time is the last ``BaseTime``
seen; when the log has none, it is decided once, at the first interval: if that interval's
timestamp is more than a year before the start time (``StartTime``, or the first timestamp
when there is no ``StartTime``) the timestamps are relative and the base time is the start
time, otherwise they are absolute and the base time is 0.

Parsing uses plain string operations; payloads are checked to be base64 but decoded only when
asked (:meth:`Interval.decode`), so callers decode just the tags and time window they use.

Errors: :class:`~pytest_scyllabench.errors.HdrLogError` naming loader, file and line number
for an empty file, a data line before the legend line (missing header), a line that is not a
comment, legend or interval, a bad number, a payload that is not base64, an unsupported format
version, and (when decoded) a payload that is not a histogram.

A truncated last line -- the file does not end with a newline and the last line does not
parse or decode -- is what a loader killed mid-write leaves behind. It is dropped, not
raised: the interval it held is lost and :attr:`HdrLog.truncated_line` gives its line number
so that the step result can carry a warning (a killed loader also fails the step through its
exit code, and the ops sanity check flags the missing counts). The same damage on a line that
ends with a newline is corruption and raises.
"""

from __future__ import annotations

import binascii
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hdrh.codec import HdrCookieException, HdrHistogramSettingsException, HdrLengthException
from hdrh.histogram import HdrHistogram

from pytest_scyllabench.errors import HdrLogError

#: A log timestamp more than this many seconds before the start time is a relative one.
RELATIVE_HEURISTIC = 365 * 24 * 3600.0
#: Oldest supported format: 1.2 added the interval-length column used here.
MIN_VERSION = (1, 2)

_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_DECODE_ERRORS = (
    binascii.Error,
    zlib.error,
    ValueError,
    RuntimeError,
    HdrCookieException,
    HdrLengthException,
    HdrHistogramSettingsException,
)


@dataclass(frozen=True, slots=True)
class LogSource:
    """Which loader wrote a log, and where it is: named in every error."""

    loader: str
    path: str

    def error(self, line: int | None, problem: str) -> HdrLogError:
        where = f"line {line}: " if line is not None else ""
        return HdrLogError(self.loader, self.path, where + problem)


@dataclass(frozen=True, slots=True)
class Interval:
    """One interval line: tag (``""`` when untagged), absolute times, the encoded histogram."""

    tag: str
    #: Absolute start and end, epoch seconds.
    start: float
    end: float
    #: The ``Interval_Max`` column as logged (its unit depends on the writer).
    logged_max: float
    payload: str
    line: int
    source: LogSource

    @property
    def length(self) -> float:
        return self.end - self.start

    def decode(self) -> Any:
        """The interval's histogram (an ``hdrh`` ``HdrHistogram``); HdrLogError if corrupt."""
        try:
            return HdrHistogram.decode(self.payload)
        except _DECODE_ERRORS as exc:
            raise self.source.error(
                self.line, f"payload is not an HdrHistogram ({type(exc).__name__}: {exc})"
            ) from exc


@dataclass(frozen=True)
class HdrLog:
    """The intervals of one loader's log, in file order."""

    source: LogSource
    intervals: tuple[Interval, ...]
    #: ``StartTime`` of the log (or the first timestamp when absent), epoch seconds.
    start_time: float | None
    #: Base time applied to the first interval (0.0 when timestamps are absolute).
    base_time: float
    version: str | None = None
    #: Line number of a truncated last line that was dropped, ``None`` if there was none.
    truncated_line: int | None = None

    @property
    def loader(self) -> str:
        return self.source.loader

    @property
    def path(self) -> str:
        return self.source.path

    @property
    def tags(self) -> frozenset[str]:
        return frozenset(interval.tag for interval in self.intervals)

    def select(self, tags: frozenset[str] | set[str] | None = None,
               start: float | None = None, end: float | None = None) -> Iterator[Interval]:
        """Intervals of ``tags`` (all when ``None``) whose start lies in ``[start, end)``."""
        for interval in self.intervals:
            if tags is not None and interval.tag not in tags:
                continue
            if start is not None and interval.start < start:
                continue
            if end is not None and interval.start >= end:
                continue
            yield interval

    def warnings(self) -> list[str]:
        """Problems tolerated while reading, one line each."""
        if self.truncated_line is None:
            return []
        return [f"loader {self.loader}: {self.path}: line {self.truncated_line} is truncated "
                f"(loader stopped mid-write); that interval was dropped"]


def read_log(path: str | Path, loader: str) -> HdrLog:
    """Read the interval log at ``path`` written by ``loader``."""
    source = LogSource(loader, str(path))
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise source.error(None, "no such file (the loader wrote no HDR log)") from exc
    except UnicodeDecodeError as exc:
        raise source.error(None, f"not a text file ({exc})") from exc
    except OSError as exc:
        raise source.error(None, f"cannot read: {exc}") from exc
    return parse_log(text, source)


def parse_log(text: str, source: LogSource) -> HdrLog:
    """Parse the text of an interval log (see the module docstring for the rules)."""
    lines = text.split("\n")
    # A file ending with "\n" splits into a last empty string; otherwise the last line is
    # unterminated and may have been cut by a killed writer.
    unterminated = lines.pop() if lines else ""
    parser = _Parser(source)
    for number, line in enumerate(lines, start=1):
        parser.feed(line, number)
    truncated: int | None = None
    if unterminated.strip():
        number = len(lines) + 1
        try:
            interval = parser.feed(unterminated, number)
            if interval is not None:
                interval.decode()
        except HdrLogError:
            if parser.intervals and parser.intervals[-1].line == number:
                parser.intervals.pop()
            truncated = number
    if not parser.intervals and not parser.legend_seen:
        problem = "empty file" if not text.strip() else "no legend line and no intervals"
        raise source.error(None, f"not an HDR interval log: {problem}")
    return HdrLog(source=source, intervals=tuple(parser.intervals),
                  start_time=parser.start_time, base_time=parser.base_time or 0.0,
                  version=parser.version, truncated_line=truncated)


class _Parser:
    """Line-by-line state of the reader: start time, base time, legend."""

    def __init__(self, source: LogSource) -> None:
        self.source = source
        self.intervals: list[Interval] = []
        self.start_time: float | None = None
        self.base_time: float | None = None
        self.version: str | None = None
        self.legend_seen = False

    def feed(self, line: str, number: int) -> Interval | None:
        line = line.rstrip("\r")
        if not line.strip():
            return None
        if line[0] == "#":
            self._comment(line, number)
            return None
        if line[0] == '"':
            self.legend_seen = True
            return None
        interval = self._interval(line, number)
        self.intervals.append(interval)
        return interval

    def _comment(self, line: str, number: int) -> None:
        if line.startswith("#[StartTime:"):
            self.start_time = self._header_number(line, "#[StartTime:", number)
        elif line.startswith("#[BaseTime:"):
            self.base_time = self._header_number(line, "#[BaseTime:", number)
        elif line.startswith("#[Histogram log format version"):
            version = line[len("#[Histogram log format version"):].strip().rstrip("]").strip()
            self.version = version
            major, _, minor = version.partition(".")
            if not (major.isdigit() and minor.isdigit()):
                raise self.source.error(number, f"unreadable format version {version!r}")
            if (int(major), int(minor)) < MIN_VERSION:
                raise self.source.error(number, f"format version {version} is not supported "
                                                f"(1.2 or later is)")

    def _header_number(self, line: str, prefix: str, number: int) -> float:
        fields = line[len(prefix):].split()
        try:
            return float(fields[0].rstrip("],"))
        except (IndexError, ValueError):
            raise self.source.error(number, f"bad {prefix[2:-1]} header: {line!r}") from None

    def _interval(self, line: str, number: int) -> Interval:
        if not self.legend_seen:
            raise self.source.error(number, "interval line before the legend line "
                                            "(missing header)")
        tag = ""
        rest = line
        if line.startswith("Tag="):
            tag, comma, rest = line[4:].partition(",")
            if not comma or not tag:
                raise self.source.error(number, f"bad tag in {_shorten(line)!r}")
        fields = rest.split(",")
        if len(fields) != 4:
            raise self.source.error(number, f"expected [Tag=...,]start,length,max,payload, "
                                            f"got {_shorten(line)!r}")
        try:
            stamp = float(fields[0])
            length = float(fields[1])
            logged_max = float(fields[2])
        except ValueError:
            raise self.source.error(number, f"bad number in {_shorten(line)!r}") from None
        payload = fields[3].strip()
        if len(payload) % 4 or not _BASE64.fullmatch(payload):
            raise self.source.error(number, "histogram payload is not base64")
        if length < 0:
            raise self.source.error(number, f"negative interval length {fields[1]}")
        absolute = stamp + self._base_for(stamp)
        return Interval(tag=tag, start=absolute, end=absolute + length, logged_max=logged_max,
                        payload=payload, line=number, source=self.source)

    def _base_for(self, stamp: float) -> float:
        if self.start_time is None:
            self.start_time = stamp
        if self.base_time is None:
            relative = stamp < self.start_time - RELATIVE_HEURISTIC
            self.base_time = self.start_time if relative else 0.0
        return self.base_time


def _shorten(line: str, limit: int = 80) -> str:
    return line if len(line) <= limit else line[:limit] + "..."
