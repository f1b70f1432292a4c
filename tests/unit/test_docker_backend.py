"""The docker provisioner against a recording fake of this machine's executor: the exact
``docker`` command lines of a two-node cluster (network, pull, run, seeds, addresses, joins),
teardown after a failed second container, a missing CLI and a daemon that does not answer (also
against the real docker CLI when one without a daemon is installed), and the container
executor's ``docker exec``/``docker cp`` lines. No container runs here (no Docker engine)."""

from __future__ import annotations

import asyncio
import shlex
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pytest_scyllabench.db import scylla_config as cfg
from pytest_scyllabench.errors import (
    ClusterNotReady,
    CommandError,
    DatabaseError,
    MissingDependencyError,
    ProvisionError,
)
from pytest_scyllabench.execute.base import CommandResult
from pytest_scyllabench.execute.local import LocalExecutor
from pytest_scyllabench.profile import DatabaseSpec, LoaderSpec, LocalSpec, Profile
from pytest_scyllabench.provision.docker import ContainerExecutor, DockerProvisioner

DATA = Path(__file__).parent / "data" / "scylla"
RUN = "abc123"
NET = "scyllabench-bench-p-abc123-net"
NODE1, NODE2 = "scyllabench-bench-p-abc123-node1", "scyllabench-bench-p-abc123-node2"
IMAGE = "scylladb/scylla:6.2.3"
LABELS = f"--label scyllabench.run={RUN} --label scyllabench.profile=bench_p"
ADDRESS = "'{{(index .NetworkSettings.Networks \"" + NET + "\").IPAddress}}'"


@dataclass
class Reply:
    stdout: str = ""
    code: int = 0
    stderr: str = ""


@dataclass
class FakeLocal:
    """This machine's executor: records every command, answers by the first matching rule.

    A rule's list of replies is consumed one per call, its last reply repeating.
    """

    rules: list[tuple[str, Reply | list[Reply]]] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    stdin: list[bytes | None] = field(default_factory=list)
    envs: list[Mapping[str, str] | None] = field(default_factory=list)
    host: str = "local"

    async def run(self, command: Sequence[str], *, timeout: float, check: bool = True,
                  env: Mapping[str, str] | None = None, cwd: str | None = None,
                  stdin: bytes | None = None) -> CommandResult:
        line = shlex.join(command)
        self.calls.append(line)
        self.stdin.append(stdin)
        self.envs.append(env)
        reply = Reply()
        for needle, replies in self.rules:
            if needle in line:
                if isinstance(replies, Reply):
                    reply = replies
                else:
                    reply = replies.pop(0) if len(replies) > 1 else replies[0]
                break
        if check and reply.code:
            raise CommandError(self.host, command, reply.code, reply.stderr)
        return CommandResult(self.host, tuple(command), reply.code, reply.stdout, reply.stderr)

    async def start(self, command: Sequence[str], **options: Any) -> str:
        self.calls.append("START " + shlex.join(command) + f" {options}")
        return "process"


def status(*rows: tuple[str, str]) -> str:
    """The documented docker sample (data/scylla/nodetool-status-docker.txt), these rows."""
    lines = (DATA / "nodetool-status-docker.txt").read_text().splitlines()
    return "\n".join([*lines[:5], *(f"{code} {address}" + lines[5][len("UN 172.17.0.2"):]
                                    for code, address in rows)]) + "\n"


def profile(nodes: int = 2, start_timeout: float = 5.0, **docker: Any) -> Profile:
    made = Profile(name="bench_p", source=None, provisioner="local", local=LocalSpec(),
                   database=DatabaseSpec(kind="scylla", version="6.2.3", nodes=nodes,
                                         replication_factor=1, start_timeout=start_timeout),
                   loaders=LoaderSpec(count=2), workloads={})
    if docker:  # the profile model has no docker section yet: set it as the schema will
        object.__setattr__(made, "docker", cfg.DockerSpec(**docker))
    return made


