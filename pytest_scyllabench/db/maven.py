"""Java and the Cassandra jars: find a Java 17 and resolve ``cassandra-all`` with Maven.

The jars land in a cache outside the repository::

    <cache>/cassandra/<version>/pom.xml        the generated project
    <cache>/cassandra/<version>/lib/*.jar      cassandra-all and its runtime dependencies
    <cache>/cassandra/<version>/COMPLETE       written last: its absence means "redo"
    <cache>/cassandra/<version>.lock           fcntl lock held while resolving

Concurrent sessions serialise on the lock; the second one finds ``COMPLETE`` and returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from pytest_scyllabench.cachelock import locked
from pytest_scyllabench.errors import (
    CommandError,
    DatabaseError,
    MissingDependencyError,
    ScyllaBenchError,
)
from pytest_scyllabench.execute.local import LocalExecutor

#: Java feature releases Cassandra 5.0 runs on, preferred first.
SUPPORTED_JAVA = (17, 11)
PREFERRED_JAVA_HOMES = (Path("/usr/lib/jvm/java-17-openjdk-amd64"),
                        Path("/usr/lib/jvm/java-17-openjdk-arm64"),
                        Path("/usr/lib/jvm/java-17-openjdk"))
INSTALL_HINT = ("install a Java 17 JDK and Maven, e.g. "
                "`apt-get install openjdk-17-jdk-headless maven`")
MARKER = "COMPLETE"
RESOLVE_TIMEOUT = 900.0
LOCK_TIMEOUT = 1200.0
_SPEC_VERSION = re.compile(r"^\s*java\.specification\.version\s*=\s*(\S+)\s*$", re.MULTILINE)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_VERSION = re.compile(r"^[0-9A-Za-z.\-]+$")


@dataclass(frozen=True)
class JavaRuntime:
    """A JDK: its home, its ``java`` binary and its feature release (17, 11, ...)."""

    home: Path
    java: Path
    release: int


@dataclass(frozen=True)
class CassandraJars:
    """The resolved classpath of one Cassandra version."""

    version: str
    lib: Path
    jars: tuple[Path, ...]

    @property
    def classpath(self) -> str:
        return os.pathsep.join(str(jar) for jar in self.jars)

    @property
    def jamm(self) -> Path | None:
        """The jamm agent jar (Cassandra measures object sizes with it), if resolved."""
        return next((jar for jar in self.jars if jar.name.startswith("jamm-")), None)


def parse_java_release(settings_output: str) -> int | None:
    """The feature release from ``java -XshowSettings:properties -version`` output."""
    match = _SPEC_VERSION.search(settings_output)
    if match is None:
        return None
    value = match.group(1)
    major = value.split(".")[1] if value.startswith("1.") else value.split(".")[0]
    return int(major) if major.isdigit() else None


async def java_release(java: Path, executor: LocalExecutor) -> int | None:
    """Ask ``java`` for its feature release; ``None`` if it does not run."""
    try:
        result = await executor.run([str(java), "-XshowSettings:properties", "-version"],
                                    timeout=60, check=False)
    except CommandError:
        return None
    return parse_java_release(result.stderr + "\n" + result.stdout)


def _candidate_homes() -> list[Path]:
    homes: list[Path] = []
    if os.environ.get("JAVA_HOME"):
        homes.append(Path(os.environ["JAVA_HOME"]))
    homes.extend(PREFERRED_JAVA_HOMES)
    on_path = shutil.which("java")
    if on_path:
        homes.append(Path(on_path).resolve().parent.parent)
    unique: list[Path] = []
    for home in homes:
        if home not in unique and (home / "bin" / "java").is_file():
            unique.append(home)
    return unique


async def find_java(executor: LocalExecutor | None = None) -> JavaRuntime:
    """A JDK Cassandra 5.0 supports: ``$JAVA_HOME`` if it is 17, a system Java 17, else 11.

    Raises ``MissingDependencyError`` (naming what to install) when none is found; newer
    releases such as 21 or 25 are skipped, as Cassandra 5.0 does not support them.
    """
    executor = executor or LocalExecutor()
    found: dict[int, JavaRuntime] = {}
    seen: list[str] = []
    for home in _candidate_homes():
        release = await java_release(home / "bin" / "java", executor)
        seen.append(f"{home} (Java {release if release is not None else '?'})")
        if release in SUPPORTED_JAVA and release not in found:
            found[release] = JavaRuntime(home=home, java=home / "bin" / "java", release=release)
        if 17 in found:
            break
    for release in SUPPORTED_JAVA:
        if release in found:
            return found[release]
    where = "; found: " + ", ".join(seen) if seen else "; no java found"
    raise MissingDependencyError(f"Cassandra 5.0 needs Java 17 (or 11){where}; {INSTALL_HINT}")


def find_maven() -> Path:
    """The ``mvn`` program, or ``MissingDependencyError``."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise MissingDependencyError(f"Maven (`mvn`) is needed to download Cassandra; "
                                     f"{INSTALL_HINT}")
    return Path(mvn)


