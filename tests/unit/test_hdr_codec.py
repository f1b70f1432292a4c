"""The batch decoder against hdrh: identical counts, totals and max on payloads hdrh wrote."""

from __future__ import annotations

import base64
import random
import struct
import zlib

import numpy as np
import pytest
from hdrh.histogram import HdrHistogram

from pytest_scyllabench.hdr.codec import (
    HEADER,
    WRITTEN_COMPRESSED_COOKIE,
    WRITTEN_ENCODING_COOKIE,
    decode_one,
    decode_payloads,
    scan,
)
from pytest_scyllabench.hdr.encoding import encode, encode_many, varints
from pytest_scyllabench.hdr.layout import Layout

LAYOUTS = [(1, 60_000_000, 3), (1, 3_600_000_000, 2), (1000, 10**12, 3), (1, 10**9, 5),
           (1, 2, 1), (1, 2**50, 3), (7, 10**7, 4)]


def _recorded(rng: random.Random, layout: tuple[int, int, int]) -> HdrHistogram:
    """A histogram recorded by hdrh: log-normal values, some repeated, some huge counts."""
    histogram = HdrHistogram(*layout)
    for _ in range(rng.randint(0, 300)):
        value = min(int(rng.lognormvariate(7, 2.5)), layout[1])
        histogram.record_value(value, rng.choice([1, 1, 1, 3, 70, 20_000, 5 * 10**9]))
    return histogram


@pytest.fixture(scope="module")
def recorded() -> list[HdrHistogram]:
    rng = random.Random(11)
    return [_recorded(rng, LAYOUTS[n % len(LAYOUTS)]) for n in range(120)]


def _counts(histogram: HdrHistogram) -> list[int]:
    return np.ctypeslib.as_array(histogram.counts).astype(np.int64).tolist()


