"""The files of an EC2 run and the ``scyllabench ssh`` command, without AWS."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from pytest_scyllabench import cli
from pytest_scyllabench.errors import ConfigError
from pytest_scyllabench.provision.aws_files import (
    Inventory,
    InventoryHost,
    key_dir,
    read_inventory,
    remove_private_key,
    ssh_argv,
    ssh_config,
    write_inventory,
    write_private_key,
)


def inventory(tmp_path: Path) -> Inventory:
    hosts = tuple(InventoryHost(name=name, role=role, instance_id=f"i-{index:017x}",
                                instance_type="i4i.large", market="on-demand",
                                public_ip=f"54.0.0.{index}", private_ip=f"10.0.0.{index}",
                                address=f"54.0.0.{index}")
                  for index, (name, role) in enumerate([("node1", "servers"),
                                                        ("loader-1", "loaders")], start=1))
    return Inventory(run_id="20261123-193839-a1b2c3", region="us-east-1", zone="us-east-1a",
                     endpoint_url="", owner="alice", expiry="2026-11-24T03:38:39Z",
                     ssh_user="ubuntu", key_file=str(tmp_path / "key.pem"),
                     known_hosts=str(tmp_path / "known_hosts"), security_group="sg-1",
                     key_pair="scyllabench-x", hosts=hosts)


def test_the_private_key_is_created_0600_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "run" / "key.pem"
    old = os.umask(0)
    try:
        write_private_key(path, "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().endswith("-----END PRIVATE KEY-----\n")
    with pytest.raises(FileExistsError):  # never overwritten, never reopened with other bits
        write_private_key(path, "other")


def test_the_key_directory_is_0700_whatever_the_umask_and_goes_with_the_key(
        tmp_path: Path) -> None:
    directory = key_dir(tmp_path / "cache" / "aws", "20261123-193839-a1b2c3")
    assert directory == tmp_path / "cache" / "aws" / "20261123-193839-a1b2c3"
    old = os.umask(0o022)
    try:
        write_private_key(directory / "key.pem", "secret")
    finally:
        os.umask(old)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    remove_private_key(directory)
    assert not directory.exists()
    remove_private_key(directory)  # idempotent


def test_the_inventory_round_trips_as_json_and_yaml(tmp_path: Path) -> None:
    written = inventory(tmp_path)
    path = write_inventory(tmp_path, written)
    assert read_inventory(path) == written
    as_yaml = tmp_path / "inventory.yaml"
    as_yaml.write_text(path.read_text())  # JSON is YAML
    assert read_inventory(as_yaml) == written


def test_a_file_that_is_not_an_inventory_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "inventory.json"
    path.write_text('{"run_id": "x"}')
    with pytest.raises(ConfigError, match="not an inventory"):
        read_inventory(path)


def test_ssh_config_has_one_entry_per_host(tmp_path: Path) -> None:
    text = ssh_config(inventory(tmp_path))
    assert "Host node1\n    HostName 54.0.0.1\n    User ubuntu\n" in text
    assert f'IdentityFile "{tmp_path / "key.pem"}"' in text
    assert text.count("IdentitiesOnly yes") == 2


def test_ssh_argv_uses_the_runs_key_and_address(tmp_path: Path) -> None:
    argv = ssh_argv(inventory(tmp_path), "loader-1", ["uptime"])
    assert argv[:3] == ["ssh", "-o", f'IdentityFile="{tmp_path / "key.pem"}"']
    assert argv[-3:] == ["--", "ubuntu@54.0.0.2", "uptime"]
    with pytest.raises(ConfigError, match="no host 'node9'; its hosts: node1, loader-1"):
        ssh_argv(inventory(tmp_path), "node9")


def test_cli_ssh_print(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_inventory(tmp_path, inventory(tmp_path))
    assert cli.main(["ssh", "--print", str(path), "node1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ssh -o ") and out.rstrip().endswith("ubuntu@54.0.0.1")


def test_cli_errors_print_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["ssh", "--print", str(tmp_path / "missing.json"), "node1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("scyllabench: error: ") and err.count("\n") == 1
    path = write_inventory(tmp_path, inventory(tmp_path))
    assert cli.main(["ssh", "--print", str(path), "node9"]) == 1
    assert "no host 'node9'" in capsys.readouterr().err


def test_cli_needs_a_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["aws"])
    assert exc.value.code == 2


def _ssh_g(args: list[str]) -> dict[str, str]:
    """What OpenSSH makes of a command line (``ssh -G``: the options, no connection)."""
    import shutil
    import subprocess

    if shutil.which("ssh") is None:
        pytest.skip("no ssh client")
    shown = subprocess.run(["ssh", "-G", *args], capture_output=True, text=True, timeout=30)
    assert shown.returncode == 0, shown.stderr
    options: dict[str, str] = {}
    for line in shown.stdout.splitlines():
        key, _, value = line.partition(" ")
        options.setdefault(key, value)
    return options


def test_ssh_reads_the_key_and_known_hosts_of_a_directory_with_spaces(tmp_path: Path) -> None:
    """ssh splits an unquoted UserKnownHostsFile at blanks (two blanks show it: it prints the
    parts joined by one), and refuses an IdentityFile with a blank in it."""
    directory = tmp_path / "my  trials"
    directory.mkdir()
    run = inventory(directory)
    Path(run.key_file).write_text("not a key\n")  # ssh drops an -i it cannot read
    config = directory / "ssh_config"
    config.write_text(ssh_config(run), encoding="utf-8")
    for options in (_ssh_g(["-F", str(config), "node1"]),
                    _ssh_g(["-F", "none", *ssh_argv(run, "node1")[1:]])):
        assert options["userknownhostsfile"] == run.known_hosts
        assert options["identityfile"] == run.key_file
        assert options["hostname"] == "54.0.0.1"


def test_ssh_reads_a_percent_in_a_path_literally(tmp_path: Path) -> None:
    """ssh expands %d, %h... in key and known-hosts file names: a directory named 100%done
    became another path."""
    directory = tmp_path / "100%done %h"
    directory.mkdir()
    run = inventory(directory)
    Path(run.key_file).write_text("not a key\n")
    config = directory / "ssh_config"
    config.write_text(ssh_config(run), encoding="utf-8")
    for options in (_ssh_g(["-F", str(config), "node1"]),
                    _ssh_g(["-F", "none", *ssh_argv(run, "node1")[1:]])):
        assert options["userknownhostsfile"] == run.known_hosts
        # ssh -G shows identity files before their expansion, which makes %% a %.
        assert options["identityfile"] == run.key_file.replace("%", "%%")


def test_a_remote_command_starting_with_a_dash_is_not_an_ssh_option(tmp_path: Path) -> None:
    argv = ssh_argv(inventory(tmp_path), "node1", ["-V"])
    # ssh -V would print ssh's version; after --, it is the command run on the host.
    options = _ssh_g(["-F", "none", *argv[1:]])
    assert options["hostname"] == "54.0.0.1" and options["user"] == "ubuntu"
