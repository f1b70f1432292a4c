"""Static-hosts profiles: the ``static`` section is validated before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_profile_support import error_of as profile_error

from pytest_scyllabench import backends
from pytest_scyllabench.execute.ssh_options import KnownHostsPolicy
from pytest_scyllabench.profile_schema import load_profile

GOOD = """
provisioner: static
static:
  ssh: {{user: bench, key: id_test, port: 2222, known_hosts: "accept-new:kh", connect_timeout: 5,
         command_timeout: 120}}
  servers: [10.0.0.1, {{name: big, address: 10.0.0.2}}, 10.0.0.3]
  loaders: [10.0.0.9]
  loader_python: /opt/venv/bin/python
{extra}
"""


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "id_test").write_text("not really a key")
    path = tmp_path / "static.yaml"
    path.write_text(text)
    return path


def error_of(path: Path) -> str:
    message = profile_error(path)
    assert message.startswith(f"{path}: ")
    return message


def test_valid_static_profile(tmp_path: Path) -> None:
    profile = load_profile(write(tmp_path, GOOD.format(extra="")))
    static = profile.static
    assert static is not None and profile.provisioner == "static"
    assert [(h.name, h.address) for h in static.servers] == [
        ("node1", "10.0.0.1"), ("big", "10.0.0.2"), ("node3", "10.0.0.3")]
    assert [(h.name, h.address) for h in static.loaders] == [("loader-1", "10.0.0.9")]
    assert static.ssh.key_path == tmp_path / "id_test"  # relative to the profile's directory
    assert static.ssh.known_hosts == KnownHostsPolicy("accept-new", Path("kh"))
    assert (static.ssh.user, static.ssh.port, static.ssh.connect_timeout) == ("bench", 2222, 5.0)
    assert static.command_timeout == 120.0
    assert static.workdir == "/var/tmp/pytest-scyllabench"
    # One node per server and one loader per loader host; the loader runs in that Python.
    assert profile.database.nodes == 3 and profile.loaders.count == 1
    assert profile.loaders.python == "/opt/venv/bin/python"
    assert backends.stress_tool("builtin", profile.loaders).step_command  # builds


def test_a_monitor_host(tmp_path: Path) -> None:
    text = GOOD.format(extra="").replace("loaders: [10.0.0.9]",
                                         "loaders: [10.0.0.9]\n  monitor: 10.0.0.8")
    static = load_profile(write(tmp_path, text)).static
    assert static is not None and static.monitor is not None
    assert (static.monitor.name, static.monitor.address) == ("monitor1", "10.0.0.8")


def test_local_rules_do_not_apply_to_static(tmp_path: Path) -> None:
    servers = ", ".join(f"10.0.1.{i}" for i in range(1, 8))
    text = GOOD.format(extra="").replace("[10.0.0.1, {name: big, address: 10.0.0.2}, 10.0.0.3]",
                                         f"[{servers}]")
    profile = load_profile(write(tmp_path, text))
    assert profile.database.nodes == 7  # above the local maximum of 5, not loopback


@pytest.mark.parametrize(("change", "expected"), [
    (("loader_python:", "loader_pythn:"), "static.loader_pythn: unknown key"),
    (("connect_timeout: 5", "conect_timeout: 5"), "static.ssh.conect_timeout: unknown key"),
    (("key: id_test", "key: missing_key"), "static.ssh.key: no such private key file: "),
    (('"accept-new:kh"', '"trust-me"'), "static.ssh.known_hosts: unknown known-hosts policy"),
    (('"accept-new:kh"', '"strict:nope"'), "static.ssh.known_hosts: no such known_hosts file"),
    (('"accept-new:kh"', '"off:kh"'), "static.ssh.known_hosts: known-hosts policy 'off' takes"),
    (("loaders: [10.0.0.9]", "loaders: []"), "static.loaders: must be a non-empty list"),
    (("port: 2222", "port: 0"), "static.ssh: ssh port must be 1..65535"),
    (("{name: big, address: 10.0.0.2}", "{name: big}"), "static.servers[1].address: missing"),
    (("{name: big, address: 10.0.0.2}", "{name: node1, address: 10.0.0.2}"),
     "static: host names must be unique: node1"),
    (("loaders: [10.0.0.9]", "loaders: [10.0.0.9]\n  monitor: {name: big, address: 10.0.0.8}"),
     "static: host names must be unique: big"),
    # Readiness finds nodes by address in system.peers_v2 / nodetool status: a host name never
    # matched, and the session waited for the whole start timeout.
    (("10.0.0.3]", "db3.example.com]"), "static.servers[2]: a database server must be given by "
                                        "its IP address (its node binds and gossips on it), got "
                                        "'db3.example.com'"),
    (("address: 10.0.0.2}", "address: db2}"), "static.servers[1].address: a database server "
                                               "must be given by its IP address"),
])
def test_bad_static_fields(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    old, new = change
    text = GOOD.format(extra="")
    assert old in text
    assert expected in error_of(write(tmp_path, text.replace(old, new, 1)))


def test_loaders_and_monitor_may_be_host_names(tmp_path: Path) -> None:
    text = GOOD.format(extra="").replace("loaders: [10.0.0.9]",
                                         "loaders: [load1.example.com]\n  monitor: mon.local")
    static = load_profile(write(tmp_path, text)).static
    assert static is not None and static.loaders[0].address == "load1.example.com"


def test_bare_off_policy(tmp_path: Path) -> None:
    text = GOOD.format(extra="").replace('"accept-new:kh"', "off")
    static = load_profile(write(tmp_path, text)).static
    assert static is not None and static.ssh.known_hosts == KnownHostsPolicy("off")


def test_empty_servers(tmp_path: Path) -> None:
    text = GOOD.format(extra="").replace(
        "[10.0.0.1, {name: big, address: 10.0.0.2}, 10.0.0.3]", "[]")
    assert "static.servers: must be a non-empty list of hosts" in error_of(write(tmp_path, text))


def test_known_hosts_is_required(tmp_path: Path) -> None:
    text = GOOD.format(extra="").replace(', known_hosts: "accept-new:kh"', "")
    assert "static.ssh.known_hosts: missing" in error_of(write(tmp_path, text))


def test_node_count_must_match_the_servers(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, GOOD.format(extra="database: {nodes: 2}")))
    assert "database.nodes: must equal the number of static.servers (3)" in message


def test_static_section_needs_static_provisioner(tmp_path: Path) -> None:
    text = GOOD.format(extra="").replace("provisioner: static", "provisioner: local")
    assert ": static: only used with provisioner: static" in error_of(write(tmp_path, text))


def test_static_provisioner_needs_its_section(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "provisioner: static\n"))
    assert "static: provisioner: static needs a static section" in message


def test_unknown_provisioner(tmp_path: Path) -> None:
    assert "provisioner: must be one of local, static, aws, docker, got 'gce'" in error_of(
        write(tmp_path, "provisioner: gce\n"))


AWS = """provisioner: aws
aws:
  region: eu-west-1
  owner: perf-team
  operator_cidr: 203.0.113.5/32
  servers: {ami: ami-0123456789abcdef0, count: 3}
  loaders: {ami: ami-0123456789abcdef0, instance_type: c6i.xlarge}
