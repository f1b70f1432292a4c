"""Layouts that reach 2**63 - 1: the top bucket's highest value without int64 overflow."""

from __future__ import annotations

import pytest

from pytest_scyllabench.hdr.layout import Layout

TOP = 2**63 - 1


@pytest.mark.filterwarnings("error::RuntimeWarning")
@pytest.mark.parametrize("layout", [Layout(1, TOP, 3), Layout(1, TOP, 0), Layout(1000, TOP, 2)])
def test_highest_of_the_last_bucket_is_the_largest_long(layout: Layout) -> None:
    assert int(layout.highest_at(layout.counts_len - 1)) == TOP
    assert Layout.coarsest([layout, Layout(1, TOP, 5)]).highest == TOP
