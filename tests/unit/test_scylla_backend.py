"""The ScyllaDB backend against recording fake executors: the exact commands and files of a
packages and a tarball install, scylla.yaml with the profile's overrides merged, the I/O setup
variants, the start order (seed first, each node once the previous is UN), readiness failures
naming the node, stop and wipe, the container mode, and ``nodetool status`` parsing of the
documented samples in ``data/scylla``. No ScyllaDB runs here (none can be obtained)."""

from __future__ import annotations

import asyncio
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_scyllabench.db import scylla_config as cfg
from pytest_scyllabench.db.scylla import (
    OPTIONS_FRAME,
    ScyllaCluster,
    cql_ping,
    create,
    wait_joined,
)
from pytest_scyllabench.db.scylla_nodes import ContainerControl, PackageControl, TarballControl
from pytest_scyllabench.errors import (
    ClusterNotReady,
    CommandError,
    ConfigError,
    DatabaseError,
    ProvisionError,
)
from pytest_scyllabench.execute.base import CommandResult
from pytest_scyllabench.profile import DatabaseSpec, LoaderSpec, LocalSpec, Profile
from pytest_scyllabench.provision.base import Deployment, Host

DATA = Path(__file__).parent / "data" / "scylla"
VERSION = "6.2.3"
REPORTED = "6.2.3-0.20250119.bff9ddde1283"
WORKDIR = "/var/tmp/sb"
ADDRESSES = ("10.0.0.1", "10.0.0.2", "10.0.0.3")
STOCK_YAML = """\
cluster_name: 'Test Cluster'
num_tokens: 256
seed_provider:
    - class_name: org.apache.cassandra.locator.SimpleSeedProvider
      parameters:
          - seeds: "127.0.0.1"
listen_address: localhost
api_port: 10000
api_address: 127.0.0.1
api_ui_dir: /opt/scylladb/swagger-ui/dist/
client_encryption_options:
    enabled: false
    certificate: /etc/scylla/scylla.crt
"""


@dataclass
class Reply:
    stdout: str = ""
    code: int = 0
    stderr: str = ""


class FakeProcess:
    pid = 4242
    returncode: int | None = None

    async def wait(self, timeout: float | None = None) -> int:
        return 0

    async def terminate(self, grace: float = 10.0) -> int | None:
        return 0

    def stderr_tail(self, lines: int = 20) -> str:
        return ""


@dataclass
class FakeHost:
    """Records every call; answers with the first rule whose text is in the command line.

    A rule's list of replies is consumed one per call, its last reply repeating.
    """

    host: str
    rules: list[tuple[str, Reply | list[Reply]]] = field(default_factory=list)
    journal: list[tuple[str, str]] = field(default_factory=list)
    calls: list[tuple[str, ...]] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    started: list[dict[str, Any]] = field(default_factory=list)
    fetched: list[tuple[str, Path]] = field(default_factory=list)

    def answer(self, line: str) -> Reply:
        for needle, replies in self.rules:
            if needle in line:
                if isinstance(replies, Reply):
                    return replies
                return replies.pop(0) if len(replies) > 1 else replies[0]
        return Reply()

    async def run(self, command: Sequence[str], *, timeout: float, check: bool = True,
                  env: Mapping[str, str] | None = None, cwd: str | None = None,
                  stdin: bytes | None = None) -> CommandResult:
        argv = tuple(command)
        self.calls.append(argv)
        line = shlex.join(argv)
        self.journal.append((self.host, line))
        if stdin is not None and argv[-1].startswith("cat > "):
            self.files[shlex.split(argv[-1])[-1]] = stdin.decode()
        reply = self.answer(line)
        if check and reply.code:
            raise CommandError(self.host, argv, reply.code, reply.stderr)
        return CommandResult(self.host, argv, reply.code, reply.stdout, reply.stderr)

    async def start(self, command: Sequence[str], *, env: Mapping[str, str] | None = None,
                    cwd: str | None = None, stdout_path: str | None = None,
                    on_stdout: Any = None, detach: bool = False) -> FakeProcess:
        self.started.append({"command": list(command), "env": dict(env or {}), "cwd": cwd,
                             "stdout_path": stdout_path, "detach": detach})
        self.journal.append((self.host, "START " + shlex.join(command)))
        return FakeProcess()

    async def put(self, local: Path, remote: str) -> None:
        self.calls.append(("PUT", str(local), remote))

    async def get(self, remote: str, local: Path) -> None:
        self.fetched.append((remote, local))
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_text(f"copy of {remote}\n")

    async def close(self) -> None:
        pass

    def lines(self) -> list[str]:
        return [shlex.join(call) for call in self.calls]


def status(*codes: str) -> str:
    """The documented three-node sample (status.rst) for 10.0.0.x, rows given these codes."""
    lines = (DATA / "nodetool-status-3un.txt").read_text().splitlines()
    head, rows = lines[:5], lines[5:]
    return "\n".join([*head, *(code + rows[i][2:].replace(f"127.0.0.{i + 1}", ADDRESSES[i])
                              for i, code in enumerate(codes))]) + "\n"


def hosts(count: int, rules: Sequence[Sequence[tuple[str, Reply | list[Reply]]]] = (),
          journal: list[tuple[str, str]] | None = None) -> list[Host]:
    shared = journal if journal is not None else []
    return [Host(f"node{i + 1}", ADDRESSES[i],
                 FakeHost(f"node{i + 1}", list(rules[i]) if i < len(rules) else [],
                          journal=shared))
            for i in range(count)]


def fake(host: Host) -> FakeHost:
    assert isinstance(host.executor, FakeHost)
    return host.executor


def packages(**changes: Any) -> PackageControl:
    spec = cfg.ScyllaSpec(**changes)
    return PackageControl(spec, VERSION, {}, f"{WORKDIR}/clusters/p", 600.0)


def tarball(settings: Mapping[str, Any] | None = None, **changes: Any) -> TarballControl:
    spec = cfg.ScyllaSpec(method="tarball", tarball_url="https://dl.example/scylladb-{series}/"
                          "scylla-unified-{version}-0.20250119.bff9ddde1283.{arch}.tar.gz",
                          **changes)
    return TarballControl(spec, VERSION, settings or {}, WORKDIR, f"{WORKDIR}/clusters/p", 600.0)


async def no_cql_problem(address: str, port: int) -> str | None:
    return None


def cluster(control: Any, servers: Sequence[Host], tmp_path: Path,
            cql: Any = no_cql_problem) -> ScyllaCluster:
    return ScyllaCluster(control, servers, tmp_path / "logs", cql=cql, interval=0.0)


# -- nodetool status ---------------------------------------------------------------------------

