"""HdrHistogram's compressed V2 encoding, decoded many payloads at a time with numpy.

A payload (one interval of a log, the ``Interval_Compressed_Histogram`` column) is base64 of::

    cookie 0x1c849304 (| 0x10)   4 bytes, big-endian, "compressed V2"
    length                       4 bytes: length of the zlib stream that follows
    zlib stream of:
        cookie 0x1c849303 (| 0x10), payload length, normalizing index offset,
        significant digits                                     4 bytes each
        lowest discernible value, highest trackable value      8 bytes each
        integer to double conversion ratio                     8 bytes (IEEE double)
        counts: ZigZag LEB128 varints; a negative value -n is a run of n zero counts

The normalizing index offset is ignored: writers list the counts in index order whatever
their own storage, and Java's decoder applies the offset both when storing and when reading a
count, so it changes no value (hdrhistogram-go always writes 1 there).

A varint takes at most 9 bytes; Java's reader takes the 9th byte whole (8 bits), without a
continuation bit. :func:`inflate` base64-decodes and decompresses each payload (C calls, one
per payload) and checks its header; :func:`scan` then decodes the varints of every payload of
the batch at once: terminators are the bytes below 0x80, one-byte numbers (nearly all of them)
are decoded in uint8 arithmetic, the few longer ones are assembled from their continuation
bytes, and a cumulative sum of the steps (1 per count, n per run of zeros) gives each number's
counts index. A payload whose stream does not end on a terminator, holds a number longer
than 9 bytes by continuation bits, or reaches past its layout is read again by the scalar
reader that follows Java's ``ZigZagEncoding`` (which tells a real truncation from a 9th byte
with its high bit set). Encoding is in :mod:`pytest_scyllabench.hdr.encoding`.

Nothing here raises for a bad payload: the problem is reported per payload (:class:`Decoded`,
:class:`Inflated`) so the caller can name the loader, file and line.
"""

from __future__ import annotations

import binascii
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from pytest_scyllabench.hdr.layout import IntArray, Layout

COMPRESSED_COOKIE = 0x1C849304
ENCODING_COOKIE = 0x1C849303
#: The cookies Java and hdrh write: the 0x10 bit marks the ZigZag LEB128 (V2) word format.
WRITTEN_COMPRESSED_COOKIE = COMPRESSED_COOKIE | 0x10
WRITTEN_ENCODING_COOKIE = ENCODING_COOKIE | 0x10
_WORD_SIZE_BITS = 0xF0

OUTER = struct.Struct(">II")
HEADER = struct.Struct(">IIiiqqd")
_HEADER_DTYPE = np.dtype([("cookie", ">u4"), ("length", ">u4"), ("offset", ">i4"),
                          ("digits", ">i4"), ("lowest", ">i8"), ("highest", ">i8"),
                          ("ratio", ">f8")])
#: Sums of float64 weights stay exact below this (``bincount`` weights are float64).
EXACT_FLOAT_SUM = 2**53


@dataclass
class Decoded:
    """The counts of a batch of payloads, sparse: one entry per encoded number.

    ``payload``, ``index`` and ``count`` are parallel arrays (entries of a payload are in
    index order, payloads in batch order); ``index`` is in that payload's own layout,
    ``layouts[layout_of[p]]``, and always below its ``counts_len``. An entry may have a count
    of 0 (where the encoding had a run of zeros): adding entries into dense counts is right
    as they are. A payload listed in ``errors`` has no entries and ``layout_of`` -1.
    """

    layouts: list[Layout]
    layout_of: IntArray
    totals: IntArray
    payload: IntArray
    index: IntArray
    count: IntArray
    errors: dict[int, str] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.layout_of)


# --- decoding ------------------------------------------------------------------------------


