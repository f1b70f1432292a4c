"""Profile validation: unknown keys, wrong types and bad values name the file and field."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_profile_support import error_of, write

from pytest_scyllabench.errors import ProfileError
from pytest_scyllabench.profile_schema import EMBEDDED, find_profile, load_profile

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("path", sorted((REPO / "fixtures" / "profiles").glob("*.yaml"))
                         + sorted(EMBEDDED.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_profiles_are_valid(path: Path) -> None:
    profile = load_profile(path)
    assert {"write", "read", "mixed"} <= set(profile.workloads)


def test_embedded_default_is_three_nodes_rf3() -> None:
    profile = load_profile(EMBEDDED / "local.yaml")
    assert (profile.database.nodes, profile.database.replication_factor) == (3, 3)
    assert profile.database.kind == "cassandra"
    assert profile.workloads["mixed"].mix == {"read": 0.5, "write": 0.5}


def test_unknown_key_names_file_and_path(tmp_path: Path) -> None:
    path = write(tmp_path, "database:\n  nodes: 3\n  nodez: 4\n")
    message = error_of(path)
    assert message.startswith(f"{path}: database.nodez: unknown key")
    assert "nodes" in message


def test_unknown_top_level_key(tmp_path: Path) -> None:
    assert ": databse: unknown key" in error_of(write(tmp_path, "databse: {}\n"))


def test_wrong_type(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "database:\n  nodes: three\n"))
    assert "database.nodes: must be an integer, got a string ('three')" in message


def test_bool_is_not_an_integer(tmp_path: Path) -> None:
    assert "database.nodes: must be an integer" in error_of(
        write(tmp_path, "database:\n  nodes: true\n"))


def test_zero_nodes(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "database:\n  nodes: 0\n  replication_factor: 1\n"))
    assert "database.nodes: must be between 1 and 5, got 0" in message


def test_replication_factor_above_nodes(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "database:\n  nodes: 2\n  replication_factor: 3\n"))
    assert "database.replication_factor: must be between 1 and database.nodes (2)" in message


def test_bad_literal(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "loaders:\n  driver: gocql\n"))
    assert "loaders.driver: must be one of acsylla, scylla-driver, got 'gocql'" in message


def test_unknown_stress_tool(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "loaders:\n  tool: ycsb\n"))
    assert ("loaders.tool: must be one of builtin, cassandra-stress, latte, scylla-bench, "
            "got 'ycsb'") in message


def test_allow_service_time_is_a_boolean(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "loaders:\n  allow_service_time: maybe\n"))
    assert "loaders.allow_service_time: must be" in message


def test_workload_errors_name_the_workload(tmp_path: Path) -> None:
    text = "workloads:\n  w1:\n    mix: {write: 1}\n    distribution: pareto\n"
    assert "workloads.w1.distribution: must be one of" in error_of(write(tmp_path, text))
    text = "workloads:\n  w1:\n    mix: {delete: 1}\n"
    assert "workloads.w1.mix.delete: must be one of" in error_of(write(tmp_path, text))
    text = "workloads:\n  w1:\n    mix: {write: 0}\n"
    assert "workloads.w1.mix: weights must not all be zero" in error_of(write(tmp_path, text))
    text = "workloads:\n  w1:\n    mix: {write: 1}\n    keyspace: 'a b'\n"
    assert "workloads.w1.keyspace: must be a CQL identifier" in error_of(write(tmp_path, text))


def test_workload_file_errors_name_that_file(tmp_path: Path) -> None:
    workloads = write(tmp_path, "w:\n  mix: {write: 1}\n  row_size: -1\n", "w.yaml")
    profile = write(tmp_path, "workload_files: [w.yaml]\n")
    message = error_of(profile)
    assert message.startswith(f"{workloads}: w.row_size: must be at least 1")


def test_missing_workload_file(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "workload_files: [nope.yaml]\n"))
    assert "workload_files[0]: no such file" in message


def test_invalid_yaml_names_line(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "database:\n  nodes: [1\n"))
    assert "invalid YAML" in message and "line" in message


def test_warmup_must_name_a_workload(tmp_path: Path) -> None:
    text = "workloads:\n  w1:\n    mix: {write: 1}\nwarmup: {workload: w2}\n"
    assert "warmup.workload: no workload 'w2'; known: w1" in error_of(write(tmp_path, text))


def test_warmup_rate_must_give_every_loader_process_an_operation(tmp_path: Path) -> None:
    base = ("workloads:\n  w1:\n    mix: {write: 1}\nloaders: {count: 2, processes: 3}\n"
            "warmup: {workload: w1, rate: %d}\n")
    message = error_of(write(tmp_path, base % 5))
    assert "warmup.rate: 5 ops/s cannot be shared by 6 loader processes" in message
    assert load_profile(write(tmp_path, base % 6)).warmup.rate == 6
    # No warm-up workload: its rate is not used.
    no_warmup = base.replace("workload: w1, ", "") % 5
    assert load_profile(write(tmp_path, no_warmup)).warmup.rate == 5


def test_local_nodes_keep_their_own_data_directories(tmp_path: Path) -> None:
    # Every local node would share the one directory a setting names.
    text = "database: {settings: {data_file_directories: [/mnt/fast]}}\n"
    assert ("database.settings.data_file_directories: the local provisioner gives each node its "
            "own directories" in error_of(write(tmp_path, text)))


def test_thresholds_are_checked_at_load(tmp_path: Path) -> None:
    assert "thresholds.p98: " in error_of(write(tmp_path, "thresholds: {p98: 10ms}\n"))
    assert "thresholds.p99: " in error_of(write(tmp_path, "thresholds: {p99: soon}\n"))
    profile = load_profile(write(tmp_path, "thresholds: {p99: 20ms, read_max: 1s}\n"))
    assert profile.thresholds == {"p99": "20ms", "read_max": "1s"}


def test_heap_and_address(tmp_path: Path) -> None:
    assert "database.heap: must look like 512M or 2G" in error_of(
        write(tmp_path, "database:\n  heap: lots\n"))
    assert "local.first_address: must be a loopback" in error_of(
        write(tmp_path, "local:\n  first_address: 10.0.0.1\n"))


def test_find_profile_by_name_and_path(tmp_path: Path) -> None:
    assert find_profile("local", tmp_path) == EMBEDDED / "local.yaml"
    assert find_profile("local-1node", REPO).name == "local-1node.yaml"
    own = write(tmp_path, "name: mine\n", "mine.yaml")
    assert find_profile(str(own), tmp_path) == own
    with pytest.raises(ProfileError, match=r"no such profile; known profiles: .*local"):
        find_profile("nope", tmp_path)


def test_profile_local_has_one_copy_the_embedded_one() -> None:
    """The README's C1-only default is what ``local`` runs, in this repository too."""
    assert find_profile("local", REPO) == EMBEDDED / "local.yaml"
    profile = load_profile(EMBEDDED / "local.yaml")
    assert profile.database.jvm_options == ("-XX:TieredStopAtLevel=1",)
    # Its inline workloads are the suite's workload file, which local-1node reads.
    suite = load_profile(REPO / "fixtures" / "profiles" / "local-1node.yaml")
    assert profile.workloads == suite.workloads


