"""What a baseline keeps of one benchmark: who it is, where it ran, and its histograms.

A :class:`BaselineRecord` is keyed by its :class:`Identity` (profile, test node id, step id);
the test's parameters are kept beside it for readers but are not part of the key, because the
node id already carries their ids and ``repr`` of a parameter object is not stable across
runs. The :class:`Environment` is the fingerprint two records must share to be compared.

Histograms are kept encoded (compressed base64 HDR, as in ``result.json``, see
:mod:`pytest_scyllabench.report.serialize`) together with the unit of their values, so any
percentile can be recomputed later. A step run N times keeps each repetition's histograms and
throughput (:attr:`BaselineRecord.repetitions`) and their sum (:attr:`BaselineRecord.merged`).
Each run names the session that made it (:attr:`Measurement.session`): a record saved with
``--scyllabench-save-sessions K`` keeps the runs of up to K sessions
(:mod:`pytest_scyllabench.baseline.sessions`), and :attr:`BaselineRecord.sessions` groups them.
The test's own regression rules (its ``scyllabench_regression`` markers, combined) are kept as
an expression, so that an offline comparison (``scyllabench compare``) lets them win over the
command line's as a session does. A file without ``rules`` has none.

JSON form (``schema_version`` 2, written with sorted keys)::

    {"schema": "pytest-scyllabench/baseline-record", "schema_version": 2,
     "identity": {"profile": "local", "test": "<node id>", "step": "write@2000"},
     "params": {"rate": "2000"},
     "environment": {"database": "cassandra", "database_version": "5.0.9", "nodes": 3,
                     "instance_types": ["local"], "loaders": 1, "tool": "builtin",
                     "tool_version": "0.1.0", "extra": {}},
     "rules": "p99:+5% throughput:off",
     "target_rate": 2000.0, "value_unit_ns": 1000.0, "service_time_only": false,
     "created": "2026-01-01T00:00:00+00:00",
     "merged": {"achieved_rate": ..., "ops": ..., "duration_s": ...,
                "ops_per_s": [per-second rates...], "histograms": {"all-rt": "HISTF..."},
                "session": "2026-01-01T00:00:00+00:00/1a2b3c"},
     "repetitions": [<same shape as merged>, ...]}

``session`` is written on a run that one session made (each repetition, or ``merged`` when it
is the only run), not on a sum. Version 1 (written before sessions were kept) is read as
well: its runs have no ``session`` and count as one session.

``environment.loaders`` counts loader processes; ``environment.loader_processes`` (written
when above 1, ``loaders.processes`` of the profile) says how many of them run on each loader
host, so 2 hosts x 3 processes differ from 6 hosts x 1. A record without it ran one per host.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from pytest_scyllabench.baseline import fields
from pytest_scyllabench.baseline.rules import (
    Rule,
    RuleLayer,
    format_rules,
    merge_layers,
    parse_rules,
)
from pytest_scyllabench.machine import UNKNOWN
from pytest_scyllabench.report.serialize import decode_histogram, encode_histogram
from pytest_scyllabench.result import StepResult

SCHEMA = "pytest-scyllabench/baseline-record"
SCHEMA_VERSION = 2
#: The versions :meth:`BaselineRecord.from_dict` reads.
READABLE_VERSIONS = (1, 2)


@dataclass(frozen=True, order=True)
class Identity:
    """Which benchmark a record measures: the key of a baseline."""

    profile: str
    test: str
    step: str

    @property
    def key(self) -> str:
        """``<profile>/<node id>/<step>``: stable text for file names and seeds."""
        return f"{self.profile}/{self.test}/{self.step}"

    @property
    def label(self) -> str:
        """``test_write[2000] write@2000``: the test name (without its file) and the step."""
        return f"{self.test.rpartition('::')[2] or self.test} {self.step}"


@dataclass(frozen=True)
class Environment:
    """Where a benchmark ran; records whose environments differ are not compared."""

    database: str
    database_version: str
    nodes: int
    #: Instance type of each host (``local`` on this machine), sorted.
    instance_types: tuple[str, ...]
    #: Loader processes in all (``len(result.loaders)``).
    loaders: int
    tool: str
    tool_version: str
    #: Anything else that must match (a driver, a kernel...), by name.
    extra: Mapping[str, str] = field(default_factory=dict)
    #: Loader processes on each loader host (``loaders.processes``); 1 in records without it.
    loader_processes: int = 1

    def differences(self, current: Environment) -> list[str]:
        """One ``field: baseline -> current`` line per field that differs, in field order."""
        lines = []
        for name in ("database", "database_version", "nodes", "instance_types", "loaders",
                     "loader_processes", "tool", "tool_version"):
            mine, theirs = getattr(self, name), getattr(current, name)
            if mine != theirs:
                lines.append(f"{name}: {_show(mine)} -> {_show(theirs)}")
        # A fact only one side recorded (a baseline saved before it was), or that could not
        # be read, is no evidence of a different environment.
        for name in sorted(set(self.extra) & set(current.extra)):
            before, after = self.extra[name], current.extra[name]
            if before != after and UNKNOWN not in before and UNKNOWN not in after:
                lines.append(f"{name}: {before} -> {after}")
        return lines

    def to_dict(self) -> dict[str, Any]:
        data = {"database": self.database, "database_version": self.database_version,
                "nodes": self.nodes, "instance_types": list(self.instance_types),
                "loaders": self.loaders, "tool": self.tool, "tool_version": self.tool_version,
                "extra": dict(sorted(self.extra.items()))}
        if self.loader_processes != 1:  # records of one process per host stay as they were
            data["loader_processes"] = self.loader_processes
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "environment") -> Environment:
        """Read :meth:`to_dict`'s form; ``KeyError``/``ValueError`` naming the field."""
        data = fields.obj(data, where)

        def text(key: str) -> str:
            return fields.text(fields.get(data, key, where), f"{where}.{key}")

        types = fields.array(fields.get(data, "instance_types", where),
                             f"{where}.instance_types")
        extra = fields.obj(data.get("extra") or {}, f"{where}.extra")
        return cls(database=text("database"), database_version=text("database_version"),
                   nodes=fields.whole(fields.get(data, "nodes", where), f"{where}.nodes",
                                      minimum=1),
                   instance_types=tuple(fields.text(kind, f"{where}.instance_types[{n}]")
                                        for n, kind in enumerate(types)),
                   loaders=fields.whole(fields.get(data, "loaders", where),
                                        f"{where}.loaders", minimum=1),
                   tool=text("tool"), tool_version=text("tool_version"),
                   extra={str(k): fields.text(v, f"{where}.extra.{k}")
                          for k, v in extra.items()},
                   loader_processes=fields.whole(data.get("loader_processes", 1),
                                                 f"{where}.loader_processes", minimum=1))


