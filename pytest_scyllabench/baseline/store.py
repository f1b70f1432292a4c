"""Where baselines are kept: the :class:`BaselineStore` protocol and a directory of JSON files.

:class:`DirectoryStore` is git-friendly: one JSON file per benchmark, sorted keys, indented,
names that do not change between runs, and a one-line text file for the latest run::

    <root>/
        latest                                  the name of the last run saved (one line)
        main/                                   one directory per run name
            local__test_latency.py__test_write-2000__write_2000-1a2b3c4d.json
        pr-1234/
            ...

A file name is the readable part of the identity (profile, node id, step) followed by a hash
of the whole identity, so that two benchmarks never share a file. Saving a run replaces the
files of the benchmarks given and keeps the others (a ``-k`` run does not erase the rest of
the baseline), then points ``latest`` at it.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Protocol

from pytest_scyllabench.baseline.record import BaselineRecord, Identity
from pytest_scyllabench.errors import ConfigError, ScyllaBenchError
from pytest_scyllabench.report.artifacts import atomic_write_text, safe_name
from pytest_scyllabench.report.serialize import decode_histogram

LATEST = "latest"
_RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
#: Longest run name (a directory name, with room to spare).
MAX_RUN_NAME = 100


class BaselineError(ScyllaBenchError):
    """A baseline cannot be used."""


class BaselineMissing(BaselineError):
    """No baseline of that name, or no record for a benchmark in it (one-line message)."""


class BaselineFileError(BaselineError):
    """A baseline file cannot be read: names the file and the problem."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path = path
        super().__init__(f"{path}: {problem}")


class BaselineStore(Protocol):
    """Saves and loads the records of named runs."""

    def save(self, run_name: str, records: Iterable[BaselineRecord]) -> None:
        """Keep ``records`` under ``run_name`` (replacing those of the same identity) and make
        ``run_name`` the latest run."""

    def load(self, run_name: str) -> dict[Identity, BaselineRecord]:
        """Every record of ``run_name`` (``latest``: the last run saved).

        Raises :class:`BaselineMissing` when there is no such run.
        """

    def names(self) -> list[str]:
        """The saved run names, sorted."""

    def resolve(self, run_name: str) -> str:
        """The run ``run_name`` refers to (``latest``: the last run saved)."""


def check_run_name(name: str) -> str:
    """``name`` if it can name a run (letters, digits, ``.``, ``_``, ``-``; not ``latest``).

    Raises ``ValueError`` with a one-line message otherwise (an option type can use it).
    """
    if name == LATEST:
        raise ValueError(f"{LATEST!r} names the last run saved; give a run a name of its own")
    if not _RUN_NAME.fullmatch(name) or len(name) > MAX_RUN_NAME:
        raise ValueError(f"run name {name!r}: use up to {MAX_RUN_NAME} letters, digits, '.', "
                         f"'_' and '-', starting with a letter or a digit")
    return name


def file_name(identity: Identity) -> str:
    """The file of ``identity`` in a run directory: readable, unique, the same every run."""
    readable = (f"{safe_name(identity.profile, 'profile')}__"
                f"{safe_name(f'{identity.test}::{identity.step}', 'benchmark')}")
    digest = hashlib.sha1(identity.key.encode("utf-8"), usedforsecurity=False).hexdigest()[:8]
    return f"{readable}-{digest}.json"


class DirectoryStore:
    """A :class:`BaselineStore` in a directory: ``<root>/<run>/<benchmark>.json``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def save(self, run_name: str, records: Iterable[BaselineRecord]) -> None:
        try:
            check_run_name(run_name)
        except ValueError as exc:
            raise ConfigError(f"baseline: {exc}") from None
        directory = self.root / run_name
        for record in records:
            text = json.dumps(record.to_dict(), indent=1, sort_keys=True, allow_nan=False)
            atomic_write_text(directory / file_name(record.identity), text + "\n")
        directory.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.root / LATEST, run_name + "\n")

    def load(self, run_name: str) -> dict[Identity, BaselineRecord]:
        self._check_root()
        name = self.resolve(run_name)
        directory = self.root / name
        if not directory.is_dir():
            if not self.root.exists():
                raise BaselineMissing(f"baseline {name!r} not found: {self.root} does not "
                                      f"exist (no baseline saved there yet)")
            saved = ", ".join(self.names()) or "none"
            raise BaselineMissing(f"baseline {name!r} not found in {self.root} "
                                  f"(saved runs: {saved})")
        records: dict[Identity, BaselineRecord] = {}
        for path in sorted(directory.glob("*.json")):
            record = read_record(path)
            if record.identity in records:
                raise BaselineFileError(path, f"a second record of {record.identity.key} "
                                              f"(the run holds it twice)")
            records[record.identity] = record
        return records

    def _check_root(self) -> None:
        if self.root.exists() and not self.root.is_dir():
            raise BaselineFileError(self.root, "not a directory: baselines are kept in a "
                                               "directory, one sub-directory per run")

    def resolve(self, run_name: str) -> str:
        """The run a name refers to: ``latest`` is read from its pointer file.

        A name that cannot name a run (``../x``) raises :class:`ConfigError`.
        """
        self._check_root()
        if run_name != LATEST:
            try:
                return check_run_name(run_name)
            except ValueError as exc:
                raise ConfigError(f"baseline: {exc}") from None
        pointer = self.root / LATEST
        try:
            name = pointer.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise BaselineMissing(f"no baseline saved yet in {self.root} (save one with "
                                  f"--scyllabench-save=NAME)") from None
        except OSError as exc:
            raise BaselineFileError(pointer, f"cannot read: {exc}") from exc
        try:
            return check_run_name(name)
        except ValueError as exc:
            raise BaselineFileError(pointer, f"does not name a run: {exc}") from None

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(path.name for path in self.root.iterdir()
                      if path.is_dir() and _RUN_NAME.fullmatch(path.name))


def read_record(path: Path) -> BaselineRecord:
    """One record file; :class:`BaselineFileError` naming the file when it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BaselineFileError(path, f"cannot read: {exc}") from exc
    except RecursionError:  # '[[[[...': json gives up in Python's recursion limit
        raise BaselineFileError(path, "cannot read: JSON nested too deeply") from None
    if not isinstance(data, Mapping):
        raise BaselineFileError(path, "not a JSON object")
    try:
        record = BaselineRecord.from_dict(data)
    except KeyError as exc:
        raise BaselineFileError(path, f"missing field {exc.args[0]!r}") from exc
    except (TypeError, ValueError, AttributeError, OverflowError, ConfigError) as exc:
        raise BaselineFileError(path, f"malformed: {exc}") from exc
    for number, run in enumerate((record.merged, *record.repetitions)):
        where = "merged" if number == 0 else f"repetitions[{number - 1}]"
        for name, encoded in run.histograms.items():
            try:
                decode_histogram(encoded)
            except _decode_errors() as exc:
                raise BaselineFileError(path, f"{where}.histograms.{name}: not an encoded "
                                              f"HDR histogram ({exc})") from exc
    return record


def _decode_errors() -> tuple[type[Exception], ...]:
    """What decoding a damaged histogram raises (hdrh has exceptions of its own)."""
    from hdrh.codec import HdrCookieException, HdrHistogramSettingsException, HdrLengthException

    return (ValueError, TypeError, zlib.error, struct.error, HdrCookieException,
            HdrLengthException, HdrHistogramSettingsException)