def test_parses_the_documented_three_normal_nodes() -> None:
    rows = cfg.parse_nodetool_status((DATA / "nodetool-status-3un.txt").read_text())
    assert [(row.datacenter, row.code, row.address) for row in rows] == [
        ("datacenter1", "UN", "127.0.0.1"), ("datacenter1", "UN", "127.0.0.2"),
        ("datacenter1", "UN", "127.0.0.3")]
    assert cfg.ring_problem(rows, ["127.0.0.1", "127.0.0.2", "127.0.0.3"]) is None


def test_parses_down_joining_and_excluded_nodes() -> None:
    down = cfg.parse_nodetool_status((DATA / "nodetool-status-un-dn.txt").read_text())
    assert [(row.datacenter, row.code, row.address) for row in down] == [
        ("DC1", "UN", "192.168.1.201"), ("DC1", "DN", "192.168.1.202")]
    assert cfg.ring_problem(down, ["192.168.1.201", "192.168.1.202"]) == \
        "not up and normal yet: 192.168.1.202 DN"
    joining = cfg.parse_nodetool_status((DATA / "nodetool-status-uj.txt").read_text())
    assert [row.code for row in joining] == ["UN", "UN", "UJ"]
    assert cfg.ring_problem(joining, ["192.168.1.201", "192.168.1.202", "192.168.1.203"]) == \
        "not up and normal yet: 192.168.1.203 UJ"
    excluded = cfg.parse_nodetool_status((DATA / "nodetool-status-excluded.txt").read_text())
    assert [row.code for row in excluded] == ["UN", "UN", "UN", "XN"]


def test_parses_the_single_spaced_docker_sample() -> None:
    rows = cfg.parse_nodetool_status((DATA / "nodetool-status-docker.txt").read_text())
    assert [(row.code, row.address) for row in rows] == [("UN", "172.17.0.2")]


def test_ring_problem_names_missing_and_foreign_nodes() -> None:
    rows = cfg.parse_nodetool_status(status("UN", "UN"))
    assert cfg.ring_problem(rows, ADDRESSES) == "does not list 10.0.0.3 yet"
    assert cfg.ring_problem(rows, ADDRESSES[:1]) == \
        "lists nodes outside the cluster: 10.0.0.2"
    assert cfg.parse_nodetool_status("nodetool: Unable to connect to Scylla API server") == []


def test_ring_problem_compares_ipv6_addresses_as_addresses() -> None:
    # The documented sample with IPv6 nodes, printed compressed as ScyllaDB's native nodetool
    # prints them (the Java nodetool of older releases wrote every group: 2001:db8:0:0:0:0:0:1);
    # the profile may spell them either way, or in capitals.
    text = (DATA / "nodetool-status-uj.txt").read_text()
    for last, address in (("201", "2001:db8::1"), ("202", "2001:db8::2"), ("203", "2001:db8::3")):
        text = text.replace(f"192.168.1.{last} ", f"{address} ")
    rows = cfg.parse_nodetool_status(text)
    assert [row.address for row in rows] == ["2001:db8::1", "2001:db8::2", "2001:db8::3"]
    assert cfg.ring_problem(rows, ["2001:DB8::1", "2001:db8:0:0:0:0:0:2"]) == \
        "lists nodes outside the cluster: 2001:db8::3"
    assert cfg.ring_problem(rows, ["2001:db8:0:0:0:0:0:1", "2001:db8::2"],
                            others=["2001:0db8::3"]) is None
    assert cfg.ring_problem(rows, ["2001:db8::1", "2001:db8::2", "2001:db8:0::3"]) == \
        "not up and normal yet: 2001:db8:0::3 UJ"


# -- configuration -----------------------------------------------------------------------------

def test_scylla_yaml_merges_defaults_then_overrides() -> None:
    text = cfg.render_scylla_yaml(STOCK_YAML, "10.0.0.2", ["10.0.0.1"], "/var/lib/scylla", {
        "prometheus_port": 9191, "compaction_throughput_mb_per_sec": 0,
        "client_encryption_options": {"enabled": True}})
    assert text.startswith("# Written by pytest-scyllabench.\n")
    assert yaml.safe_load(text) == {
        "cluster_name": "scyllabench",
        "num_tokens": 256,
        "seed_provider": [{"class_name": "org.apache.cassandra.locator.SimpleSeedProvider",
                           "parameters": [{"seeds": "10.0.0.1"}]}],
        "listen_address": "10.0.0.2",
        "api_port": 10000,
        "api_address": "10.0.0.2",
        "api_ui_dir": "/opt/scylladb/swagger-ui/dist/",
        "client_encryption_options": {"enabled": True, "certificate": "/etc/scylla/scylla.crt"},
        "rpc_address": "10.0.0.2",
        "native_transport_port": 9042,
        "endpoint_snitch": "GossipingPropertyFileSnitch",
        "prometheus_address": "10.0.0.2",
        "prometheus_port": 9191,
        "data_file_directories": ["/var/lib/scylla/data"],
        "commitlog_directory": "/var/lib/scylla/commitlog",
        "hints_directory": "/var/lib/scylla/hints",
        "view_hints_directory": "/var/lib/scylla/view_hints",
        "compaction_throughput_mb_per_sec": 0,
    }


def test_deep_merge_keeps_its_inputs() -> None:
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    merged = cfg.deep_merge(base, {"a": {"c": [3]}, "d": {"e": 2}})
    assert merged == {"a": {"b": 1, "c": [3]}, "d": {"e": 2}}
    assert base == {"a": {"b": 1, "c": [1, 2]}, "d": 1}


def test_spec_problems() -> None:
    assert cfg.spec_problems(cfg.ScyllaSpec(), "2025.1") == []
    problems = dict(cfg.spec_problems(cfg.ScyllaSpec(method="tarball", smp=0, memory="lots",
                                                     repo_url="x/{codename}",
                                                     io_properties={"read_iops": 5}), "latest"))
    assert set(problems) == {"version", "tarball_url", "repo_url", "smp", "memory",
                             "io_properties"}
    assert "codename" in problems["repo_url"]
    assert "missing read_bandwidth, write_iops, write_bandwidth" in problems["io_properties"]


@pytest.mark.parametrize(("url", "problem"), [
    ("https://h/scylla-{version}.tar.gz}", "not a valid pattern: Single '}'"),
    ("https://h/{version", "not a valid pattern"),
    ("https://h/{}", "unknown placeholder(s) {}"),
    ("https://h/{version.__class__}", "unknown placeholder(s) {version.__class__}"),
])
def test_tarball_url_that_cannot_be_filled_is_a_problem(url: str, problem: str) -> None:
    problems = dict(cfg.spec_problems(cfg.ScyllaSpec(method="tarball", tarball_url=url),
                                      "2025.1.9"))
    assert problem in problems["tarball_url"]


def test_a_tarball_url_with_literal_braces_is_filled() -> None:
    url = "https://h/{{x}}/scylla-{version}-{arch}.tar.gz"
    assert cfg.spec_problems(cfg.ScyllaSpec(method="tarball", tarball_url=url), "2025.1.9") == []
    assert cfg.fill_url(url, "2025.1.9") == "https://h/{x}/scylla-2025.1.9-x86_64.tar.gz"


