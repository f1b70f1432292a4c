"""A whole pytest session with ``provisioner: aws`` on moto, its instances played by test-bed hosts.

moto creates the run's EC2 resources (a generated key pair, a security group, 3 on-demand
servers and 1 spot loader) but its instances do not exist. The test writes a ``conftest.py``
into the session's directory that wraps ``provision.aws.create``:

* its ``address_map`` sends each instance to one test-bed host by the instance's host tag
  (``node1..3`` onto hosts 1..3, ``loader-1`` onto host 4, the inventory's order);
* its reachability check first appends the public half of the run's EC2-generated key to the
  test bed's authorized keys, then runs the real ``wait_for_ssh``: the executors log in with
  ``key.pem`` as written by the provisioner (in the session's cache, never under the trials),
  under its ``accept-new`` known-hosts policy.

The session's environment holds a planted AWS secret access key; no file of the trials, the
report or the JUnit XML may contain it, nor a line of the run's private key.

Everything else is the production path: preflight, tags, files, Cassandra installed over SSH,
the built-in loader run over SSH, and the release that must leave moto empty. The hosts run
the loader with the system Python and the virtualenv's packages (see test_static_hosts.py),
and their work directory is under ``/tmp``, which each host has to itself.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import testbed
from moto_server import ec2_leftovers as leftovers
from procs import interruptible
from testbed import TestBed

from pytest_scyllabench.provision.aws_files import read_inventory

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(testbed.skip_reason() is not None, reason=testbed.skip_reason() or ""),
]

boto3 = pytest.importorskip("boto3", reason="needs the aws extra: pip install -e '.[dev]'")
asyncssh = pytest.importorskip("asyncssh", reason="needs the remote extra: pip install -e '.[dev]'")

REMOTE_WORKDIR = "/tmp/pytest-scyllabench"
REGION = "us-east-1"
NAME = "it-aws"
INVENTORIES = f"{NAME}/*/aws-*/inventory.json"
SESSION_TIMEOUT = 900.0
#: A fake secret access key planted in the session's environment (moto takes any).
PLANTED_SECRET = "wJalrXUtnFEMI/K7MDENG+PLANTEDbyScyllaBenchTEST0"

PROFILE = """
name: {name}
provisioner: aws
aws:
  region: {region}
  zone: {region}a
  endpoint_url: {endpoint}
  owner: it-aws-session
  operator_cidr: 203.0.113.5/32
  expiry_hours: 1
  servers: {{instance_type: i4i.large, count: 3, ami: {ami}, disk_gb: 30}}
  loaders: {{instance_type: c6i.2xlarge, count: 1, ami: {ami}, market: spot}}
  ssh_user: root
  workdir: {workdir}
  loader_python: {python}
  boot_timeout: 120
database: {{replication_factor: 3, heap: 512M, settings: {settings}}}
loaders: {{concurrency: 64}}
rate_tolerance: 0.1
# Three fresh JVMs on a small machine need a minute of load before they keep up.
warmup: {{workload: write, rate: 200, seconds: 30}}
workloads:
  write: {{mix: {{write: 1}}, partitions: 10000, row_size: 100, consistency: ONE}}
"""

BENCH = """
def test_write(scyllabench_step):
    result = scyllabench_step("write", rate=200, duration="4s", warmup="1s")
    assert result.errors == 0
"""

#: Maps the moto run onto the test bed; the test fills in the bed's addresses and files.
CONFTEST = '''\
"""Plays moto's instances with test-bed hosts (written by test_aws_session.py)."""

import json
from pathlib import Path

import asyncssh
import boto3

from pytest_scyllabench.provision import aws
from pytest_scyllabench.provision.aws_ec2 import TAG_HOST, TAG_RUN

BED = {bed!r}
AUTHORIZED_KEYS = Path({authorized!r})
SEEN = Path({seen!r})


def pytest_configure(config):
    aws.create = create