def _dense(decoded, position: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    layout = decoded.layouts[decoded.layout_of[position]]
    counts = np.zeros(layout.counts_len, dtype=np.int64)
    mine = decoded.payload == position
    np.add.at(counts, decoded.index[mine], decoded.count[mine])
    return counts


def test_batch_decode_equals_hdrh(recorded: list[HdrHistogram]) -> None:
    decoded = decode_payloads([h.encode().decode() for h in recorded])
    assert decoded.errors == {}
    for position, histogram in enumerate(recorded):
        layout = decoded.layouts[decoded.layout_of[position]]
        assert (layout.lowest, layout.highest, layout.digits) == (
            histogram.lowest_trackable_value, histogram.highest_trackable_value,
            histogram.significant_figures)
        assert layout.counts_len == histogram.counts_len
        counts = _dense(decoded, position)
        assert counts.tolist() == _counts(histogram), position
        assert decoded.totals[position] == histogram.get_total_count()
        nonzero = np.flatnonzero(counts)
        top = int(layout.highest_at(nonzero[-1])) if len(nonzero) else 0
        assert top == histogram.get_max_value()


def test_our_encoding_is_read_by_hdrh(recorded: list[HdrHistogram]) -> None:
    for histogram in recorded[:40]:
        layout = Layout(histogram.lowest_trackable_value, histogram.highest_trackable_value,
                        histogram.significant_figures)
        counts = np.ctypeslib.as_array(histogram.counts).astype(np.int64)
        again = HdrHistogram.decode(encode(counts, layout))
        assert _counts(again) == _counts(histogram)
        assert again.get_max_value() == histogram.get_max_value()
        assert decode_one(encode(counts, layout))[1].tolist() == counts.tolist()


def test_encode_many_equals_encode() -> None:
    layout = Layout(1, 60_000_000, 3)
    rng = np.random.default_rng(3)
    owner = np.repeat(np.arange(40), rng.integers(0, 2000, 40))
    values = np.clip(rng.lognormal(7, 1.5, len(owner)), 0, 59_000_000).astype(np.int64)
    keys, counts = np.unique(owner * layout.counts_len + layout.index_of(values),
                             return_counts=True)
    histogram, index = np.divmod(keys, layout.counts_len)
    payloads = encode_many(layout, histogram, index, counts, 40)
    for number in range(40):
        dense = np.zeros(layout.counts_len, dtype=np.int64)
        dense[index[histogram == number]] = counts[histogram == number]
        assert payloads[number] == encode(dense, layout)


def _payload(body: bytes, layout: tuple[int, int, int] = (1, 60_000_000, 3), *,
             cookie: int = WRITTEN_ENCODING_COOKIE, length: int | None = None,
             offset: int = 0, outer: int = WRITTEN_COMPRESSED_COOKIE) -> str:
    header = HEADER.pack(cookie, len(body) if length is None else length, offset,
                         layout[2], layout[0], layout[1], 1.0)
    compressed = zlib.compress(header + body)
    return base64.b64encode(struct.pack(">II", outer, len(compressed)) + compressed).decode()


def _zigzag_leb128(value: int, nine: bool = False) -> bytes:
    raw = (value << 1) ^ (value >> 63)
    raw &= 2**64 - 1
    out = bytearray()
    for group in range(9):
        if group == 8:
            out.append(raw >> 56 & 0xFF)
            break
        byte = raw >> (7 * group) & 0x7F
        if raw >> (7 * (group + 1)) == 0 and not nine:
            out.append(byte)
            break
        out.append(byte | 0x80)
    return bytes(out)


def test_long_numbers_and_zero_runs() -> None:
    # A count of 2**62 needs 9 bytes (the 9th holds 8 bits); runs of zeros of every size.
    numbers = [5, -3, 2**62, 0, -200, 1, -30_000, 9, 2**35]
    payload = _payload(b"".join(_zigzag_leb128(n) for n in numbers),
                       layout=(1, 2**62, 3))
    decoded = decode_payloads([payload, payload])
    assert decoded.errors == {}
    counts = _dense(decoded, 1)
    expected = {0: 5, 4: 2**62, 206: 1, 30_207: 9, 30_208: 2**35}
    assert {int(i): int(counts[i]) for i in np.flatnonzero(counts)} == expected
    assert decoded.totals.tolist() == [sum(expected.values())] * 2


def test_varints_match_java_run_encoding() -> None:
    counts = np.array([5, 0, 0, 3, 0, 7, 0, 0, 0], dtype=np.int64)
    assert varints(counts[:6]) == b"".join(_zigzag_leb128(n) for n in [5, -2, 3, 0, 7])


@pytest.mark.parametrize(("payload", "problem"), [
    ("QUJD" * 3, "cookie"),
    (_payload(b"\x02", cookie=0x1C849301), "not the V2 encoding"),
    (_payload(b"\x02", outer=0x1C849301), "not a compressed V2 histogram"),
    (_payload(b"\x02\x04", length=5), "header gives 5 count bytes, 2 follow"),
    (_payload(b"\x02", layout=(0, 100, 3)), "lowest discernible value"),
    (_payload(b"\x02", layout=(1, 100, 7)), "significant digits"),
    (_payload(b"\x02\x84"), "end in the middle of a number"),
    (_payload(_zigzag_leb128(-20_000) + b"\x02"), "beyond the 17408 counts"),
    (base64.b64encode(struct.pack(">II", WRITTEN_COMPRESSED_COOKIE, 4) + b"abcd").decode(),
     "does not decompress"),
    ("QUJ=QUJD", "not base64"),
    ("QQ==", "shorter than its 8-byte header"),
])
def test_corrupt_payloads_are_reported_not_raised(payload: str, problem: str) -> None:
    good = _payload(b"\x02\x04")
    decoded = decode_payloads([good, payload, good])
    assert set(decoded.errors) == {1}
    assert problem in decoded.errors[1]
    assert decoded.layout_of[1] == -1 and decoded.totals.tolist() == [3, 0, 3]
    assert _dense(decoded, 2)[:2].tolist() == [1, 2]  # neighbours are not disturbed
    with pytest.raises(ValueError, match=problem.split(" (")[0]):
        decode_one(payload)


def test_the_normalizing_index_offset_changes_no_count() -> None:
    # hdrhistogram-go writes offset 1 in every payload, its counts in index order as Java's.
    plain, shifted = _payload(b"\x02\x01\x04"), _payload(b"\x02\x01\x04", offset=1)
    decoded = decode_payloads([plain, shifted, _payload(b"\x02\x01\x04", offset=-7)])
    assert decoded.errors == {}
    assert [_dense(decoded, n)[:3].tolist() for n in range(3)] == [[1, 0, 2]] * 3
    assert decode_one(shifted)[1][:3].tolist() == [1, 0, 2]


def test_unterminated_body_does_not_spill_into_the_next() -> None:
    cut = _payload(b"\x02\x84")  # a count, then a number that never ends
    following = _payload(b"\x06\x01\x04")  # 3, run of 1 zero, 2
    decoded = decode_payloads([cut, following])
    assert list(decoded.errors) == [0]
    assert _dense(decoded, 1)[:3].tolist() == [3, 0, 2]


def test_scan_marks_suspects_only_where_needed() -> None:
    def body(payload: str) -> bytes:
        return zlib.decompress(base64.b64decode(payload)[8:])

    ok = body(_payload(b"\x02\x04"))
    # 2**56 takes 9 bytes whose last has no continuation bit: decoded vectorized.
    nine = body(_payload(_zigzag_leb128(2**56)))
    found = scan([ok, nine, ok], np.array([17_408] * 3))
    assert found.suspects == set()
    assert found.totals.tolist() == [3, 2**56, 3]
    # 2**62's 9th byte has its high bit set (Java reads it whole): that body and the next
    # go to the scalar reader.
    high = body(_payload(_zigzag_leb128(2**62)))
    assert scan([ok, high, ok], np.array([17_408] * 3)).suspects == {1, 2}


def test_empty_histogram() -> None:
    empty = HdrHistogram(1, 60_000_000, 3)
    decoded = decode_payloads([empty.encode().decode()])
    assert decoded.errors == {} and decoded.totals.tolist() == [0]
    assert len(decoded.count) == 0 or not decoded.count.any()
