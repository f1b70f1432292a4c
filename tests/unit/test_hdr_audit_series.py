"""Series: a batch whose earliest interval is not counted; a point of several layouts."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_hdr_support import T0, Line, record, write_lines

from pytest_scyllabench.hdr import pipeline
from pytest_scyllabench.hdr.layout import Layout
from pytest_scyllabench.hdr.log import read_log
from pytest_scyllabench.hdr.series import SeriesBuilder, SeriesPoint, interval_series
from pytest_scyllabench.hdr.window import Window


@pytest.mark.parametrize("batch_chars", [1, pipeline.BATCH_CHARS])
def test_series_points_when_service_time_starts_first(tmp_path: Path, batch_chars: int,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # Loader b logs service time only (and from the window start); loader a logs response
    # time from second 1: the series counts response time, whose first point is 1, not 0.
    monkeypatch.setattr(pipeline, "BATCH_CHARS", batch_chars)
    a = [Line("write-rt", T0 + 1, [200] * 7), Line("write-rt", T0 + 2, [300] * 9)]
    b = [Line("write-st", T0 + s, [100] * 5) for s in range(3)]
    logs = [read_log(write_lines(tmp_path / "a.hlog", a), "a"),
            read_log(write_lines(tmp_path / "b.hlog", b), "b")]
    points = interval_series(logs, Window(T0, T0 + 3))
    assert points == [SeriesPoint(0.0, 0.0, 0.0), SeriesPoint(1.0, 7.0, 0.2),
                      SeriesPoint(2.0, 9.0, 0.3)]


@pytest.mark.parametrize(("second", "value"), [((1, 2**31 - 1, 3), 1_000_000_000),
                                               ((1000, 60_000_000, 2), 50_000_000)])
def test_builder_adds_a_larger_or_coarser_layout_to_a_point(second: tuple[int, int, int],
                                                            value: int) -> None:
    # cassandra-stress's recorders resize as values grow: a later interval of the same point
    # may hold values beyond the first one's highest trackable value, or another loader's
    # histograms may be coarser.
    builder = SeriesBuilder(Window(T0, T0 + 1))
    builder.add(T0, record([1000] * 98, (1, 67_108_863, 3)))
    builder.add(T0 + 0.3, record([value] * 2, second))
    (point,) = builder.points()
    expected = Layout.coarsest([Layout(1, 67_108_863, 3), Layout(*second)])
    assert point.rate == 100.0
    assert point.p99_ms == int(expected.highest_at(expected.index_of(value))) / 1000
