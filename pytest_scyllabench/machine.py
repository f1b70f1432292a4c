"""What this machine is, for the report and for a baseline's environment.

On the local provisioner the database nodes and the loaders share this machine, so its CPU
model, CPU count and memory are part of what a result depends on: a baseline saved on another
machine is flagged, not compared. The kernel is reported but not compared (CI runners change
kernels often, and a kernel alone rarely moves a latency beyond noise).
"""

from __future__ import annotations

import os
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
MEMINFO = Path("/proc/meminfo")
UNKNOWN = "unknown"


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


def describe() -> dict[str, str]:
    """``{"cpus": "2 x AMD EPYC", "memory": "24 GiB"}`` for this machine."""
    memory = memory_gib(_read(MEMINFO))
    return {"cpus": f"{os.cpu_count() or 0} x {cpu_model(_read(CPUINFO))}",
            "memory": UNKNOWN if memory is None else f"{memory} GiB"}
