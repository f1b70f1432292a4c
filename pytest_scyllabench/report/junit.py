"""A step's key figures as JUnit XML properties of its test case.

pytest writes ``item.user_properties`` as ``<property name=... value=...>`` under the test
case in ``--junitxml``. A test that runs several steps gets one group per step, each group
starting with its ``step`` property. (Properties under a test case are outside the strict
``xunit2`` schema; CI servers read them anyway.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

from pytest_scyllabench.report.serialize import StepSummary, summarize
from pytest_scyllabench.result import PERCENTILES, SERVICE_TIME, StepResult


class HasUserProperties(Protocol):
    """A ``pytest.Item`` as far as this module is concerned."""

    user_properties: list[tuple[str, object]]


def _number(value: float | None, digits: int = 3) -> str:
    """``value`` to ``digits`` decimals, trailing zeros dropped, never in exponent notation
    (``:g`` kept six significant digits: 1234567.8 ops/s became ``1.23457e+06``)."""
    if value is None or not math.isfinite(value):
        return "nan"
    text = f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def step_properties(step: StepSummary) -> list[tuple[str, str]]:
    """(name, value) pairs: step, rates, ops, errors, percentiles in ms, verdict."""
    latency, kind = step.headline()
    properties = [
        ("step", step.step),
        ("workload", step.workload),
        ("target_rate", _number(step.target_rate, 1)),
        ("achieved_rate", _number(step.achieved_rate, 1)),
        ("ops", str(step.ops)),
        ("errors", str(step.errors)),
        ("latency", "service_time" if kind == SERVICE_TIME else "response_time"),
    ]
    properties += [(f"{name}_ms", _number(latency.values_ms.get(name) if latency else None))
                   for name, _ in PERCENTILES]
    if step.rate_reached is not None:
        properties.append(("rate_reached", str(step.rate_reached).lower()))
    properties.append(("passed", str(step.passed).lower()))
    properties += [("breach", breach) for breach in step.breaches]
    return properties


def record_properties(item: HasUserProperties, result: StepResult, breaches: Sequence[str],
                      *, test: str = "", rate_tolerance: float | None = None) -> None:
    """Append the step's properties to ``item.user_properties``.

    Call it any time before the test's teardown report is made (junitxml writes the
    properties of that report, copied from the item): from the step fixture right after the
    step, or in a ``pytest_runtest_makereport`` wrapper for ``when == "call"``.
    """
    step = summarize(result, test=test, breaches=breaches, rate_tolerance=rate_tolerance)
    item.user_properties.extend(step_properties(step))
