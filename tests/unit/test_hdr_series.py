"""Per-second series: intervals of offset loaders land on the same grid point."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_hdr_support import T0, Line, record, write_lines

from pytest_scyllabench.hdr.log import read_log
from pytest_scyllabench.hdr.merge import Window, values_at_percentiles
from pytest_scyllabench.hdr.series import SeriesBuilder, SeriesPoint, interval_series


def test_offset_loaders_are_aligned(tmp_path: Path) -> None:
    # loader a on whole seconds, loader b 0.3 s later; b is slower in second 2.
    a = [Line("write-rt", T0 + s, [1000] * 100) for s in range(4)]
    b = [Line("write-rt", T0 + s + 0.3, [30_000 if s == 2 else 1000] * 50) for s in range(4)]
    b += [Line("write-st", T0 + s + 0.3, [10] * 999) for s in range(4)]  # other kind: ignored
    logs = [read_log(write_lines(tmp_path / "a.hlog", a), "a"),
            read_log(write_lines(tmp_path / "b.hlog", b), "b")]
    points = interval_series(logs, Window(T0, T0 + 4))
    assert [p.time for p in points] == [0.0, 1.0, 2.0, 3.0]
    assert [p.rate for p in points] == [150.0] * 4
    assert points[0].p99_ms == pytest.approx(1.0)
    expected = values_at_percentiles(record([1000] * 100 + [30_000] * 50), [99.0])[0] / 1000
    assert points[2].p99_ms == expected and expected > 29.0


def test_gap_shows_as_zero_and_grid_scales_rate(tmp_path: Path) -> None:
    lines = [Line("read-rt", T0 + s, [2000] * 40, length=2.0) for s in (0, 2, 6)]
    log = read_log(write_lines(tmp_path / "g.hlog", lines), "g")
    points = interval_series([log], Window(T0, T0 + 8), grid=2.0)
    assert points == [SeriesPoint(0.0, 20.0, 2.0),
                      SeriesPoint(2.0, 20.0, 2.0),
                      SeriesPoint(4.0, 0.0, 0.0),
                      SeriesPoint(6.0, 20.0, 2.0)]


def test_builder_requires_start_order() -> None:
    builder = SeriesBuilder(Window(T0, T0 + 3))
    builder.add(T0 + 2, record([1]))
    with pytest.raises(ValueError, match="start order"):
        builder.add(T0, record([1]))
