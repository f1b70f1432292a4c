"""Stress tools against workloads: what a tool cannot run is refused when the profile loads."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from test_profile_support import error_of, write

from pytest_scyllabench import backends
from pytest_scyllabench.errors import ConfigError
from pytest_scyllabench.profile import LoaderSpec
from pytest_scyllabench.profile_schema import load_profile
from pytest_scyllabench.stress.step import Workload


def profile(tool: str, workload: str, loaders: str = "") -> str:
    return f"loaders: {{tool: {tool}{loaders}}}\nworkloads:\n  w: {workload}\n"


UNIFORM = "{mix: {write: 1}}"


@pytest.mark.parametrize(("tool", "workload", "problem"), [
    ("cassandra-stress", "{mix: {read: 1}, distribution: zipfian}",
     "workloads.w.distribution: cassandra-stress cannot draw keys with distribution 'zipfian'"),
    ("scylla-bench", "{mix: {read: 1}, distribution: zipfian}",
     "workloads.w.distribution: workload w: scylla-bench cannot draw keys with distribution "
     "'zipfian'"),
    ("scylla-bench", "{mix: {read: 1}, distribution: gaussian}",
     "workloads.w.distribution: workload w: scylla-bench cannot draw keys with distribution "
     "'gaussian'"),
    ("scylla-bench", "{mix: {read: 0.7, write: 0.3}}",
     "workloads.w.mix: scylla-bench cannot run mix {'read': 0.7, 'write': 0.3}"),
    ("latte", "{mix: {write: 1}, distribution: gaussian}",
     "workloads.w.distribution: latte cannot draw keys with distribution 'gaussian'"),
])
def test_a_workload_the_tool_cannot_express(tmp_path: Path, tool: str, workload: str,
                                            problem: str) -> None:
    allow = ", allow_service_time: true" if tool == "latte" else ""
    path = write(tmp_path, profile(tool, workload, allow))
    message = error_of(path)
    assert message.startswith(f"{path}: {problem}")
    assert message.endswith(f"(loaders.tool: {tool})")


@pytest.mark.parametrize(("tool", "workload"), [
    ("cassandra-stress", "{mix: {read: 1}, distribution: gaussian}"),
    ("cassandra-stress", "{mix: {read: 0.7, write: 0.3}, distribution: sequential}"),
    ("scylla-bench", "{mix: {read: 1, write: 1}}"),
    ("scylla-bench", "{mix: {read: 1}, distribution: sequential}"),
    ("builtin", "{mix: {read: 0.7, write: 0.3}, distribution: zipfian}"),
])
def test_what_the_tool_can_express_loads(tmp_path: Path, tool: str, workload: str) -> None:
    assert load_profile(write(tmp_path, profile(tool, workload))).loaders.tool == tool


def test_latte_needs_the_service_time_opt_in(tmp_path: Path) -> None:
    path = write(tmp_path, profile("latte", UNIFORM))
    assert error_of(path).startswith(f"{path}: loaders.allow_service_time: latte 0.29.0 "
                                     f"measures service time only")
    allowed = write(tmp_path, profile("latte", UNIFORM, ", allow_service_time: true"))
    assert load_profile(allowed).loaders.allow_service_time


def test_every_workload_is_checked_not_only_the_steps_ones(tmp_path: Path) -> None:
    text = ("loaders: {tool: cassandra-stress}\nworkloads:\n  w: {mix: {write: 1}}\n"
            "  z: {mix: {read: 1}, distribution: zipfian}\n")
    assert "workloads.z.distribution: cassandra-stress" in error_of(write(tmp_path, text))


def test_a_workload_file_is_named_with_its_own_path(tmp_path: Path) -> None:
    workloads = write(tmp_path, "z: {mix: {read: 1}, distribution: zipfian}\n", "w.yaml")
    path = write(tmp_path, "loaders: {tool: cassandra-stress}\nworkload_files: [w.yaml]\n")
    assert error_of(path).startswith(f"{workloads}: z.distribution: cassandra-stress cannot")
    # A setting of the tool stays the profile's, whatever file the workload came from.
    path = write(tmp_path, "loaders: {tool: latte}\nworkload_files: [w.yaml]\n")
    assert error_of(path).startswith(f"{path}: loaders.allow_service_time: ")


def executable(path: Path) -> str:
    path.write_text("#!/bin/sh\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


@pytest.mark.parametrize("tool", ["scylla-bench", "latte"])
def test_tool_paths_must_name_an_executable(tmp_path: Path, tool: str) -> None:
    missing = tmp_path / "nope"
    path = write(tmp_path, f"loaders: {{tool_paths: {{{tool}: {missing}}}}}\n")
    assert error_of(path).startswith(f"{path}: loaders.tool_paths.{tool}: no such file: "
                                     f"{missing}")
    plain = tmp_path / "plain"
    plain.write_text("")
    path = write(tmp_path, f"loaders: {{tool_paths: {{{tool}: {plain}}}}}\n")
    assert f"loaders.tool_paths.{tool}: not executable: {plain}" in error_of(path)
    good = executable(tmp_path / tool)
    path = write(tmp_path, f"loaders: {{tool_paths: {{{tool}: {good}}}}}\n")
    assert load_profile(path).loaders.tool_paths == {tool: good}


def test_a_local_cassandra_stress_tree_must_hold_stress_jar(tmp_path: Path) -> None:
    tree = tmp_path / "apache-cassandra"
    tree.mkdir()
    path = write(tmp_path, f"loaders: {{tool_paths: {{cassandra-stress: {tree}}}}}\n")
    assert error_of(path).startswith(f"{path}: loaders.tool_paths.cassandra-stress: {tree} "
                                     f"has no tools/lib/stress.jar")
    (tree / "tools" / "lib").mkdir(parents=True)
    (tree / "tools" / "lib" / "stress.jar").write_bytes(b"")
    assert load_profile(path).loaders.tool_paths == {"cassandra-stress": str(tree)}


def test_a_remote_cassandra_stress_tree_is_checked_on_the_loaders(tmp_path: Path) -> None:
    """Static loaders use the tree where it is on each of them: not on this machine."""
    (tmp_path / "id").write_text("key")
    text = ("provisioner: static\nstatic:\n  ssh: {key: id, known_hosts: off}\n"
            "  servers: [10.0.0.1]\n  loaders: [10.0.0.9]\n"
            "database: {replication_factor: 1}\n"
            "loaders: {tool_paths: {cassandra-stress: /opt/apache-cassandra}}\n")
    loaded = load_profile(write(tmp_path, text))
    assert loaded.loaders.tool_paths == {"cassandra-stress": "/opt/apache-cassandra"}


@pytest.mark.parametrize("name", sorted(backends.STRESS_TOOLS))
def test_every_tool_checks_workloads(name: str) -> None:
    tool = backends.stress_tool(name, LoaderSpec(allow_service_time=True))
    tool.check_workload(Workload("w", {"write": 1.0}))
    if name != "builtin":
        with pytest.raises(ConfigError, match=r"^workloads\.z\.distribution: "):
            tool.check_workload(Workload("z", {"write": 1.0}, distribution="zipfian"))