def test_docker_problems() -> None:
    assert cfg.docker_problems(cfg.DockerSpec()) == []
    assert cfg.docker_problems(cfg.DockerSpec(image="registry:5000/scylladb/scylla",
                                              tag="2025.1.9")) == []
    problems = dict(cfg.docker_problems(cfg.DockerSpec(image="scylladb/scylla:6.2", tag="6.2 rc",
                                                       smp=0, memory="1 GB", pull_timeout=0)))
    assert set(problems) == {"image", "tag", "smp", "memory", "pull_timeout"}


def test_io_properties_of_one_disk_or_a_list() -> None:
    one = {"read_iops": 680915, "read_bandwidth": 3577784832, "write_iops": 94199,
           "write_bandwidth": 609521344}
    assert yaml.safe_load(cfg.io_properties_yaml(one, "/var/lib/scylla")) == {
        "disks": [{"mountpoint": "/var/lib/scylla", **one}]}
    disks = {"disks": [{"mountpoint": "/data", **one}]}
    assert yaml.safe_load(cfg.io_properties_yaml(disks, "/ignored")) == disks
    with pytest.raises(ValueError, match="positive integer"):
        cfg.io_properties_yaml({**one, "read_iops": "fast"}, "/")


def test_version_matching() -> None:
    assert cfg.version_matches("6.2", REPORTED)
    assert cfg.version_matches("6.2.3", REPORTED)
    assert not cfg.version_matches("6.2.30", REPORTED)
    assert not cfg.version_matches("6.1", REPORTED)
    assert cfg.series("2025.1.9") == "2025.1"


# -- install -----------------------------------------------------------------------------------

def install_rules(release: str, uid: str = "0") -> list[tuple[str, Reply | list[Reply]]]:
    return [("id -u", Reply(uid + "\n")),
            ("scylla --version", [Reply("", 127, "sh: scylla: not found"), Reply(REPORTED)]),
            ("/etc/os-release", Reply(release + "\n"))]


def test_packages_install_on_ubuntu_as_root(tmp_path: Path) -> None:
    servers = hosts(1, [install_rules("ubuntu debian")])
    control = packages()
    assert asyncio.run(cluster(control, servers, tmp_path).install()) == REPORTED
    calls = fake(servers[0]).calls
    assert calls[:2] == [("scylla", "--version"),
                         ("sh", "-c", '. /etc/os-release && echo "$ID $ID_LIKE"')]
    assert calls[2] == ("id", "-u")
    assert calls[3][:2] == ("sh", "-c")
    assert calls[3][2].splitlines() == [
        "set -e",
        "export DEBIAN_FRONTEND=noninteractive",
        "mkdir -p /etc/apt/keyrings",
        "gpg --homedir /tmp --no-default-keyring --keyring /tmp/scylladb-temp.gpg --keyserver "
        "hkp://keyserver.ubuntu.com:80 --recv-keys d0a112e067426ab2 a43e06657bac99e3 "
        "c503c686b007f39e",
        "gpg --homedir /tmp --no-default-keyring --keyring /tmp/scylladb-temp.gpg --export "
        "--armor d0a112e067426ab2 a43e06657bac99e3 c503c686b007f39e | gpg --dearmor > "
        "/etc/apt/keyrings/scylladb.gpg",
        "wget -O /etc/apt/sources.list.d/scylla.list "
        "https://downloads.scylladb.com/deb/debian/scylla-6.2.list",
        "printf 'Package: scylla*\\nPin: version %s-*\\nPin-Priority: 1001\\n' 6.2.3 > "
        "/etc/apt/preferences.d/scylla-pin",
        "apt-get update",
        "apt-get install -y scylla",
    ]
    assert calls[4:] == [("scylla", "--version")]


def test_packages_install_a_series_through_sudo_on_debian(tmp_path: Path) -> None:
    servers = hosts(1, [install_rules("debian", uid="1000")])
    control = PackageControl(cfg.ScyllaSpec(), "2025.1", {}, "/w", 600.0)
    servers[0] = Host("node1", ADDRESSES[0], fake(servers[0]))
    fake(servers[0]).rules[1] = ("scylla --version", [Reply("", 127),
                                                      Reply("2025.1.9-0.20251010.6c539463bbda")])
    asyncio.run(cluster(control, servers, tmp_path).install())
    script = fake(servers[0]).calls[3]
    assert script[:4] == ("sudo", "-n", "sh", "-c")
    assert "scylla-2025.1.list" in script[4]
    assert "rm -f /etc/apt/preferences.d/scylla-pin" in script[4].splitlines()


def test_packages_install_on_rocky(tmp_path: Path) -> None:
    servers = hosts(1, [install_rules('rocky rhel centos fedora')])
    asyncio.run(cluster(packages(), servers, tmp_path).install())
    assert fake(servers[0]).calls[3][2].splitlines() == [
        "set -e",
        "rpm -q epel-release >/dev/null 2>&1 || yum install -y epel-release "
        "|| echo 'warning: EPEL could not be installed' >&2",
        "curl -fsSL -o /etc/yum.repos.d/scylla.repo "
        "https://downloads.scylladb.com/rpm/centos/scylla-6.2.repo",
        "yum install -y scylla-6.2.3",
    ]


def test_packages_of_an_enterprise_release_are_scylla_enterprise(tmp_path: Path) -> None:
    # Up to 2024.2, ScyllaDB Enterprise repositories hold scylla-enterprise (and its
    # scylla-enterprise-* packages), no package named scylla; 2025.1 on is scylla again.
    for release, system in (("ubuntu debian", "apt"), ("rocky rhel centos fedora", "yum")):
        servers = hosts(1, [install_rules(release)])
        fake(servers[0]).rules[1] = ("scylla --version", [
            Reply("", 127), Reply("2024.1.12-0.20241020.83d2d6e9f85b")])
        control = PackageControl(cfg.ScyllaSpec(), "2024.1.12", {}, "/w", 600.0)
        asyncio.run(cluster(control, servers, tmp_path).install())
        script = fake(servers[0]).calls[3][2].splitlines()
        if system == "apt":
            assert "scylla-2024.1.list" in script[-4]
            assert script[-3:] == [
                "printf 'Package: scylla*\\nPin: version %s-*\\nPin-Priority: 1001\\n' "
                "2024.1.12 > /etc/apt/preferences.d/scylla-pin",
                "apt-get update", "apt-get install -y scylla-enterprise"]
        else:
            assert script[-1] == "yum install -y scylla-enterprise-2024.1.12"
    assert cfg.package_name("2025.1") == cfg.package_name("6.2.3") == "scylla"
    assert cfg.package_name("2024.2") == "scylla-enterprise"


