"""A local Apache Cassandra 5.0 cluster: one JVM per node on consecutive loopback addresses.

Layout under ``workdir`` (one directory per cluster, outside the repository)::

    cluster.json                   addresses, pids, owner pid, kept?, version, fingerprint
    node<i>/conf/                  cassandra.yaml, logback.xml
    node<i>/{data,commitlog,saved_caches,hints,cdc_raw}/   removed by ``wipe``
    node<i>/logs/                  system.log, stdout.log (JVM output)

A process is ours when its command line names one of our ``cassandra.yaml`` files: ``stop``
finds them in ``/proc`` as well as through the handles it holds, so nothing of ours survives
it and nothing of anyone else's is touched. ``configure`` stops nodes a crashed or kept
cluster left in ``workdir`` but refuses to touch those of another live session.

Nodes start all at once (tokens are precomputed, every node is a seed, no bootstrap): about
10 s for one node and 25-35 s for three on two cores.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import shutil
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pytest_scyllabench.db import cassandra_config as cfg
from pytest_scyllabench.db.cassandra_probe import NodeProbe
from pytest_scyllabench.db.maven import CassandraJars, JavaRuntime, find_java, resolve_jars
from pytest_scyllabench.errors import ClusterNotReady, DatabaseError
from pytest_scyllabench.execute.base import tcp_accepting
from pytest_scyllabench.execute.local import LocalExecutor, LocalProcess
from pytest_scyllabench.monitor.exporters import JmxAgent
from pytest_scyllabench.profile import DatabaseSpec

log = logging.getLogger(__name__)

STATE_FILE = "cluster.json"
#: Seconds between SIGTERM and SIGKILL when stopping a node.
STOP_GRACE = 30.0
#: Seconds a kept cluster has to answer before ``adopt`` gives up on it.
ADOPT_TIMEOUT = 60.0
POLL_INTERVAL = 0.5
LOG_TAIL_LINES = 25


def _read_cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _alive(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _start_time(pid: int) -> int | None:
    """When ``pid`` started (clock ticks after boot, /proc/<pid>/stat field 22): with the pid,
    it names one process, where a pid alone may since have been reused."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        return int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def _runs_node(pid: int, node: cfg.NodeLayout) -> bool:
    """Whether ``pid`` is a Cassandra daemon started with ``node``'s configuration."""
    argv = _read_cmdline(pid)
    return cfg.MAIN_CLASS in argv and f"-Dcassandra.config=file://{node.yaml_path}" in argv


