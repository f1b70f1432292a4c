"""``scyllabench ssh`` reads an inventory that may have been edited or downloaded with a run's
artifacts: each field is checked and named, and nothing in it can become an ssh option."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_aws_files import inventory

from pytest_scyllabench import cli
from pytest_scyllabench.errors import ConfigError
from pytest_scyllabench.provision.aws_files import read_inventory, write_inventory


def written(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    path = write_inventory(tmp_path, inventory(tmp_path))
    return path, json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("ssh_user", "-oProxyCommand=touch pwned", "ssh_user: '-oProxyCommand=touch pwned' is "
                                               "not a user name"),
    ("address", "-oProxyCommand=touch pwned", "hosts[0].address: '-oProxyCommand=touch "
                                              "pwned' is not a host address"),
    ("address", "", "hosts[0].address: '' is not a host address"),
    ("address", None, "hosts[0].address: expected a string, got None"),
    ("key_file", 5, "key_file: expected a string, got 5"),
])
def test_a_field_that_ssh_would_misread_is_refused_and_named(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str, value: object,
        expected: str) -> None:
    path, data = written(tmp_path)
    (data["hosts"][0] if field == "address" else data)[field] = value
    path.write_text(json.dumps(data), encoding="utf-8")

    assert cli.main(["ssh", "--print", str(path), "node1"]) == 1

    out = capsys.readouterr()
    assert out.out == ""
    [line] = out.err.splitlines()
    assert line.startswith(f"scyllabench: error: {path}: ")
    assert expected in line, line


@pytest.mark.parametrize(("text", "expected"), [
    ("", "expected an object of fields at the top level"),  # YAML's empty document
    ("[1]", "expected an object of fields at the top level"),
    ("[" * 100_000, "nested too deeply"),
    ('{"run_id": "x"}', "region: missing"),
])
def test_a_file_that_is_no_inventory_is_one_error(tmp_path: Path, text: str,
                                                  expected: str) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(ConfigError) as error:
        read_inventory(path)

    assert str(error.value) == f"{path}: not an inventory of pytest-scyllabench: {expected}"


def test_hosts_must_be_a_list_of_objects(tmp_path: Path) -> None:
    path, data = written(tmp_path)
    data["hosts"] = [1]
    path.write_text(json.dumps(data), encoding="utf-8")

    with pytest.raises(ConfigError, match=r"hosts\[0\]: expected an object$"):
        read_inventory(path)
