"""How long the local Cassandra backend takes: jar resolution (cached), start to ready, stop.

    .venv/bin/python perf/cluster_start.py [--nodes 1 3] [--heap 1G] [--workdir DIR]
                                          [--jvm-option=-XX:TieredStopAtLevel=1 ...]

Uses 127.0.0.1.. and the shared jar cache (``$SCYLLABENCH_CACHE`` or
``~/.cache/pytest-scyllabench``); the cluster directory is a temporary one unless given.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import sys
import tempfile
import time
from pathlib import Path

from pytest_scyllabench.db.cassandra import CassandraCluster
from pytest_scyllabench.db.maven import find_java, resolve_jars
from pytest_scyllabench.paths import cache_dir
from pytest_scyllabench.profile import DatabaseSpec


async def measure(nodes: int, heap: str, first: str, workdir: Path, timeout: float,
                  jvm_options: tuple[str, ...] = ()) -> None:
    start = ipaddress.IPv4Address(first)
    addresses = [str(start + i) for i in range(nodes)]
    cluster = CassandraCluster(DatabaseSpec(nodes=nodes, heap=heap, jvm_options=jvm_options),
                               addresses,
                               workdir / f"{nodes}-nodes", cache_dir(), keep=False)
    began = time.monotonic()
    await cluster.install()
    await cluster.configure()
    installed = time.monotonic()
    try:
        await cluster.start()
        await cluster.wait_ready(timeout)
        ready = time.monotonic()
    finally:
        stopping = time.monotonic()
        await cluster.stop()
        stopped = time.monotonic()
        await cluster.wipe()
    options = f" {' '.join(jvm_options)}" if jvm_options else ""
    print(f"{nodes} node(s), heap {heap}{options}: install+configure {installed - began:5.2f} s, "
          f"start to ready {ready - installed:5.1f} s, stop {stopped - stopping:5.1f} s",
          flush=True)


async def main(arguments: argparse.Namespace) -> None:
    began = time.monotonic()
    java = await find_java()
    found = time.monotonic()
    jars = await resolve_jars(arguments.version, cache_dir(), java)
    print(f"find Java {java.release}: {found - began:.2f} s; resolve {len(jars.jars)} jars of "
          f"Cassandra {jars.version}: {time.monotonic() - found:.2f} s", flush=True)
    with tempfile.TemporaryDirectory(prefix="sb-perf-") as scratch:
        workdir = arguments.workdir or Path(scratch)
        for nodes in arguments.nodes:
            await measure(nodes, arguments.heap, arguments.first_address, workdir,
                          arguments.timeout, tuple(arguments.jvm_option))


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[1, 3], metavar="N",
                        help="cluster sizes to measure, in order (default: 1 3)")
    parser.add_argument("--heap", default="1G", metavar="SIZE", help="heap per node (1G)")
    parser.add_argument("--version", default="5.0.9", metavar="V",
                        help="Cassandra version (5.0.9)")
    parser.add_argument("--first-address", default="127.0.0.1", metavar="IP",
                        help="address of node 1 (127.0.0.1)")
    parser.add_argument("--workdir", type=Path, default=None, metavar="DIR",
                        help="cluster directory (default: a temporary one)")
    parser.add_argument("--jvm-option", action="append", default=[], metavar="OPTION",
                        help="an extra JVM option of every node (repeatable), e.g. "
                             "--jvm-option=-XX:TieredStopAtLevel=1 as the embedded profile")
    parser.add_argument("--timeout", type=float, default=300.0, metavar="S",
                        help="seconds allowed to become ready (300)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse(sys.argv[1:])))
