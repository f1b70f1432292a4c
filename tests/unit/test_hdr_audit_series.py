"""The series of a merge when a batch's earliest interval is not one the series counts."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_hdr_support import T0, Line, write_lines

from pytest_scyllabench.hdr import pipeline
from pytest_scyllabench.hdr.log import read_log
from pytest_scyllabench.hdr.series import SeriesPoint, interval_series
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
