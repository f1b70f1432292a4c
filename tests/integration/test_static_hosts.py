"""The static-hosts backend against real sshd hosts (network namespaces) running Cassandra.

The namespace hosts share this machine's filesystem except ``/root`` and ``/tmp``; the
project's virtualenv points into ``/root`` (pyenv), so the loader host runs the system
``python3.11`` with the virtualenv's packages on ``PYTHONPATH`` (a wrapper script in a shared
directory), standing for "pytest-scyllabench installed on the loader host". The remote work
directory is under ``/tmp`` so that each host has its own, as separate machines would.
"""

from __future__ import annotations

import asyncio
import html
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import testbed
from testbed import TestBed

from pytest_scyllabench import machine
from pytest_scyllabench.db.cassandra_remote import RemoteCassandraCluster
from pytest_scyllabench.paths import cache_dir
from pytest_scyllabench.profile_schema import load_profile
from pytest_scyllabench.provision.static import StaticProvisioner

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(testbed.skip_reason() is not None, reason=testbed.skip_reason() or ""),
]

REMOTE_WORKDIR = "/tmp/pytest-scyllabench"

PROFILE = """
name: {name}
provisioner: static
static:
  ssh: {{key: {key}, known_hosts: "accept-new:{known_hosts}", connect_timeout: 15}}
  servers: {servers}
  loaders: {loaders}
  workdir: {workdir}
  loader_python: {python}
database: {{replication_factor: {rf}, heap: 512M}}
loaders: {{concurrency: 64, processes: {processes}}}
rate_tolerance: 0.1
# Three fresh JVMs on a small machine need a minute of load before they keep up.
warmup: {{workload: write, rate: 200, seconds: 30}}
workloads:
  write: {{mix: {{write: 1}}, partitions: 10000, row_size: 100, consistency: ONE}}
  read: {{mix: {{read: 1}}, partitions: 2000, row_size: 100, consistency: ONE,
          populate: 2000}}
"""

BENCH = """
def test_write(scyllabench_step):
    result = scyllabench_step("write", rate=200, duration="4s", warmup="1s")
    assert result.errors == 0

def test_read(scyllabench_step):
    result = scyllabench_step("read", rate=200, duration="4s", warmup="1s")
    assert result.latency("read").count > 0
"""

OURS = ("CassandraDaemon", "pytest_scyllabench.loader")


def ours(bed: TestBed) -> list[str]:
    return [command for host in bed.hosts for _, command in bed.processes(host)
            if any(needle in command for needle in OURS)]


def write_profile(path: Path, bed: TestBed, name: str, servers: int, loaders: int, python: str,
                  rf: int, processes: int = 1) -> Path:
    addresses = [host.address for host in bed.hosts]
    path.write_text(PROFILE.format(
        name=name, key=bed.client_key, known_hosts=path.parent / "known_hosts",
        servers=json.dumps(addresses[:servers]),
        loaders=json.dumps(addresses[servers:servers + loaders]), workdir=REMOTE_WORKDIR,
        python=python, rf=rf, processes=processes))
    return path


