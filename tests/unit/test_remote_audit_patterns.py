"""Audit: the ``pgrep -f`` patterns that find (and stop) a node match its real command line
whatever characters its directory holds: a workdir such as ``/srv/c++ bench (2)`` made the
pattern a different regular expression, ``stop`` found nothing, reported success and left the
node running. Checked with ``grep -E``, which reads POSIX extended expressions as pgrep does."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path, PurePosixPath

import pytest

from pytest_scyllabench.db import cassandra_config as cfg
from pytest_scyllabench.db.cassandra_remote import kill_pattern
from pytest_scyllabench.db.scylla_nodes import Node, TarballControl
from pytest_scyllabench.execute.base import ere_literal
from pytest_scyllabench.provision.base import Host

WORKDIRS = ["/var/tmp/sb", "/srv/c++ bench (2)", "/data/a.b[1]/x?y*z{2}|w^$", "/q/back\\slash"]


def matches(pattern: str, line: str) -> bool:
    grep = shutil.which("grep")
    if grep is None:
        pytest.skip("grep is not installed")
    done = subprocess.run([grep, "-Eq", "--", pattern], input=line.encode(), check=False)
    assert done.returncode in (0, 1), f"grep -E refused {pattern!r}"
    return done.returncode == 0


@pytest.mark.parametrize("text", WORKDIRS)
def test_ere_literal_matches_itself_only(text: str) -> None:
    assert matches(ere_literal(text), f"before {text} after")
    assert not matches(ere_literal(text), text.replace("/", "|"))


@pytest.mark.parametrize("workdir", WORKDIRS)
def test_cassandra_pattern_finds_its_jvm_and_not_its_neighbour(workdir: str) -> None:
    node = cfg.NodeLayout(1, "10.0.0.1", Path(PurePosixPath(workdir) / "clusters/p/10.0.0.1"))
    other = cfg.NodeLayout(2, "10.0.0.2", Path(PurePosixPath(workdir) / "clusters/p/10.0.0.2"))
    line = " ".join(["java", "-Xmx1G", f"-Dcassandra.config=file://{node.yaml_path}", "-cp",
                       "x", cfg.MAIN_CLASS])
    pattern = kill_pattern(node)
    assert matches(pattern, line)
    assert not matches(kill_pattern(other), line)
    assert not matches(pattern, f"sh -c pkill -f {shlex.quote(pattern)}")


@pytest.mark.parametrize("workdir", WORKDIRS)
def test_scylla_pattern_finds_its_process(workdir: str) -> None:
    root = f"{workdir}/clusters/p/10.0.0.1"
    node = Node(1, Host("n1", "10.0.0.1", executor=None), root)  # type: ignore[arg-type]
    line = " ".join([f"{workdir}/scylla/6.2/install/bin/scylla", "--options-file",
                     f"{root}/conf/scylla.yaml", "--workdir", root])
    pattern = TarballControl.pattern(node)
    assert matches(pattern, line)
    assert not matches(pattern, f"sh -c pkill -f {shlex.quote(pattern)}")
