"""The exceptions of pytest-scyllabench, one tree.

::

    ScyllaBenchError
    ├── ConfigError              a bad option, ini key, marker argument or step argument
    │   └── ProfileError         a bad deployment or workload profile (names file and field path)
    ├── MissingDependencyError   a program or package is not installed (says what to install)
    ├── ProvisionError           hosts could not be created, found or reached
    ├── CommandError             a command failed (host, command, exit code, stderr tail)
    │   └── CommandTimeout       a command did not finish within its timeout
    ├── DatabaseError            the database could not be installed, configured or started
    │   └── ClusterNotReady      the cluster did not become ready before its deadline
    ├── MonitoringError          Prometheus or an exporter could not be started, reached,
    │                            queried or snapshotted (a warning unless monitoring is required)
    └── StressError              a stress tool failed or produced output we cannot use
        ├── HdrLogError          an HDR interval log is truncated or corrupt (names loader, file)
        └── LoaderFailed         some loaders of a step failed; carries the others' result

Errors of subprocesses, drivers and other libraries are translated at the boundary with
``raise ... from exc``. Threshold breaches are not errors: they fail the test through
``pytest.fail`` with a message naming metric, limit, observed value and step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class ScyllaBenchError(Exception):
    """Base of every error raised by pytest-scyllabench."""


class ConfigError(ScyllaBenchError):
    """A bad option, ini key, marker argument or step argument."""


class ProfileError(ConfigError):
    """A deployment or workload profile is invalid.

    The message is one line: ``<file>: <field.path>: <problem>``.
    """

    def __init__(self, source: str, path: str, problem: str) -> None:
        self.source = source
        self.path = path
        self.problem = problem
        where = f"{source}: {path}" if path else source
        super().__init__(f"{where}: {problem}")


class MissingDependencyError(ScyllaBenchError):
    """A program or package is missing; the message says what to install."""


class ProvisionError(ScyllaBenchError):
    """Hosts could not be created, found or reached."""


class CommandError(ScyllaBenchError):
    """A command failed on a host."""

    def __init__(
        self,
        host: str,
        command: Sequence[str] | str,
        exit_code: int | None,
        stderr: str = "",
        detail: str = "",
    ) -> None:
        self.host = host
        self.command = command if isinstance(command, str) else " ".join(command)
        self.exit_code = exit_code
        self.stderr = stderr
        tail = "\n".join(stderr.strip().splitlines()[-10:])
        status = detail or f"exit code {exit_code}"
        message = f"{host}: command failed ({status}): {self.command}"
        if tail:
            message += f"\n--- last lines of stderr ---\n{tail}"
        super().__init__(message)


class CommandTimeout(CommandError):
    """A command did not finish within its timeout."""

    def __init__(self, host: str, command: Sequence[str] | str, timeout: float,
                 stderr: str = "", *, during: str = "") -> None:
        self.timeout = timeout
        detail = f"timed out after {timeout:g} s" + (f" {during}" if during else "")
        super().__init__(host, command, None, stderr, detail=detail)


class DatabaseError(ScyllaBenchError):
    """The database could not be installed, configured or started."""


class ClusterNotReady(DatabaseError):
    """The cluster did not become ready before its deadline."""


class MonitoringError(ScyllaBenchError):
    """Prometheus or an exporter could not be started, reached, queried or snapshotted.

    With ``monitoring.required: false`` (the default) the session turns it into a
    :class:`MonitoringWarning` and the benchmarks go on.
    """


class MonitoringWarning(UserWarning):
    """Monitoring failed in optional mode: benchmarks went on without (some of) it."""


class StressError(ScyllaBenchError):
    """A stress tool failed or produced output that cannot be used."""


class HdrLogError(StressError):
    """An HDR interval log is truncated or corrupt."""

    def __init__(self, loader: str, path: str, problem: str) -> None:
        self.loader = loader
        self.path = path
        super().__init__(f"loader {loader}: {path}: {problem}")


class LoaderFailed(StressError):
    """Some loaders of a step failed (exit code, missing or corrupt output).

    ``partial`` is the step merged from the loaders that did not fail (``None`` when none
    is usable), so that what they measured is saved before the test fails.
    """

    def __init__(self, problems: Sequence[str], partial: Any = None) -> None:
        self.problems = tuple(problems)
        self.partial = partial
        kept = ("; the step was merged from the other loaders and saved"
                if partial is not None else "")
        super().__init__("loader failed during the step" + kept + " (every loader's files are "
                         "kept in the trials directory):\n" + "\n".join(problems))
