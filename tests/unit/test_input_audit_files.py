"""Empty profile and workload files: refused rather than read as every default."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_profile_support import error_of, write

from pytest_scyllabench.profile_schema import load_profile


@pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n", "~\n"])
def test_empty_profile_is_refused(tmp_path: Path, text: str) -> None:
    # A truncated or emptied file was a default 3-node profile without workloads.
    message = error_of(write(tmp_path, text))
    assert message.endswith("p.yaml: must be a mapping at the top level, got an empty file "
                            "(write {} for every default)")


def test_explicit_empty_mapping_is_every_default(tmp_path: Path) -> None:
    assert load_profile(write(tmp_path, "{}\n")).database.nodes == 3


def test_empty_workload_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "w.yaml").write_text("# nothing yet\n")
    message = error_of(write(tmp_path, "workload_files: [w.yaml]\n"))
    assert message.endswith(f"{tmp_path / 'w.yaml'}: must be a mapping at the top level, got an "
                            "empty file")
