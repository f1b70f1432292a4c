"""Command line of the built-in loader: ``python -m pytest_scyllabench.loader``."""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from dataclasses import dataclass

from pytest_scyllabench.errors import ConfigError
from pytest_scyllabench.loader.drivers import DRIVERS
from pytest_scyllabench.loader.workload import workload_from_json
from pytest_scyllabench.stress.step import Workload

PHASES = ("schema", "populate", "run")
#: The driver used when ``--driver`` is not given: acsylla if installed, else scylla-driver.
DEFAULT_DRIVER = "auto"


@dataclass(frozen=True)
class LoaderArgs:
    phase: str
    hosts: tuple[str, ...]
    port: int
    driver: str
    workload: Workload
    rate: int
    duration: float
    warmup: float
    concurrency: int
    connections: int
    start_at: float | None
    hdr_log: str | None
    summary: str | None
    loader: str
    index: int
    count: int
    replication_factor: int
    datacenter: str | None
    request_timeout: float
    connect_timeout: float
    seed: int | None
    fake_latency_ms: float
    protocol_version: int | None


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _port(text: str) -> int:
    value = _positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"must be <= 65535, got {value}")
    return value


def _finite_float(text: str) -> float:
    """A float that is neither infinite nor NaN (both crash the run with a traceback)."""
    value = float(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be finite, got {text}")
    return value


def _non_negative_float(text: str) -> float:
    value = _finite_float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = _finite_float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _hosts(text: str) -> tuple[str, ...]:
    hosts = tuple(part.strip() for part in text.split(",") if part.strip())
    if not hosts:
        raise argparse.ArgumentTypeError("no host given")
    return hosts


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m pytest_scyllabench.loader",
        description="The built-in CQL loader of pytest-scyllabench: creates the schema, "
                    "populates, or runs an open-loop workload at a fixed rate.")
    add = p.add_argument
    add("--phase", choices=PHASES, required=True, help="what to do")
    add("--hosts", type=_hosts, required=True, metavar="H1,H2",
        help="contact points, comma separated")
    add("--port", type=_port, default=9042, metavar="PORT",
        help="CQL port (default: 9042)")
    add("--driver", choices=DRIVERS, default=DEFAULT_DRIVER,
        help="CQL driver; auto: acsylla when installed, else scylla-driver; fake: no "
             f"database, for self-tests (default: {DEFAULT_DRIVER})")
    add("--workload-json", required=True, metavar="JSON",
        help="the workload: a JSON object of pytest_scyllabench.stress.step.Workload fields")
    add("--rate", type=_positive_int, default=1000, metavar="OPS",
        help="run: operations per second of this loader (default: 1000)")
    add("--duration", type=_positive_float, default=10.0, metavar="S",
        help="run: measured seconds after the warm-up (default: 10)")
    add("--warmup", type=_non_negative_float, default=0.0, metavar="S",
        help="run: seconds before the measured window, logged but trimmed (default: 0)")
    add("--concurrency", type=_positive_int, default=128, metavar="N",
        help="maximum operations in flight (default: 128)")
    add("--connections", type=_positive_int, default=1, metavar="N",
        help="connections per host, acsylla only (default: 1)")
    add("--start-at", type=_finite_float, default=None, metavar="EPOCH",
        help="run: epoch seconds at which operation 0 is due (default: now + 1 s)")
    add("--hdr-log", default=None, metavar="PATH", help="run: HDR interval log to write")
    add("--summary", default=None, metavar="PATH", help="summary JSON file to write")
    add("--loader", default="loader-1", metavar="NAME",
        help="this loader's name in output (default: loader-1)")
    add("--index", type=_non_negative_int, default=0, metavar="I",
        help="this loader's index among --count loaders (default: 0)")
    add("--count", type=_positive_int, default=1, metavar="N",
        help="number of loaders sharing the work (default: 1)")
    add("--replication-factor", type=_positive_int, default=1, metavar="RF",
        help="schema: replication factor of the keyspace (default: 1)")
    add("--datacenter", default=None, metavar="DC",
        help="schema: use NetworkTopologyStrategy with RF in DC; also the driver's local DC "
             "(default: SimpleStrategy, any DC)")
    add("--request-timeout", type=_non_negative_float, default=12.0, metavar="S",
        help="driver request timeout (default: 12)")
    add("--connect-timeout", type=_non_negative_float, default=10.0, metavar="S",
        help="driver connect timeout per host (default: 10)")
    add("--seed", type=int, default=None, metavar="N",
        help="random seed for keys, operation mix and values (default: random)")
    add("--protocol-version", type=int, choices=(4, 5), default=None,
        help="CQL protocol version (default: negotiated, v5 with Cassandra 5.0)")
    add("--fake-latency-ms", type=_non_negative_float, default=1.0, metavar="MS",
        help="driver 'fake' only: latency of every operation (default: 1)")
    return p


def parse_args(argv: Sequence[str] | None = None) -> LoaderArgs:
    p = parser()
    ns = p.parse_args(argv)
    if ns.index >= ns.count:
        p.error(f"--index {ns.index} must be < --count {ns.count}")
    if ns.phase == "run" and not ns.hdr_log:
        p.error("--phase run needs --hdr-log")
    try:
        workload = workload_from_json(ns.workload_json)
    except ConfigError as exc:
        p.error(str(exc))
    return LoaderArgs(
        phase=ns.phase, hosts=ns.hosts, port=ns.port, driver=ns.driver, workload=workload,
        rate=ns.rate, duration=ns.duration, warmup=ns.warmup, concurrency=ns.concurrency,
        connections=ns.connections, start_at=ns.start_at, hdr_log=ns.hdr_log,
        summary=ns.summary, loader=ns.loader, index=ns.index, count=ns.count,
        replication_factor=ns.replication_factor, datacenter=ns.datacenter,
        request_timeout=ns.request_timeout, connect_timeout=ns.connect_timeout,
        seed=ns.seed, fake_latency_ms=ns.fake_latency_ms,
        protocol_version=ns.protocol_version)