def test_apt_trusts_the_signing_key_of_every_documented_series(tmp_path: Path) -> None:
    # install-on-linux.rst names a43e06657bac99e3 for 6.x, 2024.2 and 2025.1-2025.4,
    # c503c686b007f39e from 2026.1, d0a112e067426ab2 for 5.x and Enterprise up to 2024.1: the
    # keyring must hold the key of the profile's series, or apt-get update refuses the repository.
    keys = "d0a112e067426ab2 a43e06657bac99e3 c503c686b007f39e"
    for version in ("6.2", "2024.1.12", "2026.1"):
        script = cfg.apt_install_script(version, "https://x/scylla.list", cfg.REPO_KEYS)
        assert f"--recv-keys {keys}\n" in script
        assert f"--export --armor {keys} | gpg --dearmor" in script
    servers = hosts(1, [install_rules("ubuntu debian")])
    asyncio.run(cluster(packages(repo_key="0123456789abcdef"), servers, tmp_path).install())
    script = fake(servers[0]).calls[3][2]
    assert "--recv-keys 0123456789abcdef\n" in script and "a43e" not in script


def test_packages_install_is_skipped_when_the_version_is_there(tmp_path: Path) -> None:
    servers = hosts(1, [[("scylla --version", Reply(REPORTED + "\n"))]])
    assert asyncio.run(cluster(packages(), servers, tmp_path).install()) == REPORTED
    assert fake(servers[0]).calls == [("scylla", "--version")]


def test_packages_install_failures(tmp_path: Path) -> None:
    servers = hosts(1, [install_rules("alpine")])
    with pytest.raises(DatabaseError, match=r"node1 \(10.0.0.1\).*alpine.*method: tarball"):
        asyncio.run(cluster(packages(), servers, tmp_path).install())
    servers = hosts(1, [install_rules("ubuntu debian")])
    fake(servers[0]).rules[1] = ("scylla --version", [Reply("", 127), Reply("6.2.4-0.2025")])
    with pytest.raises(DatabaseError, match=re.escape("runs ScyllaDB 6.2.4-0.2025, the profile "
                                                      "asks for 6.2.3")):
        asyncio.run(cluster(packages(), servers, tmp_path).install())


def test_tarball_install_downloads_and_installs_without_root(tmp_path: Path) -> None:
    servers = hosts(1, [[("uname -m", Reply("aarch64\n")),
                         ("cat /var/tmp/sb/scylla/6.2.3/MANIFEST", Reply("", 1, "No such file")),
                         ("bin/scylla --version", Reply(REPORTED))]])
    control = tarball()
    asyncio.run(cluster(control, servers, tmp_path).install())
    url = ("https://dl.example/scylladb-6.2/scylla-unified-6.2.3-0.20250119.bff9ddde1283."
           "aarch64.tar.gz")
    version_dir = f"{WORKDIR}/scylla/6.2.3"
    calls = fake(servers[0]).calls
    assert calls[0] == ("uname", "-m")
    assert calls[1] == ("cat", f"{version_dir}/MANIFEST")
    assert calls[2][2].splitlines() == [
        "set -e",
        f"rm -rf {version_dir}/staging {version_dir}/install {version_dir}/MANIFEST",
        f"mkdir -p {version_dir}/staging/unpacked",
        f"curl -fsSL -o {version_dir}/staging/scylla-unified.tar.gz {url}",
        f"tar -xzf {version_dir}/staging/scylla-unified.tar.gz -C {version_dir}/staging/unpacked"
        " --strip-components=1",
        f"cd {version_dir}/staging/unpacked",
        f"./install.sh --nonroot --prefix {version_dir}/install",
        f"cd {version_dir}",
        f"rm -rf {version_dir}/staging",
        f"echo {url} > {version_dir}/MANIFEST",
    ]
    assert calls[3] == (f"{version_dir}/install/bin/scylla", "--version")
    fake(servers[0]).calls.clear()
    fake(servers[0]).rules[1] = (f"cat {version_dir}/MANIFEST", Reply(url + "\n"))
    asyncio.run(cluster(control, servers, tmp_path).install())
    assert [call[0] for call in fake(servers[0]).calls] == [
        "uname", "cat", f"{version_dir}/install/bin/scylla"]


# -- configure ---------------------------------------------------------------------------------

IO = {"read_iops": 680915, "read_bandwidth": 3577784832, "write_iops": 94199,
      "write_bandwidth": 609521344}


def configured(control: Any, tmp_path: Path, rules: Sequence[tuple[str, Reply]] = ()
               ) -> list[Host]:
    servers = hosts(2, [[("id -u", Reply("0")), ("--version", Reply(REPORTED)),
                         ("scylla.yaml", Reply(STOCK_YAML)), *rules]] * 2)
    db = cluster(control, servers, tmp_path)
    asyncio.run(db.install())
    for host in servers:
        fake(host).calls.clear()
    asyncio.run(db.configure())
    return servers


def test_packages_configure_writes_every_file(tmp_path: Path) -> None:
    control = PackageControl(cfg.ScyllaSpec(smp=2, memory="4G", overprovisioned=True,
                                            io_properties=IO), VERSION,
                             {"prometheus_port": 9191}, f"{WORKDIR}/clusters/p", 600.0)
    servers = configured(control, tmp_path)
    node2 = fake(servers[1])
    data = "/var/lib/scylla/data /var/lib/scylla/commitlog /var/lib/scylla/hints " \
           "/var/lib/scylla/view_hints"
    assert node2.lines() == [
        "id -u",
        "systemctl stop scylla-server",
        f"rm -rf {data}",
        "sh -c 'test -f /etc/scylla/scylla.yaml.scyllabench-orig || cp /etc/scylla/scylla.yaml "
        "/etc/scylla/scylla.yaml.scyllabench-orig; cat /etc/scylla/scylla.yaml.scyllabench-orig'",
        f"install -d -o scylla -g scylla {data}",
        "sh -c 'cat > /etc/scylla/scylla.yaml'",
        "sh -c 'cat > /etc/scylla/cassandra-rackdc.properties'",
        "sh -c 'cat > /etc/scylla.d/scyllabench.conf'",
        "sh -c 'cat > /etc/scylla.d/io_properties.yaml'",
        "sh -c 'cat > /etc/scylla.d/io.conf'",
        "scylla_dev_mode_setup --developer-mode 0",
    ]
    written = yaml.safe_load(node2.files["/etc/scylla/scylla.yaml"])
    assert written["listen_address"] == "10.0.0.2"
    assert written["seed_provider"][0]["parameters"] == [{"seeds": "10.0.0.1"}]
    assert written["prometheus_port"] == 9191
    assert written["api_ui_dir"] == "/opt/scylladb/swagger-ui/dist/"
    assert node2.files["/etc/scylla/cassandra-rackdc.properties"] == "dc=datacenter1\nrack=rack1\n"
    assert node2.files["/etc/scylla.d/scyllabench.conf"] == (
        "# Written by pytest-scyllabench.\n"
        'SCYLLA_ARGS="--log-to-syslog 1 --log-to-stdout 0 --default-log-level info '
        '--network-stack posix --smp 2 --memory 4G --overprovisioned"\n')
    assert yaml.safe_load(node2.files["/etc/scylla.d/io_properties.yaml"]) == {
        "disks": [{"mountpoint": "/var/lib/scylla", **IO}]}
    assert node2.files["/etc/scylla.d/io.conf"] == \
        'SEASTAR_IO="--io-properties-file=/etc/scylla.d/io_properties.yaml"\n'


