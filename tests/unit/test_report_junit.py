"""JUnit properties of a step."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_report_support import make_result

from pytest_scyllabench.report.junit import record_properties


class _Item:
    def __init__(self) -> None:
        self.user_properties: list[tuple[str, object]] = [("earlier", "kept")]


def test_properties_carry_the_key_figures(tmp_path: Path) -> None:
    item = _Item()
    result = make_result(tmp_path)
    record_properties(item, result, [], rate_tolerance=0.05)
    props = dict(item.user_properties)
    assert item.user_properties[0] == ("earlier", "kept")
    assert props["step"] == "write@2000"
    assert props["target_rate"] == "2000" and props["achieved_rate"] == "1990.5"
    assert props["ops"] == str(result.ops) and props["errors"] == "1"
    latency = result.latency()
    for name in ("p50", "p90", "p99", "p999", "p9999", "max"):
        assert float(str(props[f"{name}_ms"])) == pytest.approx(latency[name], abs=0.001)
    assert props["latency"] == "response_time"
    assert props["rate_reached"] == "true" and props["passed"] == "true"
    assert "breach" not in props


def test_each_step_is_a_group_and_breaches_are_listed(tmp_path: Path) -> None:
    item = _Item()
    record_properties(item, make_result(tmp_path, step="write@1000", target=1000,
                                        achieved=1000), [])
    record_properties(item, make_result(tmp_path, step="write@2000", achieved=1000,
                                        service_time_only=True),
                      ["p99: 12 ms > 10 ms"], rate_tolerance=0.05)
    names = [name for name, _ in item.user_properties]
    assert names.count("step") == 2
    second = item.user_properties[names.index("step", names.index("step") + 1):]
    values = dict(second)
    assert values["step"] == "write@2000"
    assert values["passed"] == "false" and values["rate_reached"] == "false"
    assert values["breach"] == "p99: 12 ms > 10 ms"
    assert values["latency"] == "service_time"
