"""Where a profile named on the command line is found: the rootdir's fixtures win over the
embedded profiles, so a project can redefine ``local`` without touching the package."""

from __future__ import annotations

from pathlib import Path

from pytest_scyllabench.profile_schema import EMBEDDED, find_profile, load_profile


def test_a_rootdir_profile_named_local_takes_the_embedded_one_s_place(tmp_path: Path) -> None:
    embedded = load_profile(find_profile("local", tmp_path))
    own = tmp_path / "fixtures" / "profiles" / "local.yaml"
    own.parent.mkdir(parents=True)
    text = (EMBEDDED / "local.yaml").read_text(encoding="utf-8")
    own.write_text(text.replace("nodes: 3", "nodes: 1").replace("replication_factor: 3",
                                                                  "replication_factor: 1"),
                   encoding="utf-8")
    found = find_profile("local", tmp_path)
    assert found == own
    assert (embedded.database.nodes, load_profile(found).database.nodes) == (3, 1)