@dataclass
class Inflated:
    """A batch of payloads base64-decoded and decompressed, headers checked.

    ``bodies[i]`` (header included) is payload ``positions[i]`` of the batch, with layout
    ``layouts[layout_of[i]]``; payloads that failed are in ``errors`` only.
    """

    bodies: list[bytes]
    positions: list[int]
    layouts: list[Layout]
    layout_of: IntArray
    errors: dict[int, str]

    @property
    def limits(self) -> IntArray:
        """``counts_len`` of each body's layout."""
        counts_len = np.array([layout.counts_len for layout in self.layouts], dtype=np.int64)
        if not len(counts_len):
            return np.zeros(0, dtype=np.int64)
        limits: IntArray = counts_len[self.layout_of]
        return limits


@dataclass
class Varints:
    """The numbers of every body of a batch, decoded together.

    Number ``k`` has a ``count`` (0 for a run of zeros) and sits at ``position[k]``, counted
    from the batch's first number: a count moves the index by 1, a run of zeros by its
    length. Body ``b``'s numbers are ``first[b] : first[b] + per_body[b]``; the index of a
    number within its body is ``position - base[b]``; ``span[b]`` is how far its numbers
    reach (its last index + 1) and ``totals[b]`` the sum of its counts. ``count`` is float64
    when every count and the batch's total are below 2**53 (so sums of them are exact), else
    int64. ``suspects`` are bodies whose numbers are not right here (see :func:`scan`): leave
    them out and read them with :func:`scalar_entries`.
    """

    per_body: IntArray
    first: IntArray
    count: npt.NDArray[np.float64] | IntArray
    position: IntArray
    base: IntArray
    span: IntArray
    totals: IntArray
    suspects: set[int]

    @property
    def exact_float(self) -> bool:
        return self.count.dtype == np.float64

    def keys(self, offsets: IntArray) -> IntArray:
        """``offsets[b]`` plus the counts index of each number of body ``b``."""
        keys: IntArray = self.position + np.repeat(offsets - self.base, self.per_body)
        return keys

    def owner(self) -> IntArray:
        owner: IntArray = np.repeat(np.arange(len(self.per_body), dtype=np.int64),
                                    self.per_body)
        return owner


def inflate(payloads: Sequence[str | bytes]) -> Inflated:
    """Base64-decode and decompress each payload, check its header; errors per payload."""
    errors: dict[int, str] = {}
    bodies: list[bytes] = []
    kept: list[int] = []
    for position, payload in enumerate(payloads):
        try:
            data = _inflate(payload)
        except _PayloadError as exc:
            errors[position] = str(exc)
            continue
        bodies.append(data)
        kept.append(position)
    headers = np.frombuffer(b"".join(memoryview(d)[: HEADER.size] for d in bodies),
                            dtype=_HEADER_DTYPE)
    layouts, layout_of = _layouts(headers, bodies, kept, errors)
    good = layout_of >= 0
    if not np.all(good):
        keep = np.flatnonzero(good).tolist()
        bodies = [bodies[i] for i in keep]
        kept = [kept[i] for i in keep]
        layout_of = layout_of[keep]
    return Inflated(bodies=bodies, positions=kept, layouts=layouts, layout_of=layout_of,
                    errors=errors)


