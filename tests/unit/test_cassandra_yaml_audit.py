"""cassandra.yaml overrides that Cassandra 5.0 would refuse at start if merged naively."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pytest_scyllabench.db import cassandra_config as cfg

ADDRESSES = ("127.0.0.1", "127.0.0.2", "127.0.0.3")


def rendered(tmp_path: Path, overrides: dict[str, object]) -> dict[str, object]:
    node = cfg.node_layouts(ADDRESSES, tmp_path)[0]
    settings: dict[str, object] = yaml.safe_load(
        cfg.render_yaml(cfg.cassandra_yaml(node, ADDRESSES, 3, overrides)))
    return settings


@pytest.mark.parametrize(("old", "new", "value"), [
    ("commitlog_sync_period_in_ms", "commitlog_sync_period", 2000),
    ("commitlog_segment_size_in_mb", "commitlog_segment_size", 64),
    ("commitlog_total_space_in_mb", "commitlog_total_space", 4096),
])
def test_an_override_by_its_old_name_replaces_the_new_name(
        tmp_path: Path, old: str, new: str, value: int) -> None:
    # Cassandra 5.0 refuses a file holding both spellings ("Config contains both old and new
    # keys for the same configuration parameters"): the profile's old name must win alone.
    settings = rendered(tmp_path, {old: value})
    assert settings[old] == value
    assert new not in settings


def test_the_new_names_are_given_by_default(tmp_path: Path) -> None:
    settings = rendered(tmp_path, {})
    assert settings["commitlog_sync"] == "periodic"
    assert settings["commitlog_sync_period"] == "10000ms"
    assert not any(key.endswith(("_in_ms", "_in_mb")) for key in settings)


@pytest.mark.parametrize("mode", ["batch", "group"])
def test_a_sync_mode_other_than_periodic_drops_the_period(tmp_path: Path, mode: str) -> None:
    # 5.0: "Batch sync specified, but commitlog_sync_period found" (group: likewise).
    overrides: dict[str, object] = {"commitlog_sync": mode}
    if mode == "group":
        overrides["commitlog_sync_group_window"] = "15ms"
    settings = rendered(tmp_path, overrides)
    assert settings["commitlog_sync"] == mode
    assert "commitlog_sync_period" not in settings


def test_a_period_given_with_another_mode_is_the_profiles_own(tmp_path: Path) -> None:
    settings = rendered(tmp_path, {"commitlog_sync": "batch", "commitlog_sync_period": "1ms"})
    assert settings["commitlog_sync_period"] == "1ms"  # as written: Cassandra will say why
