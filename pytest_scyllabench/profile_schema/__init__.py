"""Load and validate deployment profiles (YAML) into :class:`~pytest_scyllabench.profile.Profile`.

The schema is the dataclasses of ``profile.py`` and ``stress/step.py`` themselves: every field
has a type, unknown keys are rejected, and every error names the file and the field path
(``fixtures/profiles/local.yaml: database.nodes: must be between 1 and 5, got 0``).
Everything is validated here, before anything is provisioned. This module finds and reads a
profile and checks what spans sections; one module per section does the rest:

``fields``        the core: dataclasses built from mappings, types and ranges checked
``database``      ``database`` and ``scylla``
``workloads``     ``workloads``, ``workload_files`` and the ``loaders`` that run them
``monitoring``    ``monitoring``
``static``        ``static``: existing hosts over SSH
``provisioners``  ``aws`` and ``docker``, and the nodes and loaders their hosts decide
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml

from pytest_scyllabench.errors import ConfigError, ProfileError
from pytest_scyllabench.profile import LoaderSpec, LocalSpec, Profile, WarmupSpec
from pytest_scyllabench.profile_schema.database import (
    check_database,
    parse_database,
    parse_scylla,
)
from pytest_scyllabench.profile_schema.fields import (
    WrittenFloat,
    at_least,
    build,
    child,
    convert,
    is_file,
    kind,
    only_with,
    printable,
    reject_unknown,
    shown,
)
from pytest_scyllabench.profile_schema.monitoring import parse_monitoring
from pytest_scyllabench.profile_schema.provisioners import fit_aws, parse_aws, parse_docker
from pytest_scyllabench.profile_schema.static import fit_static, parse_static
from pytest_scyllabench.profile_schema.workloads import check_loaders, parse_workloads
from pytest_scyllabench.stress.step import Workload
from pytest_scyllabench.thresholds import parse_threshold

EMBEDDED = Path(__file__).parent.parent / "profiles"
_PROFILE_NAME = re.compile(r"[\w-][\w.-]*")


def find_profile(name: str, rootdir: Path) -> Path:
    """The file of profile ``name``: a path, or a name in fixtures/profiles, or an embedded one."""
    as_path = Path(name)
    if as_path.suffix in (".yaml", ".yml") or "/" in name:
        candidate = as_path if as_path.is_absolute() else rootdir / as_path
        if not is_file(candidate):
            raise ProfileError(printable(str(candidate)), "", "no such profile file")
        return candidate
    searched = [rootdir / "fixtures" / "profiles" / f"{name}.yaml", EMBEDDED / f"{name}.yaml"]
    for candidate in searched:
        if is_file(candidate):
            return candidate
    known = sorted({p.stem for d in (searched[0].parent, EMBEDDED) if d.is_dir()
                    for p in d.glob("*.yaml")})
    raise ProfileError(printable(name), "", f"no such profile; known profiles: {', '.join(known)}")


def load_profile(path: Path) -> Profile:
    """Read and validate one profile file."""
    data = _read_yaml(path, " (write {} for every default)")
    source = str(path)
    data = dict(data)
    workload_files = data.pop("workload_files", [])
    inline_workloads = data.pop("workloads", {})
    origin = "" if "name" in data else " (from the file name when not written)"
    name = data.pop("name", path.stem)
    if not isinstance(name, str) or not name:
        raise ProfileError(source, "name", "must be a non-empty string")
    if not _PROFILE_NAME.fullmatch(name):  # it names <output>/<name>/ and the cluster's dir
        raise ProfileError(source, "name", f"must be letters, digits, '.', '_' or '-', not "
                           f"starting with '.'{origin}, got {shown(name)}")
    workloads: dict[str, Workload] = {}
    #: The file each workload of ``workload_files`` came from.
    origins: dict[str, str] = {}
    if not isinstance(workload_files, list):
        raise ProfileError(source, "workload_files", "must be a list of file paths")
    for index, entry in enumerate(workload_files):
        if not isinstance(entry, str):
            raise ProfileError(source, f"workload_files[{index}]", "must be a file path")
        file = path.parent / entry
        if not is_file(file):
            raise ProfileError(source, f"workload_files[{index}]",
                               f"no such file: {printable(os.path.normpath(file))}")
        file = file.resolve()
        found = parse_workloads(_read_yaml(file), str(file), "")
        for twice in sorted(found.keys() & workloads.keys()):
            raise ProfileError(str(file), child("", twice), f"workload also defined in "
                               f"{origins[twice]}, an earlier entry of {source}'s "
                               f"workload_files")
        workloads.update(found)
        origins.update(dict.fromkeys(found, str(file)))
    inline = parse_workloads(inline_workloads, source, "workloads")
    workloads.update(inline)
    for workload in inline:
        origins.pop(workload, None)

    known = {f.name for f in dataclasses.fields(Profile)} - {"name", "source", "workloads"}
    reject_unknown(data, known | {"workload_files", "workloads"}, source, "")
    provisioner = convert(data.get("provisioner", "local"),
                          Literal["local", "static", "aws", "docker"], source, "provisioner")
    database = parse_database(data.get("database", {}), source)
    loaders = build(LoaderSpec, data.get("loaders", {}), source, "loaders")
    static = None
    if provisioner == "static":
        static = parse_static(data.get("static"), path, "static")
        database, loaders = fit_static(static, database, loaders, data, source)
    only_with(data, "static", provisioner == "static", "provisioner: static", source)
    aws = None
    if provisioner == "aws":
        aws = parse_aws(data.get("aws", {}), source, "aws")
        database, loaders = fit_aws(aws, database, loaders, data, source)
    only_with(data, "aws", provisioner == "aws", "provisioner: aws", source)
    scylla = parse_scylla(data, database, source)
    docker = parse_docker(data, provisioner, source)
    monitoring = parse_monitoring(data.get("monitoring", {}), source, "monitoring")
    if aws is not None and monitoring.enabled and aws.monitor.count == 0:
        # Instances serve metrics on their private addresses, which only a host in their
        # network (reached here through an SSH port forward) can scrape.
        raise ProfileError(source, "aws.monitor.count",
                           "must be 1 when monitoring is enabled: Prometheus runs on the "
                           "monitor host, inside the instances' network")
    profile = Profile(
        name=name,
        source=path,
        provisioner=provisioner,
        static=static,
        aws=aws,
        scylla=scylla,
        docker=docker,
        local=build(LocalSpec, data.get("local", {}), source, "local"),
        database=database,
        loaders=loaders,
        workloads=workloads,
        rate_tolerance=convert(data.get("rate_tolerance", 0.05), float, source,
                               "rate_tolerance"),
        warmup=build(WarmupSpec, data.get("warmup", {}), source, "warmup"),
        thresholds=convert(data.get("thresholds", {}), Mapping[str, str], source,
                           "thresholds"),
        monitoring=monitoring,
    )
    check_profile(profile, source, origins)
    return profile


def check_profile(profile: Profile, source: str,
                  origins: Mapping[str, str] | None = None) -> None:
    """Checks across sections; ``origins`` maps a workload to the file it came from."""
    check_database(profile, source)
    check_loaders(profile, source, origins or {})
    if not 0 <= profile.rate_tolerance < 1:
        raise ProfileError(source, "rate_tolerance", "must be in [0, 1)")
    warmup = profile.warmup
    if warmup.workload and warmup.workload not in profile.workloads:
        raise ProfileError(source, "warmup.workload",
                           f"no workload {warmup.workload!r}; known: "
                           f"{', '.join(sorted(profile.workloads))}")
    at_least(warmup.rate, 1, source, "warmup.rate")
    at_least(warmup.seconds, 1, source, "warmup.seconds")
    processes = profile.loaders.count * profile.loaders.processes
    if warmup.workload and warmup.rate < processes:
        # Every loader process gets at least 1 op/s (the step's own check, found here before
        # the cluster starts rather than at the warm-up after it).
        raise ProfileError(source, "warmup.rate",
                           f"{warmup.rate} ops/s cannot be shared by {processes} loader "
                           f"processes (loaders.count x loaders.processes; at least 1 op/s "
                           "each)")
    for name, value in profile.thresholds.items():
        try:
            parse_threshold(name, value)
        except ConfigError as exc:
            raise ProfileError(source, child("thresholds", name), str(exc)) from None


class _Loader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key written twice in one mapping (PyYAML keeps the
    last silently; a ``<<`` merge may still be overridden)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != _MERGE_TAG:
                key = self.construct_object(key_node)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {shown(key)}", key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep)

    def construct_yaml_float(self, node: yaml.ScalarNode) -> float:
        number = super().construct_yaml_float(node)
        return WrittenFloat(number, node.value) if math.isfinite(number) else number


_Loader.add_constructor("tag:yaml.org,2002:float", _Loader.construct_yaml_float)


_MERGE_TAG = "tag:yaml.org,2002:merge"


def _read_yaml(path: Path, hint: str = "") -> Mapping[str, Any]:
    """The mapping of YAML file ``path``. A file without one (empty, comments only, ``~``) is
    refused too, ``hint`` added: a truncated file, not every default."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProfileError(str(path), "", f"cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        line = exc.object[:exc.start].count(b"\n") + 1
        raise ProfileError(str(path), f"line {line}",
                           f"invalid YAML: not UTF-8 (byte {exc.start})") from exc
    try:
        data = yaml.load(text, Loader=_Loader)  # a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        if isinstance(exc, yaml.reader.ReaderError):
            where = f"line {text[:exc.position].count(chr(10)) + 1}"
            problem = str(exc).splitlines()[0]
        else:
            where = f"line {mark.line + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ProfileError(str(path), where, f"invalid YAML: {problem}") from exc
    except ValueError as exc:  # an integer of more digits than Python converts
        raise ProfileError(str(path), "", f"invalid YAML: {str(exc).split(':')[0]}") from exc
    except RecursionError as exc:
        raise ProfileError(str(path), "", "invalid YAML: nested too deeply") from exc
    if data is None:
        raise ProfileError(str(path), "", f"must be a mapping at the top level, got an empty "
                           f"file{hint}")
    if not isinstance(data, Mapping):
        raise ProfileError(str(path), "", f"must be a mapping at the top level, got {kind(data)}")
    _refuse_cycles(data, str(path), "", set())
    return data


def _refuse_cycles(node: Any, source: str, where: str, above: set[int]) -> None:
    """A mapping or list that holds itself (through an alias) would never end."""
    if not isinstance(node, Mapping | list):
        return
    if id(node) in above:
        raise ProfileError(source, where or "<top level>",
                           "an alias refers to the mapping or list that holds it")
    above.add(id(node))
    items = node.items() if isinstance(node, Mapping) else (
        (f"[{i}]", v) for i, v in enumerate(node))
    for key, value in items:
        inner = f"{where}{key}" if isinstance(node, list) else child(where, key)
        _refuse_cycles(value, source, inner, above)
    above.discard(id(node))