def provisioner(local: FakeLocal, nodes: int = 2, start_timeout: float = 5.0,
                **docker: Any) -> DockerProvisioner:
    return DockerProvisioner(profile(nodes, start_timeout, **docker), local=local,
                             which=lambda name: name, run_id=RUN, interval=0.0)


def healthy(*more: tuple[str, Reply | list[Reply]]) -> FakeLocal:
    return FakeLocal([
        *more,
        ("docker info", Reply("28.2.2\n")),
        ("image inspect", Reply("", 1, "Error response from daemon: No such image: " + IMAGE)),
        (f"IPAddress}}}}' {NODE1}", Reply("172.18.0.2\n")),
        (f"IPAddress}}}}' {NODE2}", Reply("172.18.0.3\n")),
        (f"{NODE1} nodetool status", Reply(status(("UN", "172.18.0.2")))),
        (f"{NODE2} nodetool status", [Reply("", 1, "nodetool: Unable to connect"),
                                      Reply(status(("UN", "172.18.0.2"), ("UJ", "172.18.0.3"))),
                                      Reply(status(("UN", "172.18.0.2"),
                                                   ("UN", "172.18.0.3")))]),
        ("{{.State.Status}}", Reply("running\n")),
    ])


def test_provision_runs_the_nodes_one_after_the_other() -> None:
    local = healthy()
    deployment = asyncio.run(provisioner(local).provision())
    run = f"docker run -d --name {{name}} --hostname {{host}} --network {NET} {LABELS} {IMAGE} " \
          "--smp 1 --memory 750M --overprovisioned 1 --developer-mode 1"
    assert local.calls == [
        "docker info --format '{{.ServerVersion}}'",
        f"docker network create {LABELS} {NET}",
        f"docker image inspect --format '{{{{.Id}}}}' {IMAGE}",
        f"docker pull {IMAGE}",
        run.format(name=NODE1, host="node1"),
        f"docker inspect --format {ADDRESS} {NODE1}",
        f"docker exec {NODE1} nodetool status",
        run.format(name=NODE2, host="node2") + " --seeds 172.18.0.2",
        f"docker inspect --format {ADDRESS} {NODE2}",
        f"docker exec {NODE2} nodetool status",  # not answering yet
        f"docker inspect --format '{{{{.State.Status}}}}' {NODE2}",
        f"docker exec {NODE2} nodetool status",  # UJ
        f"docker inspect --format '{{{{.State.Status}}}}' {NODE2}",
        f"docker exec {NODE2} nodetool status",  # both UN
    ]
    assert [(h.name, h.address, h.executor.host) for h in deployment.servers] == [
        ("node1", "172.18.0.2", NODE1), ("node2", "172.18.0.3", NODE2)]
    assert all(isinstance(h.executor, ContainerExecutor) for h in deployment.servers)
    assert [(h.name, h.address) for h in deployment.loaders] == [
        ("loader-1", "127.0.0.1"), ("loader-2", "127.0.0.1")]
    assert all(isinstance(h.executor, LocalExecutor) for h in deployment.loaders)
    assert deployment.workdir is None
    local.calls.clear()
    asyncio.run(provisioner_release(local, NODE1, NODE2))
    assert local.calls == [f"docker rm -f -v {NODE1} {NODE2}", f"docker network rm {NET}"]


async def provisioner_release(local: FakeLocal, *names: str) -> None:
    """Release a provisioner that created ``names`` (as a session's teardown does)."""
    made = provisioner(local)
    made._docker, made._containers, made._network_created = "docker", list(names), True
    await made.release()
    await made.release()  # idempotent: nothing left to remove


def test_profile_docker_section_changes_image_and_arguments() -> None:
    local = healthy(("image inspect", Reply("sha256:1234\n")))
    made = DockerProvisioner(profile(1, image="scylladb/scylla-nightly", tag="latest", smp=2,
                                     memory="2G", developer_mode=False,
                                     args=("--authenticator", "PasswordAuthenticator")),
                             local=local, which=lambda name: "/usr/bin/docker", run_id=RUN,
                             interval=0.0)
    local.rules = [(rule.replace("docker ", "/usr/bin/docker "), reply)
                   for rule, reply in local.rules]
    asyncio.run(made.provision())
    assert not any(" pull " in call for call in local.calls)
    assert f"/usr/bin/docker run -d --name {NODE1} --hostname node1 --network {NET} {LABELS} " \
           "scylladb/scylla-nightly:latest --smp 2 --memory 2G --overprovisioned 1 " \
           "--developer-mode 0 --authenticator PasswordAuthenticator" in local.calls


