"""A step result to JSON and back: figures, percentiles per tag, verdict, histograms."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from test_report_support import make_result

from pytest_scyllabench.report.serialize import (
    SCHEMA_VERSION,
    ResultFileError,
    benchmark_of,
    read_summary,
    result_to_dict,
    result_to_json,
    summarize,
    summary_from_dict,
)


def test_dict_has_the_figures_and_percentiles_of_every_tag(tmp_path: Path) -> None:
    result = make_result(tmp_path / "step", operations=("read", "write"))
    data = result_to_dict(result, test="t.py::test_mix[1]", breaches=[], rate_tolerance=0.05,
                          base=tmp_path)
    assert data["schema_version"] == SCHEMA_VERSION
    assert (data["step"], data["workload"]) == ("write@2000", "write")
    assert (data["target_rate"], data["achieved_rate"]) == (2000.0, 1990.5)
    assert data["ops"] == result.ops and data["errors"] == 1
    assert data["overhead_s"] == 8.5 and data["duration_s"] == 30.0
    assert set(data["latency_ms"]) == {"all-rt", "all-st", "read-rt", "read-st", "write-rt",
                                        "write-st"}
    for name, values in data["latency_ms"].items():
        operation, kind = name.rsplit("-", 1)
        expected = result.latency(operation, kind)
        assert values["count"] == expected.count
        assert values["p99"] == pytest.approx(expected["p99"])
        assert values["max"] == pytest.approx(expected["max"])
    assert data["latency_ms"]["all-rt"]["max"] == pytest.approx(50.0, rel=0.01)
    assert data["verdict"] == {"passed": True, "breaches": [], "rate_reached": True,
                               "rate_tolerance": 0.05, "thresholds": []}
    loader = data["loaders"][0]
    assert loader["name"] == "loader-1" and loader["host"] == "10.0.0.1"
    assert loader["hdr_log"] == "step/loader-1.hlog" and loader["output"] == "step/loader-1.out"
    assert data["series"][1] == {"t_s": 1.0, "ops_per_s": 1991.0, "p99_ms": None}
    json.dumps(data, allow_nan=False)  # strict JSON: NaN became null


def test_paths_outside_the_base_stay_as_they_are(tmp_path: Path) -> None:
    data = result_to_dict(make_result(tmp_path / "s"), base=tmp_path / "elsewhere")
    assert data["loaders"][0]["hdr_log"] == (tmp_path / "s" / "loader-1.hlog").as_posix()


def test_missed_rate_and_breaches_fail_the_step(tmp_path: Path) -> None:
    result = make_result(tmp_path, achieved=1500.0)
    data = result_to_dict(result, breaches=["p99: 12.1 ms > limit 10 ms (write@2000)"],
                          rate_tolerance=0.05)
    assert data["verdict"]["passed"] is False
    assert data["verdict"]["rate_reached"] is False
    assert summarize(result, test="t", rate_tolerance=0.05).passed is False
    assert summarize(result, test="t", rate_tolerance=0.3).passed is True


def test_round_trip_keeps_percentiles_breaches_and_histograms(tmp_path: Path) -> None:
    result = make_result(tmp_path, operations=("read", "write"), service_time_only=True)
    text = result_to_json(result, test="t.py::test_mix[2000]", breaches=["p99 too high"],
                          rate_tolerance=0.05, base=tmp_path)
    path = tmp_path / "result.json"
    path.write_text(text)
    loaded = read_summary(path)
    direct = summarize(result, test="t.py::test_mix[2000]", breaches=["p99 too high"],
                       rate_tolerance=0.05)
    assert loaded.latency.keys() == direct.latency.keys()
    for name, latency in direct.latency.items():
        assert loaded.latency[name].count == latency.count
        assert dict(loaded.latency[name].values_ms) == pytest.approx(dict(latency.values_ms))
    assert loaded.breaches == ("p99 too high",) and loaded.passed is False
    assert loaded.service_time_only is True
    assert loaded.benchmark == "t.py::test_mix"
    assert loaded.operations() == ["all", "read", "write"]
    # The histogram itself comes back: any percentile can be recomputed.
    original, decoded = result.histograms["write-rt"], loaded.histogram("write-rt")
    assert decoded.get_total_count() == original.get_total_count()
    for q in (50.0, 99.0, 99.95):
        assert decoded.get_value_at_percentile(q) == original.get_value_at_percentile(q)


def test_non_finite_numbers_come_back_as_nan(tmp_path: Path) -> None:
    result = make_result(tmp_path)
    result.achieved_rate = math.inf
    loaded = summary_from_dict(result_to_dict(result))
    assert math.isnan(loaded.achieved_rate)


@pytest.mark.parametrize(("change", "message"), [
    ({"schema": "other"}, "schema: not a step result"),
    ({"schema_version": 99}, "schema_version: 99 is not supported"),
    ({"verdict": None}, "malformed field"),
])
def test_bad_documents_name_the_problem(tmp_path: Path, change: dict[str, object],
                                        message: str) -> None:
    data = {**result_to_dict(make_result(tmp_path)), **change}
    with pytest.raises(ResultFileError, match=message):
        summary_from_dict(data, "r.json")


def test_missing_field_and_unreadable_file(tmp_path: Path) -> None:
    data = result_to_dict(make_result(tmp_path))
    del data["ops"]
    with pytest.raises(ResultFileError, match=r"r\.json: missing field 'ops'"):
        summary_from_dict(data, "r.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"schema": ')
    with pytest.raises(ResultFileError, match=r"broken\.json: cannot read"):
        read_summary(broken)


def test_benchmark_drops_only_the_parameters() -> None:
    assert benchmark_of("d/t.py::TestA::test_w[2000-x]") == "d/t.py::TestA::test_w"
    assert benchmark_of("d/t.py::test_w") == "d/t.py::test_w"
