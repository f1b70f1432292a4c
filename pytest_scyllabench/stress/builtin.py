"""The built-in loader as a :class:`~pytest_scyllabench.stress.base.StressTool`.

Commands run ``<python> -m pytest_scyllabench.loader`` (``sys.executable`` by default, so the
loader runs in the plugin's own environment); progress lines and the summary file are the
JSON the loader writes (see :mod:`pytest_scyllabench.loader.phases`).

On a remote loader host (one with a deployment workdir) :meth:`BuiltinTool.install` first asks
the configured Python whether it runs the loader of this version with the chosen driver. If
not, the loader goes into a virtualenv under the workdir, made once per version::

    <workdir>/python/pytest_scyllabench-<version>-py3-none-any.whl   built here, uploaded
    <workdir>/python/pytest-scyllabench-<version>/                   the venv: the wheel
                                                                     (no dependencies), the
                                                                     loader's requirements
                                                                     and the driver, from PyPI

The wheel is built once per session from this package's source tree, in the cache
(``cache_dir()/tools/builtin-loader/<version>/``), never in the source tree itself. When
``python3 -m venv`` fails because the host lacks ensurepip or the venv module (a plain Debian or
Ubuntu image without ``python3-venv``), that package (and the versioned one Debian's message
names) is installed with ``apt-get`` as root or through ``sudo -n``
(:mod:`pytest_scyllabench.execute.packages`), and the venv is made again, once.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import importlib.util
import json
import logging
import math
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_scyllabench import __version__
from pytest_scyllabench.errors import CommandError, MissingDependencyError, StressError
from pytest_scyllabench.execute.packages import apt_install
from pytest_scyllabench.loader.cli import DEFAULT_DRIVER
from pytest_scyllabench.loader.workload import workload_to_json
from pytest_scyllabench.stress.base import (
    Invocation,
    LoaderFiles,
    LoaderSummary,
    Progress,
    hosts_arg,
    read_json_object,
)
from pytest_scyllabench.stress.step import Step, Workload

if TYPE_CHECKING:
    from pytest_scyllabench.execute.base import Executor
    from pytest_scyllabench.profile import LoaderSpec

log = logging.getLogger(__name__)

MODULE = "pytest_scyllabench.loader"
DISTRIBUTION = "pytest-scyllabench"
#: Concurrency of the populate phase (closed loop, not measured).
POPULATE_CONCURRENCY = 128
#: What the loader imports besides this package and its driver (names as in our metadata).
LOADER_REQUIREMENTS = ("hdrhistogram", "pyyaml")
#: Per ``--driver``: the distribution installed for it and a module it must import.
#: ``auto`` picks acsylla when importable, else scylla-driver, which is the one installed.
DRIVER_PACKAGES = {"acsylla": ("acsylla", "acsylla"),
                   "scylla-driver": ("scylla-driver", "cassandra"),
                   "auto": ("scylla-driver", "cassandra")}
#: Files of the source tree a wheel is built from (besides the package itself).
SOURCE_FILES = ("pyproject.toml", "README.md", "setup.py", "setup.cfg", "MANIFEST.in", "LICENSE")
PROBE_TIMEOUT = 120.0
BUILD_TIMEOUT = 600.0
#: Seconds ``pip install`` may take on a loader host (downloads from PyPI).
PIP_TIMEOUT = 900.0
_PIP = ("-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input")
#: The Debian/Ubuntu package with ensurepip and the venv module of the default python3.
VENV_PACKAGE = "python3-venv"
#: What ``python3 -m venv`` says without that package: Debian's own message (stdout), or
#: Python's when the module itself is missing (stderr); see ``tests/unit/data/python-venv``.
_NO_VENV = re.compile(r"ensurepip is not\s+available|No module named venv\b")
#: The versioned package Debian's message names (``apt install python3.11-venv``).
_NAMED_VENV_PACKAGE = re.compile(r"apt install (python3[0-9.]*-venv)\b")
#: Imports the loader (and the modules named as arguments), then prints our version.
_PROBE = ("import importlib, sys\n"
          "import pytest_scyllabench.loader.phases\n"
          "from pytest_scyllabench import __version__\n"
          "for name in sys.argv[1:]:\n"
          "    importlib.import_module(name)\n"
          "print(__version__)\n")
_HINT = ("a loader host needs python3 with its venv module (Debian/Ubuntu: python3-venv) and "
         "PyPI reachable, or pytest-scyllabench {version} with its CQL driver installed in "
         "the profile's loader_python")


class BuiltinTool:
    """Drives ``python -m pytest_scyllabench.loader``; measures response time (open loop).

    Its tags are already ours (``write-rt``, ``read-st``...) and its values microseconds.
    """

    name = "builtin"
    measures_response_time = True
    hdr_value_ns = 1000.0

    def __init__(self, python: str | None = None, driver: str = DEFAULT_DRIVER,
                 datacenter: str | None = None, request_timeout: float | None = None,
                 cache: Path | None = None) -> None:
        self._python = python or sys.executable
        self._driver = driver
        self._datacenter = datacenter
        self._request_timeout = request_timeout
        self._cache = cache
        #: The Python running the loader on each remote host (by executor host name), when
        #: it is not ``python``.
        self._pythons: dict[str, str] = {}
        #: The wheel of this package, once built in this session.
        self._wheel: Path | None = None
        self._lock = asyncio.Lock()

    def python_for(self, loader: str) -> str:
        """The Python that runs the loader on host ``loader``."""
        return self._pythons.get(loader, self._python)

    async def install(self, executor: Executor, workdir: str | None = None) -> None:
        """Make a remote loader host (``workdir`` set) run this version of the loader.

        Nothing to do on this machine: the loader is part of the plugin. On a remote host the
        configured Python is used when it runs the loader at this version with the driver;
        else the venv under ``workdir`` (see the module docstring), made when missing.
        """
        if workdir is None:
            return
        host = executor.host
        problem = await self._probe(executor, self._python)
        if problem is None:
            log.info("%s: %s runs the built-in loader %s", host, self._python, __version__)
            return
        venv = venv_dir(workdir)
        python = f"{venv}/bin/python"
        if await self._probe(executor, python) is None:
            log.info("%s: the built-in loader %s is in %s", host, __version__, venv)
        else:
            log.info("%s: %s cannot run the built-in loader %s (%s); installing it in %s",
                     host, self._python, __version__, problem, venv)
            await self._install_venv(executor, workdir)
            after = await self._probe(executor, python)
            if after is not None:
                raise MissingDependencyError(
                    f"{host}: the built-in loader was installed in {venv} but {python} still "
                    f"cannot run it: {after}; " + _HINT.format(version=__version__))
        self._pythons[host] = python

    def _driver_package(self) -> tuple[str, str] | None:
        return DRIVER_PACKAGES.get(self._driver)

    async def _probe(self, executor: Executor, python: str) -> str | None:
        """Why ``python`` on the host cannot run this loader with the driver; ``None``: it can."""
        driver = self._driver_package()
        command = [python, "-c", _PROBE, *([driver[1]] if driver else [])]
        result = await executor.run(command, timeout=PROBE_TIMEOUT, check=False)
        lines = result.stdout.strip().splitlines()
        if result.exit_code != 0:
            tail = result.stderr.strip().splitlines()
            return f"exit code {result.exit_code}" + (f": {tail[-1]}" if tail else "")
        found = lines[-1] if lines else ""
        if found != __version__:
            return f"it has pytest-scyllabench {found or '(unknown version)'}"
        return None

    async def _install_venv(self, executor: Executor, workdir: str) -> None:
        """Upload the wheel, make the venv and pip install the wheel, requirements, driver."""
        wheel = await self.wheel()
        venv = venv_dir(workdir)
        remote_wheel = f"{workdir}/python/{wheel.name}"
        python = f"{venv}/bin/python"
        driver = self._driver_package()
        steps: list[list[str]] = [
            [python, *_PIP, "--force-reinstall", "--no-deps", remote_wheel],
            [python, *_PIP, *loader_requirements(driver[0] if driver else None)],
        ]
        try:
            await executor.run(["mkdir", "-p", f"{workdir}/python"], timeout=PROBE_TIMEOUT)
            await executor.put(wheel, remote_wheel)
            await self._make_venv(executor, venv)
            for command in steps:
                await executor.run(command, timeout=PIP_TIMEOUT)
        except CommandError as exc:
            raise MissingDependencyError(
                f"{executor.host}: cannot install the built-in loader in {venv} ("
                + _HINT.format(version=__version__) + f"): {exc}") from exc

    async def _make_venv(self, executor: Executor, venv: str) -> None:
        """``python -m venv``; where ensurepip or venv is missing, ``python3-venv`` installed
        with apt (root or ``sudo -n``) and the venv made again, once."""
        command = [self._python, "-m", "venv", venv]
        result = await executor.run(command, timeout=PIP_TIMEOUT, check=False)
        if result.exit_code == 0:
            return
        said = f"{result.stdout}\n{result.stderr}"
        if _NO_VENV.search(said) is None:
            raise CommandError(executor.host, command, result.exit_code,
                               result.stderr.strip() or result.stdout)
        packages = [VENV_PACKAGE]
        named = _NAMED_VENV_PACKAGE.search(said)
        if named is not None and named[1] != VENV_PACKAGE:
            packages.append(named[1])
        log.info("%s: %s has no ensurepip/venv; installing %s", executor.host, self._python,
                 ", ".join(packages))
        try:
            await apt_install(executor, packages)
        except CommandError as exc:
            raise MissingDependencyError(
                f"{executor.host}: `{self._python} -m venv` needs {', '.join(packages)} "
                f"(ensurepip is missing) and installing it with apt-get as root or through "
                f"sudo -n failed: {exc}") from exc
        await executor.run(command, timeout=PIP_TIMEOUT)

    async def wheel(self) -> Path:
        """This package as a wheel, built from its source tree once per session."""
        async with self._lock:
            if self._wheel is None:
                self._wheel = await build_wheel(self._cache)
            return self._wheel

    def version(self) -> str:
        return f"pytest-scyllabench {__version__} builtin loader"

    def check_workload(self, workload: Workload) -> None:
        """Nothing to refuse: it runs every workload the profile schema accepts."""

    def _common(self, phase: str, workload: Workload, inv: Invocation) -> list[str]:
        argv = [self.python_for(inv.loader), "-m", MODULE, "--phase", phase,
                "--hosts", hosts_arg(inv.hosts), "--port", str(inv.port),
                "--driver", inv.driver or self._driver,
                "--workload-json", workload_to_json(workload),
                "--loader", inv.loader, "--index", str(inv.index), "--count", str(inv.count),
                "--replication-factor", str(inv.replication_factor)]
        if self._datacenter:
            argv += ["--datacenter", self._datacenter]
        if self._request_timeout is not None:
            argv += ["--request-timeout", repr(float(self._request_timeout))]
        if inv.summary:
            argv += ["--summary", inv.summary]
        return argv

    def schema_command(self, workload: Workload, invocation: Invocation) -> list[str]:
        return self._common("schema", workload, invocation)

    def populate_command(self, workload: Workload, invocation: Invocation) -> list[str]:
        return [*self._common("populate", workload, invocation),
                "--concurrency", str(POPULATE_CONCURRENCY)]

    def step_command(self, step: Step, invocation: Invocation) -> list[str]:
        if not invocation.hdr_log:
            raise StressError(f"loader {invocation.loader}: step {step.id}: "
                              f"the built-in loader needs an HDR log path")
        return [
            *self._common("run", step.workload, invocation),
            "--rate", str(invocation.rate), "--duration", repr(float(step.duration)),
            "--warmup", repr(float(step.warmup)), "--concurrency", str(step.concurrency),
            "--connections", str(step.connections),
            "--start-at", f"{invocation.start_at:.3f}", "--hdr-log", invocation.hdr_log]

    def parse_progress(self, line: str, loader: str) -> Progress | None:
        text = line.strip()
        if not text.startswith("{"):
            return None
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            return None
        if not isinstance(data, dict) or data.get("event") != "progress":
            return None
        try:
            return Progress(loader=loader, elapsed=float(data["elapsed"]),
                            rate=float(data["rate"]), p99_ms=float(data["p99_ms"]),
                            errors=int(data["errors"]))
        except (KeyError, TypeError, ValueError, OverflowError):  # int(inf): OverflowError
            return None

    def canonical_tag(self, raw: str, step: Step) -> str | None:
        return raw if raw else None

    def summarize(self, loader: str, step: Step, files: LoaderFiles) -> LoaderSummary:
        """The summary file the loader wrote at the end of its run."""
        return self.read_summary(files.summary, loader)

    def read_summary(self, path: Path, loader: str) -> LoaderSummary:
        def bad(problem: str) -> StressError:
            return StressError(f"loader {loader}: summary {path}: {problem}")

        data = read_json_object(path, bad, missing="the loader did not finish its run")
        if data.get("phase", "run") != "run":
            raise bad(f"written by phase {data.get('phase')!r}, not by a run")
        summary = LoaderSummary(
            loader=loader,
            tool_version=_field(data, "tool_version", str, bad),
            measure_start=_seconds(data, "measure_start", bad),
            measure_end=_seconds(data, "measure_end", bad),
            ops=_field(data, "ops", int, bad),
            errors=_field(data, "errors", int, bad),
            error_samples=tuple(str(s) for s in _field(data, "error_samples", list, bad)),
        )
        # An odd window would fail the merge of every loader, not this one's alone.
        if not (math.isfinite(summary.measure_start) and math.isfinite(summary.measure_end)
                and summary.measure_end > summary.measure_start):
            raise bad(f"its measured window [{summary.measure_start}, {summary.measure_end}] "
                      f"is not a span of time")
        for name in ("ops", "errors"):
            if data[name] < 0:
                raise bad(f"field {name!r} has a bad value {data[name]!r}")
        return summary


def create(spec: LoaderSpec) -> BuiltinTool:
    """The built-in loader with the profile's CQL driver and Python (default: ours)."""
    return BuiltinTool(python=spec.python or None, driver=spec.driver)