def scan(bodies: Sequence[bytes], limits: IntArray) -> Varints:
    """Decode the numbers of every body at once (see the module docstring).

    Numbers of one byte (almost all of them) are looked up in tables; the few longer ones
    are assembled from their continuation bytes. A body is a suspect when its stream does not
    end on a terminator (the next body's first number is then a suspect's too), when it holds
    a number longer than 9 bytes by continuation bits (Java stops at the 9th byte), or when
    its numbers reach past ``limits`` (its ``counts_len``).
    """
    suspects: set[int] = set()
    sizes = np.fromiter((len(d) - HEADER.size for d in bodies), dtype=np.int64,
                        count=len(bodies))
    data = np.frombuffer(b"".join(memoryview(d)[HEADER.size:] for d in bodies), dtype=np.uint8)
    body_start = np.cumsum(sizes) - sizes
    nonempty = np.flatnonzero(sizes > 0)
    unterminated = nonempty[data[body_start[nonempty] + sizes[nonempty] - 1] >= 0x80]
    if len(unterminated):
        suspects.update(unterminated.tolist())
        following = np.searchsorted(nonempty, unterminated, side="right")
        suspects.update(nonempty[following[following < len(nonempty)]].tolist())
    terminator = data < 0x80
    ends = np.flatnonzero(terminator)
    first = np.searchsorted(ends, body_start)
    per_body = np.diff(np.append(first, len(ends)))
    size = len(ends)
    # One-byte numbers in uint8 arithmetic (fast): ZigZag makes an even r the count r/2 and
    # an odd r a run of (r + 1)/2 zeros, which moves the index by r/2 + 1.
    raw = data[ends]
    odd = raw & 1
    half = raw >> 1
    count: npt.NDArray[np.float64] | IntArray = (half & (odd - np.uint8(1))).astype(np.float64)
    step = np.empty(size + 1, dtype=np.int64)  # step[k + 1]: the move of number k
    step[0] = 0
    step[1:] = (half & (np.uint8(0) - odd)) + np.uint8(1)
    if size != len(data):
        multi, value = _long_numbers(data, terminator, ends, first, per_body, suspects)
        half, odd = value >> 1, value & 1
        step[multi + 1] = np.where(odd == 1, half + 1, 1)
        long_count = np.where(odd == 1, 0, half)
        if len(long_count) and int(long_count.max()) >= EXACT_FLOAT_SUM:
            count = count.astype(np.int64)
        count[multi] = long_count
    reach = np.cumsum(step)  # reach[k]: position of number k; reach[size]: past the last
    position = reach[:size]
    base = reach[first]
    span = reach[first + per_body] - base
    has = np.flatnonzero(per_body > 0)
    totals = np.zeros(len(bodies), dtype=np.int64)
    if len(has):
        totals[has] = np.add.reduceat(count, first[has])
    if count.dtype == np.float64 and int(totals.sum()) >= EXACT_FLOAT_SUM:
        # Float sums are no longer exact: start over with integer counts.
        count = (half & (odd - np.uint8(1))).astype(np.int64)
        if size != len(data):
            count[multi] = long_count
        totals[has] = np.add.reduceat(count, first[has])
    suspects.update(np.flatnonzero((span > limits) | (span < 0)).tolist())
    return Varints(per_body=per_body, first=first, count=count, position=position, base=base,
                   span=span, totals=totals, suspects=suspects)


def _long_numbers(data: npt.NDArray[np.uint8], terminator: npt.NDArray[np.bool_],
                  ends: IntArray, first: IntArray, per_body: IntArray,
                  suspects: set[int]) -> tuple[IntArray, IntArray]:
    """The numbers of more than one byte, and their values with the 7-bit groups folded in."""
    continuation = np.flatnonzero(~terminator)
    number = np.searchsorted(ends, continuation)  # the number each continuation byte is in
    inside = number < len(ends)  # bytes after the last terminator belong to a suspect
    continuation, number = continuation[inside], number[inside]
    multi, which = np.unique(number, return_inverse=True)
    which = which.reshape(-1)
    start = np.zeros(len(multi), dtype=np.int64)
    later = multi > 0
    start[later] = ends[multi[later] - 1] + 1
    length = ends[multi] - start + 1
    if len(length) and int(length.max()) > 9:
        suspects.update(_owners(first, per_body, multi[length > 9]).tolist())
        length = np.minimum(length, 9)
    value = data[ends[multi]].astype(np.int64) << (7 * (length - 1))
    shift = 7 * np.minimum(continuation - start[which], 8)
    groups = (data[continuation].astype(np.int64) & 0x7F) << shift
    np.bitwise_or.at(value, which, groups)
    return multi, value


def _owners(first: IntArray, per_body: IntArray, numbers: IntArray) -> IntArray:
    """The body each of ``numbers`` belongs to."""
    owners: IntArray = np.searchsorted(first + per_body, numbers, side="right")
    return owners


def scalar_entries(body: bytes, limit: int) -> tuple[IntArray, IntArray]:
    """(index, count) of one body read number by number as Java does; ValueError if corrupt."""
    try:
        entries = _scalar_counts(body[HEADER.size:], limit)
    except _PayloadError as exc:
        raise ValueError(str(exc)) from None
    return (np.array([i for i, _ in entries], dtype=np.int64),
            np.array([c for _, c in entries], dtype=np.int64))


