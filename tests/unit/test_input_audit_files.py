"""Empty profile and workload files: refused rather than read as every default."""

from __future__ import annotations

import copy
import pickle
from pathlib import Path

import pytest
import yaml
from test_profile_support import error_of, write

from pytest_scyllabench.profile_schema import load_profile
from pytest_scyllabench.profile_schema.fields import WrittenFloat


@pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n", "~\n"])
def test_empty_profile_is_refused(tmp_path: Path, text: str) -> None:
    # A truncated or emptied file was a default 3-node profile without workloads.
    message = error_of(write(tmp_path, text))
    assert message.endswith("p.yaml: must be a mapping at the top level, got an empty file "
                            "(write {} for every default)")


def test_explicit_empty_mapping_is_every_default(tmp_path: Path) -> None:
    assert load_profile(write(tmp_path, "{}\n")).database.nodes == 3


def test_empty_workload_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "w.yaml").write_text("# nothing yet\n")
    message = error_of(write(tmp_path, "workload_files: [w.yaml]\n"))
    assert message.endswith(f"{tmp_path / 'w.yaml'}: must be a mapping at the top level, got an "
                            "empty file")


def test_two_workload_files_defining_one_workload_are_refused(tmp_path: Path) -> None:
    # The second file's 'write' silently replaced the first's.
    (tmp_path / "a.yaml").write_text("write: {mix: {write: 1}}\n")
    (tmp_path / "b.yaml").write_text("read: {mix: {read: 1}}\nwrite: {mix: {write: 1}, "
                                     "row_size: 64}\n")
    message = error_of(write(tmp_path, "workload_files: [a.yaml, b.yaml]\n"))
    assert message.endswith(f"{tmp_path / 'b.yaml'}: write: workload also defined in "
                            f"{tmp_path / 'a.yaml'}, an earlier entry of {tmp_path / 'p.yaml'}'s "
                            "workload_files")


def test_an_inline_workload_still_overrides_a_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("write: {mix: {write: 1}}\n")
    profile = load_profile(write(tmp_path, "workload_files: [a.yaml]\n"
                                 "workloads: {write: {mix: {write: 1}, row_size: 64}}\n"))
    assert profile.workloads["write"].row_size == 64


@pytest.mark.parametrize(("written", "version"), [("2026.10", "2026.10"), ("6.2", "6.2"),
                                                  ("'6.10'", "6.10"), ("6.20", "6.20")])
def test_an_unquoted_version_keeps_its_digits(tmp_path: Path, written: str,
                                              version: str) -> None:
    # YAML reads 2026.10 as the float 2026.1: another release of ScyllaDB.
    profile = load_profile(write(tmp_path, f"provisioner: docker\ndatabase:\n  kind: scylla\n"
                                 f"  version: {written}\n"))
    assert profile.database.version == version


def test_a_float_where_a_number_is_due_is_still_a_number(tmp_path: Path) -> None:
    profile = load_profile(write(tmp_path, "rate_tolerance: 0.10\n"))
    assert profile.rate_tolerance == 0.1 and type(profile.rate_tolerance) is float


def test_a_float_in_database_settings_is_a_plain_float(tmp_path: Path) -> None:
    # The settings are dumped into cassandra.yaml by PyYAML's safe dumper, which refuses a
    # float subclass; a copy or a pickle of the written float is a plain float too.
    profile = load_profile(write(tmp_path, "database:\n  settings:\n    ratio: 0.50\n"
                                 "    nested: {list: [1.5]}\n"))
    settings = profile.database.settings
    assert type(settings["ratio"]) is float and type(settings["nested"]["list"][0]) is float
    assert "ratio: 0.5" in yaml.safe_dump(dict(settings))
    written = WrittenFloat(2026.1, "2026.10")
    assert type(copy.deepcopy(written)) is float and copy.deepcopy(written) == 2026.1
    assert type(pickle.loads(pickle.dumps(written))) is float
