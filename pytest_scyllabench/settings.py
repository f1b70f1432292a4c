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


#: The largest duration scale: 60 s steps become 16.7 h. More is a typo (``1e4`` for ``1e-4``).
MAX_DURATION_SCALE = 1000.0
#: The most repetitions of a step, and the most sessions kept in a saved record.
MAX_REPEAT = 1000
MAX_SAVE_SESSIONS = 100


def parse_duration_scale(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"expected a number, got {value!r}") from None
    if not number > 0 or number != number or number == float("inf"):
        raise ValueError(f"expected a positive number, got {value!r}")
    if number > MAX_DURATION_SCALE:
        raise ValueError(f"at most {MAX_DURATION_SCALE:g}, got {value!r}")
    return number


def positive_int_up_to(limit: int) -> Callable[[str], int]:
    """A parser of whole numbers from 1 to ``limit``."""

    def parse(value: str) -> int:
        number = parse_positive_int(value)
        if number > limit:
            raise ValueError(f"at most {limit}, got {value!r}")
        return number

    return parse


def parse_positive_int(value: str) -> int:
    if not value.strip().isascii() or not value.strip().isdigit():  # int() takes 1_0 and ٣
        raise ValueError(f"expected a whole number, got {value!r}")
    number = int(value)
    if number < 1:
        raise ValueError(f"expected a positive whole number, got {value!r}")
    return number


def parse_compare(value: str) -> str:
    from pytest_scyllabench.baseline.store import check_run_name

    return "latest" if value.strip() == "latest" else check_run_name(value.strip())


def parse_run_name(value: str) -> str:
    from pytest_scyllabench.baseline.store import check_run_name

    return check_run_name(value.strip())


def parse_rules_option(value: str) -> str:
    from pytest_scyllabench.baseline.rules import rules_option

    return rules_option(value)


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
           "is running; provisioner local only. The reused cluster is stopped and its data "
           "removed at the end unless --scyllabench-keep-cluster is also given "
           "(default: off)", flag=True),
    Option("html", parse_bool, False, "",
           "write a self-contained pytest-html report to report.html in the trial directory "
           "when --html is not given (default: off)", flag=True),
    Option("duration-scale", parse_duration_scale, 1.0, "FACTOR",
           "multiply every step's warm-up and measured duration by FACTOR (at most 1000); 1 "
           "runs full-length steps (default: 1.0)"),
    Option("repeat", positive_int_up_to(MAX_REPEAT), 1, "N",
           "run every step N times (at most 1000); the repetitions give the noise estimate of "
           "baseline comparisons (default: 1)"),
    Option("baseline-dir", parse_nonempty, "baselines", "DIR",
           "directory of saved baselines, one sub-directory of JSON files per run name "
           "(default: baselines)"),
    Option("save", parse_run_name, None, "NAME",
           "save this session's steps as baseline NAME at the end of the session "
           "(default: not saved)"),
    Option("save-sessions", positive_int_up_to(MAX_SAVE_SESSIONS), 1, "K",
           "keep the runs of the last K sessions in each saved record (the new one and K-1 "
           "already saved under NAME, if measured in the same environment), so comparisons "
           "see session-to-session noise; at most 100 (default: 1: saving replaces the record)"),
    Option("compare", parse_compare, None, "NAME|latest",
           "compare every step with baseline NAME, or the latest saved; a regression fails "
           "the test (default: no comparison)"),
    Option("rules", parse_rules_option, "p99:+10% p999:+20% throughput:-5%", "EXPR",
           "regression rules such as 'p99:+10% p999:+2ms throughput:-5%'; the "
           "scyllabench_regression marker overrides them per metric "
           "(default: p99:+10% p999:+20% throughput:-5%)"),
    Option("fail-missing-baseline", parse_bool, False, "",
           "fail when the baseline to compare with, or a benchmark in it, is missing "
           "(default: off; a missing baseline is reported and nothing is compared)", flag=True),
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
    repeat: int = 1
    baseline_dir: Path = Path("baselines")
    save: str | None = None
    save_sessions: int = 1
    compare: str | None = None
    rules: str = "p99:+10% p999:+20% throughput:-5%"
    fail_missing_baseline: bool = False


def add_options(parser: Any) -> None:
    """Declare every option and ini key on pytest's parser."""
    group = parser.getgroup(PREFIX, "database benchmarks (pytest-scyllabench)")
    for option in OPTIONS:
        text = option.help.replace("%", "%%")  # argparse formats help with %
        if option.flag:
            group.addoption(option.cli, action="store_const", const=True, default=None,
                            dest=option.dest, help=text)
        else:
            group.addoption(option.cli, action="store", default=None, dest=option.dest,
                            metavar=option.metavar, type=_argparse_type(option), help=text)
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
    for key in ("output", "baseline_dir"):
        path = Path(values[key])
        values[key] = path if path.is_absolute() else rootdir / path
    baselines = values["baseline_dir"]
    if (values["save"] or values["compare"]) and baselines.exists() and not baselines.is_dir():
        # found now rather than when the session's steps are saved, at its end
        raise ConfigError(f"--{PREFIX}-baseline-dir: {baselines} is not a directory")
    return Settings(rootdir=rootdir, **values)


def _parse_raw(option: Option, raw: str | None, where: str) -> Any:
    if raw is None or (isinstance(raw, str) and raw == ""):
        return None
    try:
        return option.parse(raw)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def wants_html_report(settings: Settings, *, html_plugin: bool, running: bool) -> bool:
    """Whether this session writes its own pytest-html report into the trial directory:
    ``--scyllabench-html`` in a session that runs tests (``--collect-only`` creates no trial
    directory). ``ConfigError`` when pytest-html is not active (``-p no:html``)."""
    if not settings.html:
        return False
    if not html_plugin:
        raise ConfigError(f"--{PREFIX}-html: pytest-html is not active (disabled with "
                          f"-p no:html, or not installed); enable it or drop --{PREFIX}-html")
    return running