def venv_dir(workdir: str) -> str:
    """The loader's virtualenv on a remote host, one per version."""
    return f"{workdir.rstrip('/')}/python/{DISTRIBUTION}-{__version__}"


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def loader_requirements(driver: str | None) -> list[str]:
    """The requirements the loader imports, with this package's version bounds where known:
    :data:`LOADER_REQUIREMENTS` plus the ``driver`` distribution."""
    wanted = [*LOADER_REQUIREMENTS, *([driver] if driver else [])]
    try:
        declared = importlib.metadata.requires(DISTRIBUTION) or []
    except importlib.metadata.PackageNotFoundError:
        declared = []
    bounds: dict[str, str] = {}
    for requirement in declared:
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
        if match and ";" not in requirement:
            bounds.setdefault(_canonical(match[1]), requirement.strip())
    return [bounds.get(_canonical(name), name) for name in wanted]


def source_tree() -> Path:
    """The source tree this package was imported from (its ``pyproject.toml`` beside it)."""
    root = Path(__file__).resolve().parents[2]
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file() or f'name = "{DISTRIBUTION}"' not in pyproject.read_text():
        raise MissingDependencyError(
            f"cannot build a wheel of pytest-scyllabench for the loader hosts: it was not "
            f"imported from a source tree ({root} has no pyproject.toml of {DISTRIBUTION}); "
            f"install pytest-scyllabench {__version__} in the profile's loader_python on "
            f"every loader host")
    return root


