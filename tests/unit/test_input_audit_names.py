"""Names in a profile that were read as something else than written, or that make bad
file names and CQL identifiers: each is refused in one line naming the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_profile_support import error_of, write

from pytest_scyllabench.profile_schema import load_profile


@pytest.mark.parametrize(("key", "shown"), [
    ("yes", "True"), ("010", "8"), ("null", "None"), ("1", "1"), ("1.5", "1.5"),
])
def test_workload_name_that_yaml_reads_as_no_string(tmp_path: Path, key: str,
                                                    shown: str) -> None:
    # YAML 1.1 reads ``yes`` as true and ``010`` as 8: the workload would be named "True", "8"
    message = error_of(write(tmp_path, f"workloads:\n  {key}: {{mix: {{write: 1}}}}\n"))
    assert f"p.yaml: workloads.{shown}: a workload name must be a string" in message
    assert "quote it" in message


@pytest.mark.parametrize("name", ['""', '"a\\tb"', '"a\\nb"'])
def test_workload_name_must_be_printable(tmp_path: Path, name: str) -> None:
    message = error_of(write(tmp_path, f"workloads:\n  {name}: {{mix: {{write: 1}}}}\n"))
    assert ": workloads.'" in message
    assert "not a workload name" in message


def test_workload_name_with_dash_dot_and_unicode_letters_is_kept(tmp_path: Path) -> None:
    text = "workloads:\n  read-heavy.v2: {mix: {read: 1}}\n  écriture: {mix: {write: 1}}\n"
    assert set(load_profile(write(tmp_path, text)).workloads) == {"read-heavy.v2", "écriture"}


def test_workload_may_not_rename_itself(tmp_path: Path) -> None:
    # It was looked up as ``w`` but its steps were named ``other@<rate>``.
    message = error_of(write(tmp_path, "workloads:\n  w: {mix: {write: 1}, name: other}\n"))
    assert message.endswith("p.yaml: workloads.w.name: unknown key; the workload's name is "
                            "its key")


def test_workload_file_key_with_a_name_field(tmp_path: Path) -> None:
    (tmp_path / "w.yaml").write_text("w: {mix: {write: 1}, name: x}\n")
    message = error_of(write(tmp_path, "workload_files: [w.yaml]\n"))
    assert message.endswith(f"{tmp_path / 'w.yaml'}: w.name: unknown key; the workload's name "
                            "is its key")


@pytest.mark.parametrize(("field", "value"), [
    ("keyspace", "ksé"), ("keyspace", "a٣"), ("table", "\uff4bv"), ("table", "kv²"),
])
def test_cql_identifier_is_ascii(tmp_path: Path, field: str, value: str) -> None:
    # An unquoted CQL identifier is [a-zA-Z][a-zA-Z0-9_]*: CREATE KEYSPACE would fail after
    # the cluster started.
    message = error_of(write(tmp_path, f"workloads:\n  w: {{mix: {{write: 1}}, {field}: "
                                       f"'{value}'}}\n"))
    assert f"workloads.w.{field}: must be a CQL identifier" in message


@pytest.mark.parametrize("name", ["../../x", "x/y", "a\\tb", ".", "..", ".hidden", "a b"])
def test_profile_name_is_a_file_name(tmp_path: Path, name: str) -> None:
    # The name makes directories: <output>/<name>/, <cache>/clusters/<name> (wiped on start)
    message = error_of(write(tmp_path, f'name: "{name}"\n'))
    assert "p.yaml: name: must be letters, digits, '.', '_' or '-'" in message


def test_profile_name_taken_from_the_file_name_is_checked(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "{}\n", name="my profile.yaml"))
    assert "my profile.yaml: name: must be letters, digits, '.', '_' or '-'" in message
    assert "(from the file name when not written)" in message


@pytest.mark.parametrize("field", ["keyspace", "table"])
def test_cql_identifier_is_at_most_48_characters(tmp_path: Path, field: str) -> None:
    # Cassandra and ScyllaDB refuse longer keyspace and table names.
    longest = f"workloads:\n  w: {{mix: {{write: 1}}, {field}: {'k' * 48}}}\n"
    assert getattr(load_profile(write(tmp_path, longest)).workloads["w"], field) == "k" * 48
    message = error_of(write(tmp_path, longest.replace("k" * 48, "k" * 49)))
    assert f"workloads.w.{field}: must be a CQL identifier" in message
