"""This machine's description: parsed from /proc text as Linux writes it."""

from __future__ import annotations

import os

from pytest_scyllabench import machine
from pytest_scyllabench.baseline.record import Environment

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model name\t: AMD EPYC   7763 64-Core Processor
stepping\t: 1

processor\t: 1
model name\t: AMD EPYC 7763 64-Core Processor
"""

MEMINFO = """MemTotal:       24684096 kB
MemFree:         1234567 kB
"""


def test_cpu_model_and_memory_from_proc_text() -> None:
    assert machine.cpu_model(CPUINFO) == "AMD EPYC 7763 64-Core Processor"
    assert machine.cpu_model("processor\t: 0\n") == machine.UNKNOWN
    assert machine.memory_gib(MEMINFO) == 24
    assert machine.memory_gib("MemFree: 1 kB\n") is None


def test_describe_this_machine() -> None:
    here = machine.describe()
    assert here["cpus"].startswith(f"{os.cpu_count()} x ")
    assert here["memory"].endswith(" GiB") or here["memory"] == machine.UNKNOWN


def test_a_baseline_from_another_machine_is_a_difference() -> None:
    def environment(cpus: str) -> Environment:
        return Environment("cassandra", "5.0.9", 3, (), 1, "builtin", "0.1.0",
                           extra={"cpus": cpus, "memory": "24 GiB"})

    assert environment("2 x AMD EPYC").differences(environment("2 x AMD EPYC")) == []
    assert environment("2 x AMD EPYC").differences(environment("8 x Intel Xeon")) == [
        "cpus: 2 x AMD EPYC -> 8 x Intel Xeon"]
