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

Tags are the tool's own unless a ``canonical_tag`` mapping is given: it turns each raw tag into
ours (``write-rt``...) or ``None`` to leave that tag's intervals out. The log also carries the
unit of its recorded values (``value_unit_ns``, nanoseconds per value) for whoever merges it.

Parsing uses plain string operations and keeps the intervals as columns (numpy arrays of
starts, ends, lines; the payloads as strings): :mod:`pytest_scyllabench.hdr.pipeline` decodes
them in batches. :attr:`HdrLog.intervals` gives them as :class:`Interval` objects, built on
first use, and :meth:`Interval.decode` decodes one with hdrh. Payloads are checked to hold
only base64 characters (one check over all of them) but decoded only when asked.

Errors: :class:`~pytest_scyllabench.errors.HdrLogError` naming loader, file and line number
for an empty file, a data line before the legend line (missing header), a line that is not a
comment, legend or interval, a bad number, a payload that is not base64, an unsupported format
version, and (when decoded) a payload that is not a histogram.

A truncated last line -- the file does not end with a newline and the last line does not
parse or decode -- is what a loader killed mid-write leaves behind. It is dropped, not
raised: the interval it held is lost and :attr:`HdrLog.truncated_line` gives its line number.
The runner's merge then fails that loader, naming the file and line, and merges the step from
the others (:func:`pytest_scyllabench.hdr.merge.merge_step`); without its checks the step
result carries a warning. The same damage on a line that ends with a newline is corruption
and raises.
"""

from __future__ import annotations

import binascii
import math
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import numpy.typing as npt
from hdrh.codec import HdrCookieException, HdrHistogramSettingsException, HdrLengthException
from hdrh.histogram import HdrHistogram

from pytest_scyllabench.errors import HdrLogError

#: A log timestamp more than this many seconds before the start time is a relative one.
RELATIVE_HEURISTIC = 365 * 24 * 3600.0
#: Oldest supported format: 1.2 added the interval-length column used here.
MIN_VERSION = (1, 2)
#: Nanoseconds per recorded value of the built-in loader (microseconds).
MICROSECONDS = 1000.0
#: Timestamps, interval lengths and header times beyond this many seconds (some 3000 years),
#: like NaN and infinities, are not times.
MAX_SECONDS = 1e11

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
TagMap = Callable[[str], "str | None"]

_BASE64_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
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


@dataclass(frozen=True, eq=False)
class HdrLog:
    """The intervals of one loader's log, in file order, as columns."""

    source: LogSource
    #: ``StartTime`` of the log (or the first timestamp when absent), epoch seconds.
    start_time: float | None
    #: Base time applied to the first interval (0.0 when timestamps are absolute).
    base_time: float
    version: str | None = None
    #: Line number of a truncated last line that was dropped, ``None`` if there was none.
    truncated_line: int | None = None
    #: Nanoseconds per recorded value (1000.0: microseconds).
    value_unit_ns: float = MICROSECONDS
    #: The distinct tags, in order of first appearance; ``tag_index`` points into it.
    tag_names: tuple[str, ...] = ()
    tag_index: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    #: Absolute start and end of each interval, epoch seconds.
    starts: FloatArray = field(default_factory=lambda: np.zeros(0))
    ends: FloatArray = field(default_factory=lambda: np.zeros(0))
    logged_max: FloatArray = field(default_factory=lambda: np.zeros(0))
    lines: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    payloads: tuple[str, ...] = ()

    @property
    def loader(self) -> str:
        return self.source.loader

    @property
    def path(self) -> str:
        return self.source.path

    @property
    def tags(self) -> frozenset[str]:
        used = np.unique(self.tag_index)
        return frozenset(self.tag_names[i] for i in used.tolist())

    @cached_property
    def intervals(self) -> tuple[Interval, ...]:
        names = [self.tag_names[i] for i in self.tag_index.tolist()]
        return tuple(
            Interval(tag=tag, start=start, end=end, logged_max=logged_max, payload=payload,
                     line=line, source=self.source)
            for tag, start, end, logged_max, payload, line in zip(
                names, self.starts.tolist(), self.ends.tolist(), self.logged_max.tolist(),
                self.payloads, self.lines.tolist(), strict=True))

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

    def with_tags(self, canonical_tag: TagMap) -> HdrLog:
        """This log with each tag mapped to ours; intervals mapped to ``None`` left out."""
        names: dict[str, int] = {}
        slots = []
        for raw in self.tag_names:
            mapped = canonical_tag(raw)
            slots.append(-1 if mapped is None else names.setdefault(mapped, len(names)))
        slot = np.asarray(slots, dtype=np.int64)[self.tag_index] if slots else self.tag_index
        rows = np.flatnonzero(slot >= 0)
        everything = len(rows) == len(self.payloads)
        return replace(
            self, tag_names=tuple(names), tag_index=slot[rows], starts=self.starts[rows],
            ends=self.ends[rows], logged_max=self.logged_max[rows], lines=self.lines[rows],
            payloads=self.payloads if everything else tuple(
                self.payloads[row] for row in rows.tolist()))

    def warnings(self) -> list[str]:
        """Problems tolerated while reading, one line each."""
        if self.truncated_line is None:
            return []
        return [f"loader {self.loader}: {self.path}: line {self.truncated_line} is truncated "
                f"(loader stopped mid-write); that interval was dropped"]


