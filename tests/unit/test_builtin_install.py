"""The built-in loader on remote loader hosts: used where the host's Python runs it, else
installed in a venv under the deployment's workdir (the commands are recorded)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest
from test_executor_support import ScriptedHost

from pytest_scyllabench import __version__
from pytest_scyllabench.errors import CommandError, MissingDependencyError
from pytest_scyllabench.stress import builtin
from pytest_scyllabench.stress.base import Invocation
from pytest_scyllabench.stress.builtin import BuiltinTool, loader_requirements, venv_dir
from pytest_scyllabench.stress.step import Workload

REPO = Path(__file__).resolve().parents[2]
WORKDIR = "/var/tmp/sb"
VENV = f"/var/tmp/sb/python/pytest-scyllabench-{__version__}"
WHEEL = f"pytest_scyllabench-{__version__}-py3-none-any.whl"


def is_probe(command: tuple[str, ...]) -> bool:
    return len(command) > 2 and command[1] == "-c" and "pytest_scyllabench.loader" in command[2]


def host(*, runs: Sequence[str] = (), pip_fails: str = "", version: str = __version__,
         name: str = "loader-1") -> ScriptedHost:
    """A host where the Pythons in ``runs`` run the loader of ``version``; the venv's runs
    this version once pip installed it."""
    working = dict.fromkeys(runs, version)

    def answer(command: tuple[str, ...]) -> tuple[int, str, str]:
        if is_probe(command):
            if command[0] in working:
                return 0, working[command[0]] + "\n", ""
            return 1, "", "ModuleNotFoundError: No module named 'pytest_scyllabench'"
        if command[1:3] == ("-m", "pip"):
            if pip_fails:
                return 1, "", pip_fails
            if "--no-deps" not in command:
                working[command[0]] = __version__
        return 0, "", ""

    return ScriptedHost(answer, host=name)


@pytest.fixture
def built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path | None]:
    """The wheel 'built' here without pip; records each build."""
    builds: list[Path | None] = []
    wheel = tmp_path / WHEEL
    wheel.write_bytes(b"wheel")

    async def build(cache: Path | None = None) -> Path:
        builds.append(cache)
        return wheel

    monkeypatch.setattr(builtin, "build_wheel", build)
    return builds


def invocation(loader: str) -> Invocation:
    return Invocation(loader=loader, index=0, count=2, hosts=("10.0.0.1",), port=9042, rate=10,
                      start_at=0.0, hdr_log="", summary="", replication_factor=1)


WORKLOAD = Workload("w", {"write": 1.0}, partitions=10)


def test_a_python_that_runs_the_loader_is_used_as_it_is(built: list[Path | None]) -> None:
    executor = host(runs=["/opt/py/bin/python"])
    tool = BuiltinTool(python="/opt/py/bin/python", driver="acsylla")
    asyncio.run(tool.install(executor, WORKDIR))
    (probe,) = executor.calls
    assert probe[0] == "/opt/py/bin/python" and probe[-1] == "acsylla"  # the driver's module
    assert built == []
    assert tool.schema_command(WORKLOAD, invocation("loader-1"))[0] == "/opt/py/bin/python"


def test_this_machine_needs_nothing(built: list[Path | None]) -> None:
    executor = host()
    asyncio.run(BuiltinTool(python="python3").install(executor, None))
    assert executor.calls == [] and built == []


def test_an_older_loader_is_not_good_enough(built: list[Path | None]) -> None:
    executor = host(runs=["python3"], version="0.0.1")
    tool = BuiltinTool(python="python3", driver="scylla-driver")
    asyncio.run(tool.install(executor, WORKDIR))
    assert built == [None]
    assert tool.python_for("loader-1") == f"{VENV}/bin/python"


def test_the_venv_is_made_once_and_used_by_later_sessions(built: list[Path | None]) -> None:
    first, second = host(name="loader-1"), host(name="loader-2")
    tool = BuiltinTool(python="python3", driver="acsylla")

    async def both() -> None:
        await asyncio.gather(tool.install(first, WORKDIR), tool.install(second, WORKDIR + "/"))

    asyncio.run(both())
    assert len(built) == 1  # one wheel per session, whatever the number of hosts
    python = f"{VENV}/bin/python"
    remote_wheel = f"{WORKDIR}/python/{WHEEL}"
    pip = ("-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input")
    requirements = loader_requirements("acsylla")
    commands = [c if c[0] == "put" or not is_probe(c) else ("probe", c[0])
                for c in first.calls]
    assert commands == [
        ("probe", "python3"),
        ("probe", python),
        ("mkdir", "-p", f"{WORKDIR}/python"),
        ("put", WHEEL, remote_wheel),
        ("python3", "-m", "venv", VENV),
        (python, *pip, "--force-reinstall", "--no-deps", remote_wheel),
        (python, *pip, *requirements),
        ("probe", python),
    ]
    assert [c[0] for c in second.calls if c[0] != "put"] == [c[0] for c in first.calls
                                                             if c[0] != "put"]
    for loader in ("loader-1", "loader-2"):
        assert tool.schema_command(WORKLOAD, invocation(loader))[0] == python
    # A later session finds the venv and installs nothing.
    later = host(runs=[python])
    again = BuiltinTool(python="python3", driver="acsylla")
    asyncio.run(again.install(later, WORKDIR))
    assert [c[0] for c in later.calls] == ["python3", python]
    assert len(built) == 1
    assert again.python_for("loader-1") == python
    assert again.python_for("loader-9") == "python3"  # a host not installed keeps its Python


def test_a_failed_pip_install_names_the_host_and_the_command(
        built: list[Path | None]) -> None:
    executor = host(pip_fails="ERROR: Could not find a version that satisfies the "
                              "requirement acsylla>=1.2")
    with pytest.raises(MissingDependencyError) as caught:
        asyncio.run(BuiltinTool(python="python3", driver="acsylla").install(executor, WORKDIR))
    message = str(caught.value)
    assert message.startswith(f"loader-1: cannot install the built-in loader in {VENV} (")
    assert "python3 with its venv module" in message
    assert f"loader-1: command failed (exit code 1): {VENV}/bin/python -m pip install" in message
    assert "Could not find a version" in message
    assert isinstance(caught.value.__cause__, CommandError)


def test_a_venv_that_still_cannot_run_the_loader_is_an_error(built: list[Path | None]) -> None:
    def answer(command: tuple[str, ...]) -> tuple[int, str, str]:
        if is_probe(command):
            return 1, "", "ImportError: libuv.so.1: cannot open shared object file"
        return 0, "", ""

    with pytest.raises(MissingDependencyError, match=r"loader-1: the built-in loader was "
                                                     r"installed in .* still cannot run it: "
                                                     r"exit code 1: ImportError: libuv"):
        asyncio.run(BuiltinTool(python="python3").install(
            ScriptedHost(answer, host="loader-1"), WORKDIR))


def test_requirements_carry_this_package_s_bounds() -> None:
    assert loader_requirements("acsylla") == ["hdrhistogram>=0.10.8", "PyYAML>=6",
                                              "acsylla>=1.2"]
    assert loader_requirements("scylla-driver")[-1] == "scylla-driver>=3.29"
    assert loader_requirements(None) == ["hdrhistogram>=0.10.8", "PyYAML>=6"]
    assert venv_dir("/w/") == f"/w/python/pytest-scyllabench-{__version__}"


def test_the_wheel_is_built_in_the_cache_and_runs_the_loader(tmp_path: Path) -> None:
    """A real ``pip wheel``: the wheel holds the loader, and the source tree is left as it
    was (no build/ or egg-info written there)."""
    before = set(REPO.iterdir())
    wheel = asyncio.run(builtin.build_wheel(tmp_path / "cache"))
    assert set(REPO.iterdir()) == before
    assert wheel.parent == tmp_path / "cache" / "tools" / "builtin-loader" / __version__
    assert wheel.name == WHEEL
    assert [p.name for p in wheel.parent.iterdir()] == [WHEEL]  # the build directory is gone
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    assert "pytest_scyllabench/loader/__main__.py" in names
    assert not [name for name in names if "__pycache__" in name]
    # The loader imports from the wheel alone (its requirements come from this venv).
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(unpacked)
    env = {"PYTHONPATH": str(unpacked), "PYTHONSAFEPATH": "1"}
    probe = subprocess.run([sys.executable, "-c", builtin._PROBE, "acsylla"], cwd=unpacked,
                           capture_output=True, text=True, timeout=120, env=env)
    assert (probe.returncode, probe.stdout.strip()) == (0, __version__), probe.stderr
    where = subprocess.run([sys.executable, "-c", "import pytest_scyllabench.loader as m; "
                            "print(m.__file__)"], capture_output=True, text=True, timeout=60,
                           env=env)
    assert where.stdout.strip().startswith(str(unpacked)), where.stdout + where.stderr


# --- a host without python3-venv ---------------------------------------------------------------

#: Recorded on Debian 12 from its python3.11 with the stdlib's ensurepip, then venv, left out.
VENV_DATA = Path(__file__).parent / "data" / "python-venv"
WITHOUT_ENSUREPIP = (VENV_DATA / "without-ensurepip.stdout").read_text()
WITHOUT_VENV_MODULE = (VENV_DATA / "without-venv-module.stderr").read_text()


def bare_host(*, uid: str = "1000", system: str = "debian", venv_says: tuple[str, str] = (
        WITHOUT_ENSUREPIP, ""), sudo_fails: str = "") -> ScriptedHost:
    """A host whose ``python3 -m venv`` fails as recorded until apt installed python3-venv."""
    state = {"venv": False}

    def answer(command: tuple[str, ...]) -> tuple[int, str, str]:
        if is_probe(command):
            return 1, "", "ModuleNotFoundError: No module named 'pytest_scyllabench'"
        if command[:3] == ("python3", "-m", "venv"):
            return (0, "", "") if state["venv"] else (1, *venv_says)
        if command == ("id", "-u"):
            return 0, uid + "\n", ""
        if command[:2] == ("sh", "-c") and "os-release" in command[2]:
            return 0, f"{system}\n", ""
        if "apt-get install" in command[-1]:
            if sudo_fails and command[0] == "sudo":
                return 1, "", sudo_fails
            state["venv"] = True
        return 0, "", ""

    return ScriptedHost(answer, host="loader-7")


def test_a_host_without_ensurepip_gets_python3_venv_and_the_venv_made_again(
        built: list[Path | None]) -> None:
    executor = bare_host()
    tool = BuiltinTool(python="python3", driver="acsylla")
    with pytest.raises(MissingDependencyError, match="still cannot run it"):
        asyncio.run(tool.install(executor, WORKDIR))  # the fake's pip installs nothing
    made = ("python3", "-m", "venv", VENV)
    start = executor.calls.index(made)
    release, uid, apt = executor.calls[start + 1:start + 4]
    assert release[:2] == ("sh", "-c") and "/etc/os-release" in release[2]
    assert uid == ("id", "-u")
    assert apt[:4] == ("sudo", "-n", "sh", "-c")  # not root: through sudo -n
    # Debian names the versioned package; python3-venv is the one for the default python3.
    assert "apt-get install -y -q --no-install-recommends python3-venv python3.11-venv" in apt[4]
    assert executor.calls[start + 4] == made  # once more, then pip
    assert executor.calls[start + 5][1:3] == ("-m", "pip")
    assert executor.calls.count(made) == 2


def test_a_host_without_the_venv_module_as_root_installs_python3_venv(
        built: list[Path | None]) -> None:
    executor = bare_host(uid="0", venv_says=("", WITHOUT_VENV_MODULE.replace(
        "/tmp/nov/bin/python3.11", "python3")))
    with pytest.raises(MissingDependencyError, match="still cannot run it"):
        asyncio.run(BuiltinTool(python="python3").install(executor, WORKDIR))
    (apt,) = [c for c in executor.calls if "apt-get install" in c[-1]]
    assert apt[:2] == ("sh", "-c")  # root: no sudo
    assert apt[-1].splitlines()[-1] == "apt-get install -y -q --no-install-recommends python3-venv"
    assert executor.calls.count(("python3", "-m", "venv", VENV)) == 2


def test_no_sudo_for_python3_venv_names_the_host_and_the_package(
        built: list[Path | None]) -> None:
    executor = bare_host(sudo_fails="sudo: a password is required")
    with pytest.raises(MissingDependencyError) as caught:
        asyncio.run(BuiltinTool(python="python3").install(executor, WORKDIR))
    message = str(caught.value)
    assert message.startswith("loader-7: `python3 -m venv` needs python3-venv, python3.11-venv "
                              "(ensurepip is missing)")
    assert "sudo: a password is required" in message
    assert isinstance(caught.value.__cause__, CommandError)
    assert executor.calls.count(("python3", "-m", "venv", VENV)) == 1  # not retried


def test_python3_venv_is_not_installed_on_other_systems_nor_for_other_failures(
        built: list[Path | None]) -> None:
    executor = bare_host(system="fedora rhel")
    with pytest.raises(MissingDependencyError, match=r"^loader-7: cannot install python3-venv, "
                                                     r"python3.11-venv there: not a Debian"):
        asyncio.run(BuiltinTool(python="python3").install(executor, WORKDIR))
    full = bare_host(venv_says=("", "Error: [Errno 28] No space left on device: '/var/tmp/sb'"))
    with pytest.raises(MissingDependencyError) as caught:
        asyncio.run(BuiltinTool(python="python3").install(full, WORKDIR))
    assert f"loader-7: command failed (exit code 1): python3 -m venv {VENV}" in str(caught.value)
    assert "No space left on device" in str(caught.value)
    assert not [c for c in full.calls if c == ("id", "-u") or "apt-get" in c[-1]]
