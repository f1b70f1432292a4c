"""Which step calls and values :mod:`pytest_scyllabench.preflight` reads from a test's source."""

from __future__ import annotations

import ast
from typing import Any

from pytest_scyllabench.preflight import UNKNOWN, bound_names, known_value, step_calls

RATE = 300
BAD_RATE = -1


def scyllabench_step(*args: Any, **kwargs: Any) -> Any:  # stands for the fixture
    return None


def in_every_kind_of_statement() -> Any:
    scyllabench_step("a", rate=1)
    result = scyllabench_step("b", rate=2)
    result += scyllabench_step("c", rate=3)
    return result, scyllabench_step(workload="d", rate=4)


def guarded(profile: Any, flag: bool) -> Any:
    scyllabench_step("first", rate=1)
    kept = flag and scyllabench_step("and", rate=1)
    chosen = scyllabench_step("ifexp", rate=1) if flag else None
    if "mixed" not in profile.workloads:  # e.g. pytest.skip(...): what follows may not run
        return kept, chosen
    scyllabench_step("after an if", rate=1)
    return None


def after_an_assert() -> None:
    assert scyllabench_step("in the assert", rate=1) is None
    scyllabench_step("after it", rate=1)


def conditional_or_unreadable(flag: bool, extra: dict[str, Any]) -> None:
    if flag:
        scyllabench_step("if", rate=1)
    for name in ("loop",):
        scyllabench_step(name, rate=1)
    runs = [scyllabench_step("comprehension", rate=r) for r in (1, 2)]
    later = lambda: scyllabench_step("lambda", rate=1)  # noqa: E731
    scyllabench_step("kwargs", **extra)
    scyllabench_step(*("star",), rate=1)
    del runs, later


class Suite:
    async def method(self) -> None:
        scyllabench_step("method", rate=RATE)


def workloads(function: Any) -> list[str]:
    return [ast.literal_eval(call["workload"]) for call in step_calls(function)]


def test_unconditional_calls_of_every_statement_kind() -> None:
    assert workloads(in_every_kind_of_statement) == ["a", "b", "c", "d"]


def test_calls_under_a_condition_a_loop_or_in_a_scope_of_their_own_are_left_out() -> None:
    assert workloads(conditional_or_unreadable) == []
    assert workloads(guarded) == ["first"]
    assert workloads(after_an_assert) == []


def test_methods_and_coroutines_are_read() -> None:
    assert workloads(Suite.method) == ["method"]


def test_no_source_no_calls() -> None:
    assert step_calls(len) == [] and bound_names(len) == set()


def test_values_known_and_unknown() -> None:
    def value(expression: str, params: dict[str, Any] | None = None,
              parameters: tuple[str, ...] = (), bound: tuple[str, ...] = ()) -> Any:
        return known_value(ast.parse(expression, mode="eval").body, params or {}, parameters,
                           {"RATE": RATE, "PLAN": object(), "ZERO": 0}, bound)

    assert value("{'p99': '1ms'}") == {"p99": "1ms"} and value("-5") == -5
    assert value("RATE") == RATE and value("ZERO") == 0
    assert value("rate", {"rate": 7}, ("rate",)) == 7
    assert value("RATE", {}, ("RATE",)) is UNKNOWN  # a fixture of that name shadows it
    assert value("RATE", bound=("RATE",)) is UNKNOWN  # the test assigns it
    assert value("PLAN") is UNKNOWN  # not a plain value
    assert value("missing") is UNKNOWN and value("RATE * 2") is UNKNOWN


def test_bound_names() -> None:
    assert {"name", "runs", "later", "r"} <= bound_names(conditional_or_unreadable)
    assert "flag" not in bound_names(conditional_or_unreadable)  # its own parameter


def test_a_closures_variable_is_not_taken_for_a_module_constant() -> None:
    from pathlib import Path

    from pytest_scyllabench.preflight import check_item
    from pytest_scyllabench.profile_schema import find_profile, load_profile

    def make(BAD_RATE: int) -> Any:  # the same name as the module's constant
        def test(scyllabench_step: Any) -> None:
            scyllabench_step("write", rate=BAD_RATE)
        return test

    profile = load_profile(find_profile("local", Path("/nonexistent")))
    check_item(profile, make(100), {}, ("builtin",))  # not the module's -1: no ConfigError


def test_a_rate_below_the_number_of_loader_processes_is_refused(tmp_path: Any) -> None:
    import pytest

    from pytest_scyllabench.errors import ConfigError
    from pytest_scyllabench.preflight import check_call
    from pytest_scyllabench.profile_schema import load_profile

    path = tmp_path / "p.yaml"
    path.write_text("loaders: {count: 2, processes: 2}\nworkloads: {write: {mix: {write: 1}}}\n")
    profile = load_profile(path)
    check_call(profile, {"workload": "write", "rate": 4}, ("builtin",))
    check_call(profile, {"workload": "write", "rate": UNKNOWN}, ("builtin",))
    with pytest.raises(ConfigError, match="rate: 3 ops/s cannot be shared by 4 loader"):
        check_call(profile, {"workload": "write", "rate": 3}, ("builtin",))


def test_what_preflight_cannot_judge_never_breaks_the_session(
        monkeypatch: Any) -> None:
    from pathlib import Path

    import pytest

    from pytest_scyllabench import preflight
    from pytest_scyllabench.errors import ConfigError
    from pytest_scyllabench.profile_schema import find_profile, load_profile

    def test(scyllabench_step: Any) -> None:
        scyllabench_step("write", rate=100, duration={"not": "a duration"})

    profile = load_profile(find_profile("local", Path("/nonexistent")))
    with pytest.raises(ConfigError, match="duration: expected a number or a string"):
        preflight.check_item(profile, test, {}, ("builtin",))

    def broken(*args: Any) -> None:
        raise RuntimeError("a bug of the preflight")

    monkeypatch.setattr(preflight, "check_call", broken)
    preflight.check_item(profile, test, {}, ("builtin",))  # the call will judge
    monkeypatch.setattr(preflight, "step_calls", broken)
    preflight.check_item(profile, test, {}, ("builtin",))