def create(profile, trial_dir):
    spec = profile.aws
    names = ([f"node{{i}}" for i in range(1, spec.servers.count + 1)]
             + [f"loader-{{i}}" for i in range(1, spec.loaders.count + 1)])
    to_bed = {{}}
    authorized = []

    def address_map(public_ip):
        if not to_bed:
            ec2 = boto3.client("ec2", region_name=spec.region, endpoint_url=spec.endpoint_url)
            found = ec2.describe_instances(Filters=[{{"Name": f"tag:{{TAG_RUN}}",
                                                      "Values": [provisioner.run_id]}}])
            for reservation in found["Reservations"]:
                for instance in reservation["Instances"]:
                    tags = {{t["Key"]: t["Value"] for t in instance["Tags"]}}
                    to_bed[instance["PublicIpAddress"]] = BED[names.index(tags[TAG_HOST])]
        return to_bed[public_ip]

    async def check(host, timeout):
        if not authorized:
            key = provisioner.key_file
            public = asyncssh.import_private_key(key.read_text()).export_public_key()
            with AUTHORIZED_KEYS.open("ab") as keys:
                keys.write(public)
            authorized.append(key)
            mode = key.stat().st_mode
            secret = [line for line in key.read_text().splitlines()
                      if len(line) >= 16 and "-----" not in line]
            SEEN.write_text(json.dumps({{"key": str(key), "mode": mode,
                                        "dir_mode": key.parent.stat().st_mode,
                                        "public": public.decode(), "secret_lines": secret}}))
        await aws.wait_for_ssh(host, timeout)

    provisioner = aws.AwsProvisioner(spec, trial_dir, address_map=address_map, check=check,
                                     poll_interval=1.0)
    return provisioner