def environment_of(result: StepResult, *, database: str, database_version: str, nodes: int,
                   instance_types: Sequence[str], extra: Mapping[str, str] | None = None,
                   loader_processes: int = 1) -> Environment:
    """The environment of a step: the cluster's figures given, the tool read from its loaders;
    ``loader_processes``: the profile's ``loaders.processes``."""
    tools = sorted({(run.tool, run.tool_version) for run in result.loaders})
    tool = ",".join(name for name, _ in tools)
    version = ",".join(version for _, version in tools)
    return Environment(database=database, database_version=database_version, nodes=nodes,
                       instance_types=tuple(sorted(instance_types)),
                       loaders=len(result.loaders), tool=tool, tool_version=version,
                       extra=dict(extra or {}), loader_processes=loader_processes)


@dataclass(frozen=True)
class Measurement:
    """One run of a step (or the sum of its repetitions): encoded histograms and throughput."""

    achieved_rate: float
    ops: int
    duration: float
    #: Compressed base64 HDR histograms by tag (``all-rt``, ``write-st``...).
    histograms: Mapping[str, str]
    #: Operations per second of each second of the measured window (may be empty).
    ops_per_s: tuple[float, ...] = ()
    #: The session that made this run (``""``: a sum of runs, or not recorded).
    session: str = ""

    def histogram(self, name: str) -> Any:
        """The decoded histogram of tag ``name`` (``KeyError`` when it was not recorded)."""
        return decode_histogram(self.histograms[name])

    def to_dict(self) -> dict[str, Any]:
        return {"achieved_rate": _finite(self.achieved_rate), "ops": self.ops,
                "duration_s": _finite(self.duration), "ops_per_s": [
                    _finite(rate) for rate in self.ops_per_s],
                "histograms": dict(sorted(self.histograms.items())),
                **({"session": self.session} if self.session else {})}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "merged") -> Measurement:
        """Read :meth:`to_dict`'s form; ``KeyError``/``ValueError`` naming the field."""
        data = fields.obj(data, where)
        histograms = fields.get(data, "histograms", where)
        if not isinstance(histograms, Mapping):
            raise ValueError(f"{where}.histograms: expected an object of tag -> encoded "
                             f"histogram")
        rates = fields.array(data.get("ops_per_s") or [], f"{where}.ops_per_s")
        return cls(achieved_rate=fields.number(fields.get(data, "achieved_rate", where),
                                               f"{where}.achieved_rate"),
                   ops=fields.whole(fields.get(data, "ops", where), f"{where}.ops", minimum=0),
                   duration=fields.number(fields.get(data, "duration_s", where),
                                          f"{where}.duration_s"),
                   histograms={str(k): fields.text(v, f"{where}.histograms.{k}")
                               for k, v in histograms.items()},
                   ops_per_s=tuple(fields.number(rate, f"{where}.ops_per_s[{n}]")
                                   for n, rate in enumerate(rates)),
                   session=fields.text(data.get("session") or "", f"{where}.session"))