def test_packages_io_setup_runs_once_unless_developer_mode(tmp_path: Path) -> None:
    measured = configured(packages(), tmp_path)
    assert fake(measured[0]).lines()[-2:] == [
        "scylla_dev_mode_setup --developer-mode 0",
        "sh -c 'test -s /etc/scylla.d/io_properties.yaml || scylla_io_setup'"]
    developer = configured(packages(developer_mode=True), tmp_path)
    assert fake(developer[0]).lines()[-1] == "scylla_dev_mode_setup --developer-mode 1"
    assert not any("io_setup" in line or "io.conf" in line for line in fake(developer[0]).lines())


def test_tarball_configure_and_start(tmp_path: Path) -> None:
    control = tarball(smp=1, memory="2G")
    servers = configured(control, tmp_path)
    root = f"{WORKDIR}/clusters/p/10.0.0.1"
    prefix = f"{WORKDIR}/scylla/6.2.3/install"
    node1 = fake(servers[0])
    assert node1.lines()[1:] == [
        f"rm -rf {root}/data {root}/commitlog {root}/hints {root}/view_hints",
        f"cat {prefix}/etc/scylla/scylla.yaml",
        f"mkdir -p {root}/conf {root}/logs {root}/data {root}/commitlog {root}/hints "
        f"{root}/view_hints",
        f"sh -c 'cat > {root}/conf/scylla.yaml'",
        f"sh -c 'cat > {root}/conf/cassandra-rackdc.properties'",
        f"sh -c 'test -s {root}/conf/io_properties.yaml || {prefix}/bin/iotune "
        f"--evaluation-directory {root}/data --properties-file {root}/conf/io_properties.yaml "
        "--smp 1'",
    ]
    assert node1.lines()[0].startswith("sh -c 'pkill -TERM -f '\"'\"'[-]-options-file "
                                       + re.escape(f"{root}/conf/scylla.yaml"))
    written = yaml.safe_load(node1.files[f"{root}/conf/scylla.yaml"])
    assert written["data_file_directories"] == [f"{root}/data"]
    assert written["commitlog_directory"] == f"{root}/commitlog"
    db = cluster(control, servers, tmp_path)
    db._installed = db._configured = True
    asyncio.run(db.start())
    assert node1.started == [{
        "command": [f"{prefix}/bin/scylla", "--options-file", f"{root}/conf/scylla.yaml",
                    "--workdir", root, "--log-to-syslog", "0", "--log-to-stdout", "1",
                    "--default-log-level", "info", "--network-stack", "posix", "--smp", "1",
                    "--memory", "2G", "--io-properties-file", f"{root}/conf/io_properties.yaml"],
        "env": {"SCYLLA_CONF": f"{root}/conf"}, "cwd": root,
        "stdout_path": f"{root}/logs/scylla.log", "detach": True}]
    assert fake(servers[1]).started == []  # the other nodes start in wait_ready


def test_tarball_io_variants(tmp_path: Path) -> None:
    given = configured(tarball(io_properties=IO), tmp_path)
    root = f"{WORKDIR}/clusters/p/10.0.0.1"
    assert yaml.safe_load(fake(given[0]).files[f"{root}/conf/io_properties.yaml"]) == {
        "disks": [{"mountpoint": root, **IO}]}
    assert not any("iotune" in line for line in fake(given[0]).lines())
    developer = tarball(developer_mode=True)
    servers = configured(developer, tmp_path)
    assert not any("iotune" in line for line in fake(servers[0]).lines())
    from pytest_scyllabench.db.scylla_nodes import Node

    command = developer.command(Node(1, servers[0], root))
    assert command[-2:] == ["--developer-mode", "1"]
    assert "--io-properties-file" not in command


# -- start order and readiness -----------------------------------------------------------------

def ready_cluster(tmp_path: Path, node_rules: Sequence[Sequence[tuple[str, Reply | list[Reply]]]],
                  journal: list[tuple[str, str]], cql: Any = no_cql_problem
                  ) -> tuple[ScyllaCluster, list[Host]]:
    base: list[tuple[str, Reply | list[Reply]]] = [
        ("id -u", Reply("0")), ("systemctl is-active", Reply("active\n")),
        ("date +%s", Reply("1763900000\n"))]
    servers = hosts(len(node_rules), [[*rules, *base] for rules in node_rules], journal)
    db = cluster(packages(), servers, tmp_path, cql)
    db._installed = db._configured = True
    return db, servers


def test_nodes_start_in_order_each_after_the_previous_is_up(tmp_path: Path) -> None:
    journal: list[tuple[str, str]] = []
    db, _ = ready_cluster(tmp_path, [
        [("nodetool", [Reply("", 1, "error: connection refused"), Reply(status("UJ")),
                       Reply(status("UN")), Reply(status("UN", "UN", "UN"))])],
        [("nodetool", [Reply(status("UN", "UJ")), Reply(status("UN", "UN")),
                       Reply(status("UN", "UN", "UN"))])],
        [("nodetool", [Reply(status("UN", "UN", "UJ")), Reply(status("UN", "UN", "UN"))])],
    ], journal)
    asyncio.run(db.start())
    asyncio.run(db.wait_ready(60))
    events = [(host, line) for host, line in journal
              if "systemctl start" in line or "nodetool" in line]
    start = "sh -c 'date +%s && systemctl start --no-block scylla-server'"
    assert events == [
        ("node1", start),
        ("node1", "nodetool -h 10.0.0.1 status"),  # refused
        ("node1", "nodetool -h 10.0.0.1 status"),  # UJ
        ("node1", "nodetool -h 10.0.0.1 status"),  # UN: node 2 may start
        ("node2", start),
        ("node2", "nodetool -h 10.0.0.2 status"),
        ("node2", "nodetool -h 10.0.0.2 status"),
        ("node3", start),
        ("node3", "nodetool -h 10.0.0.3 status"),
        ("node3", "nodetool -h 10.0.0.3 status"),
        ("node1", "nodetool -h 10.0.0.1 status"),  # every node sees all three UN
        ("node2", "nodetool -h 10.0.0.2 status"),
        ("node3", "nodetool -h 10.0.0.3 status"),
    ]


