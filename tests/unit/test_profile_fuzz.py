"""Profiles fuzzed from the shipped ones load or fail with one line naming file and field;
and one regression test per crash the fuzzer found (each was a traceback before)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_fuzz_support import cases, check_case
from test_profile_support import error_of, write

from pytest_scyllabench.errors import ProfileError
from pytest_scyllabench.profile_schema import find_profile

#: Cases per run: enough to reach every kind of mutation at several depths in a few seconds.
CASES = 300


def test_fuzzed_profiles_load_or_name_file_and_field(tmp_path: Path) -> None:
    for case in cases(CASES):
        check_case(case, tmp_path / str(case.number))


def test_fuzzer_is_deterministic() -> None:
    first = [case.description for case in cases(20)]
    assert first == [case.description for case in cases(20)]
    assert len(set(first)) > 10


def test_profile_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_bytes(b"name: x\ndatabase: {heap: \xff}\n")
    assert error_of(path) == f"{path}: line 2: invalid YAML: not UTF-8 (byte 25)"


def test_control_character_is_one_line(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "name: x\ndatabase: {heap: \x1b}\n"))
    assert ": line 2: invalid YAML: unacceptable character #x001b" in message


def test_integer_of_too_many_digits(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "database: {nodes: " + "9" * 5000 + "}\n"))
    assert message.startswith(f"{tmp_path / 'p.yaml'}: invalid YAML: Exceeds the limit")


def test_nested_too_deeply(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "a: " + "[" * 700 + "]" * 700 + "\n"))
    assert message.endswith(": invalid YAML: nested too deeply")


def test_alias_inside_itself(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "database:\n  settings: &s {x: *s}\n"))
    assert "database.settings.x: an alias refers to the mapping or list that holds it" in message


def test_duplicate_key(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "database:\n  nodes: 1\n  nodes: 2\n"))
    assert message.endswith(": line 3: invalid YAML: duplicate key 'nodes'")


def test_merge_key_may_be_overridden(tmp_path: Path) -> None:
    from pytest_scyllabench.profile_schema import load_profile

    path = write(tmp_path, "x: &d {nodes: 1, replication_factor: 1}\n")
    path.write_text("database:\n  <<: {nodes: 2, replication_factor: 1}\n  nodes: 1\n")
    assert load_profile(path).database.nodes == 1


def test_key_with_a_newline_is_quoted(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, 'database: {"a\\nb": 1}\n'))
    assert "database.'a\\nb': unknown key" in message


def test_empty_key_is_named(tmp_path: Path) -> None:
    assert f"{tmp_path / 'p.yaml'}: '': unknown key" in error_of(write(tmp_path, '"": 1\n'))


def test_workload_without_mix(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "workloads:\n  w: {partitions: 10}\n"))
    assert message.endswith(": workloads.w.mix: missing")


def test_number_beyond_a_float(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, f"workloads:\n  w: {{mix: {{write: {10**400}}}}}\n"))
    assert "workloads.w.mix.write: must be a number of a float's range" in message
    assert len(message) < 300


@pytest.mark.parametrize("entry", ['"a\\0b.yaml"', "x" * 5000 + ".yaml", '"a\\nb.yaml"'])
def test_workload_file_no_file_can_have(tmp_path: Path, entry: str) -> None:
    message = error_of(write(tmp_path, f"workload_files: [{entry}]\n"))
    assert "workload_files[0]: no such file: " in message
    assert len(message) < 400


@pytest.mark.parametrize(("text", "field"), [
    ("database: {start_timeout: .nan}\n", "database.start_timeout: must be at least 1, got nan"),
    ("warmup: {seconds: .nan}\n", "warmup.seconds: must be at least 1, got nan"),
    ("workloads:\n  w: {mix: {write: .nan}}\n", "workloads.w.mix.write: weight must be >= 0"),
    ("workloads:\n  w: {mix: {write: 1}, zipf_exponent: .nan}\n",
     "workloads.w.zipf_exponent: must be > 0"),
])
def test_nan_is_refused(tmp_path: Path, text: str, field: str) -> None:
    assert field in error_of(write(tmp_path, text))


def test_long_value_is_cut(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, f"provisioner: {'x' * 5000}\n"))
    assert message.endswith("... (5002 characters)")


STATIC = """provisioner: static
static:
  ssh: {{key: id_test, known_hosts: "off"}}
  servers: [{server}]
  loaders: [10.0.0.9]
{monitor}"""


def _static(tmp_path: Path, server: str = "10.0.0.1", monitor: str = "") -> Path:
    (tmp_path / "id_test").write_text("not really a key")
    return write(tmp_path, STATIC.format(server=server, monitor=monitor))


def test_static_monitor_is_named_without_an_index(tmp_path: Path) -> None:
    message = error_of(_static(tmp_path, monitor="  monitor: {name: m, address: x, port: 1}\n"))
    assert message.endswith(": static.monitor.port: unknown key; expected one of address, name")


def test_static_host_written_as_an_address_is_named_itself(tmp_path: Path) -> None:
    message = error_of(_static(tmp_path, server='"a\\0b"'))
    assert message.endswith(": static.servers[0]: not an address: 'a\\x00b'")


@pytest.mark.parametrize(("ssh", "expected"), [
    ('key: "a\\0b", known_hosts: "off"', "static.ssh.key: no such private key file: 'a\\x00b'"),
    ('key: "~nosuchuser/id", known_hosts: "off"',
     "static.ssh.key: no such private key file: '~nosuchuser/id'"),
    ('key: id_test, known_hosts: "strict:~nosuchuser/kh"',
     "static.ssh.known_hosts: no such home directory: 'strict:~nosuchuser/kh'"),
    ('key: id_test, known_hosts: "accept-new:a\\0b"',
     "static.ssh.known_hosts: not a file name: 'accept-new:a\\x00b'"),
])
def test_static_ssh_paths_no_file_can_have(tmp_path: Path, ssh: str, expected: str) -> None:
    path = _static(tmp_path)
    path.write_text(path.read_text().replace('key: id_test, known_hosts: "off"', ssh))
    assert error_of(path).endswith(f": {expected}")


@pytest.mark.parametrize("name", ["a\0b", "a\0b.yaml", "x" * 5000, "x" * 5000 + ".yaml",
                                  "a\nb", "a\nb.yaml"])
def test_find_profile_name_no_file_can_have(tmp_path: Path, name: str) -> None:
    with pytest.raises(ProfileError) as info:
        find_profile(name, tmp_path)
    message = str(info.value)
    assert len(message.splitlines()) == 1 and len(message) < 400
    assert "no such profile" in message
