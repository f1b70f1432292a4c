"""What this machine is, for the report and for a baseline's environment.

On the local provisioner the database nodes and the loaders share this machine, so its CPU
model, CPU count and memory are part of what a result depends on: a baseline saved on another
machine is flagged, not compared. The kernel is reported but not compared (CI runners change
kernels often, and a kernel alone rarely moves a latency beyond noise).

On remote hosts (static, aws) the database servers are what matters: :func:`read_hosts` reads
each server's kernel (``uname -sr``), CPU count (``nproc``), ``/proc/cpuinfo`` and
``/proc/meminfo`` through its executor, in one command, all hosts at once and bounded by a
timeout; a host whose facts cannot be read is ``unknown``, never an error. The same parsers
read the remote text. :func:`summarize` collapses identical hosts for the report
(``3 x (4 x Intel Xeon ..., 16 GiB, Linux 6.1.0)``) and :func:`identity` gives the CPUs and
memory a baseline's environment is compared on.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_scyllabench.errors import ScyllaBenchError

if TYPE_CHECKING:
    from pytest_scyllabench.execute.base import Executor
    from pytest_scyllabench.provision.base import Host

log = logging.getLogger(__name__)

CPUINFO = Path("/proc/cpuinfo")
MEMINFO = Path("/proc/meminfo")
UNKNOWN = "unknown"
#: Seconds allowed for reading the facts of every host (they are read at once).
FACTS_TIMEOUT = 20.0
#: The facts a host is described by, in the order the report names them.
FACT_NAMES = ("cpus", "memory", "kernel")
#: Between the sections of :data:`FACTS_SCRIPT`'s output.
SECTION = "--scyllabench-section--"
#: Prints the kernel, the CPU count, /proc/cpuinfo and /proc/meminfo, a section each; a part
#: that fails leaves its section empty.
FACTS_SCRIPT = "; ".join(f"{part} 2>/dev/null; echo {SECTION}" for part in (
    "uname -sr", "nproc", "cat /proc/cpuinfo", "cat /proc/meminfo"))


def cpu_model(cpuinfo: str) -> str:
    """The first ``model name`` of ``/proc/cpuinfo`` text, whitespace squeezed."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and value.strip():
            return " ".join(value.split())
    return UNKNOWN


def memory_gib(meminfo: str) -> int | None:
    """``MemTotal`` of ``/proc/meminfo`` text in GiB, rounded; ``None`` when absent."""
    for line in meminfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "MemTotal":
            fields = value.split()
            if fields and fields[0].isdigit():
                return round(int(fields[0]) / (1 << 20))
    return None


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


@functools.cache
def _describe() -> tuple[tuple[str, str], ...]:
    """This machine, read once per process (it does not change during a session)."""
    memory = memory_gib(_read(MEMINFO))
    return (("cpus", f"{os.cpu_count() or 0} x {cpu_model(_read(CPUINFO))}"),
            ("memory", UNKNOWN if memory is None else f"{memory} GiB"))


def describe() -> dict[str, str]:
    """``{"cpus": "2 x AMD EPYC", "memory": "24 GiB"}`` for this machine."""
    return dict(_describe())


def unknown_facts() -> dict[str, str]:
    """The facts of a host that could not be read."""
    return dict.fromkeys(FACT_NAMES, UNKNOWN)


def parse_facts(text: str) -> dict[str, str]:
    """``{"cpus", "memory", "kernel"}`` from the output of :data:`FACTS_SCRIPT`."""
    sections = [*text.split(SECTION + "\n"), "", "", "", ""][:4]
    kernel, count, cpuinfo, meminfo = sections
    kernel = " ".join(kernel.split()) or UNKNOWN
    count = count.strip() if count.strip().isdigit() else ""
    model = cpu_model(cpuinfo)
    memory = memory_gib(meminfo)
    cpus = UNKNOWN if not count and model == UNKNOWN else f"{count or '?'} x {model}"
    return {"cpus": cpus, "memory": UNKNOWN if memory is None else f"{memory} GiB",
            "kernel": kernel}


async def read_facts(executor: Executor, timeout: float = FACTS_TIMEOUT) -> dict[str, str]:
    """The facts of ``executor``'s host; raises what its executor raises."""
    result = await executor.run(["sh", "-c", FACTS_SCRIPT], timeout=timeout, check=False)
    return parse_facts(result.stdout)


async def read_hosts(hosts: Sequence[Host], timeout: float | None = None
                     ) -> dict[str, dict[str, str]]:
    """The facts of every host by name, read at once within ``timeout`` seconds (default
    :data:`FACTS_TIMEOUT`); a host whose facts cannot be read (no answer, a dropped
    connection) gets :func:`unknown_facts`."""
    timeout = FACTS_TIMEOUT if timeout is None else timeout
    found = {host.name: unknown_facts() for host in hosts}

    async def read(host: Host) -> None:
        try:
            async with asyncio.timeout(timeout):
                found[host.name] = await read_facts(host.executor, timeout)
        except (ScyllaBenchError, OSError, TimeoutError) as exc:
            log.warning("%s: cannot read its CPUs, memory and kernel: %s", host.name,
                        str(exc) or f"no answer within {timeout:g} s")

    async with asyncio.TaskGroup() as group:
        for host in hosts:
            group.create_task(read(host))
    return found


def describe_facts(facts: Mapping[str, str]) -> str:
    """``4 x Intel Xeon, 16 GiB, Linux 6.1.0`` (``unknown`` when nothing is known)."""
    values = [facts.get(name, UNKNOWN) for name in FACT_NAMES]
    return UNKNOWN if all(value == UNKNOWN for value in values) else ", ".join(values)


def _collapse(values: Sequence[str], *, always_count: bool) -> str:
    """Identical values once, counted (``3 x (...)``); different ones joined by `` + ``."""
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    if len(counts) == 1 and not always_count:
        return values[0]
    return " + ".join(f"{count} x ({value})" for value, count in counts.items())


def summarize(hosts: Mapping[str, Mapping[str, str]]) -> str:
    """The hosts' facts, identical hosts collapsed: ``3 x (4 x Intel Xeon, 16 GiB, Linux
    6.1.0)``, or ``2 x (...) + 1 x (unknown)``, in the hosts' order."""
    return _collapse([describe_facts(facts) for facts in hosts.values()], always_count=True)


def identity(hosts: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """The CPUs and memory of the hosts, as :func:`describe` gives them for this machine (a
    value the hosts differ in is counted per value); the kernel stays out."""
    return {name: _collapse([facts.get(name, UNKNOWN) for facts in hosts.values()],
                            always_count=False)
            for name in ("cpus", "memory")}
