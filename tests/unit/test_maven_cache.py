"""The Cassandra jar cache: Maven run once for concurrent sessions, a half-done download
redone, and missing Java or Maven named with what to install (a fake ``mvn``, no network)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from pytest_scyllabench.db import maven
from pytest_scyllabench.db.maven import MARKER, JavaRuntime, cached_jars, resolve_jars
from pytest_scyllabench.errors import MissingDependencyError

#: Writes two jars where Maven would, counts its runs, and is slow enough to overlap.
FAKE_MVN = """#!/bin/sh
echo run >> "$COUNT"
for arg in "$@"; do
  case "$arg" in -DoutputDirectory=*) out="${arg#-DoutputDirectory=}" ;; esac
done
sleep 1
printf jar > "$out/cassandra-all-5.0.9.jar"
printf jar > "$out/jamm-0.4.0.jar"
"""


@pytest.fixture
def fake_mvn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    mvn = bin_dir / "mvn"
    mvn.write_text(FAKE_MVN)
    mvn.chmod(0o755)
    count = tmp_path / "count"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("COUNT", str(count))
    return count


JAVA = JavaRuntime(Path("/nonexistent-jdk"), Path("/nonexistent-jdk/bin/java"), 17)


def test_two_sessions_at_once_run_maven_once(tmp_path: Path, fake_mvn: Path) -> None:
    cache = tmp_path / "cache"

    async def both() -> list[object]:
        return list(await asyncio.gather(resolve_jars("5.0.9", cache, JAVA),
                                         resolve_jars("5.0.9", cache, JAVA)))

    first, second = asyncio.run(both())
    assert first == second == cached_jars("5.0.9", cache)
    assert fake_mvn.read_text().splitlines() == ["run"]


def test_a_download_cut_short_is_redone_from_scratch(tmp_path: Path, fake_mvn: Path) -> None:
    cache = tmp_path / "cache"
    root = cache / "cassandra" / "5.0.9"
    (root / "lib").mkdir(parents=True)
    (root / "lib" / "cassandra-all-5.0.9.jar").write_bytes(b"ja")  # killed mid-copy
    (root / "lib" / "stale-1.0.jar").write_bytes(b"")
    (root / f"{MARKER}.partial").write_text("cassandra-all-5.0.9.jar\n")
    jars = asyncio.run(resolve_jars("5.0.9", cache, JAVA))
    assert [jar.name for jar in jars.jars] == ["cassandra-all-5.0.9.jar", "jamm-0.4.0.jar"]
    assert (root / "lib" / "cassandra-all-5.0.9.jar").read_bytes() == b"jar"
    assert not (root / "lib" / "stale-1.0.jar").exists()
    assert fake_mvn.read_text().splitlines() == ["run"]
    asyncio.run(resolve_jars("5.0.9", cache, JAVA))  # complete now: Maven is not run again
    assert fake_mvn.read_text().splitlines() == ["run"]


def test_missing_maven_names_what_to_install(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MissingDependencyError, match=r"Maven \(`mvn`\) is needed.*apt-get "
                                                     r"install openjdk-17-jdk-headless maven"):
        asyncio.run(resolve_jars("5.0.9", tmp_path / "cache", JAVA))


def test_no_java_or_a_wrong_one_names_what_to_install(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    java21 = tmp_path / "jdk21"
    (java21 / "bin").mkdir(parents=True)
    (java21 / "bin" / "java").write_text(
        "#!/bin/sh\necho '    java.specification.version = 21' >&2\n")
    (java21 / "bin" / "java").chmod(0o755)
    monkeypatch.setattr(maven, "PREFERRED_JAVA_HOMES", ())
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(MissingDependencyError, match=r"needs Java 17 .*no java found.*"
                                                     r"openjdk-17-jdk-headless"):
        asyncio.run(maven.find_java())
    monkeypatch.setenv("JAVA_HOME", str(java21))
    with pytest.raises(MissingDependencyError, match=rf"found: {java21} \(Java 21\).*"
                                                     "openjdk-17-jdk-headless"):
        asyncio.run(maven.find_java())
