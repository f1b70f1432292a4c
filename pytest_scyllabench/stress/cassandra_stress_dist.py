"""The cassandra-stress distribution: download from Maven Central, verify, unpack into the cache.

Maven Central publishes no ``cassandra-stress`` artifact, and ``cassandra-all`` jars carry no
``org.apache.cassandra.stress`` classes. Its only binary distributions of Cassandra are
``org.apache.cassandra:apache-cassandra:<v>:bin.tar.gz`` for 3.11.5 and 4.0-alpha2 (4.0.0 and
later were never published there). The 4.0-alpha2 one runs on Java 11 and 17 and speaks native
protocol v4, which Cassandra 5.0 serves. Its ``HdrHistogram-2.1.9.jar`` needs
``javax.xml.bind`` (gone since Java 11: the HDR log writer thread dies and the run's counts go
wrong), so it is replaced by ``org.hdrhistogram:HdrHistogram:2.1.12``.

The tree, outside the repository::

    <cache>/tools/cassandra-stress-<v>/conf/logback-tools.xml
    <cache>/tools/cassandra-stress-<v>/lib/*.jar              Cassandra's, HdrHistogram 2.1.12
    <cache>/tools/cassandra-stress-<v>/tools/lib/stress.jar
    <cache>/tools/cassandra-stress-<v>.tar.gz                 that tree, packed for remote hosts

Every download is checked against the ``.sha512`` (else ``.sha1``) published beside it and,
for the files named in :data:`PINNED_SHA1`, against the digest recorded here. The tree is
built in a temporary directory and renamed into place, so it exists only when complete; two
sessions racing both build it and the second rename loses harmlessly.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

from pytest_scyllabench.errors import StressError

MAVEN_CENTRAL = "https://repo1.maven.org/maven2"
HDRHISTOGRAM_VERSION = "2.1.12"
#: SHA-1 of the files downloaded here, as published on Maven Central on 2026-11-23.
PINNED_SHA1 = {
    "apache-cassandra-4.0-alpha2-bin.tar.gz": "908f50725f0f94bcfa7670f3528df475972a8972",
    "HdrHistogram-2.1.12.jar": "6eb7552156e0d517ae80cc2247be1427c8d90452",
}
#: Seconds a connection may stay silent before a download fails.
DOWNLOAD_TIMEOUT = 120.0
#: Published checksums, strongest first, with the length of their hex digest.
DIGEST_LENGTHS = {"sha512": 128, "sha1": 40}
_CHUNK = 1 << 20
#: The file whose presence means the tree is complete.
MARKER = Path("tools") / "lib" / "stress.jar"


def artifact_urls(version: str, repository: str = MAVEN_CENTRAL) -> tuple[str, str]:
    """The binary tarball of Cassandra ``version`` and the HdrHistogram jar replacing its own."""
    repository = repository.rstrip("/")
    tarball = (f"{repository}/org/apache/cassandra/apache-cassandra/{version}/"
               f"apache-cassandra-{version}-bin.tar.gz")
    jar = (f"{repository}/org/hdrhistogram/HdrHistogram/{HDRHISTOGRAM_VERSION}/"
           f"HdrHistogram-{HDRHISTOGRAM_VERSION}.jar")
    return tarball, jar


def parse_checksum(text: str, algorithm: str) -> str:
    """The hex digest of a published ``.sha1``/``.sha512`` file (``<hex>`` or ``<hex> <name>``)."""
    words = text.split()
    digest = words[0].lower() if words else ""
    if len(digest) != DIGEST_LENGTHS[algorithm] or any(c not in "0123456789abcdef"
                                                       for c in digest):
        raise StressError(f"not a {algorithm} checksum: {text[:80]!r}")
    return digest


def _open(url: str) -> IO[bytes] | None:
    """The response for ``url``; ``None`` when it does not exist (HTTP 404, missing file)."""
    try:
        response: IO[bytes] = urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise StressError(f"could not download {url}: HTTP {exc.code}") from exc
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, FileNotFoundError):
            return None
        raise StressError(f"could not download {url}: {exc.reason}") from exc
    except OSError as exc:
        raise StressError(f"could not download {url}: {exc}") from exc
    return response


def _published(url: str) -> tuple[str, str]:
    """``(algorithm, digest)`` of the strongest checksum published beside ``url``."""
    for algorithm in DIGEST_LENGTHS:
        response = _open(f"{url}.{algorithm}")
        if response is not None:
            with response:
                text = response.read(4096).decode(errors="replace")
            return algorithm, parse_checksum(text, algorithm)
    raise StressError(f"{url}: no .sha512 or .sha1 is published beside it")


def download_verified(url: str, dest: Path) -> Path:
    """Download ``url`` to ``dest``, checked against its published and pinned checksums.

    ``StressError`` naming the URL when it is missing, unreachable or does not match; ``dest``
    is then removed.
    """
    algorithm, expected = _published(url)
    response = _open(url)
    if response is None:
        raise StressError(f"could not download {url}: not found")
    hashes = {name: hashlib.new(name) for name in DIGEST_LENGTHS}
    try:
        with response, dest.open("wb") as out:
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                for digest in hashes.values():
                    digest.update(chunk)
    except OSError as exc:
        dest.unlink(missing_ok=True)
        raise StressError(f"could not download {url}: {exc}") from exc
    actual = {name: digest.hexdigest() for name, digest in hashes.items()}
    problem = None
    if actual[algorithm] != expected:
        problem = f"{algorithm} {actual[algorithm]} does not match the published {expected}"
    pinned = PINNED_SHA1.get(url.rsplit("/", 1)[-1])
    if problem is None and pinned is not None and actual["sha1"] != pinned:
        problem = f"sha1 {actual['sha1']} is not the recorded {pinned}"
    if problem is not None:
        dest.unlink(missing_ok=True)
        raise StressError(f"{url}: {problem}")
    return dest


def _wanted(relative: str) -> bool:
    """Files of the tarball cassandra-stress needs (its own HdrHistogram is replaced)."""
    if relative in ("conf/logback-tools.xml", str(MARKER), "LICENSE.txt", "NOTICE.txt"):
        return True
    parts = relative.split("/")
    return (len(parts) == 2 and parts[0] == "lib" and parts[1].endswith(".jar")
            and not parts[1].startswith("HdrHistogram-"))


def extract_tree(tarball: Path, target: Path) -> None:
    """Copy the wanted regular files under ``apache-cassandra-<v>/`` of ``tarball`` to ``target``.

    Links, devices and names with ``..`` are skipped, never followed.
    """
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            for member in archive:
                _, _, relative = member.name.partition("/")
                if not member.isfile() or ".." in relative.split("/") or not _wanted(relative):
                    continue
                source = archive.extractfile(member)
                if source is None:
                    continue
                destination = target / relative
                destination.parent.mkdir(parents=True, exist_ok=True)
                with source, destination.open("wb") as out:
                    shutil.copyfileobj(source, out, _CHUNK)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise StressError(f"{tarball}: cannot be unpacked: {exc}") from exc
    if not (target / MARKER).is_file():
        raise StressError(f"{tarball}: holds no {MARKER}")


def ensure_tree(version: str, cache: Path, repository: str = MAVEN_CENTRAL) -> Path:
    """``<cache>/cassandra-stress-<version>``, downloaded, verified and built first if missing."""
    final = cache / f"cassandra-stress-{version}"
    if (final / MARKER).is_file():
        return final
    cache.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".cassandra-stress-{version}-", dir=cache))
    try:
        tarball_url, jar_url = artifact_urls(version, repository)
        tarball = download_verified(tarball_url, scratch / tarball_url.rsplit("/", 1)[-1])
        jar = download_verified(jar_url, scratch / jar_url.rsplit("/", 1)[-1])
        tree = scratch / "tree"
        extract_tree(tarball, tree)
        shutil.copy2(jar, tree / "lib" / jar.name)
        try:
            os.rename(tree, final)
        except OSError:
            if not (final / MARKER).is_file():
                raise
            # Another session finished first: its tree is as good as ours.
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return final


def pack_tree(home: Path) -> Path:
    """``<home>.tar.gz`` (built once, atomically) for copying to remote loaders."""
    packed = home.with_name(home.name + ".tar.gz")
    if packed.is_file():
        return packed
    partial = home.with_name(f".{home.name}.{os.getpid()}.tar.gz")
    with tarfile.open(partial, "w:gz") as archive:
        for path in sorted(home.rglob("*")):
            if path.is_file():
                archive.add(path, arcname=str(path.relative_to(home)))
    partial.replace(packed)
    return packed
