"""A baseline directory that is a file, or that does not exist, is said as such."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_scyllabench.baseline.store import BaselineFileError, BaselineMissing, DirectoryStore
from pytest_scyllabench.errors import ConfigError
from pytest_scyllabench.settings import resolve


@pytest.mark.parametrize("run", ["main", "latest"])
def test_a_file_given_as_the_baseline_directory_is_named(tmp_path: Path, run: str) -> None:
    root = tmp_path / "baselines"
    root.write_text("", encoding="utf-8")

    with pytest.raises(BaselineFileError, match=rf"^{root}: not a directory: baselines are "
                                                r"kept in a directory"):
        DirectoryStore(root).load(run)


def test_a_missing_baseline_directory_is_named(tmp_path: Path) -> None:
    root = tmp_path / "nowhere"

    with pytest.raises(BaselineMissing, match=rf"^baseline 'main' not found: {root} does not "
                                              r"exist \(no baseline saved there yet\)$"):
        DirectoryStore(root).load("main")


@pytest.mark.parametrize("option", ["scyllabench_save", "scyllabench_compare"])
def test_a_file_as_baseline_dir_is_refused_when_saving_or_comparing(tmp_path: Path,
                                                                    option: str) -> None:
    (tmp_path / "baselines").write_text("", encoding="utf-8")

    with pytest.raises(ConfigError, match=r"^--scyllabench-baseline-dir: .*baselines is not a "
                                          r"directory$"):
        resolve({option: "main"}, {}, {}, tmp_path)
    assert resolve({}, {}, {}, tmp_path).baseline_dir == tmp_path / "baselines"  # unused