def test_teardown_after_a_failed_second_container() -> None:
    local = healthy((f"--name {NODE2}", Reply("", 125, "docker: Error response from daemon: "
                                                       "failed to create task: OCI runtime")))
    made = provisioner(local)

    async def session() -> None:
        try:
            await made.provision()
        finally:
            local.calls.append("-- release --")
            await made.release()
            await made.release()

    with pytest.raises(ProvisionError) as caught:
        asyncio.run(session())
    assert str(caught.value).startswith(f"docker: could not run container {NODE2}: local: "
                                        "command failed (exit code 125)")
    assert "OCI runtime" in str(caught.value)
    assert local.calls[local.calls.index("-- release --"):] == [
        "-- release --", f"docker rm -f -v {NODE1} {NODE2}", f"docker network rm {NET}"]


def test_release_tolerates_what_is_already_gone_and_reports_the_rest() -> None:
    local = FakeLocal([("docker rm", Reply("", 1, f"Error response from daemon: No such "
                                                  f"container: {NODE2}")),
                       ("network rm", Reply("", 1, f"Error response from daemon: network {NET} "
                                                   "not found"))])
    asyncio.run(provisioner_release(local, NODE1, NODE2))
    local = FakeLocal([("docker rm", Reply("", 1, "Error response from daemon: cannot remove "
                                                  "container: device or resource busy"))])
    with pytest.raises(ProvisionError, match=f"docker rm -f -v {NODE1}: Error response from "
                                             "daemon: cannot remove container"):
        asyncio.run(provisioner_release(local, NODE1))


def test_a_missing_docker_cli() -> None:
    local = FakeLocal()
    made = DockerProvisioner(profile(), local=local, which=lambda name: None, run_id=RUN)
    with pytest.raises(MissingDependencyError, match="needs the docker CLI, and `docker` is not "
                                                     "on PATH; install Docker Engine"):
        asyncio.run(made.provision())
    asyncio.run(made.release())
    assert local.calls == []


def test_a_daemon_that_does_not_answer() -> None:
    local = FakeLocal([("docker info", Reply("", 1, "Cannot connect to the Docker daemon at "
                                                    "unix:///var/run/docker.sock. Is the docker "
                                                    "daemon running?"))])
    made = provisioner(local)
    with pytest.raises(ProvisionError) as caught:
        asyncio.run(made.provision())
    assert str(caught.value).splitlines() == [
        "the Docker daemon does not answer (`docker info` exit code 1): Cannot connect to the "
        "Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?",
        "start it (e.g. `sudo systemctl start docker`), or point DOCKER_HOST or `docker context "
        "use` at a running one; your user must be allowed to use it (the docker group)"]
    asyncio.run(made.release())
    assert local.calls == ["docker info --format '{{.ServerVersion}}'"]


def _real_daemon_down() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    probe = subprocess.run([docker, "info", "--format", "{{.ServerVersion}}"],
                           capture_output=True, timeout=60, check=False)
    return probe.returncode != 0


@pytest.mark.skipif(not _real_daemon_down(), reason="needs a docker CLI whose daemon is down")
def test_the_real_docker_cli_without_a_daemon() -> None:
    made = DockerProvisioner(profile(), run_id=RUN)
    with pytest.raises(ProvisionError, match=r"the Docker daemon does not answer \(`docker info` "
                                             r"exit code 1\): .*daemon"):
        asyncio.run(made.provision())
    asyncio.run(made.release())


