"""Debian packages on a host: installed with ``apt-get`` as root (or ``sudo -n``) when missing.

As the ScyllaDB packages are installed (``db/scylla_nodes.py``): the login user runs the
script itself when it is root, else through passwordless ``sudo -n``; a system that is neither
Debian nor Ubuntu is refused with what to install by hand. A package that starts a service of
its own (Debian's ``prometheus`` starts one on ``:9090``) can have it stopped and disabled, so
that the session's own process gets the port.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Sequence

from pytest_scyllabench.errors import MissingDependencyError
from pytest_scyllabench.execute.base import Executor

log = logging.getLogger(__name__)

#: Seconds ``apt-get update`` and ``install`` may take together.
INSTALL_TIMEOUT = 900.0
PROBE_TIMEOUT = 30.0
DEBIAN_FAMILY = frozenset({"debian", "ubuntu"})
_OS_RELEASE = '. /etc/os-release && echo "$ID $ID_LIKE"'


def apt_install_script(packages: Sequence[str], services_off: Sequence[str] = ()) -> str:
    """The ``sh`` script (run as root) installing ``packages`` and stopping ``services_off``."""
    if not packages:
        raise ValueError("no package to install")
    lines = ["set -e", "export DEBIAN_FRONTEND=noninteractive", "apt-get update -q",
             "apt-get install -y -q --no-install-recommends "
             + " ".join(shlex.quote(name) for name in packages)]
    lines += [f"systemctl disable --now {shlex.quote(name)} >/dev/null 2>&1 || true"
              for name in services_off]
    return "\n".join(lines)


async def root_prefix(executor: Executor) -> tuple[str, ...]:
    """``()`` when the login user of ``executor`` is root, else ``("sudo", "-n")``."""
    uid = await executor.run(["id", "-u"], timeout=PROBE_TIMEOUT)
    return () if uid.stdout.strip() == "0" else ("sudo", "-n")


async def apt_install(executor: Executor, packages: Sequence[str], *,
                      services_off: Sequence[str] = (),
                      timeout: float = INSTALL_TIMEOUT) -> None:
    """Install ``packages`` on ``executor``'s host; ``CommandError`` names a failed script,
    ``MissingDependencyError`` a system without apt."""
    release = await executor.run(["sh", "-c", _OS_RELEASE], timeout=PROBE_TIMEOUT, check=False)
    family = set(release.stdout.split())
    if not family & DEBIAN_FAMILY:
        raise MissingDependencyError(
            f"{executor.host}: cannot install {', '.join(packages)} there: not a Debian or "
            f"Ubuntu system ({release.stdout.strip() or 'unknown'}); install them by hand")
    log.info("%s: installing %s with apt-get", executor.host, ", ".join(packages))
    script = apt_install_script(packages, services_off)
    await executor.run([*await root_prefix(executor), "sh", "-c", script], timeout=timeout)