def node_pids(node: cfg.NodeLayout) -> list[int]:
    """Live Cassandra processes running with ``node``'s configuration."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _runs_node(int(entry.name), node) and _alive(int(entry.name)):
            pids.append(int(entry.name))
    return pids


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no file)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty)"


class CassandraCluster:
    """Cassandra nodes on this machine (implements ``Database``). No side effects until used."""

    def __init__(self, spec: DatabaseSpec, addresses: Sequence[str], workdir: Path, cache: Path,
                 *, keep: bool = False) -> None:
        if not addresses:
            raise DatabaseError("a Cassandra cluster needs at least one node address")
        self._spec = spec
        self._workdir = workdir
        self._cache = cache
        self._keep = keep
        self._nodes = cfg.node_layouts(addresses, workdir)
        self._version = spec.version
        self._java: JavaRuntime | None = None
        self._jars: CassandraJars | None = None
        self._processes: dict[int, LocalProcess] = {}
        self._configured = False
        self._agent: JmxAgent | None = None
        #: Why the last ``adopt`` returned ``False`` (for the caller's error message).
        self.adopt_problem: str | None = None

    # -- what clients need -------------------------------------------------------------

    @property
    def contact_points(self) -> tuple[str, ...]:
        return tuple(node.address for node in self._nodes)

    @property
    def port(self) -> int:
        return cfg.NATIVE_PORT

    @property
    def version(self) -> str:
        return self._version

    @property
    def datacenter(self) -> str:
        """The data center of every node (SimpleSnitch), for NetworkTopologyStrategy."""
        return cfg.DATACENTER

    @property
    def nodes(self) -> tuple[cfg.NodeLayout, ...]:
        return self._nodes

    @property
    def state_path(self) -> Path:
        return self._workdir / STATE_FILE

    def logs(self) -> list[Path]:
        return [path for node in self._nodes for path in (node.system_log, node.stdout_log)]

    # -- metrics -----------------------------------------------------------------------

    @property
    def needs_jmx_agent(self) -> bool:
        return True

    def export_metrics(self, agent: JmxAgent | None) -> int | None:
        """Start every node with the JMX exporter on its own address; the port, if any."""
        self._agent = agent
        return agent.port if agent is not None else None

    # -- lifecycle ---------------------------------------------------------------------

    async def install(self) -> str:
        """Find a Java 17 and resolve the jars of ``spec.version`` (cached)."""
        self._java = await find_java()
        self._jars = await resolve_jars(self._spec.version, self._cache, self._java)
        self._version = self._jars.version
        log.info("Cassandra %s: %d jars in %s, Java %d at %s", self._version,
                 len(self._jars.jars), self._jars.lib, self._java.release, self._java.home)
        return self._version

    def _render(self, jamm: Path | None, agent: JmxAgent | None = None,
                ) -> list[tuple[cfg.NodeLayout, str, list[str]]]:
        """Per node: the cassandra.yaml text and the JVM options."""
        seeds = self.contact_points
        return [(node,
                 cfg.render_yaml(cfg.cassandra_yaml(node, seeds, len(self._nodes),
                                                    self._spec.settings)),
                 cfg.jvm_options(node, self._spec.heap, self._spec.jvm_options, jamm,
                                 metrics_agent=(agent.jvm_option(node.address)
                                                if agent is not None else None)))
                for node in self._nodes]

    def _fingerprint(self) -> str:
        # Without the metrics agent: monitoring on or off, a kept cluster is the same one.
        rendered = self._render(jamm=None)
        return cfg.fingerprint(self._version, self.contact_points,
                               [text for _, text, _ in rendered],
                               [options for _, _, options in rendered])

    async def configure(self) -> None:
        """Write every node's configuration, after stopping and wiping what a crash left."""
        if self._jars is None:
            raise DatabaseError("CassandraCluster.configure() needs install() first")
        # A larger cluster kept in workdir also left node<k> beyond ours: those go too.
        candidates = (*self._nodes, *await asyncio.to_thread(self._strays))
        leftovers = [node for node in candidates if await asyncio.to_thread(node_pids, node)]
        if leftovers:
            state = await asyncio.to_thread(self._read_state) or {}
            owner = state.get("owner")
            started = state.get("owner_started")
            if (not state.get("kept") and isinstance(owner, int) and owner != os.getpid()
                    and _alive(owner)
                    and (not isinstance(started, int) or _start_time(owner) == started)):
                raise DatabaseError(
                    f"Cassandra nodes in {self._workdir} ({', '.join(map(str, leftovers))}) "
                    f"belong to another running session (pid {owner}); wait for it to end or "
                    "use another profile name")
            log.warning("stopping Cassandra nodes left running in %s: %s", self._workdir,
                        ", ".join(map(str, leftovers)))
            await self._stop_nodes(leftovers)
            self.state_path.unlink(missing_ok=True)
        await self.wipe()
        await asyncio.to_thread(self._write_config)
        self._configured = True

    def _strays(self) -> list[cfg.NodeLayout]:
        """The ``node<k>`` directories of workdir that are not this cluster's nodes (left by
        a cluster of more nodes), named by the addresses the state file gives them."""
        ours = {node.root for node in self._nodes}
        recorded = {entry.get("name"): entry.get("address")
                    for entry in (self._read_state() or {}).get("nodes", [])
                    if isinstance(entry, dict)}
        try:
            entries = sorted(self._workdir.iterdir())
        except OSError:
            return []
        strays = []
        for entry in entries:
            match = re.fullmatch(r"node([0-9]+)", entry.name)
            if match is None or entry in ours or not entry.is_dir():
                continue
            address = recorded.get(entry.name)
            strays.append(cfg.NodeLayout(int(match[1]), address if isinstance(address, str)
                                         else "address unknown", entry))
        return strays

    def _write_config(self) -> None:
        for node, yaml_text, _ in self._render(jamm=None):
            for directory in (node.conf, node.logs, node.conf / "triggers", *node.data_dirs):
                directory.mkdir(parents=True, exist_ok=True)
            node.yaml_path.write_text(yaml_text, encoding="utf-8")
            node.logback_path.write_text(cfg.logback_xml(node.logs), encoding="utf-8")
            for log_file in (node.system_log, node.stdout_log):
                log_file.unlink(missing_ok=True)

    async def start(self) -> None:
        """Launch every node at once; ``wait_ready`` waits for them."""
        if not self._configured or self._java is None or self._jars is None:
            raise DatabaseError("CassandraCluster.start() needs install() and configure() first")
        await asyncio.to_thread(self._check_ports_free)
        java, jars = self._java, self._jars
        env = {"JAVA_HOME": str(java.home), "MALLOC_ARENA_MAX": "4"}
        for node, _, options in self._render(jars.jamm, self._agent):
            command = cfg.java_command(java.java, options, jars.classpath, node)
            process = await LocalExecutor(node.address).start(
                command, env=env, cwd=str(node.root), stdout_path=str(node.stdout_log),
                detach=self._keep)
            self._processes[node.index] = process
            log.info("started Cassandra %s, pid %s", node, process.pid)
        await asyncio.to_thread(self._write_state)

    def _check_ports_free(self) -> None:
        for node in self._nodes:
            ports = [(node.address, cfg.NATIVE_PORT, "CQL"),
                     (node.address, cfg.STORAGE_PORT, "storage"),
                     ("127.0.0.1", node.jmx_port, "JMX")]
            if self._agent is not None:
                ports.append((node.address, self._agent.port,
                              "JMX exporter, monitoring.jmx_exporter_port"))
            for address, port, what in ports:
                if tcp_accepting(address, port):
                    raise DatabaseError(
                        f"cannot start Cassandra {node}: {address}:{port} ({what}) is already "
                        "in use by another process (another cluster on the same addresses?)")

    def _write_state(self) -> None:
        state = {
            "version": self._version,
            "addresses": list(self.contact_points),
            "fingerprint": self._fingerprint(),
            "kept": self._keep,
            "owner": os.getpid(),
            "owner_started": _start_time(os.getpid()),
            "started": time.time(),
            "nodes": [{"name": node.name, "address": node.address,
                       "pid": self._processes[node.index].pid, "root": str(node.root)}
                      for node in self._nodes if node.index in self._processes],
        }
        partial = self.state_path.with_suffix(".json.partial")
        partial.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
        partial.replace(self.state_path)

    def _read_state(self) -> dict[str, Any] | None:
        try:
            state = json.loads(self.state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return state if isinstance(state, dict) else None

    def _check_processes(self) -> None:
        """Fail at once, naming every node whose process we started has exited."""
        reports = []
        for node in self._nodes:
            process = self._processes.get(node.index)
            if process is not None and process.returncode is not None:
                output = "\n".join(part for part in (_tail(node.stdout_log, 10),
                                                     process.stderr_tail(10)) if part)
                reports.append(
                    f"Cassandra {node} exited with code {process.returncode} while starting"
                    f" (logs in {node.logs})\n"
                    f"--- last lines of {node.system_log} ---\n{_tail(node.system_log)}\n"
                    f"--- last lines of its stdout/stderr ---\n{output}")
        if reports:
            raise DatabaseError("\n".join(reports))

    async def wait_ready(self, timeout: float) -> None:
        """Poll every node until all serve CQL and see the whole ring, twice in a row."""
        if not self._processes:
            raise DatabaseError("CassandraCluster.wait_ready() needs start() first")
        await self._await_ready(timeout, self._check_processes)

    async def _await_ready(self, timeout: float, check_processes: Callable[[], None]) -> None:
        began = time.monotonic()
        expected = self.contact_points
        probes = {node: NodeProbe(node.address, cfg.NATIVE_PORT, expected)
                  for node in self._nodes}
        problems: dict[cfg.NodeLayout, str] = {node: "not checked yet" for node in self._nodes}
        streak = 0
        try:
            async with asyncio.timeout(timeout):
                while True:
                    check_processes()
                    answers = await asyncio.gather(*(asyncio.to_thread(probe.check)
                                                     for probe in probes.values()))
                    check_processes()
                    problems = {node: answer for node, answer in zip(probes, answers, strict=True)
                                if answer is not None}
                    streak = 0 if problems else streak + 1
                    if streak >= 2:
                        break
                    await asyncio.sleep(POLL_INTERVAL)
        except TimeoutError:
            detail = "\n".join(f"  {node}: {problem}" for node, problem in problems.items()) or (
                "  none: every node looked ready once, the confirming check came too late")
            raise ClusterNotReady(
                f"Cassandra cluster of {len(self._nodes)} node(s) not ready after {timeout:g} s; "
                f"last problems seen:\n{detail}\n(logs in {self._workdir}/node*/logs)") from None
        finally:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(30):
                    await asyncio.gather(*(asyncio.to_thread(probe.close)
                                           for probe in probes.values()))
        log.info("Cassandra cluster ready (%d nodes) in %.1f s", len(self._nodes),
                 time.monotonic() - began)

    async def stop(self) -> None:
        """SIGTERM every node of ours, SIGKILL what is left after the grace; idempotent."""
        await self._stop_nodes(self._nodes)
        self.state_path.unlink(missing_ok=True)

    async def _stop_nodes(self, nodes: Sequence[cfg.NodeLayout]) -> None:
        results = await asyncio.gather(*(self._stop_node(node) for node in nodes),
                                       return_exceptions=True)
        failures = [result for result in results if isinstance(result, BaseException)]
        for failure in failures:
            if not isinstance(failure, DatabaseError):
                raise failure
        if failures:
            raise DatabaseError("\n".join(str(failure) for failure in failures))

    async def _stop_node(self, node: cfg.NodeLayout, grace: float = STOP_GRACE) -> None:
        process = self._processes.pop(node.index, None)
        if process is not None:
            await process.terminate(grace)
        pids = await asyncio.to_thread(node_pids, node)
        if not pids:
            return
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                pids = [pid for pid in pids if _alive(pid) and _runs_node(pid, node)]
                if not pids:
                    return
                await asyncio.sleep(0.2)
        raise DatabaseError(f"Cassandra {node}: pids {pids} survived SIGKILL")

    async def down_nodes(self) -> list[str]:
        """Nodes whose process is gone (``NodeWatch``): those this session started, or
        those an adopted cluster's state file recorded."""
        return await asyncio.to_thread(self._down_nodes)

    def _down_nodes(self) -> list[str]:
        recorded: dict[Any, Any] = {}
        if not self._processes:
            state = self._read_state() or {}
            recorded = {entry.get("address"): entry.get("pid")
                        for entry in state.get("nodes", []) if isinstance(entry, dict)}
        down = []
        for node in self._nodes:
            process = self._processes.get(node.index)
            pid = process.pid if process is not None else recorded.get(node.address)
            if isinstance(pid, int) and _alive(pid) and _runs_node(pid, node):
                continue
            code = process.returncode if process is not None else None
            how = f"exited with code {code}" if code is not None else f"pid {pid} is gone"
            down.append(f"Cassandra {node} is down ({how}); its log: {node.system_log}")
        return down

    async def wipe(self) -> None:
        """Remove every node's data directories (configuration and logs stay)."""

        def remove() -> None:
            for node in self._nodes:
                for directory in node.data_dirs:
                    shutil.rmtree(directory, ignore_errors=True)

        await asyncio.to_thread(remove)

    async def adopt(self) -> bool:
        """Reuse the cluster an earlier session kept running, if it is this very cluster."""
        reason = self.adopt_problem = await self._adopt_problem()
        if reason is not None:
            log.warning("cannot reuse the Cassandra cluster in %s: %s", self._workdir, reason)
            return False
        log.info("reusing the running Cassandra %s cluster in %s", self._version, self._workdir)
        return True

    async def _adopt_problem(self) -> str | None:
        state = await asyncio.to_thread(self._read_state)
        if state is None:
            return f"no readable {self.state_path}"
        if state.get("addresses") != list(self.contact_points):
            return f"it runs on {state.get('addresses')}, not {list(self.contact_points)}"
        if state.get("version") != self._spec.version:
            return f"it runs Cassandra {state.get('version')}, not {self._spec.version}"
        if state.get("fingerprint") != self._fingerprint():
            return "its configuration differs from this profile's"
        recorded = {entry.get("address"): entry.get("pid") for entry in state.get("nodes", [])}
        for node in self._nodes:
            pid = recorded.get(node.address)
            if not isinstance(pid, int) or not _alive(pid) or not _runs_node(pid, node):
                return f"{node} (pid {pid}) is not running"

        def all_alive() -> None:
            for node in self._nodes:
                pid = recorded[node.address]
                if not isinstance(pid, int) or not _alive(pid):
                    raise DatabaseError(f"Cassandra {node} (pid {pid}) exited")

        try:
            await self._await_ready(ADOPT_TIMEOUT, all_alive)
        except DatabaseError as exc:
            return str(exc)
        self._configured = True
        return None