def test_whole_session_on_static_hosts(tmp_path: Path, loader_python: str) -> None:
    with testbed.testbed(4) as bed:
        inodes = bed.netns_inodes()
        # The loader host runs two processes of the built-in loader (loaders.processes).
        profile = write_profile(tmp_path / "static.yaml", bed, "it-static", 3, 1,
                                loader_python, rf=3, processes=2)
        (tmp_path / "test_bench.py").write_text(BENCH)
        began = time.monotonic()
        completed = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA",
             f"--scyllabench-profile={profile}", f"--scyllabench-output={tmp_path / 'trials'}",
             "--scyllabench-html", str(tmp_path / "test_bench.py")],
            cwd=tmp_path, capture_output=True, text=True, timeout=900)
        seconds = time.monotonic() - began
        out = completed.stdout + completed.stderr
        print(f"\nwhole static session (3 servers, 1 loader host x 2 processes): "
              f"{seconds:.1f} s")
        assert completed.returncode == 0, out
        assert "2 passed" in out, out
        assert ours(bed) == [], f"left running on the hosts:\n{ours(bed)}\n{out}"
        # The session's SSH connections are closed: only the listening sshd remain.
        connections = [c for _, c in testbed.processes_in_namespaces(inodes)
                       if "sshd" in c and "-D" not in c]
        assert connections == [], connections
    assert not [name for name in testbed.leftovers() if bed.id in name]
    assert testbed.processes_in_namespaces(inodes) == []

    trial = (tmp_path / "trials" / "it-static" / "latest").resolve()
    results = [json.loads(p.read_text()) for p in sorted(trial.glob("*/*/result.json"))]
    assert {r["step"] for r in results} == {"write@200", "read@200"}, out
    for result in results:
        loaders = result["loaders"]
        assert [loader["name"] for loader in loaders] == ["loader-1-p1", "loader-1-p2"]
        assert {loader["host"] for loader in loaders} == {bed.hosts[3].address}
        assert all(loader["ops"] > 0 and loader["exit_code"] == 0 for loader in loaders)
        # Both processes' logs were merged: the step counts more than either one did.
        assert result["ops"] > max(loader["ops"] for loader in loaders), result
    for process in ("loader-1-p1", "loader-1-p2"):  # each downloaded from its own scratch
        assert len(list(trial.glob(f"*/*/{process}.hlog"))) == 2
        assert len(list(trial.glob(f"*/*/{process}.summary.json"))) == 2
    logs = sorted(p.name for p in trial.glob("logs/*system.log"))
    assert logs == ["node1-system.log", "node2-system.log", "node3-system.log"], out
    # The servers' facts, read over SSH (the namespace hosts are this machine's kernel/CPUs).
    here = subprocess.run(["sh", "-c", machine.FACTS_SCRIPT], capture_output=True, text=True)
    servers = f"3 x ({machine.describe_facts(machine.parse_facts(here.stdout))})"
    assert "unknown" not in servers, servers
    report = (trial / "report.html").read_text()
    assert "1 x 2 processes of builtin (concurrency 64)" in report, out
    assert f'<th>servers</th><td class="sb-l">{html.escape(servers)}</td>' in report, out


def test_configure_one_host_versus_six(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Install (upload the jars) and configure on 1 host, then on 6; times are printed."""
    timings: dict[int, tuple[float, float, float]] = {}
    with testbed.testbed(7) as bed:
        for count, hosts in ((1, bed.hosts[:1]), (6, bed.hosts[1:])):
            path = tmp_path / f"p{count}.yaml"
            path.write_text(PROFILE.format(
                name=f"it-static-{count}", key=bed.client_key, known_hosts="off",
                servers=json.dumps([h.address for h in hosts]),
                loaders=json.dumps([hosts[0].address]), workdir=REMOTE_WORKDIR,
                python="python3", rf=1, processes=1).replace('"accept-new:off"', "off"))
            timings[count] = asyncio.run(_install_and_configure(load_profile(path), tmp_path))
        assert ours(bed) == []
    with capsys.disabled():
        for count, (install, again, configure) in timings.items():
            print(f"\n{count} host(s): install {install:.1f} s (upload), again {again:.1f} s "
                  f"(manifest matches), configure {configure:.2f} s")
    assert timings[6][1] < timings[6][0]  # the second install uploads nothing


async def _install_and_configure(profile: object, local: Path) -> tuple[float, float, float]:
    from pytest_scyllabench.db.cassandra_remote import create
    from pytest_scyllabench.profile import Profile

    assert isinstance(profile, Profile)
    provisioner = StaticProvisioner(profile)
    try:
        deployment = await provisioner.provision()
        database = create(profile, deployment, local / profile.name, cache_dir(), False)
        assert isinstance(database, RemoteCassandraCluster)
        began = time.monotonic()
        await database.install()
        install = time.monotonic() - began
        began = time.monotonic()
        await database.install()
        again = time.monotonic() - began
        began = time.monotonic()
        await database.configure()
        configure = time.monotonic() - began
        listing = await deployment.servers[-1].executor.run(
            ["ls", f"{REMOTE_WORKDIR}/clusters/{profile.name}/{deployment.servers[-1].address}"
                   "/conf"], timeout=30)
        assert set(listing.stdout.split()) >= {"cassandra.yaml", "logback.xml"}
        return install, again, configure
    finally:
        await provisioner.release()