def test_a_node_that_does_not_join_is_named(tmp_path: Path) -> None:
    db, _ = ready_cluster(tmp_path, [[("nodetool", Reply(status("UN", "UN")))],
                                     [("nodetool", Reply(status("UN", "UJ")))]], [])
    asyncio.run(db.start())
    with pytest.raises(ClusterNotReady) as caught:
        asyncio.run(db.wait_ready(0.2))
    assert str(caught.value) == ("ScyllaDB node2 (10.0.0.2) on node2 did not join within 0.2 s; "
                                 "its nodetool status: not up and normal yet: 10.0.0.2 UJ")


def test_a_node_that_died_fails_at_once_with_its_journal(tmp_path: Path) -> None:
    db, _ = ready_cluster(tmp_path, [
        [("nodetool", Reply(status("UN")))],
        [("nodetool", Reply("", 1, "error: connection refused")),
         ("systemctl is-active", Reply("failed\n", 3)),
         ("journalctl", Reply("Startup failed: std::system_error (Address already in use)\n"))]],
        [])
    asyncio.run(db.start())
    with pytest.raises(DatabaseError) as caught:
        asyncio.run(db.wait_ready(60))
    assert not isinstance(caught.value, ClusterNotReady)
    assert str(caught.value) == (
        "ScyllaDB node2 (10.0.0.2) on node2 is not running: scylla-server is failed; its journal "
        "ends with:\nStartup failed: std::system_error (Address already in use)\n")


def test_readiness_needs_cql_on_every_node(tmp_path: Path) -> None:
    asked: list[str] = []

    async def cql(address: str, port: int) -> str | None:
        asked.append(f"{address}:{port}")
        return "CQL port 9042: Connection refused" if address == "10.0.0.2" else None

    db, _ = ready_cluster(tmp_path, [[("nodetool", Reply(status("UN", "UN")))]] * 2, [], cql)
    asyncio.run(db.start())
    with pytest.raises(ClusterNotReady) as caught:
        asyncio.run(db.wait_ready(0.2))
    assert "  node2 (10.0.0.2): CQL port 9042: Connection refused" in str(caught.value)
    assert "node1" not in str(caught.value).split("\n", 1)[1]
    assert {"10.0.0.1:9042", "10.0.0.2:9042"} <= set(asked)


def test_ec2_nodes_bind_their_private_address_and_are_probed_at_the_public_one(
        tmp_path: Path) -> None:
    """On EC2 with public addresses: the cluster (scylla.yaml, seeds, nodetool, the loaders'
    contact points) uses each instance's private address; only the CQL probe from this
    machine goes to the public one."""
    asked: list[str] = []

    async def cql(address: str, port: int) -> str | None:
        asked.append(address)
        return None

    rules = [("id -u", Reply("0")), ("--version", Reply(REPORTED)),
             ("scylla.yaml", Reply(STOCK_YAML)), ("systemctl is-active", Reply("active\n")),
             ("date +%s", Reply("1763900000\n")), ("nodetool", Reply(status("UN", "UN")))]
    servers = [Host(f"node{i + 1}", f"203.0.113.{i + 1}", FakeHost(f"node{i + 1}", list(rules)),
                    private_address=ADDRESSES[i]) for i in range(2)]
    db = cluster(packages(), servers, tmp_path, cql)
    asyncio.run(db.install())
    asyncio.run(db.configure())
    written = yaml.safe_load(fake(servers[1]).files["/etc/scylla/scylla.yaml"])
    assert written["listen_address"] == "10.0.0.2"
    assert written["seed_provider"][0]["parameters"] == [{"seeds": "10.0.0.1"}]
    assert db.contact_points == ("10.0.0.1", "10.0.0.2")
    asyncio.run(db.start())
    asyncio.run(db.wait_ready(60))
    assert "nodetool -h 10.0.0.2 status" in fake(servers[1]).lines()
    assert set(asked) == {"203.0.113.1", "203.0.113.2"}


def test_lifecycle_order_is_enforced(tmp_path: Path) -> None:
    db = cluster(packages(), hosts(1), tmp_path)
    with pytest.raises(DatabaseError, match="needs install"):
        asyncio.run(db.configure())
    with pytest.raises(DatabaseError, match="needs install"):
        asyncio.run(db.start())
    with pytest.raises(DatabaseError, match="needs start"):
        asyncio.run(db.wait_ready(1))
    assert asyncio.run(db.adopt()) is False
    assert db.adopt_problem


# -- stop, wipe, logs --------------------------------------------------------------------------

def test_packages_stop_and_wipe(tmp_path: Path) -> None:
    servers = hosts(2, [[("id -u", Reply("1000"))],
                        [("id -u", Reply("0")),
                         ("systemctl stop", Reply("", 5, "Unit scylla-server.service not "
                                                         "loaded."))]])
    db = cluster(packages(), servers, tmp_path)
    asyncio.run(db.stop())
    asyncio.run(db.wipe())
    data = ["/var/lib/scylla/data", "/var/lib/scylla/commitlog", "/var/lib/scylla/hints",
            "/var/lib/scylla/view_hints"]
    assert fake(servers[0]).calls == [("id", "-u"),
                                      ("sudo", "-n", "systemctl", "stop", "scylla-server"),
                                      ("sudo", "-n", "rm", "-rf", *data)]
    assert fake(servers[1]).calls == [("id", "-u"), ("systemctl", "stop", "scylla-server"),
                                      ("rm", "-rf", *data)]
    fake(servers[1]).rules[1] = ("systemctl stop", Reply("", 1, "Job failed"))
    with pytest.raises(DatabaseError, match=r"(?s)could not stop ScyllaDB on 1 of 2 host\(s\):\n"
                                            r"  node2 \(10.0.0.2\): .*Job failed"):
        asyncio.run(db.stop())


@dataclass
class DroppedHost(FakeHost):
    """A host whose SSH connection is gone: every command fails before it runs."""

    async def run(self, command: Sequence[str], *, timeout: float, check: bool = True,
                  env: Mapping[str, str] | None = None, cwd: str | None = None,
                  stdin: bytes | None = None) -> CommandResult:
        self.calls.append(tuple(command))
        raise ProvisionError(f"{self.host} (10.0.0.1): cannot connect over SSH: "
                             "Connection refused")