def test_a_node_that_does_not_join_or_stops() -> None:
    local = healthy((f"{NODE2} nodetool status", Reply(status(("UN", "172.18.0.2"),
                                                              ("UJ", "172.18.0.3")))))
    with pytest.raises(ClusterNotReady, match=f"^ScyllaDB node2 \\(172.18.0.3, container {NODE2}"
                                              r"\) did not join within 0.3 s; its nodetool "
                                              "status: not up and normal yet: 172.18.0.3 UJ$"):
        asyncio.run(provisioner(local, start_timeout=0.3).provision())
    local = healthy((f"{NODE1} nodetool status", Reply("", 1, f"Error response from daemon: "
                                                              f"container {NODE1} is not "
                                                              "running")),
                    ("{{.State.Status}}", Reply("exited\n")),
                    (f"logs --tail 25 {NODE1}", Reply("", 0, "ERROR 2026-11-23 Could not setup "
                                                             "Async I/O")))
    with pytest.raises(DatabaseError, match=f"(?s)^ScyllaDB node1 \\(172.18.0.2, container "
                                            f"{NODE1}\\) is not running: container {NODE1} is "
                                            "exited; its log ends with:\nERROR 2026-11-23 Could "
                                            "not setup Async I/O$"):
        asyncio.run(provisioner(local).provision())


def test_container_executor_command_lines(tmp_path: Path) -> None:
    local = FakeLocal([("false", Reply("", 1, "boom"))])
    box = ContainerExecutor("sb-node1", local)  # type: ignore[arg-type]
    result = asyncio.run(box.run(["sh", "-c", "cat > /etc/x"], timeout=5, env={"A": "1"},
                                 cwd="/tmp", stdin=b"text"))
    assert (result.host, result.command) == ("sb-node1", ("sh", "-c", "cat > /etc/x"))
    with pytest.raises(CommandError, match=r"^sb-node1: command failed \(exit code 1\): false"):
        asyncio.run(box.run(["false"], timeout=5))
    asyncio.run(box.put(tmp_path / "a", "/etc/a"))
    asyncio.run(box.get("/var/log/b", tmp_path / "sub" / "b"))
    asyncio.run(box.save_logs(tmp_path / "logs" / "node1.log"))
    asyncio.run(box.start(["scylla", "--smp", "1"], stdout_path="/var/log/s.log", detach=True))
    assert local.calls == [
        "docker exec -i -e A -w /tmp sb-node1 sh -c 'cat > /etc/x'",
        "docker exec sb-node1 false",
        f"docker cp {tmp_path / 'a'} sb-node1:/etc/a",
        f"docker cp sb-node1:/var/log/b {tmp_path / 'sub' / 'b'}",
        f"sh -c 'docker logs sb-node1 > {tmp_path / 'logs' / 'node1.log'} 2>&1'",
        "START docker exec sb-node1 sh -c 'exec \"$@\" >> \"$0\" 2>&1' /var/log/s.log scylla "
        "--smp 1 {'env': None, 'on_stdout': None, 'detach': True}",
    ]
    assert local.stdin[0] == b"text"
    assert local.envs[0] == {"A": "1"}  # the value travels in docker's environment only
    assert (tmp_path / "sub").is_dir() and (tmp_path / "logs").is_dir()


def test_an_enterprise_release_runs_the_enterprise_image() -> None:
    # ScyllaDB Enterprise (2018.1 to 2024.2) is published as scylladb/scylla-enterprise; from
    # 2025.1 on, every release is scylladb/scylla again. A profile's own image is kept.
    def image(version: str, **docker: Any) -> str:
        made = profile(1, **docker)
        object.__setattr__(made, "database",
                           DatabaseSpec(kind="scylla", version=version, nodes=1,
                                        replication_factor=1))
        return DockerProvisioner(made, local=FakeLocal(), run_id=RUN).image

    assert image("2024.1.12") == "scylladb/scylla-enterprise:2024.1.12"
    assert image("2024.2") == "scylladb/scylla-enterprise:2024.2"
    assert image("2025.1.9") == "scylladb/scylla:2025.1.9"
    assert image("6.2") == "scylladb/scylla:6.2"
    assert image("2024.1.12", image="registry.local:5000/scylla") == \
        "registry.local:5000/scylla:2024.1.12"
