"""Baseline records, the directory store and the session gate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_baseline_support import CREATED, IDENTITY, READ, environment, record, step_result

from pytest_scyllabench.baseline.gate import BaselineGate
from pytest_scyllabench.baseline.record import (
    BaselineRecord,
    environment_of,
    merge_encoded,
    record_from_results,
)
from pytest_scyllabench.baseline.rules import parse_rules
from pytest_scyllabench.baseline.store import (
    BaselineFileError,
    BaselineMissing,
    DirectoryStore,
    file_name,
)
from pytest_scyllabench.errors import ConfigError
from pytest_scyllabench.hdr.merge import values_at_percentiles

# --- records -------------------------------------------------------------------------------


def test_a_record_keeps_encoded_histograms_that_decode_to_the_same_counts() -> None:
    result = step_result(1)
    kept = record(1)

    decoded = kept.merged.histogram("all-rt")
    assert decoded.get_total_count() == result.histograms["all-rt"].get_total_count()
    assert values_at_percentiles(decoded, [50.0, 99.0, 99.9, 100.0]) == values_at_percentiles(
        result.histograms["all-rt"], [50.0, 99.0, 99.9, 100.0])
    assert kept.merged.ops == result.ops
    assert kept.merged.achieved_rate == pytest.approx(result.achieved_rate)
    assert kept.merged.ops_per_s == tuple(rate for _, rate, _ in result.series)
    assert kept.repetitions == ()
    assert kept.params == {"rate": "2000"}
    assert kept.created == "2026-01-02T03:04:05+00:00"


def test_repetitions_are_kept_and_summed() -> None:
    results = [step_result(seed) for seed in (1, 2, 3)]
    kept = record_from_results(IDENTITY, environment(), results, created=CREATED)

    assert len(kept.repetitions) == 3
    assert kept.merged.ops == sum(result.ops for result in results)
    assert kept.merged.duration == pytest.approx(sum(result.duration for result in results))
    assert kept.merged.achieved_rate == pytest.approx(kept.merged.ops / kept.merged.duration)
    merged = kept.merged.histogram("all-rt")
    assert merged.get_total_count() == sum(
        result.histograms["all-rt"].get_total_count() for result in results)
    assert merged.get_max_value() == max(
        result.histograms["all-rt"].get_max_value() for result in results)
    assert len(kept.merged.ops_per_s) == sum(len(result.series) for result in results)
    assert merge_encoded([kept.merged.histograms["all-rt"]]) == kept.merged.histograms["all-rt"]


def test_repetitions_in_different_units_are_refused() -> None:
    other = step_result(2)
    other.value_unit_ns = 1.0

    with pytest.raises(ValueError, match="repetitions record values in different units"):
        record_from_results(IDENTITY, environment(), [step_result(1), other])


def test_environment_of_a_step_reads_the_tool_from_its_loaders() -> None:
    env = environment_of(step_result(1), database="cassandra", database_version="5.0.9",
                         nodes=3, instance_types=["local"])

    assert env == environment()


def test_environment_differences_name_each_field() -> None:
    before = environment()
    after = environment(database_version="5.1.0", nodes=1, instance_types=("i4i.large",),
                        extra={"driver": "acsylla"})

    assert before.differences(after) == [
        "database_version: 5.0.9 -> 5.1.0", "nodes: 3 -> 1",
        "instance_types: [local] -> [i4i.large]"]
    assert before.differences(environment()) == []


def test_only_facts_both_sides_know_can_differ() -> None:
    here = {"cpus": "2 x AMD EPYC", "memory": "24 GiB"}
    # A baseline saved before facts were recorded, or a fact that could not be read, is no
    # evidence of another machine: the comparison stays gated.
    assert environment().differences(environment(extra=here)) == []
    assert environment(extra=here).differences(environment(extra={
        "cpus": "2 x (4 x Xeon) + 1 x (unknown)", "memory": "unknown"})) == []
    assert environment(extra=here).differences(environment(extra={
        "cpus": "8 x Intel Xeon", "memory": "24 GiB"})) == ["cpus: 2 x AMD EPYC -> 8 x Intel Xeon"]


def test_the_identity_label_is_the_test_name_and_the_step() -> None:
    assert IDENTITY.label == "test_write[2000] write@2000"
    assert IDENTITY.key == "local/benchmarks/test_latency.py::test_write[2000]/write@2000"


# --- directory store -----------------------------------------------------------------------


def test_round_trip_through_the_directory(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path / "baselines")
    saved = [record(1), record([2, 3], identity=READ)]

    store.save("main", saved)

    loaded = store.load("main")
    assert loaded == {kept.identity: kept for kept in saved}
    assert store.load("latest") == loaded
    assert store.names() == ["main"]
    assert store.resolve("latest") == "main"
    assert isinstance(loaded[READ], BaselineRecord)
    assert len(loaded[READ].repetitions) == 2


def test_files_are_git_friendly(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path)
    kept = record(1)

    store.save("main", [kept])

    path = tmp_path / "main" / file_name(kept.identity)
    assert path.name.startswith("local__test_latency.py__test_write-2000__write_2000-")
    assert file_name(kept.identity) == file_name(record(2).identity)
    text = path.read_text(encoding="utf-8")
    assert text == json.dumps(json.loads(text), indent=1, sort_keys=True) + "\n"
    assert (tmp_path / "latest").read_text(encoding="utf-8") == "main\n"
    assert [p.name for p in (tmp_path / "main").iterdir()] == [path.name]


def test_saving_replaces_records_of_the_same_benchmark_and_keeps_the_others(
        tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path)
    store.save("main", [record(1), record(2, identity=READ)])

    newer = record(5)
    store.save("main", [newer])

    loaded = store.load("main")
    assert loaded[IDENTITY] == newer
    assert READ in loaded


def test_latest_follows_the_last_run_saved(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path)
    store.save("main", [record(1)])
    store.save("pr-17", [record(2)])

    assert store.resolve("latest") == "pr-17"
    assert store.load("latest")[IDENTITY] == record(2)
    assert store.load("main")[IDENTITY] == record(1)
    assert store.names() == ["main", "pr-17"]


def test_no_baseline_yet_is_a_one_line_baseline_missing(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path / "none")

    with pytest.raises(BaselineMissing) as error:
        store.load("latest")

    assert str(error.value) == (f"no baseline saved yet in {tmp_path / 'none'} "
                                f"(save one with --scyllabench-save=NAME)")
    assert store.names() == []


def test_an_unknown_run_lists_the_saved_ones(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path)
    store.save("main", [record(1)])

    with pytest.raises(BaselineMissing, match=r"^baseline 'nightly' not found in .* "
                                              r"\(saved runs: main\)$"):
        store.load("nightly")


@pytest.mark.parametrize("name", ["latest", "", "../up", "a b", ".hidden", "x" * 101])
def test_bad_run_names_are_config_errors(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match=r"^baseline: "):
        DirectoryStore(tmp_path).save(name, [record(1)])


def test_a_corrupt_file_is_named(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path)
    store.save("main", [record(1)])
    path = tmp_path / "main" / file_name(IDENTITY)
    path.write_text('{"schema": "pytest-scyllabench/baseline-record", ', encoding="utf-8")

    with pytest.raises(BaselineFileError) as error:
        store.load("main")

    assert str(error.value).startswith(f"{path}: cannot read: ")
    assert error.value.path == path


@pytest.mark.parametrize(("change", "expected"), [
    (lambda data: data.pop("environment"), "missing field 'environment'"),
    (lambda data: data.update(schema_version=7), "malformed: schema_version: 7 is not "
                                                 "supported (this version reads 1, 2)"),
    (lambda data: data["merged"].update(ops="many"), "malformed: merged.ops: expected a "
                                                     "whole number of at least 0, got 'many'"),
    (lambda data: data["merged"]["histograms"].update({"all-rt": "HISTFAAAAbroken"}),
     "merged.histograms.all-rt: not an encoded HDR histogram"),
])
def test_a_malformed_record_names_the_file_and_the_field(
        tmp_path: Path, change: object, expected: str) -> None:
    store = DirectoryStore(tmp_path)
    store.save("main", [record(1)])
    path = tmp_path / "main" / file_name(IDENTITY)
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)  # type: ignore[operator]
    path.write_text(json.dumps(data), encoding="utf-8")

    with pytest.raises(BaselineFileError, match="^" + str(path).replace(".", r"\.")) as error:
        store.load("main")

    assert expected in str(error.value)
    assert "\n" not in str(error.value)


def test_a_bad_latest_pointer_is_named(tmp_path: Path) -> None:
    (tmp_path / "latest").write_text("../../etc\n", encoding="utf-8")

    with pytest.raises(BaselineFileError, match="latest: does not name a run"):
        DirectoryStore(tmp_path).load("latest")


# --- gate ----------------------------------------------------------------------------------


def test_gate_compares_with_the_baseline_and_saves_the_run(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path)
    store.save("main", [record(1)])
    gate = BaselineGate(store, compare_with="latest", save_as="pr-1",
                        rules=parse_rules("p99:+10%"), session="s1")
    gate.open()

    current = record(2, scale=1.25)
    comparison = gate.check(current, [parse_rules("throughput:-5%")])
    gate.keep(current)

    assert comparison is not None
    assert comparison.baseline_name == "main"
    assert [change.rule.name for change in comparison.changes] == ["p99", "throughput"]
    [regression] = comparison.regressions
    assert str(regression).startswith("test_write[2000] write@2000: p99 regressed:")
    assert gate.save() == "pr-1"
    assert store.load("latest") == {IDENTITY: current.with_session("s1")}
    assert any("p99 regressed" in line for line in gate.summary_lines())


def test_gate_without_a_baseline_notes_it_or_fails(tmp_path: Path) -> None:
    lenient = BaselineGate(DirectoryStore(tmp_path), compare_with="latest")
    lenient.open()
    assert lenient.check(record(1)) is None
    assert lenient.notes == [f"no baseline saved yet in {tmp_path} (save one with "
                             f"--scyllabench-save=NAME); nothing was compared"]

    strict = BaselineGate(DirectoryStore(tmp_path), compare_with="latest", fail_missing=True)
    with pytest.raises(BaselineMissing, match="no baseline saved yet"):
        strict.open()


def test_gate_with_a_benchmark_missing_from_the_baseline(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path)
    store.save("main", [record(1)])

    lenient = BaselineGate(store, compare_with="main")
    assert lenient.check(record(2, identity=READ)) is None
    assert lenient.notes == ["test_read[1000] read@1000: no record in baseline 'main' "
                             "(profile local)"]

    strict = BaselineGate(store, compare_with="main", fail_missing=True)
    with pytest.raises(BaselineMissing, match=r"^test_read\[1000\] read@1000: no record in "
                                              r"baseline 'main' \(profile local\)$"):
        strict.check(record(2, identity=READ))


def test_gate_that_neither_compares_nor_saves_does_nothing(tmp_path: Path) -> None:
    gate = BaselineGate(DirectoryStore(tmp_path / "unused"))
    gate.open()
    gate.keep(record(1))

    assert gate.check(record(1)) is None
    assert gate.save() is None
    assert not (tmp_path / "unused").exists()
