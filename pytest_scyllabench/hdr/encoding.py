"""HdrHistogram's compressed V2 encoding, written as Java writes it, one or many at a time.

See :mod:`pytest_scyllabench.hdr.codec` for the format. Counts are encoded as Java's
``encodeIntoCompressedByteBuffer`` does: up to the highest non-zero count, a run of zeros
longer than one as its negated length, ZigZag LEB128 with a whole 9th byte, then deflate.
:func:`encode_many` builds the numbers of many sparse histograms at once (the perf script
writes an hour of logs with it).
"""

from __future__ import annotations

import base64
import zlib

import numpy as np
import numpy.typing as npt

from pytest_scyllabench.hdr.codec import (
    HEADER,
    OUTER,
    WRITTEN_COMPRESSED_COOKIE,
    WRITTEN_ENCODING_COOKIE,
)
from pytest_scyllabench.hdr.layout import IntArray, Layout


def encode(counts: npt.ArrayLike, layout: Layout, *, level: int = -1) -> str:
    """Base64 compressed V2 encoding of ``counts`` (laid out as ``layout``), as Java writes it."""
    values = np.asarray(counts, dtype=np.int64)
    nonzero = np.flatnonzero(values)
    limit = int(nonzero[-1]) + 1 if len(nonzero) else 0
    body = varints(values[:limit])
    header = HEADER.pack(WRITTEN_ENCODING_COOKIE, len(body), 0, layout.digits, layout.lowest,
                         layout.highest, 1.0)
    compressed = zlib.compress(header + body, level)
    wrapped = OUTER.pack(WRITTEN_COMPRESSED_COOKIE, len(compressed)) + compressed
    return base64.b64encode(wrapped).decode("ascii")


def encode_many(layout: Layout, histogram: IntArray, index: IntArray, count: IntArray,
                histograms: int, *, level: int = -1) -> list[str]:
    """Encode ``histograms`` histograms of ``layout`` given sparse: entry k adds ``count[k]``
    at ``index[k]`` of histogram ``histogram[k]``.

    Entries must be sorted by (histogram, index), with positive counts and no repeated
    (histogram, index). The numbers of every histogram are built at once; each is then
    compressed on its own. The same bytes as :func:`encode` of the dense counts.
    """
    histogram = np.asarray(histogram, dtype=np.int64)
    index = np.asarray(index, dtype=np.int64)
    count = np.asarray(count, dtype=np.int64)
    if len(count) and (np.any(count <= 0) or np.any(index < 0)):
        raise ValueError("entries need positive counts at non-negative indices")
    same = np.zeros(len(index), dtype=bool)
    same[1:] = histogram[1:] == histogram[:-1]
    previous = np.where(same, np.concatenate(([-1], index[:-1])), -1)
    gap = index - previous - 1
    if np.any(gap < 0):
        raise ValueError("entries are not sorted by (histogram, index) without repeats")
    # Each entry is its count, preceded by its run of zeros when there is one.
    per_entry = 1 + (gap > 0)
    ends = np.cumsum(per_entry)
    tokens = np.empty(int(ends[-1]) if len(ends) else 0, dtype=np.int64)
    tokens[ends - 1] = count
    gaps = np.flatnonzero(gap > 0)
    tokens[ends[gaps] - 2] = np.where(gap[gaps] > 1, -gap[gaps], 0)
    owner = np.repeat(histogram, per_entry)
    body, sizes = _leb128_sized(_zigzag(tokens))
    per_histogram = np.bincount(owner, weights=sizes, minlength=histograms).astype(np.int64)
    edges = np.concatenate(([0], np.cumsum(per_histogram))).tolist()
    out = []
    for number in range(histograms):
        part = body[edges[number]:edges[number + 1]]
        header = HEADER.pack(WRITTEN_ENCODING_COOKIE, len(part), 0, layout.digits,
                             layout.lowest, layout.highest, 1.0)
        compressed = zlib.compress(header + part, level)
        wrapped = OUTER.pack(WRITTEN_COMPRESSED_COOKIE, len(compressed)) + compressed
        out.append(base64.b64encode(wrapped).decode("ascii"))
    return out


def varints(counts: IntArray) -> bytes:
    """ZigZag LEB128 of ``counts`` with runs of zeros, as Java's ``encodeIntoByteBuffer``."""
    if len(counts) == 0:
        return b""
    if np.any(counts < 0):
        raise ValueError("negative count")
    zero = counts == 0
    # A run of zeros starts where a zero follows a non-zero (or the start).
    run_start = zero & np.concatenate(([True], ~zero[:-1]))
    run_id = np.cumsum(run_start) - 1
    run_length = np.bincount(run_id[zero], minlength=int(run_id[-1]) + 1 if len(run_id) else 0)
    keep = ~zero | run_start
    tokens = counts[keep].copy()
    starts_of_runs = run_start[keep]
    lengths = run_length[run_id[keep][starts_of_runs]]
    tokens[starts_of_runs] = np.where(lengths > 1, -lengths, 0)
    return _leb128(_zigzag(tokens))


def _zigzag(values: IntArray) -> npt.NDArray[np.uint64]:
    unsigned: npt.NDArray[np.uint64] = ((values << 1) ^ (values >> 63)).view(np.uint64)
    return unsigned


def _leb128(values: npt.NDArray[np.uint64]) -> bytes:
    return _leb128_sized(values)[0]


def _leb128_sized(values: npt.NDArray[np.uint64]) -> tuple[bytes, IntArray]:
    """LEB128 of ``values`` as Java writes them (9th byte: 8 bits), and each one's size."""
    if len(values) == 0:
        return b"", np.zeros(0, dtype=np.int64)
    sizes = np.ones(len(values), dtype=np.int64)
    for group in range(1, 8):
        sizes += values >= np.uint64(1 << (7 * group))
    sizes += values >= np.uint64(1 << 56)  # the 9th byte carries 8 bits
    ends = np.cumsum(sizes)
    position = np.arange(int(ends[-1]), dtype=np.int64) - np.repeat(ends - sizes, sizes)
    value = np.repeat(values, sizes)
    shifted = value >> (7 * position).astype(np.uint64)
    last = position == np.repeat(sizes, sizes) - 1
    ninth = position == 8
    out = np.where(ninth, shifted & np.uint64(0xFF), shifted & np.uint64(0x7F))
    out = np.where(last | ninth, out, out | np.uint64(0x80))
    return out.astype(np.uint8).tobytes(), sizes