'''

OURS = ("CassandraDaemon", "pytest_scyllabench.loader")
NOTHING: dict[str, list[str]] = {"instances": [], "security_groups": [], "key_pairs": []}


# --- moto ---------------------------------------------------------------------------------




@pytest.fixture
def ec2(moto_url: str) -> Any:
    """A fresh moto (reset) and a boto3 client on it, to look behind the session's back."""
    request = urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass
    return boto3.client("ec2", region_name=REGION, endpoint_url=moto_url,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def aws_env(tmp_path: Path) -> dict[str, str]:
    """This environment with fake credentials and none of this machine's AWS files."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL",
                        "AWS_SESSION_TOKEN")}
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY=PLANTED_SECRET,
               AWS_DEFAULT_REGION=REGION, AWS_CONFIG_FILE=str(tmp_path / "no-aws-config"),
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-aws-credentials"),
               SCYLLABENCH_CACHE=str(tmp_path / "cache"))
    return env


def ubuntu_ami(ec2: Any) -> str:
    """One of the Ubuntu images moto serves by default."""
    images = ec2.describe_images(Filters=[{"Name": "name", "Values": ["ubuntu/images/*"]}])
    found = sorted(image["ImageId"] for image in images["Images"])
    assert found, "moto serves no ubuntu/images/* image"
    return found[0]


# --- the session ----------------------------------------------------------------------------


@dataclass
class Session:
    """A pytest session running in a subprocess, its output in files."""

    process: subprocess.Popen[bytes]
    directory: Path
    began: float

    @property
    def trials(self) -> Path:
        return self.directory / "trials"

    def wait(self, timeout: float = SESSION_TIMEOUT) -> tuple[int, str, float]:
        """(exit code, stdout + stderr, seconds since the start)."""
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)
            raise
        seconds = time.monotonic() - self.began
        out = "".join((self.directory / name).read_text(errors="replace")
                      for name in ("stdout.txt", "stderr.txt"))
        return code, out, seconds

    def kill(self) -> None:
        """Kill the session if it is still running (a failed test's cleanup)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


def start_session(directory: Path, bed: TestBed, moto_url: str, ami: str, python: str,
                  settings: str = "{}") -> Session:
    """Write the profile, the benchmark and the conftest into ``directory``; start pytest."""
    addresses = [host.address for host in bed.hosts]
    profile = directory / "aws.yaml"
    profile.write_text(PROFILE.format(name=NAME, region=REGION, endpoint=moto_url, ami=ami,
                                      workdir=REMOTE_WORKDIR, python=python, settings=settings))
    (directory / "test_bench.py").write_text(BENCH)
    (directory / "conftest.py").write_text(CONFTEST.format(
        bed=addresses, authorized=f"{bed.client_key}.pub", seen=str(directory / "seen.json")))
    with (directory / "stdout.txt").open("wb") as out, \
            (directory / "stderr.txt").open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA",
             f"--scyllabench-profile={profile}", f"--scyllabench-output={directory / 'trials'}",
             "--scyllabench-html", f"--junitxml={directory / 'junit.xml'}",
             str(directory / "test_bench.py")],
            cwd=directory, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
            env=aws_env(directory), preexec_fn=interruptible)
    return Session(process, directory, time.monotonic())


def ours(bed: TestBed) -> list[str]:
    return [command for host in bed.hosts for _, command in bed.processes(host)
            if any(needle in command for needle in OURS)]


def wait_until(what: str, probe: Any, session: Session, timeout: float) -> Any:
    """Poll ``probe()`` until it returns something true, while the session still runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        if session.process.poll() is not None:
            _, out, _ = session.wait()
            pytest.fail(f"the session ended before {what}:\n{out}")
        time.sleep(0.1)
    pytest.fail(f"no {what} within {timeout:g} s")


def bed_address(bed: TestBed) -> str:
    """This machine's address on the bed (the bridge's), where the session connects from."""
    return f"{testbed.SUBNET_BASE}.{bed.subnet}.1"


def ssh_sessions(inodes: set[int]) -> list[str]:
    """sshd processes serving a connection (not the listeners) in the bed's namespaces."""
    return [c for _, c in testbed.processes_in_namespaces(inodes) if "sshd" in c and "-D" not in c]


def no_ssh_sessions(inodes: set[int], timeout: float = 10.0) -> list[str]:
    """Wait for the per-connection sshd processes to exit; returns those left."""
    deadline = time.monotonic() + timeout
    left = ssh_sessions(inodes)
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = ssh_sessions(inodes)
    return left


def reached(bed: TestBed) -> str:
    """How far the session got on the first server, from its files (its /tmp is the bed's)."""
    host = bed.hosts[0]
    root = bed.workdir / f"host{host.index}" / "tmp" / REMOTE_WORKDIR.removeprefix("/tmp/")
    if (root / "clusters" / NAME / host.address / "conf" / "cassandra.yaml").exists():
        return "configured"
    if list(root.glob("cassandra/*/MANIFEST")):
        return "jars installed"
    return "jars uploading" if root.exists() else "no files on the hosts yet"


def run_directory(session: Session) -> Path:
    """``<trials>/<profile>/<timestamp>/aws-<run id>``: exactly one per session."""
    found = list((session.trials / NAME / "latest").resolve().glob("aws-*"))
    assert len(found) == 1, found
    return found[0]


# --- tests ------------------------------------------------------------------------------------


def test_whole_session_on_moto_and_the_test_bed(tmp_path: Path, ec2: Any, moto_url: str,
                                                loader_python: str) -> None:
    ami = ubuntu_ami(ec2)
    with testbed.testbed(4) as bed:
        inodes = bed.netns_inodes()
        session = start_session(tmp_path, bed, moto_url, ami, loader_python)
        try:
            code, out, seconds = session.wait()
        finally:
            session.kill()
        print(f"\nwhole aws session on moto (3 servers, 1 spot loader): {seconds:.1f} s")
        assert code == 0, out
        assert "1 passed" in out, out
        assert "estimated cost per hour" in out and "deleting EC2 run" in out, out
        assert ours(bed) == [], f"left running on the hosts:\n{ours(bed)}\n{out}"
        assert no_ssh_sessions(inodes) == []
        # Every host was logged into with the run's EC2 key, never with the bed's own.
        seen = json.loads((tmp_path / "seen.json").read_text())
        ec2_key = asyncssh.import_public_key(seen["public"]).get_fingerprint()
        bed_key = asyncssh.read_public_key(f"{bed.client_key}.pub").get_fingerprint()
        for host in bed.hosts:
            assert f"Accepted publickey for root from {bed_address(bed)}" in bed.sshd_log(host)
            assert ec2_key in bed.sshd_log(host) and bed_key not in bed.sshd_log(host)
    assert not [name for name in testbed.leftovers() if bed.id in name]
    assert testbed.processes_in_namespaces(inodes) == []
    assert leftovers(ec2) == NOTHING

    trial = (session.trials / NAME / "latest").resolve()
    results = [json.loads(p.read_text()) for p in sorted(trial.glob("*/*/result.json"))]
    assert [r["step"] for r in results] == ["write@200"], out
    assert results[0]["ops"] > 0 and len(results[0]["loaders"]) == 1
    assert len(list(trial.glob("*/*/loader-1.hlog"))) == 1  # downloaded from the loader host
    logs = sorted(p.name for p in trial.glob("logs/*system.log"))
    assert logs == ["node1-system.log", "node2-system.log", "node3-system.log"], out

    # The run's files: the inventory maps the instances onto the bed in inventory order.
    directory = run_directory(session)
    assert directory.parent == trial
    inventory = read_inventory(directory / "inventory.json")
    assert [(h.name, h.role, h.market, h.address) for h in inventory.hosts] == [
        ("node1", "servers", "on-demand", bed.hosts[0].address),
        ("node2", "servers", "on-demand", bed.hosts[1].address),
        ("node3", "servers", "on-demand", bed.hosts[2].address),
        ("loader-1", "loaders", "spot", bed.hosts[3].address)]
    assert all(h.instance_id.startswith("i-") and h.public_ip for h in inventory.hosts)
    assert inventory.ssh_user == "root" and inventory.owner == "it-aws-session"
    config = (directory / "ssh_config").read_text()
    assert f"Host loader-1\n    HostName {bed.hosts[3].address}\n    User root\n" in config
    assert f'IdentityFile "{inventory.key_file}"' in config
    # Every host's key was learnt (accept-new) into the run's known_hosts.
    known = (directory / "known_hosts").read_text()
    assert all(host.address in known for host in bed.hosts), known
    # The key pair's private half: 0600 in a 0700 directory of the cache while the run lived,
    # gone after (its directory too).
    key = Path(seen["key"]).resolve()
    assert key == Path(inventory.key_file)
    assert key == (tmp_path / "cache" / "aws" / inventory.run_id / "key.pem").resolve()
    assert stat.S_IMODE(seen["mode"]) == 0o600 and stat.S_IMODE(seen["dir_mode"]) == 0o700
    assert not key.exists() and not key.parent.exists()
    # Secrets: neither the planted AWS secret nor a line of the private key is in any file of
    # the trials (every one), the HTML report or the JUnit XML.
    assert len(seen["secret_lines"]) >= 2
    files = [p for p in session.trials.rglob("*") if p.is_file()] + [tmp_path / "junit.xml"]
    assert trial / "report.html" in files and (tmp_path / "junit.xml").is_file()
    for path in files:
        text = path.read_bytes().decode("utf-8", errors="replace")
        for secret in (PLANTED_SECRET, *seen["secret_lines"]):
            assert secret not in text, f"a secret leaked into {path}"


def test_a_failing_start_errors_and_leaves_nothing(tmp_path: Path, ec2: Any, moto_url: str,
                                                   loader_python: str) -> None:
    """Cassandra refuses an unknown cassandra.yaml property and exits on every host."""
    ami = ubuntu_ami(ec2)
    with testbed.testbed(4) as bed:
        inodes = bed.netns_inodes()
        session = start_session(tmp_path, bed, moto_url, ami, loader_python,
                                settings="{no_such_cassandra_option: 1}")
        try:
            code, out, seconds = session.wait()
        finally:
            session.kill()
        print(f"\naws session failing at Cassandra's start: {seconds:.1f} s")
        assert code == 1, out
        assert "1 error" in out, out
        assert "is not running" in out, out
        assert "remove properties [no_such_cassandra_option]" in out, out
        assert ours(bed) == [], f"left running on the hosts:\n{ours(bed)}\n{out}"
        assert no_ssh_sessions(inodes) == []
    assert testbed.processes_in_namespaces(inodes) == []
    assert leftovers(ec2) == NOTHING
    assert run_directory(session).is_dir()
    assert list((tmp_path / "cache" / "aws").glob("*/key.pem")) == []


@pytest.mark.parametrize("moment", ["hosts-written", "nodes-starting"])
def test_sigint_while_configuring_leaves_nothing(tmp_path: Path, ec2: Any, moto_url: str,
                                                 loader_python: str, moment: str) -> None:
    """SIGINT once the inventory is written (SSH check, jar upload) or once the JVMs run."""
    ami = ubuntu_ami(ec2)
    with testbed.testbed(4) as bed:
        inodes = bed.netns_inodes()
        session = start_session(tmp_path, bed, moto_url, ami, loader_python)
        try:
            wait_until("inventory", lambda: list(session.trials.glob(INVENTORIES)), session,
                       timeout=120)
            if moment == "nodes-starting":
                wait_until("Cassandra JVM", lambda: [c for c in ours(bed)
                                                     if "CassandraDaemon" in c],
                           session, timeout=300)
            during, phase = leftovers(ec2), reached(bed)
            session.process.send_signal(signal.SIGINT)
            signalled = time.monotonic()
            code, out, seconds = session.wait(timeout=300)
        finally:
            session.kill()
        print(f"\naws session interrupted ({moment}: {phase}) after "
              f"{signalled - session.began:.1f} s; "
              f"teardown took {seconds - (signalled - session.began):.1f} s")
        assert len(during["instances"]) == 4, during
        assert code == 2, out
        assert "KeyboardInterrupt" in out, out
        assert ours(bed) == [], f"left running on the hosts:\n{ours(bed)}\n{out}"
        assert no_ssh_sessions(inodes) == []
    assert testbed.processes_in_namespaces(inodes) == []
    assert leftovers(ec2) == NOTHING
