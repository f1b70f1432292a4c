"""Plugin settings: each declared once, resolved once (CLI over ini over environment over default).

The resolved, frozen :class:`Settings` lives in ``config.stash[SETTINGS_KEY]``; the rest of the
plugin receives that object, never ``pytest.Config``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_scyllabench.errors import ConfigError

PREFIX = "scyllabench"


def parse_bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def parse_positive_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"expected a number, got {value!r}") from None
    if not number > 0 or number != number or number == float("inf"):
        raise ValueError(f"expected a positive number, got {value!r}")
    return number


def parse_nonempty(value: str) -> str:
    if not value.strip():
        raise ValueError("expected a non-empty value")
    return value.strip()


@dataclass(frozen=True)
class Option:
    """One setting: its CLI flag, ini key and environment variable share one name."""

    name: str
    parse: Callable[[str], Any]
    default: Any
    metavar: str
    help: str
    flag: bool = False

    @property
    def cli(self) -> str:
        return f"--{PREFIX}-{self.name}"

    @property
    def ini(self) -> str:
        return f"{PREFIX}_{self.name.replace('-', '_')}"

    @property
    def env(self) -> str:
        return f"{PREFIX.upper()}_{self.name.replace('-', '_').upper()}"

    @property
    def dest(self) -> str:
        return f"{PREFIX}_{self.name.replace('-', '_')}"


OPTIONS: tuple[Option, ...] = (
    Option("profile", parse_nonempty, "local", "NAME|PATH",
           "deployment profile: a YAML file, or a name looked up in <rootdir>/fixtures/profiles "
           "and then among the embedded profiles (default: local)"),
    Option("output", parse_nonempty, "trials", "DIR",
           "directory for raw artifacts, as DIR/<profile>/<timestamp>/ (default: trials)"),
    Option("keep-cluster", parse_bool, False, "",
           "leave the cluster running after the session so a later session can reuse it "
           "(default: off; the cluster is stopped and its data removed)", flag=True),
    Option("reuse-cluster", parse_bool, False, "",
           "reuse a cluster kept by an earlier session and start no nodes; fails if none "
           "is running (default: off)", flag=True),
    Option("html", parse_bool, False, "",
           "write a self-contained pytest-html report to report.html in the trial directory "
           "when --html is not given (default: off)", flag=True),
    Option("duration-scale", parse_positive_float, 1.0, "FACTOR",
           "multiply every step's warm-up and measured duration by FACTOR; 1 runs full-length "
           "steps (default: 1.0)"),
)


@dataclass(frozen=True)
class Settings:
    """The resolved settings of one session."""

    profile: str
    output: Path
    keep_cluster: bool
    reuse_cluster: bool
    html: bool
    duration_scale: float
    rootdir: Path


def add_options(parser: Any) -> None:
    """Declare every option and ini key on pytest's parser."""
    group = parser.getgroup(PREFIX, "database benchmarks (pytest-scyllabench)")
    for option in OPTIONS:
        if option.flag:
            group.addoption(option.cli, action="store_const", const=True, default=None,
                            dest=option.dest, help=option.help)
        else:
            group.addoption(option.cli, action="store", default=None, dest=option.dest,
                            metavar=option.metavar, type=_argparse_type(option), help=option.help)
        parser.addini(option.ini, help=option.help, default=None)


def _argparse_type(option: Option) -> Callable[[str], Any]:
    def convert(value: str) -> Any:
        try:
            return option.parse(value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = option.name
    return convert


def resolve(
    cli: Mapping[str, Any],
    ini: Mapping[str, str | None],
    environ: Mapping[str, str],
    rootdir: Path,
) -> Settings:
    """Resolve every option: CLI over ini over environment over default.

    ``cli`` maps option dests to parsed values (``None`` when not given); ``ini`` maps ini keys
    to raw strings. Raises ``ConfigError`` naming the ini key or variable of a bad value.
    """
    values: dict[str, Any] = {}
    for option in OPTIONS:
        value = cli.get(option.dest)
        if value is None:
            value = _parse_raw(option, ini.get(option.ini), f"ini key {option.ini}")
        if value is None:
            value = _parse_raw(option, environ.get(option.env),
                               f"environment variable {option.env}")
        values[option.name.replace("-", "_")] = option.default if value is None else value
    output = Path(values["output"])
    values["output"] = output if output.is_absolute() else rootdir / output
    return Settings(rootdir=rootdir, **values)


def _parse_raw(option: Option, raw: str | None, where: str) -> Any:
    if raw is None or (isinstance(raw, str) and raw == ""):
        return None
    try:
        return option.parse(raw)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
