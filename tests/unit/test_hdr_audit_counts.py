"""Counts near 2**63 stay exact through the merge, whichever decoder reads them."""

from __future__ import annotations

import numpy as np
from test_hdr_support import LEGEND, T0

from pytest_scyllabench.hdr.encoding import encode
from pytest_scyllabench.hdr.layout import Layout
from pytest_scyllabench.hdr.log import LogSource, parse_log
from pytest_scyllabench.hdr.pipeline import merge
from pytest_scyllabench.hdr.window import Window

LAYOUT = Layout(1, 60_000_000, 3)


def test_count_beyond_2_62_read_by_the_scalar_reader_is_exact() -> None:
    # ZigZag of a count >= 2**62 has the high bit of its 9th byte set: the vectorized
    # decoder leaves that body to the scalar reader, whose exact count must not pass
    # through float64 (2**62 + 3 would become 2**62).
    big = np.zeros(LAYOUT.counts_len, dtype=np.int64)
    big[[5, 100]] = [1, 2**62 + 3]
    small = np.zeros(LAYOUT.counts_len, dtype=np.int64)
    small[[5, 7]] = [2, 1]
    # The big one last: no later body's bytes run into its unterminated last number.
    text = "\n".join([LEGEND, f"Tag=w-rt,{T0:.3f},1.000,1.0,{encode(small, LAYOUT)}",
                      f"Tag=w-rt,{T0 + 1:.3f},1.000,1.0,{encode(big, LAYOUT)}"]) + "\n"
    log = parse_log(text, LogSource("l", "big.hlog"))
    merged = merge([log], Window(T0, T0 + 2), workers=1)
    histogram = merged.histograms["w-rt"]
    assert histogram.counts.tolist() == (big + small).tolist()
    assert histogram.get_total_count() == 2**62 + 7
    assert merged.loader_ops == [2**62 + 7]
    assert [point.rate for point in merged.series] == [3.0, float(2**62 + 4)]