async def build_wheel(cache: Path | None = None) -> Path:
    """Build this package's wheel (no dependencies) into
    ``<cache>/tools/builtin-loader/<version>/`` from a copy of its source tree; its path."""
    from pytest_scyllabench.execute.local import LocalExecutor
    from pytest_scyllabench.paths import cache_dir

    root = source_tree()
    target = (cache or cache_dir()) / "tools" / "builtin-loader" / __version__
    target.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=target))
    try:
        source = work / "src"
        await asyncio.to_thread(_copy_source, root, source)
        command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check",
                   "--no-input", "--no-deps", "--wheel-dir", str(work / "dist")]
        if importlib.util.find_spec("setuptools") is not None:
            command.append("--no-build-isolation")  # offline when setuptools is here
        try:
            await LocalExecutor().run([*command, str(source)], timeout=BUILD_TIMEOUT)
        except CommandError as exc:
            raise MissingDependencyError(f"cannot build the wheel of pytest-scyllabench for "
                                         f"the loader hosts: {exc}") from exc
        built = sorted((work / "dist").glob("*.whl"))
        if len(built) != 1:
            raise MissingDependencyError(f"`pip wheel` left {len(built)} wheels in "
                                         f"{work / 'dist'}, expected one")
        wheel = target / built[0].name
        os.replace(built[0], wheel)
        log.info("built %s", wheel)
        return wheel
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _copy_source(root: Path, destination: Path) -> None:
    """The files a wheel is built from, without caches, so the build writes nothing in
    ``root`` (setuptools leaves ``build/`` and ``*.egg-info`` where it builds)."""
    destination.mkdir(parents=True)
    for name in SOURCE_FILES:
        if (root / name).is_file():
            shutil.copy2(root / name, destination / name)
    shutil.copytree(root / "pytest_scyllabench", destination / "pytest_scyllabench",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def _field(data: Mapping[str, Any], name: str, kind: type | tuple[type, ...],
           bad: Any) -> Any:
    if name not in data:
        raise bad(f"field {name!r} is missing")
    value = data[name]
    if isinstance(value, bool) or not isinstance(value, kind):
        raise bad(f"field {name!r} has a bad value {value!r}")
    return value


def _seconds(data: Mapping[str, Any], name: str, bad: Any) -> float:
    value = _field(data, name, (int, float), bad)
    try:
        return float(value)
    except OverflowError:
        raise bad(f"field {name!r} has a bad value (an integer beyond a float)") from None
