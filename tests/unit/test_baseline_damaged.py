"""A damaged or hand-edited baseline file is refused in one line naming the file and the field,
never coerced into a plausible record, never a traceback (``scyllabench compare`` exits 2)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_baseline_support import IDENTITY, record

from pytest_scyllabench import cli
from pytest_scyllabench.baseline.offline import BAD_INPUT
from pytest_scyllabench.baseline.store import BaselineFileError, DirectoryStore, file_name

Change = Callable[[dict[str, Any]], object]


def saved(tmp_path: Path) -> tuple[DirectoryStore, Path]:
    store = DirectoryStore(tmp_path)
    store.save("main", [record(1)])
    store.save("pr", [record(2)])
    return store, tmp_path / "pr" / file_name(IDENTITY)


def damage(path: Path, change: Change) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data), encoding="utf-8")


def put(*keys: str, value: object) -> Change:
    def change(data: dict[str, Any]) -> None:
        for key in keys[:-1]:
            data = data[key]
        data[keys[-1]] = value
    return change


@pytest.mark.parametrize(("change", "expected"), [
    # coerced before: every latency 0 ms (or negative), every comparison an improvement
    (put("value_unit_ns", value=0), "value_unit_ns: expected a positive number, got 0"),
    (put("value_unit_ns", value=-1000), "value_unit_ns: expected a positive number, got -1000"),
    # coerced before: a string read as a list of its letters, an environment that differs
    (put("environment", "instance_types", value="local"),
     "environment.instance_types: expected a list, got 'local'"),
    (put("environment", "nodes", value=3.7),
     "environment.nodes: expected a whole number of at least 1, got 3.7"),
    (put("environment", "nodes", value="abc"),
     "environment.nodes: expected a whole number of at least 1, got 'abc'"),
    (put("schema_version", value=True), "schema_version: True is not supported"),
    (put("service_time_only", value="no"), "service_time_only: expected true or false"),
    (put("target_rate", value=0), "target_rate: expected a positive number, got 0"),
    (put("merged", "ops", value=-5), "merged.ops: expected a whole number of at least 0"),
    (put("merged", "duration_s", value=-1), "merged.duration_s: expected a finite, "
                                            "non-negative number, got -1"),
    (put("identity", value=[1]), "identity: expected an object, got a list"),
    (put("identity", "test", value=5), "identity.test: expected a string, got 5"),
    (put("repetitions", value=None), "repetitions: expected a list, got null"),
    (put("merged", "ops_per_s", value="abc"), "merged.ops_per_s: expected a list"),
    (put("merged", "histograms", "all-rt", value=5),
     "merged.histograms.all-rt: expected a string, got 5"),
    (put("environment", "extra", value=[1]), "environment.extra: expected an object"),
    (lambda data: data["identity"].pop("test"), "missing field 'identity.test'"),
])
def test_a_damaged_field_is_named(tmp_path: Path, change: Change, expected: str) -> None:
    store, path = saved(tmp_path)
    damage(path, change)

    with pytest.raises(BaselineFileError) as error:
        store.load("pr")

    message = str(error.value)
    assert message.startswith(f"{path}: ")
    assert expected in message, message
    assert "\n" not in message


def test_an_integer_beyond_a_float_is_named_not_an_overflow_traceback(tmp_path: Path) -> None:
    store, path = saved(tmp_path)
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('"ops": ', '"ops": 1e400, "was": ', 1), encoding="utf-8")

    with pytest.raises(BaselineFileError, match=r"merged\.ops: expected a whole number"):
        store.load("pr")


def test_json_nested_too_deeply_is_a_file_error(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    _, path = saved(tmp_path)
    path.write_text("[" * 100_000, encoding="utf-8")

    code = cli.main(["compare", "--baseline-dir", str(tmp_path), "main", "pr"])

    assert code == BAD_INPUT
    err = capsys.readouterr().err
    assert err == f"scyllabench compare: error: {path}: cannot read: JSON nested too deeply\n"


def test_a_record_as_saved_still_reads_back(tmp_path: Path) -> None:
    store, _ = saved(tmp_path)

    assert list(store.load("pr").values()) == [record(2)]