def read_log(path: str | Path, loader: str, *, canonical_tag: TagMap | None = None,
             value_unit_ns: float = MICROSECONDS) -> HdrLog:
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
    return parse_log(text, source, canonical_tag=canonical_tag, value_unit_ns=value_unit_ns)


def parse_log(text: str, source: LogSource, *, canonical_tag: TagMap | None = None,
              value_unit_ns: float = MICROSECONDS) -> HdrLog:
    """Parse the text of an interval log (see the module docstring for the rules)."""
    if not value_unit_ns > 0:
        raise ValueError(f"value_unit_ns must be positive, got {value_unit_ns}")
    lines = text.split("\n")
    # A file ending with "\n" splits into a last empty string; otherwise the last line is
    # unterminated and may have been cut by a killed writer.
    unterminated = lines.pop() if lines else ""
    parser = _Parser(source)
    parser.feed_all(lines)
    parser.check_payloads()
    truncated: int | None = None
    if unterminated.strip():
        number = len(lines) + 1
        kept = len(parser.payloads)
        try:
            parser.feed_all([unterminated], first=number)
            parser.check_payloads()
            if len(parser.payloads) > kept:
                _check_decodes(parser.payloads[-1], source, number)
        except HdrLogError:
            parser.truncate(kept)
            truncated = number
    if not parser.payloads and not parser.legend_seen:
        problem = "empty file" if not text.strip() else "no legend line and no intervals"
        raise source.error(None, f"not an HDR interval log: {problem}")
    log = parser.build(value_unit_ns, truncated)
    return log if canonical_tag is None else log.with_tags(canonical_tag)


def _check_decodes(payload: str, source: LogSource, line: int) -> None:
    from pytest_scyllabench.hdr.codec import decode_payloads

    problem = decode_payloads([payload]).errors.get(0)
    if problem is not None:
        raise source.error(line, f"payload is not an HdrHistogram ({problem})")


