"""This machine's description: parsed from /proc text as Linux writes it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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


#: ``sh -c FACTS_SCRIPT`` recorded on a Debian 12 machine (see data/host-facts/README.md).
RECORDED = (Path(__file__).parent / "data" / "host-facts" / "debian12-epyc.txt").read_text()


def test_proc_parsers_on_recorded_proc_text() -> None:
    _, _, cpuinfo, meminfo, _ = RECORDED.split(machine.SECTION + "\n")
    assert cpuinfo.startswith("processor\t: 0\nvendor_id\t: AuthenticAMD\n")
    assert machine.cpu_model(cpuinfo) == "AMD EPYC"
    assert meminfo.startswith("MemTotal:       24684096 kB\n")
    assert machine.memory_gib(meminfo) == 24


@pytest.mark.parametrize(("cut_at", "expected"), [
    ("vendor_id", {"cpus": "2 x unknown", "memory": "unknown"}),  # cut in /proc/cpuinfo
    ("MemTotal", {"cpus": "2 x AMD EPYC", "memory": "unknown"}),  # before /proc/meminfo
    ("24684096", {"cpus": "2 x AMD EPYC", "memory": "unknown"}),  # inside MemTotal's line
    ("2\n", {"cpus": "unknown", "memory": "unknown"}),  # before nproc's answer
])
def test_truncated_facts_are_unknown_not_wrong(cut_at: str, expected: dict[str, str]) -> None:
    facts = machine.parse_facts(RECORDED[:RECORDED.index(cut_at)])
    assert {name: facts[name] for name in expected} == expected
    assert facts["kernel"] == "Linux 6.18.44-fc-v595"


def test_odd_proc_text() -> None:
    # Extra fields after the value and a non-kB unit are read as the first number, in kB.
    assert machine.memory_gib("MemTotal:       24684096 kB extra\n") == 24
    assert machine.memory_gib("MemTotal: lots\n") is None
    assert machine.memory_gib("") is None
    # Bytes that are not UTF-8 arrive as U+FFFD (executors decode with errors="replace").
    odd = RECORDED.encode().replace(b"AMD EPYC", b"AMD \xff EPYC", 1).decode(errors="replace")
    assert machine.parse_facts(odd)["cpus"] == "2 x AMD \ufffd EPYC"
    assert machine.parse_facts(RECORDED + "unexpected trailing text\n") == machine.parse_facts(
        RECORDED)
