"""The ``workloads`` (inline or from ``workload_files``) and the ``loaders`` that run them:
each workload's fields, and a stress tool that exists and can run every workload."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytest_scyllabench.errors import ConfigError, ProfileError
from pytest_scyllabench.profile import Profile
from pytest_scyllabench.profile_schema.fields import (
    at_least,
    build,
    child,
    is_file,
    kind,
    printable,
    shown,
)
from pytest_scyllabench.stress.step import OPERATIONS, Workload

#: An unquoted CQL keyspace or table name: ASCII only, at most 48 characters.
_CQL_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,47}")
#: Provisioners whose loaders run on this machine.
LOCAL_LOADERS = ("local", "docker")


def parse_workloads(data: Any, source: str, path: str) -> dict[str, Workload]:
    if not isinstance(data, Mapping):
        raise ProfileError(source, path or "<top level>", "must be a mapping of workload names")
    result: dict[str, Workload] = {}
    for name, fields in data.items():
        where = child(path, name)
        if not isinstance(name, str):
            raise ProfileError(source, where, f"a workload name must be a string, got "
                               f"{kind(name)}: YAML reads yes, no, on, off, null and numbers "
                               f"as no string; quote it")
        if not name or not name.isprintable():
            raise ProfileError(source, where, "not a workload name (empty, or a tab, line "
                               "break or other unprintable character)")
        if not isinstance(fields, Mapping):
            raise ProfileError(source, where, "must be a mapping of workload fields")
        if "name" in fields:
            raise ProfileError(source, child(where, "name"),
                               "unknown key; the workload's name is its key")
        workload = build(Workload, {"name": name, **fields}, source, where)
        check_workload(workload, source, where)
        result[name] = workload
    return result


def check_workload(workload: Workload, source: str, where: str) -> None:
    if not workload.mix:
        raise ProfileError(source, f"{where}.mix", "needs at least one operation")
    for operation, weight in workload.mix.items():
        if operation not in OPERATIONS:
            raise ProfileError(source, f"{where}.mix.{operation}",
                               f"unknown operation; expected one of {', '.join(OPERATIONS)}")
        if not weight >= 0:  # NaN too
            raise ProfileError(source, child(f"{where}.mix", operation), "weight must be >= 0")
    if sum(workload.mix.values()) <= 0:
        raise ProfileError(source, f"{where}.mix", "weights must not all be zero")
    at_least(workload.partitions, 1, source, f"{where}.partitions")
    at_least(workload.row_size, 1, source, f"{where}.row_size")
    at_least(workload.populate, 0, source, f"{where}.populate")
    if not workload.zipf_exponent > 0:
        raise ProfileError(source, f"{where}.zipf_exponent", "must be > 0")
    if not 0 < workload.gaussian_stddev <= 1:
        raise ProfileError(source, f"{where}.gaussian_stddev", "must be in (0, 1]")
    for field in ("keyspace", "table"):
        value = getattr(workload, field)
        if not _CQL_NAME.fullmatch(value):
            raise ProfileError(source, f"{where}.{field}",
                               f"must be a CQL identifier (an ASCII letter, then letters, "
                               f"digits or _, 48 at most), got {value!r}")


def check_loaders(profile: Profile, source: str, origins: Mapping[str, str]) -> None:
    """The loaders' counts; their tool exists and can run every workload; ``tool_paths`` name
    real files. ``origins`` maps a workload to the file it came from."""
    from pytest_scyllabench import backends

    at_least(profile.loaders.count, 1, source, "loaders.count")
    at_least(profile.loaders.processes, 1, source, "loaders.processes")
    at_least(profile.loaders.concurrency, 1, source, "loaders.concurrency")
    at_least(profile.loaders.connections, 1, source, "loaders.connections")

    tools = backends.STRESS_TOOLS
    if profile.loaders.tool not in tools:
        raise ProfileError(source, "loaders.tool",
                           f"must be one of {', '.join(sorted(tools))}, "
                           f"got {profile.loaders.tool!r}")
    for name, path in profile.loaders.tool_paths.items():
        where = child("loaders.tool_paths", name)
        if name not in tools:
            raise ProfileError(source, where,
                               f"not a stress tool; known: {', '.join(sorted(tools))}")
        if not path.startswith("/"):
            raise ProfileError(source, where, f"must be an absolute path, got {shown(path)}")
        problem = _tool_path_problem(name, Path(path), profile.provisioner in LOCAL_LOADERS)
        if problem:
            raise ProfileError(source, where, problem)
    tool = backends.stress_tool(profile.loaders.tool, profile.loaders)
    for name, workload in profile.workloads.items():
        try:
            tool.check_workload(workload)
        except ConfigError as exc:
            message, origin = str(exc), source
            if name in origins and message.startswith(f"workloads.{name}."):
                # From a workload file, where the workloads are at the top level.
                message, origin = message.removeprefix("workloads."), origins[name]
            raise ProfileError(origin, "", f"{message} (loaders.tool: {tool.name})") from None


def _tool_path_problem(tool: str, path: Path, local_loaders: bool) -> str:
    """Why ``loaders.tool_paths.<tool>`` cannot be used; empty when it can, or cannot be known.

    A cassandra-stress tree is used where it is, on each loader host: checked here only when
    the loaders run on this machine. The other tools' binaries are copied from this machine.
    """
    if tool == "cassandra-stress":
        from pytest_scyllabench.stress.cassandra_stress_dist import MARKER

        if local_loaders and not is_file(path / MARKER):
            return (f"{printable(str(path))} has no {MARKER} (expected an unpacked Apache "
                    f"Cassandra binary tarball)")
        return ""
    if not is_file(path):
        return f"no such file: {printable(str(path))}"
    if not os.access(path, os.X_OK):
        return f"not executable: {path}"
    return ""