class _Parser:
    """Line-by-line state of the reader (start time, base time, legend) and the columns."""

    def __init__(self, source: LogSource) -> None:
        self.source = source
        self.start_time: float | None = None
        self.base_time: float | None = None
        self.version: str | None = None
        self.legend_seen = False
        self.tags: list[str] = []
        self.starts: list[float] = []
        self.lengths: list[float] = []
        self.maxima: list[float] = []
        self.payloads: list[str] = []
        self.lines: list[int] = []
        self._checked = 0

    def feed_all(self, lines: list[str], first: int = 1) -> None:
        add_tag, add_start, add_length = self.tags.append, self.starts.append, self.lengths.append
        add_max, add_payload = self.maxima.append, self.payloads.append
        add_number = self.lines.append
        # The base time once the first interval has decided it (see _base_for), else None.
        decided = self.start_time is not None and self.base_time is not None
        base = self.base_time if decided else None
        for number, line in enumerate(lines, start=first):
            if line.endswith("\r"):
                line = line[:-1]
            if line.startswith("#"):
                self._comment(line, number)
                if base is not None:  # a later BaseTime applies to the lines after it
                    base = self.base_time
                continue
            if line.startswith('"'):
                self.legend_seen = True
                continue
            # The payload is the last field: split it off first, it is most of the line.
            columns, _, payload = line.rpartition(",")
            if columns.startswith("Tag="):
                tag, comma, columns = columns[4:].partition(",")
                if not comma or not tag:
                    self._fail(number, f"bad tag in {_shorten(line)!r}")
            elif not line.strip():
                continue
            else:
                tag = ""
            if not self.legend_seen:
                self._fail(number, "interval line before the legend line (missing header)")
            fields = columns.split(",")
            if len(fields) != 3:
                self._fail(number, f"expected [Tag=...,]start,length,max,payload, "
                                   f"got {_shorten(line)!r}")
            try:
                stamp = float(fields[0])
                length = float(fields[1])
                logged_max = float(fields[2])
            except ValueError:
                self._fail(number, f"bad number in {_shorten(line)!r}")
            payload = payload.strip()
            if len(payload) % 4 or not payload:
                self._fail(number, "histogram payload is not base64")
            if length < 0:
                self._fail(number, f"negative interval length {fields[1]}")
            # NaN fails every comparison.
            if not (-MAX_SECONDS < stamp < MAX_SECONDS and length < MAX_SECONDS
                    and -math.inf < logged_max < math.inf):
                self._fail(number, f"number out of range (NaN, infinite, or a time beyond "
                                   f"{MAX_SECONDS:g} s) in {_shorten(line)!r}")
            if base is None:
                base = self._base_for(stamp)
            add_tag(tag)
            add_start(stamp + base)
            add_length(length)
            add_max(logged_max)
            add_payload(payload)
            add_number(number)

    def check_payloads(self) -> None:
        """Every payload so far holds only base64 characters (one pass over all of them)."""
        fresh = self.payloads[self._checked:]
        joined = "".join(fresh)
        if joined.isascii() and not joined.encode("ascii").translate(None, _BASE64_CHARS):
            self._checked = len(self.payloads)
            return
        for offset, payload in enumerate(fresh):
            if not payload.isascii() or payload.encode("ascii").translate(None, _BASE64_CHARS):
                raise self.source.error(self.lines[self._checked + offset],
                                        "histogram payload is not base64")

    def truncate(self, count: int) -> None:
        for column in (self.tags, self.starts, self.lengths, self.maxima, self.payloads,
                       self.lines):
            del column[count:]
        self._checked = min(self._checked, count)

    def build(self, value_unit_ns: float, truncated: int | None) -> HdrLog:
        names: dict[str, int] = {}
        index = [names.setdefault(tag, len(names)) for tag in self.tags]
        starts = np.asarray(self.starts, dtype=np.float64)
        return HdrLog(
            source=self.source, start_time=self.start_time, base_time=self.base_time or 0.0,
            version=self.version, truncated_line=truncated, value_unit_ns=value_unit_ns,
            tag_names=tuple(names), tag_index=np.asarray(index, dtype=np.int64),
            starts=starts, ends=starts + np.asarray(self.lengths, dtype=np.float64),
            logged_max=np.asarray(self.maxima, dtype=np.float64),
            lines=np.asarray(self.lines, dtype=np.int64), payloads=tuple(self.payloads))

    def _fail(self, number: int, problem: str) -> NoReturn:
        # An earlier line's payload error comes first, as if checked line by line.
        self.check_payloads()
        raise self.source.error(number, problem)

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
                self._fail(number, f"unreadable format version {version!r}")
            if (int(major), int(minor)) < MIN_VERSION:
                self._fail(number, f"format version {version} is not supported "
                                   f"(1.2 or later is)")

    def _header_number(self, line: str, prefix: str, number: int) -> float:
        fields = line[len(prefix):].split()
        try:
            value = float(fields[0].rstrip("],"))
        except (IndexError, ValueError):
            self._fail(number, f"bad {prefix[2:-1]} header: {_shorten(line)!r}")
        if not -MAX_SECONDS < value < MAX_SECONDS:
            self._fail(number, f"bad {prefix[2:-1]} header (NaN, infinite, or beyond "
                               f"{MAX_SECONDS:g} s): {_shorten(line)!r}")
        return value

    def _base_for(self, stamp: float) -> float:
        if self.start_time is None:
            self.start_time = stamp
        if self.base_time is None:
            relative = stamp < self.start_time - RELATIVE_HEURISTIC
            self.base_time = self.start_time if relative else 0.0
        return self.base_time


def _shorten(line: str, limit: int = 80) -> str:
    return line if len(line) <= limit else line[:limit] + "..."