def decode_payloads(payloads: Sequence[str | bytes]) -> Decoded:
    """Decode every payload of the batch; problems are reported per payload, never raised."""
    inflated = inflate(payloads)
    errors = inflated.errors
    limits = inflated.limits
    positions = np.asarray(inflated.positions, dtype=np.int64)
    owner_parts: list[IntArray] = []
    index_parts: list[IntArray] = []
    count_parts: list[IntArray] = []
    if inflated.bodies:
        varints = scan(inflated.bodies, limits)
        owner = varints.owner()
        index = varints.position - np.repeat(varints.base, varints.per_body)
        count = varints.count.astype(np.int64)
        if varints.suspects:
            good = ~np.isin(owner, np.fromiter(varints.suspects, dtype=np.int64))
            owner, index, count = owner[good], index[good], count[good]
        owner_parts.append(owner)
        index_parts.append(index)
        count_parts.append(count)
        for body in sorted(varints.suspects):
            try:
                body_index, body_count = scalar_entries(inflated.bodies[body], int(limits[body]))
            except ValueError as exc:
                errors[int(positions[body])] = str(exc)
                continue
            owner_parts.append(np.full(len(body_index), body, dtype=np.int64))
            index_parts.append(body_index)
            count_parts.append(body_count)
    size = len(payloads)
    layout_of = np.full(size, -1, dtype=np.int64)
    layout_of[positions] = inflated.layout_of
    empty = np.zeros(0, dtype=np.int64)
    owner = np.concatenate(owner_parts) if owner_parts else empty
    order = np.argsort(owner, kind="stable")
    payload = positions[owner[order]] if len(owner) else empty
    index = np.concatenate(index_parts)[order] if index_parts else empty
    count = np.concatenate(count_parts)[order] if count_parts else empty
    if errors:
        failed = np.fromiter(errors, dtype=np.int64, count=len(errors))
        layout_of[failed] = -1
        keep = ~np.isin(payload, failed)
        payload, index, count = payload[keep], index[keep], count[keep]
    totals = sum_by(payload, count, size)
    return Decoded(layouts=inflated.layouts, layout_of=layout_of, totals=totals,
                   payload=payload, index=index, count=count, errors=errors)


def decode_one(payload: str | bytes) -> tuple[Layout, IntArray]:
    """One payload's layout and dense counts; ``ValueError`` naming the problem if corrupt."""
    decoded = decode_payloads([payload])
    if decoded.errors:
        raise ValueError(decoded.errors[0])
    layout = decoded.layouts[int(decoded.layout_of[0])]
    counts = np.zeros(layout.counts_len, dtype=np.int64)
    np.add.at(counts, decoded.index, decoded.count)
    return layout, counts


def sum_by(keys: IntArray, values: IntArray, size: int) -> IntArray:
    """``out[k] = sum(values[keys == k])`` for ``k < size``, exactly, in int64."""
    if len(values) and int(values.max()) * len(values) >= EXACT_FLOAT_SUM:
        out = np.zeros(size, dtype=np.int64)
        np.add.at(out, keys, values)
        return out
    return np.bincount(keys, weights=values, minlength=size).astype(np.int64)


class _PayloadError(Exception):
    pass


def _inflate(payload: str | bytes) -> bytes:
    """One payload decompressed, its outer header checked; _PayloadError if corrupt."""
    try:
        raw = memoryview(binascii.a2b_base64(payload, strict_mode=True))
    except (binascii.Error, ValueError) as exc:
        raise _PayloadError(f"payload is not base64 ({exc})") from None
    if len(raw) < OUTER.size:
        raise _PayloadError(f"payload is {len(raw)} bytes, shorter than its 8-byte header")
    cookie, length = OUTER.unpack_from(raw)
    if cookie & ~_WORD_SIZE_BITS != COMPRESSED_COOKIE:
        raise _PayloadError(f"payload cookie {cookie:#x} is not a compressed V2 histogram "
                            f"({COMPRESSED_COOKIE:#x})")
    if length != len(raw) - OUTER.size:
        raise _PayloadError(f"payload header gives {length} compressed bytes, "
                            f"{len(raw) - OUTER.size} follow")
    try:
        data = zlib.decompress(raw[OUTER.size:])
    except zlib.error as exc:
        raise _PayloadError(f"payload does not decompress ({exc})") from None
    if len(data) < HEADER.size:
        raise _PayloadError(f"decompressed histogram is {len(data)} bytes, shorter than its "
                            f"{HEADER.size}-byte header")
    return data


