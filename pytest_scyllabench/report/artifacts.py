"""The trial directory of one session: where every raw artifact and result lands on disk.

::

    <output>/<profile>/
        latest -> 20261122T153012Z          (symlink, replaced atomically)
        20261122T153012Z/
            session.json                    profile, start/end, versions, nodes, exit status
            test_latency.py__test_write-2000/
                write_2000/
                    loader-1.hlog  loader-1.out  loader-1.summary.json
                    result.json             written as soon as the step ends

Nothing is created until it is needed: the constructor has no side effects, the session
directory is claimed on the first access to :attr:`TrialsDir.path`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import secrets
import sys
import tempfile
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from pytest_scyllabench.report.serialize import result_to_dict
from pytest_scyllabench.result import StepResult
from pytest_scyllabench.stress.base import LoaderFiles
from pytest_scyllabench.thresholds import Verdict

log = logging.getLogger(__name__)

TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"
LATEST = "latest"
SESSION_FILE = "session.json"
RESULT_FILE = "result.json"
#: Longest directory name made from a node id or step id (well under every file system's 255).
MAX_NAME = 96
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
#: Distributions whose versions go into session.json when they are installed.
_DISTRIBUTIONS = ("pytest-scyllabench", "pytest", "pytest-html", "hdrhistogram")


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the new one, never half.

    The text goes to a temporary file in the same directory, is flushed to disk, then renamed
    over ``path``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    done = False
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
        done = True
    finally:
        if not done:
            Path(temp).unlink(missing_ok=True)


def atomic_write_json(path: Path, data: Mapping[str, Any]) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, allow_nan=False) + "\n")


def safe_name(text: str, fallback: str = "test") -> str:
    """A readable, portable directory name: ascii letters, digits, ``.``, ``_`` and ``-``.

    ``bench/test_latency.py::test_write[2000]`` becomes ``test_latency.py__test_write-2000``:
    the directories of the file are dropped, ``::`` becomes ``__``, parameters follow a ``-``.
    """
    _, _, tail = text.partition("::")
    if tail:
        text = text.partition("::")[0].rsplit("/", 1)[-1] + "::" + tail
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = text.replace("::", "__").replace("[", "-").replace("]", "").replace("@", "_")
    text = _UNSAFE.sub("_", text).strip("._-")
    if len(text) > MAX_NAME:
        text = text[:MAX_NAME].rstrip("._-")
    return text or fallback


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()[:8]


class _Names:
    """Unique safe names for keys within one directory (case-insensitively, for macOS)."""

    def __init__(self) -> None:
        self._by_key: dict[str, str] = {}
        self._taken: set[str] = set()

    def unique(self, key: str, fallback: str, *, fresh: bool = False) -> str:
        """The name of ``key``; the same name every time unless ``fresh`` asks for a new one."""
        if not fresh and key in self._by_key:
            return self._by_key[key]
        base = safe_name(key, fallback)
        name = base
        if name.casefold() in self._taken:
            name = f"{base[:MAX_NAME - 9]}-{_digest(key)}"
        counter = 2
        while name.casefold() in self._taken:
            name = f"{base[:MAX_NAME - 12]}-{_digest(key)}-{counter}"
            counter += 1
        self._taken.add(name.casefold())
        self._by_key[key] = name
        return name


@dataclass
class SessionRecord:
    """What ``session.json`` says about the session."""

    profile: str
    started: datetime
    ended: datetime | None = None
    exit_status: int | None = None
    nodes: int | None = None
    #: Name -> version: Python, pytest, the plugin, the database, the stress tool...
    versions: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "profile": self.profile,
            "started": self.started.isoformat(),
            "ended": self.ended.isoformat() if self.ended else None,
            "exit_status": self.exit_status,
            "nodes": self.nodes,
            "versions": dict(sorted(self.versions.items())),
        }


def installed_versions() -> dict[str, str]:
    """Versions of Python and of the distributions the results depend on."""
    versions = {"python": sys.version.split()[0]}
    for name in _DISTRIBUTIONS:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


class TrialsDir:
    """``<output>/<profile>/<timestamp>/`` of one session, with a ``latest`` link beside it."""

    def __init__(self, output: Path, profile: str, started: datetime | None = None) -> None:
        self.started = (started or datetime.now(UTC)).astimezone(UTC)
        self.profile_dir = Path(output) / safe_name(profile, "profile")
        self.session = SessionRecord(profile=profile, started=self.started)
        self._path: Path | None = None
        self._linked = False
        self._tests = _Names()
        self._steps: dict[str, _Names] = {}

    @property
    def path(self) -> Path:
        """The session directory, created (and ``latest`` pointed at it) on first access."""
        path = self.directory()
        if not self._linked:
            self._linked = True
            self._link_latest(path)
        return path

    def directory(self) -> Path:
        """The session directory, created on first access, without moving ``latest``: where
        pytest-html writes its report even when no benchmark is selected, which must not
        hide the latest session that ran one.

        Two sessions started in the same second get ``<timestamp>`` and ``<timestamp>-2``.
        """
        if self._path is None:
            self.profile_dir.mkdir(parents=True, exist_ok=True)
            stamp = self.started.strftime(TIMESTAMP_FORMAT)
            candidate, counter = self.profile_dir / stamp, 2
            while True:
                try:
                    candidate.mkdir()
                    break
                except FileExistsError:
                    candidate = self.profile_dir / f"{stamp}-{counter}"
                    counter += 1
            self._path = candidate
        return self._path

    def _link_latest(self, target: Path) -> None:
        link = self.profile_dir / LATEST
        temp = self.profile_dir / f".{LATEST}.{os.getpid()}.{secrets.token_hex(4)}"
        try:
            os.symlink(target.name, temp, target_is_directory=True)
            os.replace(temp, link)
        except OSError as exc:  # no symlinks here (Windows without privilege), or a directory
            temp.unlink(missing_ok=True)
            log.warning("could not point %s at %s: %s", link, target.name, exc)

    def relative(self, path: Path) -> str:
        """``path`` relative to the session directory (posix), or as given when outside it."""
        try:
            return Path(path).absolute().relative_to(self.path.absolute()).as_posix()
        except ValueError:
            return str(path)

    def test_dir(self, nodeid: str) -> Path:
        """The directory of one test (the same for every call with this node id), created."""
        directory = self.path / self._tests.unique(nodeid, "test")
        directory.mkdir(exist_ok=True)
        return directory

    def step_dir(self, nodeid: str, step_id: str) -> Path:
        """A fresh directory for one run of a step, created.

        Each call returns a new directory: running the same step twice in a test (or a rerun)
        keeps both, the second as ``<step>-<hash>``.
        """
        names = self._steps.setdefault(nodeid, _Names())
        directory = self.test_dir(nodeid) / names.unique(step_id, "step", fresh=True)
        directory.mkdir()
        return directory

    @staticmethod
    def loader_files(step_dir: Path, loader: str) -> LoaderFiles:
        """Where ``loader`` writes its HDR log, summary and output during the step."""
        name = safe_name(loader, "loader")
        return LoaderFiles(hdr_log=step_dir / f"{name}.hlog",
                           summary=step_dir / f"{name}.summary.json",
                           stdout=step_dir / f"{name}.out")

    def write_result(self, result: StepResult, *, test: str, breaches: Sequence[str] = (),
                     rate_tolerance: float | None = None,
                     step_dir: Path | None = None, limits: Sequence[Verdict] = ()) -> Path:
        """Write the step's ``result.json`` atomically into its step directory; returns its path.

        Call it as soon as the step ends, before thresholds fail the test, so that a later
        Ctrl-C never loses a finished step.
        """
        directory = step_dir or result.artifacts
        if directory is None:
            raise ValueError(f"step {result.step!r} has no artifacts directory to write to")
        path = Path(directory) / RESULT_FILE
        data = result_to_dict(result, test=test, breaches=breaches,
                              rate_tolerance=rate_tolerance, base=self.path, limits=limits)
        atomic_write_json(path, data)
        return path

    def start_session(self, *, nodes: int | None = None,
                      versions: Mapping[str, str] | None = None) -> Path:
        """Write ``session.json`` at the start of the session; returns its path."""
        self.session.versions.update(installed_versions())
        return self.update_session(nodes=nodes, versions=versions)

    def update_session(self, *, nodes: int | None = None,
                       versions: Mapping[str, str] | None = None) -> Path:
        """Add what became known later (node count, database and tool versions), rewrite."""
        if nodes is not None:
            self.session.nodes = nodes
        self.session.versions.update(versions or {})
        path = self.path / SESSION_FILE
        atomic_write_json(path, self.session.to_dict())
        return path

    def finish_session(self, exit_status: int, ended: datetime | None = None) -> Path:
        """Record the end time and exit status in ``session.json``."""
        self.session.ended = (ended or datetime.now(UTC)).astimezone(UTC)
        self.session.exit_status = int(exit_status)
        return self.update_session()
