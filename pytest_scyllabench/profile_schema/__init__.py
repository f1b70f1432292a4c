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
    at_least,
    build,
    convert,
    kind,
    only_with,
    reject_unknown,
)
from pytest_scyllabench.profile_schema.monitoring import parse_monitoring
from pytest_scyllabench.profile_schema.provisioners import fit_aws, parse_aws, parse_docker
from pytest_scyllabench.profile_schema.static import fit_static, parse_static
from pytest_scyllabench.profile_schema.workloads import check_loaders, parse_workloads
from pytest_scyllabench.stress.step import Workload
from pytest_scyllabench.thresholds import parse_threshold

EMBEDDED = Path(__file__).parent.parent / "profiles"


def find_profile(name: str, rootdir: Path) -> Path:
    """The file of profile ``name``: a path, or a name in fixtures/profiles, or an embedded one."""
    as_path = Path(name)
    if as_path.suffix in (".yaml", ".yml") or "/" in name:
        candidate = as_path if as_path.is_absolute() else rootdir / as_path
        if not candidate.is_file():
            raise ProfileError(str(candidate), "", "no such profile file")
        return candidate
    searched = [rootdir / "fixtures" / "profiles" / f"{name}.yaml", EMBEDDED / f"{name}.yaml"]
    for candidate in searched:
        if candidate.is_file():
            return candidate
    known = sorted({p.stem for d in (searched[0].parent, EMBEDDED) if d.is_dir()
                    for p in d.glob("*.yaml")})
    raise ProfileError(name, "", f"no such profile; known profiles: {', '.join(known)}")


def load_profile(path: Path) -> Profile:
    """Read and validate one profile file."""
    data = _read_yaml(path)
    source = str(path)
    data = dict(data)
    workload_files = data.pop("workload_files", [])
    inline_workloads = data.pop("workloads", {})
    name = data.pop("name", path.stem)
    if not isinstance(name, str) or not name:
        raise ProfileError(source, "name", "must be a non-empty string")
    workloads: dict[str, Workload] = {}
    #: The file each workload of ``workload_files`` came from.
    origins: dict[str, str] = {}
    if not isinstance(workload_files, list):
        raise ProfileError(source, "workload_files", "must be a list of file paths")
    for index, entry in enumerate(workload_files):
        if not isinstance(entry, str):
            raise ProfileError(source, f"workload_files[{index}]", "must be a file path")
        file = (path.parent / entry).resolve()
        if not file.is_file():
            raise ProfileError(source, f"workload_files[{index}]", f"no such file: {file}")
        found = parse_workloads(_read_yaml(file), str(file), "")
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
    for name, value in profile.thresholds.items():
        try:
            parse_threshold(name, value)
        except ConfigError as exc:
            raise ProfileError(source, f"thresholds.{name}", str(exc)) from None


def _read_yaml(path: Path) -> Mapping[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProfileError(str(path), "", f"cannot read: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        raise ProfileError(str(path), where, f"invalid YAML: {getattr(exc, 'problem', exc)}") \
            from exc
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ProfileError(str(path), "", f"must be a mapping at the top level, got {kind(data)}")
    return data