def _layouts(headers: npt.NDArray[np.void], bodies: list[bytes], kept: list[int],
             errors: dict[int, str]) -> tuple[list[Layout], IntArray]:
    """The distinct layouts of the batch and each body's; -1 (and an error) if bad."""
    layout_of = np.full(len(bodies), -1, dtype=np.int64)
    if not bodies:
        return [], layout_of
    keys = np.stack([headers["lowest"].astype(np.int64), headers["highest"].astype(np.int64),
                     headers["digits"].astype(np.int64)], axis=1)
    if np.all(keys == keys[0]):  # one layout for the whole batch, as usual
        unique, inverse = keys[:1], np.zeros(len(keys), dtype=np.int64)
    else:
        unique, inverse = np.unique(keys, axis=0, return_inverse=True)
    layouts: list[Layout] = []
    slot_of_unique = np.full(len(unique), -1, dtype=np.int64)
    for number, (lowest, highest, digits) in enumerate(unique.tolist()):
        try:
            layout = Layout(int(lowest), int(highest), int(digits))
        except ValueError:
            continue
        slot_of_unique[number] = len(layouts)
        layouts.append(layout)
    layout_of = slot_of_unique[inverse.reshape(-1)]
    cookies = headers["cookie"].astype(np.int64) & ~_WORD_SIZE_BITS
    lengths = np.fromiter((len(d) - HEADER.size for d in bodies), dtype=np.int64,
                          count=len(bodies))
    bad = ((cookies != ENCODING_COOKIE) | (headers["length"].astype(np.int64) != lengths)
           | (layout_of < 0))
    for item in np.flatnonzero(bad).tolist():
        errors[kept[item]] = _header_problem(headers[item], int(lengths[item]))
        layout_of[item] = -1
    return layouts, layout_of


def _header_problem(header: npt.NDArray[np.void], length: int) -> str:
    cookie = int(header["cookie"])
    if cookie & ~_WORD_SIZE_BITS != ENCODING_COOKIE:
        return (f"histogram cookie {cookie:#x} is not the V2 encoding ({ENCODING_COOKIE:#x}): "
                f"not an HdrHistogram, or an older encoding")
    if int(header["length"]) != length:
        return f"histogram header gives {int(header['length'])} count bytes, {length} follow"
    try:
        Layout(int(header["lowest"]), int(header["highest"]), int(header["digits"]))
    except ValueError as exc:
        return f"bad histogram layout: {exc}"
    return "bad histogram header"


def _scalar_counts(body: bytes, limit: int) -> list[tuple[int, int]]:
    """(index, count) of one varint stream, read as Java's ``ZigZagEncoding.getLong``."""
    entries: list[tuple[int, int]] = []
    position, index, size = 0, 0, len(body)
    while position < size:
        raw = 0
        for group in range(9):
            if position >= size:
                raise _PayloadError("histogram counts end in the middle of a number "
                                    "(truncated or corrupt)")
            byte = body[position]
            position += 1
            if group == 8:
                raw |= byte << 56
                break
            raw |= (byte & 0x7F) << (7 * group)
            if byte < 0x80:
                break
        value = (raw >> 1) ^ -(raw & 1)
        if value < 0:
            index += -value
            continue
        if value > 0:
            if index >= limit:
                raise _PayloadError(f"histogram count at index {index} is beyond the "
                                    f"{limit} counts of its layout")
            entries.append((index, value))
        index += 1
    return entries
