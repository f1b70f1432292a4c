"""Settings resolve CLI over ini over environment over default, and reject bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_scyllabench.errors import ConfigError
from pytest_scyllabench.settings import (
    OPTIONS,
    parse_bool,
    parse_duration_scale,
    resolve,
    wants_html_report,
)


def test_defaults(tmp_path: Path) -> None:
    settings = resolve({}, {}, {}, tmp_path)
    assert settings.profile == "local"
    assert settings.output == tmp_path / "trials"
    assert settings.duration_scale == 1.0
    assert not settings.keep_cluster and not settings.reuse_cluster and not settings.html


def test_precedence(tmp_path: Path) -> None:
    env = {"SCYLLABENCH_PROFILE": "from-env", "SCYLLABENCH_DURATION_SCALE": "0.5"}
    ini = {"scyllabench_profile": "from-ini"}
    settings = resolve({}, ini, env, tmp_path)
    assert settings.profile == "from-ini"
    assert settings.duration_scale == 0.5
    settings = resolve({"scyllabench_profile": "from-cli"}, ini, env, tmp_path)
    assert settings.profile == "from-cli"


def test_bad_ini_and_env_name_their_source(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ini key scyllabench_duration_scale: expected a "
                                          "positive number"):
        resolve({}, {"scyllabench_duration_scale": "-1"}, {}, tmp_path)
    with pytest.raises(ConfigError, match="environment variable SCYLLABENCH_KEEP_CLUSTER"):
        resolve({}, {}, {"SCYLLABENCH_KEEP_CLUSTER": "maybe"}, tmp_path)


def test_absolute_output_kept(tmp_path: Path) -> None:
    assert resolve({"scyllabench_output": "/x/y"}, {}, {}, tmp_path).output == Path("/x/y")


@pytest.mark.parametrize("value", ["0", "-2", "nan", "inf", "fast", "1e300", "1000.5"])
def test_duration_scale_rejects(value: str) -> None:
    with pytest.raises(ValueError):
        parse_duration_scale(value)


def test_duration_scale_takes_long_soaks() -> None:
    assert parse_duration_scale("1000") == 1000.0
    assert parse_duration_scale("1e-3") == 0.001


@pytest.mark.parametrize(("key", "value", "limit"), [
    ("scyllabench_repeat", "1001", "at most 1000"),
    ("scyllabench_repeat", "1e3", "expected a whole number"),
    ("scyllabench_save_sessions", "101", "at most 100"),
])
def test_counts_have_a_ceiling(tmp_path: Path, key: str, value: str, limit: str) -> None:
    with pytest.raises(ConfigError, match=f"ini key {key}: {limit}"):
        resolve({}, {key: value}, {}, tmp_path)


def test_counts_up_to_their_ceiling(tmp_path: Path) -> None:
    settings = resolve({}, {"scyllabench_repeat": "1000", "scyllabench_save_sessions": "100"},
                       {}, tmp_path)
    assert (settings.repeat, settings.save_sessions) == (1000, 100)


def test_bool() -> None:
    assert parse_bool("Yes") and not parse_bool("0")
    with pytest.raises(ValueError):
        parse_bool("sometimes")


def test_one_prefix_everywhere() -> None:
    for option in OPTIONS:
        assert option.cli.startswith("--scyllabench-")
        assert option.ini.startswith("scyllabench_")
        assert option.env.startswith("SCYLLABENCH_")
        assert "default" in option.help


def test_reuse_cluster_help_says_the_reused_cluster_is_stopped_unless_kept() -> None:
    """What the session does (session.py pushes the stop of a reused cluster unless kept)."""
    from pytest_scyllabench.session import REUSABLE_PROVISIONERS

    (reuse,) = [option for option in OPTIONS if option.name == "reuse-cluster"]
    assert "stopped and its data removed at the end unless --scyllabench-keep-cluster" \
        in reuse.help
    assert REUSABLE_PROVISIONERS == ("local",) and "provisioner local only" in reuse.help


def test_own_html_report(tmp_path: Path) -> None:
    """--scyllabench-html: a report in sessions that run tests; pytest-html must be active."""
    off, on = resolve({}, {}, {}, tmp_path), resolve({"scyllabench_html": True}, {}, {}, tmp_path)
    assert not wants_html_report(off, html_plugin=False, running=True)
    assert wants_html_report(on, html_plugin=True, running=True)
    assert not wants_html_report(on, html_plugin=True, running=False)  # --collect-only
    with pytest.raises(ConfigError, match=r"^--scyllabench-html: pytest-html is not active"):
        wants_html_report(on, html_plugin=False, running=False)


@pytest.mark.parametrize("value", ["1_0", "\u0663", "+3", "3.0", "0x3", " "])
def test_a_whole_number_option_takes_plain_ascii_digits(tmp_path: Path, value: str) -> None:
    # int() reads '1_0' as 10 and '\u0663' (Arabic-Indic three) as 3: a typo ran ten repeats.
    with pytest.raises(ConfigError, match="ini key scyllabench_repeat: expected a "):
        resolve({}, {"scyllabench_repeat": value}, {}, tmp_path)


def test_a_whole_number_option_may_be_padded(tmp_path: Path) -> None:
    assert resolve({}, {"scyllabench_repeat": " 3 "}, {}, tmp_path).repeat == 3