"""


def test_aws_section_merges_roles_onto_defaults(tmp_path: Path) -> None:
    profile = load_profile(write(tmp_path, AWS))
    assert profile.aws is not None
    assert profile.aws.loaders.instance_type == "c6i.xlarge"
    assert profile.aws.loaders.market == "spot"  # the loaders' default survives the merge
    assert profile.aws.servers.instance_type == "i4i.large"
    assert profile.database.nodes == 3 and profile.loaders.count == 1


@pytest.mark.parametrize(("extra", "message"), [
    ("  servers: {ami: ami-0123456789abcdef0, count: 3, cpus: 4}\n",
     "aws.servers.cpus: unknown key; expected one of ami, count"),
    ("  servers: {ami: ami-0123456789abcdef0, count: two}\n",
     "aws.servers.count: must be an integer"),
    ("  regoin: us-east-1\n", "aws.regoin: unknown key"),
])
def test_aws_section_errors_name_the_field(tmp_path: Path, extra: str, message: str) -> None:
    text = AWS.replace("  servers: {ami: ami-0123456789abcdef0, count: 3}\n", "") + extra
    assert message in error_of(write(tmp_path, text))


def test_aws_problems_found_before_asking_aws(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, AWS.replace("203.0.113.5/32", "0.0.0.0/0")))
    assert "aws.operator_cidr" in message


def test_aws_node_count_must_agree(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, AWS + "database: {nodes: 2}\n"))
    assert "database.nodes: must equal aws.servers.count (3) or be left out, got 2" in message


def test_aws_monitoring_needs_a_monitor_host(tmp_path: Path) -> None:
    monitored = AWS + "monitoring: {enabled: true}\n"
    assert "aws.monitor.count: must be 1 when monitoring is enabled" in error_of(
        write(tmp_path, monitored))
    profile = load_profile(write(tmp_path, monitored.replace(
        "  loaders:", "  monitor: {ami: ami-0123456789abcdef0, count: 1}\n  loaders:")))
    assert profile.aws is not None and profile.aws.monitor.count == 1


def test_aws_section_needs_aws_provisioner(tmp_path: Path) -> None:
    assert "aws: only used with provisioner: aws" in error_of(
        write(tmp_path, "aws: {region: us-east-1}\n"))


def test_docker_runs_scylla_only(tmp_path: Path) -> None:
    assert "database.kind: the docker provisioner runs scylla only" in error_of(
        write(tmp_path, "provisioner: docker\n"))


def test_docker_profile_selects_the_scylla_backends(tmp_path: Path) -> None:
    profile = load_profile(write(tmp_path, "provisioner: docker\ndatabase:\n  kind: scylla\n"
                                 "  version: '6.2'\n  nodes: 3\ndocker: {smp: 2}\n"))
    assert profile.docker.smp == 2
    assert backends.PROVISIONERS[profile.provisioner].endswith("docker:create")
    assert profile.database.kind not in backends.DATABASES  # so it runs through REMOTE_DATABASES
    assert backends.REMOTE_DATABASES["scylla"].endswith("scylla:create")


def test_scylla_section_only_for_scylla(tmp_path: Path) -> None:
    assert "scylla: only used with database.kind: scylla" in error_of(
        write(tmp_path, "scylla: {method: tarball}\n"))


@pytest.mark.parametrize(("settings", "problem"), [
    ('{commitlog_directory: /}', "database.settings.commitlog_directory: must be absolute "
                                 "paths other than /, got '/'"),
    ('{data_file_directories: [/mnt/a, data]}', "database.settings.data_file_directories: "
                                                "must be absolute paths"),
    ('{data_file_directories: []}', "database.settings.data_file_directories: must name at "
                                    "least one directory"),
])
@pytest.mark.parametrize("kind", ["cassandra", "scylla"])
def test_moved_data_directories_are_checked_at_load(tmp_path: Path, kind: str, settings: str,
                                                    problem: str) -> None:
    """They are wiped with rm -rf between sessions: refused before any host is touched."""
    extra = f"database: {{kind: {kind}, settings: {settings}}}"
    assert problem in error_of(write(tmp_path, GOOD.format(extra=extra)))


def test_moved_data_directories_on_other_disks_are_accepted(tmp_path: Path) -> None:
    extra = ("database: {kind: scylla, settings: {data_file_directories: [/mnt/a/, /mnt/b],"
             " commitlog_directory: /mnt/c}}")
    settings = load_profile(write(tmp_path, GOOD.format(extra=extra))).database.settings
    assert settings["data_file_directories"] == ["/mnt/a/", "/mnt/b"]