def test_stop_and_wipe_try_every_host_and_name_each_failure(tmp_path: Path) -> None:
    """One ``DatabaseError`` naming each failed host and why, never an ``ExceptionGroup``;
    the healthy host is stopped and wiped to the end, and no node counts as started."""
    servers = hosts(3, [[], [("pkill", Reply("", 1, "pkill: Operation not permitted")),
                             ("rm -rf", Reply("", 1, "rm: Read-only file system"))]])
    servers[0] = Host("node1", ADDRESSES[0], DroppedHost("node1"))
    db = cluster(tarball(), servers, tmp_path)
    db._started.update(node.name for node in db.nodes)
    with pytest.raises(DatabaseError) as caught:
        asyncio.run(db.stop())
    assert not isinstance(caught.value, BaseExceptionGroup)
    lines = str(caught.value).splitlines()
    assert lines[0] == "could not stop ScyllaDB on 2 of 3 host(s):"
    assert lines[1] == ("  node1 (10.0.0.1): node1 (10.0.0.1): cannot connect over SSH: "
                        "Connection refused")
    assert lines[2].startswith("  node2 (10.0.0.2): node2: command failed (exit code 1): sh -c")
    assert "Operation not permitted" in str(caught.value) and "node3" not in str(caught.value)
    assert isinstance(caught.value.__cause__, ProvisionError)
    assert len(fake(servers[2]).calls) == 1 and "pkill -TERM" in fake(servers[2]).calls[0][2]
    assert db._started == set()
    with pytest.raises(DatabaseError) as wiped:
        asyncio.run(db.wipe())
    assert not isinstance(wiped.value, BaseExceptionGroup)
    lines = str(wiped.value).splitlines()
    assert lines[0] == "could not wipe the ScyllaDB data on 2 of 3 host(s):"
    assert [line[:20] for line in lines[1:3]] == ["  node1 (10.0.0.1): ", "  node2 (10.0.0.2): "]
    assert "Read-only file system" in str(wiped.value)
    assert fake(servers[2]).calls[1][:2] == ("rm", "-rf")
    assert f"{WORKDIR}/clusters/p/10.0.0.3/data" in fake(servers[2]).calls[1]


def test_tarball_stop_kills_only_this_node(tmp_path: Path) -> None:
    servers = hosts(1)
    asyncio.run(cluster(tarball(), servers, tmp_path).stop())
    root = f"{WORKDIR}/clusters/p/10.0.0.1"
    pattern = shlex.quote("[-]-options-file " + re.escape(f"{root}/conf/scylla.yaml"))
    assert fake(servers[0]).calls == [("sh", "-c", (
        f"pkill -TERM -f {pattern} || exit 0; for i in $(seq 600); do pgrep -f {pattern} "
        f">/dev/null || exit 0; sleep 0.2; done; pkill -KILL -f {pattern}; sleep 1; "
        f"! pgrep -f {pattern} >/dev/null"))]


def test_logs_are_fetched_from_the_journal_since_the_start(tmp_path: Path) -> None:
    db, servers = ready_cluster(tmp_path, [[("id -u", Reply("1000"))], []], [])
    asyncio.run(db.start())
    asyncio.run(db.fetch_logs())
    logs = f"{WORKDIR}/clusters/p/10.0.0.1/logs"
    assert fake(servers[0]).lines()[-1] == (
        f"sh -c 'mkdir -p {logs} && sudo -n journalctl -u scylla-server --no-pager -o short-iso "
        f"--since @1763900000 > {logs}/scylla.log'")
    assert fake(servers[1]).lines()[-1].endswith("-n 10000 > /var/tmp/sb/clusters/p/10.0.0.2/"
                                                 "logs/scylla.log'")
    assert db.logs() == [tmp_path / "logs" / "node1" / "logs" / "scylla.log",
                         tmp_path / "logs" / "node2" / "logs" / "scylla.log"]
    assert db.logs()[0].read_text() == f"copy of {logs}/scylla.log\n"


# -- containers --------------------------------------------------------------------------------

@dataclass
class FakeContainer(FakeHost):
    """A container executor: also keeps the engine's log."""

    async def save_logs(self, local: Path) -> None:
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_text(f"docker logs of {self.host}\n")

    async def logs_tail(self, lines: int) -> str:
        return f"last {lines} lines of {self.host}"


def containers(count: int, rules: Sequence[tuple[str, Reply | list[Reply]]] = ()) -> list[Host]:
    return [Host(f"node{i + 1}", ADDRESSES[i], FakeContainer(f"sb-node{i + 1}", list(rules)))
            for i in range(count)]


def test_container_cluster_without_settings_keeps_the_running_nodes(tmp_path: Path) -> None:
    servers = containers(2, [("--version", Reply(REPORTED)),
                             ("supervisorctl status", Reply("scylla  RUNNING   pid 42\n")),
                             ("nodetool", Reply(status("UN", "UN")))])
    db = cluster(ContainerControl(VERSION, {}, 600.0), servers, tmp_path)
    asyncio.run(db.install())
    asyncio.run(db.configure())
    asyncio.run(db.start())
    asyncio.run(db.wait_ready(10))
    start = ("sh -c 'supervisorctl status scylla | grep -Eq '\"'\"'RUNNING|STARTING'\"'\"' "
             "|| supervisorctl start scylla'")
    assert fake(servers[1]).lines() == ["scylla --version", start, "nodetool status",
                                        "nodetool status"]
    asyncio.run(db.stop())
    asyncio.run(db.wipe())
    asyncio.run(db.fetch_logs())
    assert fake(servers[0]).lines()[-2:] == [
        "supervisorctl stop scylla",
        "rm -rf /var/lib/scylla/data /var/lib/scylla/commitlog /var/lib/scylla/hints "
        "/var/lib/scylla/view_hints"]
    assert db.logs()[1].read_text() == "docker logs of sb-node2\n"


def test_container_settings_restart_every_node_afresh(tmp_path: Path) -> None:
    servers = containers(1, [("--version", Reply(REPORTED)), ("scylla.yaml", Reply(STOCK_YAML))])
    db = cluster(ContainerControl(None, {"compaction_throughput_mb_per_sec": 0}, 600.0), servers,
                 tmp_path)
    asyncio.run(db.install())
    asyncio.run(db.configure())
    assert fake(servers[0]).lines()[1:4] == [
        "supervisorctl stop scylla",
        "rm -rf /var/lib/scylla/data /var/lib/scylla/commitlog /var/lib/scylla/hints "
        "/var/lib/scylla/view_hints",
        "sh -c 'test -f /etc/scylla/scylla.yaml.scyllabench-orig || cp /etc/scylla/scylla.yaml "
        "/etc/scylla/scylla.yaml.scyllabench-orig; cat /etc/scylla/scylla.yaml.scyllabench-orig'"]
    written = yaml.safe_load(fake(servers[0]).files["/etc/scylla/scylla.yaml"])
    assert written == {**yaml.safe_load(STOCK_YAML), "compaction_throughput_mb_per_sec": 0}


def test_container_version_and_death(tmp_path: Path) -> None:
    servers = containers(1, [("--version", Reply("6.1.5-0.2024"))])
    with pytest.raises(DatabaseError, match=re.escape("runs ScyllaDB 6.1.5-0.2024, the profile "
                                                      "asks for 6.2.3")):
        asyncio.run(cluster(ContainerControl(VERSION, {}, 60), servers, tmp_path).install())
    servers = containers(1, [("supervisorctl status", Reply("scylla  FATAL  Exited too "
                                                            "quickly\n", 3)),
                             ("nodetool", Reply("", 1, "connection refused"))])
    db = cluster(ContainerControl(None, {}, 60), servers, tmp_path)
    db._started.add("node1")
    with pytest.raises(DatabaseError, match="supervisord: scylla  FATAL  Exited too "
                                            "quickly; the container log ends with:\nlast 25 "
                                            "lines of sb-node1"):
        asyncio.run(db.wait_ready(5))