@pytest.mark.parametrize("version", ["banana", "4.1.5", "../../x", "5.0", "5.0.9-rc1",
                                     "5.0.x", " 5.0.9", "5.1.0"])
def test_cassandra_version_is_5_0_n(tmp_path: Path, version: str) -> None:
    message = error_of(write(tmp_path, f"database:\n  version: '{version}'\n"))
    assert f"database.version: not a cassandra version (5.0.N, e.g. 5.0.9): {version!r}" \
        in message


@pytest.mark.parametrize("version", ["banana", "../../x", "6", "6.2.x", "6.2.3-rc1",
                                     "2024.1.1.1", "6..2"])
def test_scylla_version_is_digits_and_dots(tmp_path: Path, version: str) -> None:
    text = f"provisioner: docker\ndatabase:\n  kind: scylla\n  version: '{version}'\n"
    assert "database.version: not a scylla version" in error_of(write(tmp_path, text))


@pytest.mark.parametrize(("kind", "version"), [("cassandra", "5.0.12"), ("scylla", "6.2"),
                                               ("scylla", "6.2.3"), ("scylla", "2024.1.12")])
def test_good_versions(tmp_path: Path, kind: str, version: str) -> None:
    provisioner = "docker" if kind == "scylla" else "local"
    text = f"provisioner: {provisioner}\ndatabase:\n  kind: {kind}\n  version: '{version}'\n"
    assert load_profile(write(tmp_path, text)).database.version == version


@pytest.mark.parametrize(("value", "problem"), [
    (".inf", "must be a finite number, got inf"),
    (".nan", "must be a finite number of seconds, got nan"),
    ("-1", "must be at least 0, got -1"),
])
def test_quiet_timeout_is_finite(tmp_path: Path, value: str, problem: str) -> None:
    message = error_of(write(tmp_path, f"monitoring: {{quiet_timeout: {value}}}\n"))
    assert f"monitoring.quiet_timeout: {problem}" in message