def pom_xml(version: str) -> str:
    """A throwaway project whose only dependency is ``cassandra-all:<version>``."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>pytest-scyllabench</groupId>
  <artifactId>cassandra-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.cassandra</groupId>
      <artifactId>cassandra-all</artifactId>
      <version>{escape(version)}</version>
    </dependency>
  </dependencies>
</project>
"""


def cached_jars(version: str, cache: Path) -> CassandraJars | None:
    """The jars of ``version`` if a complete download is in the cache."""
    root = cache / "cassandra" / version
    marker = root / MARKER
    if not marker.is_file():
        return None
    names = [line for line in marker.read_text(encoding="utf-8").splitlines() if line]
    jars = tuple(root / "lib" / name for name in names)
    if not jars or not all(jar.is_file() for jar in jars):
        return None
    return CassandraJars(version=version, lib=root / "lib", jars=jars)


def _locked(path: Path, timeout: float) -> contextlib.AbstractAsyncContextManager[None]:
    """The cache lock of ``path`` (see :func:`pytest_scyllabench.cachelock.locked`)."""
    return locked(path, timeout, DatabaseError)


async def resolve_jars(version: str, cache: Path, java: JavaRuntime, *,
                       executor: LocalExecutor | None = None,
                       timeout: float = RESOLVE_TIMEOUT) -> CassandraJars:
    """Download ``cassandra-all:<version>`` and its runtime dependencies (once per cache)."""
    if not _VERSION.match(version):
        raise DatabaseError(f"invalid Cassandra version {version!r}")
    found = cached_jars(version, cache)
    if found is not None:
        return found
    mvn = find_maven()
    executor = executor or LocalExecutor()
    root = cache / "cassandra" / version
    async with _locked(cache / "cassandra" / f"{version}.lock", LOCK_TIMEOUT):
        found = cached_jars(version, cache)  # another session may have finished meanwhile
        if found is not None:
            return found
        await asyncio.to_thread(_fresh_dir, root)
        (root / "pom.xml").write_text(pom_xml(version), encoding="utf-8")
        command = [str(mvn), "-B", "-q", "-U", "-Dstyle.color=never", "-f", str(root / "pom.xml"),
                   "dependency:copy-dependencies", "-DincludeScope=runtime",
                   f"-DoutputDirectory={root / 'lib'}"]
        await run_maven(executor, command, f"Cassandra {version}", DatabaseError,
                        timeout=timeout, cwd=root, env={"JAVA_HOME": str(java.home)})
        jars = sorted(p.name for p in (root / "lib").glob("*.jar"))
        if f"cassandra-all-{version}.jar" not in jars:
            raise DatabaseError(f"Maven finished but {root / 'lib'} has no "
                                f"cassandra-all-{version}.jar")
        partial = root / f"{MARKER}.partial"
        partial.write_text("\n".join(jars) + "\n", encoding="utf-8")
        partial.replace(root / MARKER)
    found = cached_jars(version, cache)
    if found is None:
        raise DatabaseError(f"{root}: the download of Cassandra {version} is incomplete")
    return found


async def run_maven(executor: LocalExecutor, command: list[str], what: str,
                    error: type[ScyllaBenchError], *, timeout: float, cwd: Path,
                    env: dict[str, str] | None = None) -> None:
    """Run ``command`` (an ``mvn`` download of ``what``); ``error`` says it failed, with the
    command and Maven's first error lines (it reports them on stdout)."""
    try:
        result = await executor.run(command, timeout=timeout, cwd=str(cwd), check=False, env=env)
    except CommandError as exc:  # could not run, or timed out
        raise error(f"could not download {what} with Maven: {exc}") from exc
    if result.exit_code != 0:
        lines = _ANSI.sub("", result.stdout + "\n" + result.stderr).splitlines()
        output = [line for line in lines if line.strip() not in ("", "[ERROR]")][:8]
        raise error(f"could not download {what} with Maven (exit code {result.exit_code}; "
                    f"is Maven Central reachable?): {' '.join(command)}\n" + "\n".join(output))


def _fresh_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    (path / "lib").mkdir(parents=True)