# -- create ------------------------------------------------------------------------------------

def profile(**scylla: Any) -> Profile:
    made = Profile(name="p", source=None, provisioner="static", local=LocalSpec(),
                   database=DatabaseSpec(kind="scylla", version=VERSION, nodes=2,
                                         replication_factor=2),
                   loaders=LoaderSpec(), workloads={})
    if scylla:  # the profile model has no scylla section yet: set it as the schema will
        object.__setattr__(made, "scylla", cfg.ScyllaSpec(**scylla))
    return made


def test_create_chooses_the_control(tmp_path: Path) -> None:
    remote = Deployment(servers=tuple(hosts(2)), loaders=(), workdir=WORKDIR)
    db = create(profile(), remote, tmp_path, tmp_path, False)
    assert isinstance(db._control, PackageControl)
    assert db.contact_points == ADDRESSES[:2] and db.port == 9042 and db.seeds == ("10.0.0.1",)
    assert isinstance(create(profile(method="tarball", tarball_url="https://x/{version}.tgz"),
                             remote, tmp_path, tmp_path, False)._control, TarballControl)
    boxed = Deployment(servers=tuple(containers(2)), loaders=())
    assert isinstance(create(profile(), boxed, tmp_path, tmp_path, False)._control,
                      ContainerControl)
    with pytest.raises(ConfigError, match=r"scylla\.tarball_url: method: tarball needs"):
        create(profile(method="tarball"), remote, tmp_path, tmp_path, False)
    with pytest.raises(ConfigError, match=r"remote hosts .* or in containers"):
        create(profile(), Deployment(servers=tuple(hosts(1)), loaders=()), tmp_path, tmp_path,
               False)


# -- CQL ping ----------------------------------------------------------------------------------

async def serve(answer: bytes | None) -> tuple[asyncio.Server, int, list[bytes]]:
    """A TCP server reading one frame header and answering ``answer`` (or closing)."""
    received: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await reader.readexactly(9))
        if answer is not None:
            writer.write(answer)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], received


def test_cql_ping() -> None:
    # SUPPORTED (0x06) of protocol v4 as native_protocol_v4.spec section 4.2.4 lays it out:
    # a string multimap with one entry, CQL_VERSION: [3.3.1].
    body = (b"\x00\x01" + b"\x00\x0bCQL_VERSION" + b"\x00\x01" + b"\x00\x053.3.1")
    supported = bytes([0x84, 0, 0, 0, 0x06]) + len(body).to_bytes(4, "big") + body
    error = bytes([0x84, 0, 0, 0, 0x00, 0, 0, 0, 0])

    async def scenario() -> list[tuple[int, str | None]]:
        answers = []
        for answer in (supported, error, None):
            server, port, received = await serve(answer)
            async with server:
                answers.append((port, await cql_ping("127.0.0.1", port, timeout=5)))
            assert received == [OPTIONS_FRAME]
        server, port, _ = await serve(supported)
        server.close()
        await server.wait_closed()
        answers.append((port, await cql_ping("127.0.0.1", port, timeout=5)))
        return answers

    ok, unexpected, closed, refused = asyncio.run(scenario())
    assert ok[1] is None
    assert unexpected[1] == f"CQL port {unexpected[0]} answered an unexpected frame " \
                            "(840000000000000000)"
    assert closed[1] == f"CQL port {closed[0]} closed the connection"
    assert refused[1] == f"CQL port {refused[0]}: Connection refused"


def test_wait_joined_reports_the_last_problem() -> None:
    host = FakeHost("n", [("nodetool", [Reply(status("UJ")), Reply("", 2, "API down")])])

    async def alive() -> str | None:
        return None

    with pytest.raises(ClusterNotReady, match=r"^ScyllaDB n1 did not join within 0.1 s; its "
                                              r"nodetool status: nodetool status failed \(exit "
                                              r"code 2\): API down$"):
        asyncio.run(wait_joined(host, ["nodetool", "status"], ["10.0.0.1"], node="n1",
                                timeout=0.1, dead=alive, interval=0.01))


def test_down_nodes_names_each_node_whose_service_stopped(tmp_path: Path) -> None:
    db, _ = ready_cluster(tmp_path, [
        [],
        [("systemctl is-active", Reply("failed\n", 3)),
         ("journalctl", Reply("scylla: oom_kill\n"))],
        []], [])
    assert asyncio.run(db.down_nodes()) == [
        "ScyllaDB node2 (10.0.0.2) on node2 is down: scylla-server is failed"]


class SupervisorContainer(FakeContainer):
    """A container whose supervisord runs the program of the scylladb/scylla image: ``scylla``
    (dist/docker/etc/supervisord.conf.d/scylla-server.conf, ``[program:scylla]``; the rename to
    ``scylla-server`` was reverted, scylladb/scylladb#10269 and #10323). supervisorctl answers
    an unknown program as it does: ``<name>: ERROR (no such process)``, exit code 4."""

    def answer(self, line: str) -> Reply:
        words = shlex.split(line)
        for index, word in enumerate(words[:-2]):
            if word == "supervisorctl":
                action, program = words[index + 1], words[index + 2].rstrip(";|")
                if program != "scylla":
                    return Reply(f"{program}: ERROR (no such process)\n", 4)
                if action == "status":
                    return Reply("scylla                           RUNNING   pid 42, uptime 0:01\n")
                return Reply(f"scylla: {'stopped' if action == 'stop' else 'started'}\n")
        return super().answer(line)


def test_container_nodes_are_driven_through_the_images_supervisord_program(
        tmp_path: Path) -> None:
    servers = [Host(f"node{i + 1}", ADDRESSES[i],
                    SupervisorContainer(f"sb-node{i + 1}",
                                        [("--version", Reply(REPORTED)),
                                         ("scylla.yaml", Reply(STOCK_YAML)),
                                         ("nodetool", Reply(status("UN", "UN")))]))
               for i in range(2)]
    db = cluster(ContainerControl(VERSION, {"compaction_throughput_mb_per_sec": 0}, 600.0),
                 servers, tmp_path)
    asyncio.run(db.install())
    asyncio.run(db.configure())  # settings: every node is stopped, wiped and restarted
    asyncio.run(db.start())
    asyncio.run(db.wait_ready(10))
    assert asyncio.run(db.down_nodes()) == []
    asyncio.run(db.stop())
    assert "supervisorctl stop scylla" in fake(servers[1]).lines()
    assert not any("scylla-server" in line for line in fake(servers[1]).lines())
