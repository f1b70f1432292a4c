"""``scyllabench serve-snapshot`` on something that is not a Prometheus snapshot archive: one
line saying so, before a Prometheus serves an empty database as if it were the snapshot."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from pytest_scyllabench import cli
from pytest_scyllabench.errors import MonitoringError
from pytest_scyllabench.monitor.snapshot import unpack


def packed(tmp_path: Path, files: dict[str, str]) -> Path:
    """A .tar.gz of ``files`` (relative path -> text), as ``tar -C dir .`` packs a snapshot."""
    source = tmp_path / "source"
    for name, text in files.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text(text, encoding="utf-8")
    archive = tmp_path / "archive.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source, arcname=".")
    return archive


def test_a_tarball_of_directories_without_a_block_is_refused(tmp_path: Path) -> None:
    archive = packed(tmp_path, {"docs/readme.txt": "hello", "notes.txt": "x"})
    target = tmp_path / "target"
    target.mkdir()

    with pytest.raises(MonitoringError, match=r"holds no TSDB block .*not a Prometheus "
                                              r"snapshot$"):
        unpack(archive, target)


def test_a_block_with_its_meta_json_is_unpacked(tmp_path: Path) -> None:
    block = "01HZZZZZZZZZZZZZZZZZZZZZZZ"
    archive = packed(tmp_path, {f"{block}/meta.json": "{}", f"{block}/index": "",
                                f"{block}/chunks/000001": ""})
    target = tmp_path / "target"
    target.mkdir()

    unpack(archive, target)

    assert (target / block / "meta.json").is_file()


def test_a_directory_given_as_the_archive_is_named_as_such(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["serve-snapshot", str(tmp_path)]) == 1

    assert capsys.readouterr().err == (f"scyllabench: error: {tmp_path}: a directory, not a "
                                       f"snapshot archive (.tar.gz)\n")