@dataclass(frozen=True)
class BaselineRecord:
    """One benchmark of one run: identity, environment, merged and per-repetition data."""

    identity: Identity
    environment: Environment
    target_rate: float
    #: Nanoseconds per recorded histogram value (1000.0: microseconds).
    value_unit_ns: float
    merged: Measurement
    #: Each repetition when the step ran two times or more; empty for a single run.
    repetitions: tuple[Measurement, ...] = ()
    service_time_only: bool = False
    params: Mapping[str, str] = field(default_factory=dict)
    #: When the record was made (ISO 8601, UTC).
    created: str = ""
    #: The test's own rules (its markers, closest winning); ``None`` turns a metric off.
    rules: Mapping[str, Rule | None] = field(default_factory=dict)

    @property
    def runs(self) -> tuple[Measurement, ...]:
        """Every run: the repetitions, or the merged measurement when it is the only run."""
        return self.repetitions or (self.merged,)

    @property
    def sessions(self) -> list[tuple[int, ...]]:
        """Indices into :attr:`runs` grouped by session, oldest session first (the order
        in which they were saved); runs without a session id form one session."""
        groups: dict[str, list[int]] = {}
        for number, run in enumerate(self.runs):
            groups.setdefault(run.session, []).append(number)
        return [tuple(numbers) for numbers in groups.values()]

    def with_session(self, session: str) -> BaselineRecord:
        """This record with every run (the merged one too when it is the only run) made by
        ``session``."""
        if self.repetitions:
            return replace(self, repetitions=tuple(replace(run, session=session)
                                                   for run in self.repetitions))
        return replace(self, merged=replace(self.merged, session=session))

    def to_dict(self) -> dict[str, Any]:
        identity = self.identity
        return {
            "schema": SCHEMA, "schema_version": SCHEMA_VERSION,
            "identity": {"profile": identity.profile, "test": identity.test,
                         "step": identity.step},
            "params": dict(sorted(self.params.items())),
            "rules": format_rules(self.rules),
            "environment": self.environment.to_dict(),
            "target_rate": _finite(self.target_rate), "value_unit_ns": self.value_unit_ns,
            "service_time_only": self.service_time_only, "created": self.created,
            "merged": self.merged.to_dict(),
            "repetitions": [run.to_dict() for run in self.repetitions],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BaselineRecord:
        """Read :meth:`to_dict`'s form; ``KeyError``/``ValueError`` naming the bad field
        (:mod:`~pytest_scyllabench.baseline.fields`)."""
        if data.get("schema") != SCHEMA:
            raise ValueError(f"schema: not a baseline record (got {data.get('schema')!r})")
        version = data.get("schema_version")
        if isinstance(version, bool) or not isinstance(version, int) or (
                version not in READABLE_VERSIONS):
            raise ValueError(f"schema_version: {data.get('schema_version')!r} is not supported "
                             f"(this version reads "
                             f"{', '.join(str(v) for v in READABLE_VERSIONS)})")
        identity = fields.obj(fields.get(data, "identity", ""), "identity")
        who = {key: fields.text(fields.get(identity, key, "identity"), f"identity.{key}")
               for key in ("profile", "test", "step")}
        runs = fields.array(fields.get(data, "repetitions", ""), "repetitions")
        params = fields.obj(data.get("params") or {}, "params")
        return cls(
            identity=Identity(**who),
            environment=Environment.from_dict(fields.get(data, "environment", "")),
            target_rate=fields.number(fields.get(data, "target_rate", ""), "target_rate",
                                      positive=True),
            value_unit_ns=fields.number(fields.get(data, "value_unit_ns", ""),
                                        "value_unit_ns", positive=True, nullable=False),
            merged=Measurement.from_dict(fields.get(data, "merged", "")),
            repetitions=tuple(Measurement.from_dict(run, f"repetitions[{n}]")
                              for n, run in enumerate(runs)),
            service_time_only=fields.flag(fields.get(data, "service_time_only", ""),
                                          "service_time_only"),
            params={str(k): str(v) for k, v in params.items()},
            created=fields.text(data.get("created") or "", "created"),
            rules=parse_rules(fields.text(data.get("rules") or "", "rules")),
        )


def measurement_of(result: StepResult) -> Measurement:
    """What a baseline keeps of one run of a step."""
    return Measurement(
        achieved_rate=result.achieved_rate, ops=result.ops, duration=result.duration,
        histograms={name: encode_histogram(result.histograms[name])
                    for name in sorted(result.histograms)},
        ops_per_s=tuple(rate for _, rate, _ in result.series))


def record_from_results(identity: Identity, environment: Environment,
                        results: Sequence[StepResult], *,
                        params: Mapping[str, object] | None = None,
                        created: datetime | None = None,
                        rules: Sequence[RuleLayer] = ()) -> BaselineRecord:
    """The record of a step run once (one result) or repeated (one result per repetition).

    ``rules`` are the test's marker layers, farthest first (kept combined). Its runs name no
    session until the gate saves it (:meth:`BaselineRecord.with_session`).

    Repetitions are summed: their histograms are added tag by tag, their operations and
    durations summed (the merged throughput is total operations over total measured time).
    """
    if not results:
        raise ValueError(f"{identity.label}: no results to record")
    units = {result.value_unit_ns for result in results}
    if len(units) > 1:
        raise ValueError(f"{identity.label}: repetitions record values in different units "
                         f"({', '.join(f'{unit:g} ns' for unit in sorted(units))})")
    runs = tuple(measurement_of(result) for result in results)
    merged = sum_runs(runs)
    first = results[0]
    return BaselineRecord(
        identity=identity, environment=environment, target_rate=first.target_rate,
        value_unit_ns=first.value_unit_ns, merged=merged,
        repetitions=runs if len(runs) > 1 else (),
        service_time_only=any(result.service_time_only for result in results),
        params={name: _param(value) for name, value in sorted((params or {}).items())},
        created=(created or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds"),
        rules=merge_layers(*rules))


def sum_runs(runs: Sequence[Measurement]) -> Measurement:
    """The sum of runs (one run: itself)."""
    return runs[0] if len(runs) == 1 else _sum(runs)


def _sum(runs: Sequence[Measurement]) -> Measurement:
    ops = sum(run.ops for run in runs)
    duration = sum(run.duration for run in runs)
    names = sorted({name for run in runs for name in run.histograms})
    # A run read with a null duration leaves the sum's rate unknown (NaN), not 0 ops/s.
    rate = ops / duration if duration > 0 else math.nan if math.isnan(duration) else 0.0
    return Measurement(
        achieved_rate=rate, ops=ops, duration=duration,
        histograms={name: merge_encoded([run.histograms[name] for run in runs
                                         if name in run.histograms]) for name in names},
        ops_per_s=tuple(rate for run in runs for rate in run.ops_per_s))


def merge_encoded(encoded: Sequence[str]) -> str:
    """The sum of encoded histograms, encoded (decoded with the serializer's own helper)."""
    total = decode_histogram(encoded[0])
    for other in encoded[1:]:
        total.add(decode_histogram(other))
    return encode_histogram(total)


def _param(value: object) -> str:
    return value if isinstance(value, str) else repr(value)


def _show(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(str(item) for item in value) + "]"
    return str(value)


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None
