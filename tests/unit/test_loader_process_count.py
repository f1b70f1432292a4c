"""``loaders.processes``: validation, the expansion of a deployment's loader hosts into
logical loaders, the hosts monitoring watches, and the baseline environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_baseline_support import environment, step_result
from test_profile_support import error_of, write

from pytest_scyllabench.baseline.record import Environment, environment_of
from pytest_scyllabench.execute.local import LocalExecutor
from pytest_scyllabench.monitor.plan import watched_hosts
from pytest_scyllabench.profile_schema import load_profile
from pytest_scyllabench.provision.base import Deployment, Host, with_loader_processes


def deployment(*loaders: Host, workdir: str | None = "/w") -> Deployment:
    return Deployment(servers=(Host("node1", "10.0.0.1", LocalExecutor("node1")),),
                      loaders=loaders, workdir=workdir,
                      monitor=Host("monitor1", "10.0.0.9", LocalExecutor("monitor1")))


LOADER1 = Host("loader1", "203.0.113.2", LocalExecutor("loader1"), private_address="10.0.0.2")
LOADER2 = Host("loader2", "10.0.0.3", LocalExecutor("loader2"))


# -- the profile ---------------------------------------------------------------------------


def test_processes_default_to_one(tmp_path: Path) -> None:
    assert load_profile(write(tmp_path, "loaders: {count: 1}\n")).loaders.processes == 1
    profile = load_profile(write(tmp_path, "loaders: {count: 2, processes: 3}\n"))
    assert (profile.loaders.count, profile.loaders.processes) == (2, 3)


@pytest.mark.parametrize(("value", "problem"), [
    ("0", "must be at least 1, got 0"),
    ("-2", "must be at least 1, got -2"),
    ("two", "must be an integer, got a string ('two')"),
    ("true", "must be an integer"),
    ("1.5", "must be an integer"),
])
def test_bad_processes_name_the_file_and_the_field(tmp_path: Path, value: str,
                                                   problem: str) -> None:
    path = write(tmp_path, f"loaders:\n  processes: {value}\n")
    message = error_of(path)
    assert message.startswith(f"{path}: loaders.processes: ")
    assert problem in message


# -- the expansion -------------------------------------------------------------------------


def test_one_process_leaves_the_deployment_as_it_is() -> None:
    plain = deployment(LOADER1, LOADER2)
    assert with_loader_processes(plain, 1) is plain
    assert [host.machine_name for host in plain.loaders] == ["loader1", "loader2"]


def test_each_host_becomes_n_loaders_sharing_its_address_and_executor() -> None:
    plain = deployment(LOADER1, LOADER2)
    expanded = with_loader_processes(plain, 3)
    assert [host.name for host in expanded.loaders] == [
        "loader1-p1", "loader1-p2", "loader1-p3", "loader2-p1", "loader2-p2", "loader2-p3"]
    assert [host.machine_name for host in expanded.loaders] == ["loader1"] * 3 + ["loader2"] * 3
    for host in expanded.loaders:
        physical = LOADER1 if host.machine_name == "loader1" else LOADER2
        assert host.executor is physical.executor
        assert (host.address, host.listen_address) == (physical.address,
                                                       physical.listen_address)
    # Only the loaders change.
    assert (expanded.servers, expanded.workdir, expanded.monitor) == (
        plain.servers, plain.workdir, plain.monitor)


def test_the_local_provisioner_gets_count_times_processes_loaders() -> None:
    local = deployment(*(Host(f"loader-{i}", "127.0.0.1", LocalExecutor(host="local"))
                         for i in (1, 2)), workdir=None)
    expanded = with_loader_processes(local, 2)
    assert [host.name for host in expanded.loaders] == [
        "loader-1-p1", "loader-1-p2", "loader-2-p1", "loader-2-p2"]
    assert {host.address for host in expanded.loaders} == {"127.0.0.1"}


def test_fewer_than_one_process_is_refused() -> None:
    with pytest.raises(ValueError, match=r"loaders\.processes must be at least 1, got 0"):
        with_loader_processes(deployment(LOADER1), 0)


def test_monitoring_watches_each_loader_machine_once_under_its_own_name() -> None:
    expanded = with_loader_processes(deployment(LOADER1, LOADER2), 4)
    hosts = [(w.host.name, w.host.address, w.host.roles) for w in watched_hosts(expanded)]
    assert hosts == [("node1", "10.0.0.1", ("db",)),
                     ("loader1", "10.0.0.2", ("loader",)),
                     ("loader2", "10.0.0.3", ("loader",)),
                     ("monitor1", "10.0.0.9", ("monitor",))]


# -- the baseline environment --------------------------------------------------------------


def test_two_hosts_of_three_processes_differ_from_six_hosts_of_one() -> None:
    six_by_one = environment(loaders=6)
    two_by_three = environment(loaders=6, loader_processes=3)
    assert six_by_one.differences(two_by_three) == ["loader_processes: 1 -> 3"]
    assert two_by_three.differences(environment(loaders=6, loader_processes=3)) == []
    assert environment(loaders=4, loader_processes=2).differences(two_by_three) == [
        "loaders: 4 -> 6", "loader_processes: 2 -> 3"]


def test_a_record_without_processes_loads_as_one_and_is_written_as_before() -> None:
    plain = environment(loaders=2)
    data = plain.to_dict()
    assert "loader_processes" not in data  # records of one process per host are unchanged
    assert Environment.from_dict(data) == plain
    assert Environment.from_dict(data).loader_processes == 1
    assert plain.differences(Environment.from_dict(data)) == []
    several = environment(loaders=4, loader_processes=2)
    assert several.to_dict()["loader_processes"] == 2
    assert Environment.from_dict(several.to_dict()) == several


def test_environment_of_a_step_keeps_the_profiles_processes() -> None:
    result = step_result(1)
    env = environment_of(result, database="cassandra", database_version="5.0.9", nodes=3,
                         instance_types=["local"], loader_processes=2)
    assert (env.loaders, env.loader_processes) == (len(result.loaders), 2)
    default = environment_of(result, database="cassandra", database_version="5.0.9", nodes=3,
                             instance_types=["local"])
    assert default.loader_processes == 1
