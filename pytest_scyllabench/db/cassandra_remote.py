"""Apache Cassandra 5.0 on remote hosts: one node per server, driven through its executor.

The jars are resolved here with Maven (``db/maven.py``, cached) and uploaded once per host as
one tar file; a manifest holding their fingerprint makes later sessions skip the upload. The
configuration is the local backend's (``cassandra_config``), rendered here and written on each
host. Layout under the profile's ``static.workdir`` on every host::

    cassandra/<version>/{lib/,MANIFEST}          the jars, shared by every cluster of the host
    jmx-exporter/<jar>, <rules>                   the JMX exporter agent, when monitoring
    clusters/<profile>/<address>/conf/           cassandra.yaml, logback.xml
    clusters/<profile>/<address>/{data,...}/     removed by ``wipe`` (or the directories
                                                  ``database.settings`` names instead)
    clusters/<profile>/<address>/logs/           system.log, stdout.log

The node directory names the host's address, so that hosts sharing a filesystem (or a process
table) never mix up their nodes: ``stop`` kills the java processes whose command line names
this node's ``cassandra.yaml``, and nothing else.

A host without Java 17 gets Debian's ``openjdk-17-jre-headless`` with ``apt-get`` (as root or
through ``sudo -n``, :mod:`pytest_scyllabench.execute.packages`). Every action runs on all hosts
at once and is tried on each of them: one error names every host where it failed, and why.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import shlex
import tarfile
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from pytest_scyllabench.db import cassandra_config as cfg
from pytest_scyllabench.db.base import on_every_host, resolve_data_dirs
from pytest_scyllabench.db.cassandra_probe import NodeProbe
from pytest_scyllabench.db.maven import CassandraJars, find_java, resolve_jars
from pytest_scyllabench.errors import (
    ClusterNotReady,
    CommandError,
    ConfigError,
    DatabaseError,
    MissingDependencyError,
    ScyllaBenchError,
)
from pytest_scyllabench.execute.base import RunningProcess, ere_literal
from pytest_scyllabench.execute.packages import INSTALL_TIMEOUT, apt_install
from pytest_scyllabench.monitor.exporters import JmxAgent, install_jmx_agent
from pytest_scyllabench.profile import DatabaseSpec, Profile
from pytest_scyllabench.provision.base import Deployment, Host

log = logging.getLogger(__name__)

NodeAction = Callable[[Host, cfg.NodeLayout], Coroutine[Any, Any, None]]
#: Where Java 17 is looked for on a host: Debian's package (any architecture), then PATH.
JAVA_CANDIDATES = ("/usr/lib/jvm/java-17-openjdk-*/bin/java", "java")
#: The Debian/Ubuntu package installed on a host without Java 17.
JAVA_PACKAGE = "openjdk-17-jre-headless"
STOP_GRACE = 30.0
POLL_INTERVAL = 1.0
LOG_TAIL_LINES = 25
#: Prints the resolved path of the first Java 17 among the candidates (globs expanded);
#: exits 1 if none.
_FIND_JAVA = """
for candidate in $*; do
  java=$(command -v "$candidate" 2>/dev/null) || continue
  if "$java" -XshowSettings:properties -version 2>&1 \
      | grep -Eq '^ *java\\.specification\\.version = 17$'; then
    readlink -f "$java"; exit 0
  fi
done
exit 1
"""


#: Seconds allowed for one remote command when the profile does not say.
DEFAULT_COMMAND_TIMEOUT = 600.0


def create(profile: Profile, deployment: Deployment, local_dir: Path, cache: Path,
           keep: bool) -> RemoteCassandraCluster:
    """The cluster of a profile whose servers are remote hosts (``deployment.workdir``)."""
    if deployment.workdir is None:
        raise ConfigError("a remote Cassandra cluster needs remote hosts (provisioner: static "
                          "or aws)")
    remote = profile.static or profile.aws
    timeout = remote.command_timeout if remote is not None else DEFAULT_COMMAND_TIMEOUT
    return RemoteCassandraCluster(profile.database, deployment.servers, deployment.workdir,
                                  cache, local_dir, cluster=profile.name, keep=keep,
                                  command_timeout=timeout)


def jars_fingerprint(jars: CassandraJars) -> str:
    """A digest of the jar names and sizes (cheap, and changes whenever the set changes)."""
    listing = "\n".join(f"{jar.name} {jar.stat().st_size}" for jar in jars.jars)
    return hashlib.sha256(f"{jars.version}\n{listing}".encode()).hexdigest()


def kill_pattern(node: cfg.NodeLayout) -> str:
    """A ``pgrep -f`` regex matching this node's JVM but not a shell that names the regex."""
    return "[-]Dcassandra\\.config=file://" + ere_literal(str(node.yaml_path))


def data_dirs(node: cfg.NodeLayout, settings: Mapping[str, Any]) -> list[str]:
    """The node's data directories: its own (``node.data_dirs``), or those the profile's
    ``settings`` name instead (data moved to another disk); ``configure`` recreates them and
    ``wipe`` removes them. ``ConfigError`` for a relative path or ``/``."""
    defaults = {key: str(path) for key, path in zip(cfg.DATA_DIRS, node.data_dirs, strict=True)}
    try:
        return resolve_data_dirs(defaults, settings, cfg.MOVABLE_DIRS)
    except ValueError as exc:
        raise ConfigError(f"database.settings.{exc}") from None


def _tail_command(path: PurePosixPath | Path, lines: int = LOG_TAIL_LINES) -> str:
    return f"tail -n {lines} -- {shlex.quote(str(path))} 2>/dev/null || echo '(no file)'"


class RemoteCassandraCluster:
    """Cassandra nodes on remote hosts (implements ``Database``); no side effects until used."""

    def __init__(self, spec: DatabaseSpec, servers: Sequence[Host], workdir: str, cache: Path,
                 local_dir: Path, *, cluster: str, keep: bool = False,
                 command_timeout: float = 600.0) -> None:
        if not servers:
            raise DatabaseError("a Cassandra cluster needs at least one server")
        self._spec = spec
        self._servers = tuple(servers)
        self._workdir = PurePosixPath(workdir)
        self._cache = cache
        self._local_dir = local_dir
        self._keep = keep
        self._timeout = command_timeout
        root = self._workdir / "clusters" / cluster
        # NodeLayout holds a Path; on the POSIX hosts we support it is a PurePosixPath too.
        # A node binds and is known by the host's listen address (its private one on EC2);
        # this machine reaches it at host.address. Its directory keeps the reachable name.
        self._nodes = tuple(cfg.NodeLayout(i, host.listen_address, Path(root / host.address))
                            for i, host in enumerate(self._servers, start=1))
        for node in self._nodes:
            data_dirs(node, spec.settings)  # refuse a dangerous directory before anything runs
        self._version = spec.version
        self._jars: CassandraJars | None = None
        self._java: dict[str, str] = {}
        self._processes: dict[str, RunningProcess] = {}
        self._configured = False
        self._agent: JmxAgent | None = None
        #: Paths of the agent's jar and rules on every host, once copied there.
        self._agent_paths: tuple[str, str] | None = None
        self.adopt_problem: str | None = None

    @property
    def contact_points(self) -> tuple[str, ...]:
        """Where the loaders connect: each node's listen address (they share its network)."""
        return tuple(host.listen_address for host in self._servers)

    @property
    def port(self) -> int:
        return cfg.NATIVE_PORT

    @property
    def version(self) -> str:
        return self._version

    @property
    def lib(self) -> PurePosixPath:
        """Where the jars live on every host."""
        return self._workdir / "cassandra" / self._version / "lib"

    def logs(self) -> list[Path]:
        """Local copies of the nodes' logs (made by ``fetch_logs``)."""
        return [self._local_dir / node.name / "logs" / name
                for node in self._nodes for name in ("system.log", "stdout.log")]

    @property
    def needs_jmx_agent(self) -> bool:
        return True

    def export_metrics(self, agent: JmxAgent | None) -> int | None:
        """Copy ``agent`` to every host at ``configure`` and start each node with it, on the
        node's own address; the port, if any."""
        self._agent = agent
        return agent.port if agent is not None else None

    @property
    def agent_dir(self) -> PurePosixPath:
        """Where the JMX exporter agent and its rules live on every host."""
        return self._workdir / "jmx-exporter"

    def _pairs(self) -> list[tuple[Host, cfg.NodeLayout]]:
        return list(zip(self._servers, self._nodes, strict=True))

    async def _each(self, what: str, action: NodeAction) -> None:
        """Run ``action(host, node)`` on every server at once, to the end on each of them
        (:func:`~pytest_scyllabench.db.base.on_every_host`: one ``DatabaseError`` naming
        every host where it failed, and why)."""
        await on_every_host(what, self._pairs(), lambda pair: pair[0],
                            lambda pair: action(*pair))

    # -- install -------------------------------------------------------------------------

    async def install(self) -> str:
        """Resolve the jars here, find Java 17 on every host and upload the jars where missing."""
        jars = await resolve_jars(self._spec.version, self._cache, await find_java())
        self._jars, self._version = jars, jars.version
        fingerprint = await asyncio.to_thread(jars_fingerprint, jars)
        tarball = await asyncio.to_thread(self._tarball, jars, fingerprint)
        await self._each(f"install Cassandra {self._version}",
                         lambda host, _node: self._install_on(host, tarball, fingerprint))
        return self._version

    @staticmethod
    def _tarball(jars: CassandraJars, fingerprint: str) -> Path:
        """One tar of the jars in the local cache, made once per fingerprint."""
        path = jars.lib.parent / f"jars-{fingerprint[:16]}.tar"
        if not path.is_file():
            partial = path.with_suffix(".tar.partial")
            with tarfile.open(partial, "w") as archive:
                for jar in jars.jars:
                    archive.add(jar, arcname=jar.name)
            partial.replace(path)
        return path

    async def _find_java(self, host: Host) -> str | None:
        """The path of Java 17 on ``host``, ``None`` if it has none."""
        found = await host.executor.run(["sh", "-c", _FIND_JAVA, "find-java", *JAVA_CANDIDATES],
                                        timeout=self._timeout, check=False)
        lines = found.stdout.strip().splitlines()
        return lines[-1] if found.exit_code == 0 and lines else None

    async def _java_on(self, host: Host) -> str:
        """Java 17 on ``host``, installed with apt-get (``JAVA_PACKAGE``) when missing.

        Errors do not repeat the host: :meth:`_each` puts it before them.
        """
        java = await self._find_java(host)
        if java is not None:
            return java
        log.info("%s (%s): no Java 17 found, installing %s", host.name, host.address,
                 JAVA_PACKAGE)
        try:
            await apt_install(host.executor, [JAVA_PACKAGE],
                              timeout=max(self._timeout, INSTALL_TIMEOUT))
        except (CommandError, MissingDependencyError) as exc:
            raise MissingDependencyError(
                f"Cassandra 5.0 needs Java 17, which is not there, and installing "
                f"{JAVA_PACKAGE} failed (it needs a Debian or Ubuntu host and root or "
                f"passwordless sudo; else install Java 17 there by hand): {exc}") from exc
        java = await self._find_java(host)
        if java is None:
            raise MissingDependencyError(
                f"{JAVA_PACKAGE} was installed but neither "
                f"{' nor '.join(JAVA_CANDIDATES)} (on PATH) is Java 17 there")
        return java

    async def _install_on(self, host: Host, tarball: Path, fingerprint: str) -> None:
        self._java[host.name] = await self._java_on(host)
        version_dir = self.lib.parent
        manifest = version_dir / "MANIFEST"
        current = await host.executor.run(["cat", str(manifest)], timeout=self._timeout,
                                          check=False)
        if current.exit_code == 0 and current.stdout.strip() == fingerprint:
            log.info("%s: Cassandra %s jars already there", host.name, self._version)
            return
        began = time.monotonic()
        upload = version_dir / f"upload-{host.name}.tar"
        staging = version_dir / f"lib.{host.name}"
        q = {name: shlex.quote(str(path)) for name, path in (
            ("dir", version_dir), ("upload", upload), ("staging", staging), ("lib", self.lib),
            ("manifest", manifest))}
        await host.executor.run(["mkdir", "-p", str(version_dir)], timeout=self._timeout)
        await host.executor.put(tarball, str(upload))
        script = (f"rm -rf {q['staging']} && mkdir -p {q['staging']} && "
                  f"tar -xf {q['upload']} -C {q['staging']} && rm -f {q['upload']} && "
                  f"rm -f {q['manifest']} && rm -rf {q['lib']} && "
                  f"mv {q['staging']} {q['lib']} && echo {fingerprint} > {q['manifest']}")
        await host.executor.run(["sh", "-c", script], timeout=self._timeout)
        log.info("%s: uploaded the Cassandra %s jars in %.1f s", host.name, self._version,
                 time.monotonic() - began)

    # -- configure, start ----------------------------------------------------------------

    def _jamm(self) -> Path | None:
        jamm = self._jars.jamm if self._jars is not None else None
        return Path(self.lib / jamm.name) if jamm is not None else None

    def _classpath(self) -> str:
        assert self._jars is not None
        return ":".join(str(self.lib / jar.name) for jar in self._jars.jars)

    async def configure(self) -> None:
        """Stop our leftover nodes, wipe their data and write every node's configuration."""
        if self._jars is None:
            raise DatabaseError("RemoteCassandraCluster.configure() needs install() first")
        await self.stop()
        await self._each("configure Cassandra", self._configure_on)
        if self._agent is not None:
            agent = self._agent
            copied: list[tuple[str, str]] = []

            async def copy_agent(host: Host, _node: cfg.NodeLayout) -> None:
                copied.append(await install_jmx_agent(host.executor, agent.jar, agent.rules,
                                                      str(self.agent_dir)))

            await self._each("copy the JMX exporter agent", copy_agent)
            self._agent_paths = copied[0]
        self._configured = True

    async def _configure_on(self, host: Host, node: cfg.NodeLayout) -> None:
        yaml_text = cfg.render_yaml(cfg.cassandra_yaml(node, self.contact_points,
                                                       len(self._nodes), self._spec.settings))
        data = data_dirs(node, self._spec.settings)
        dirs = " ".join(shlex.quote(str(d)) for d in (*data, node.logs))
        fresh = " ".join(shlex.quote(str(d)) for d in (node.conf / "triggers", *data,
                                                       node.logs))
        await host.executor.run(["sh", "-c", f"rm -rf {dirs} && mkdir -p {fresh}"],
                                timeout=self._timeout)
        for path, text in ((node.yaml_path, yaml_text), (node.logback_path,
                                                         cfg.logback_xml(node.logs))):
            await host.executor.run(["sh", "-c", f"cat > {shlex.quote(str(path))}"],
                                    stdin=text.encode(), timeout=self._timeout)

    async def start(self) -> None:
        """Launch every node at once (detached); ``wait_ready`` waits for them."""
        if not self._configured or self._jars is None:
            raise DatabaseError("RemoteCassandraCluster.start() needs install() and configure()")
        options_of = {node.index: cfg.jvm_options(node, self._spec.heap, self._spec.jvm_options,
                                                  self._jamm(),
                                                  metrics_agent=self._agent_option(node))
                      for node in self._nodes}
        for host, node in self._pairs():
            java = self._java[host.name]
            command = [java, *options_of[node.index], "-cp",
                       f"{node.conf}:{self._classpath()}", cfg.MAIN_CLASS]
            env = {"JAVA_HOME": str(PurePosixPath(java).parent.parent), "MALLOC_ARENA_MAX": "4"}
            self._processes[host.name] = await host.executor.start(
                command, env=env, cwd=str(node.root), stdout_path=str(node.stdout_log),
                detach=True)
            log.info("started Cassandra %s on %s", node, host.name)

    def _agent_option(self, node: cfg.NodeLayout) -> str | None:
        if self._agent is None:
            return None
        if self._agent_paths is None:
            raise DatabaseError("RemoteCassandraCluster.start(): the JMX exporter agent was "
                                "not copied to the hosts (configure() copies it)")
        jar, rules = self._agent_paths
        return self._agent.jvm_option(node.address, jar=jar, rules=rules)

    # -- readiness -----------------------------------------------------------------------

    async def _running(self, host: Host, node: cfg.NodeLayout) -> bool:
        alive = await host.executor.run(["pgrep", "-f", kill_pattern(node)],
                                        timeout=self._timeout, check=False)
        return alive.exit_code == 0

    async def down_nodes(self) -> list[str]:
        """Nodes whose JVM is gone (``NodeWatch``), one line each, in node order."""
        down: dict[int, str] = {}

        async def check(host: Host, node: cfg.NodeLayout) -> None:
            if not await self._running(host, node):
                down[node.index] = (f"Cassandra {node} on {host.name} is down; its log: "
                                    f"{node.system_log} there (copied into the trial's logs/ "
                                    f"at the end of the session)")

        await self._each("check the Cassandra processes", check)
        return [down[index] for index in sorted(down)]

    async def _dead_nodes(self) -> list[str]:
        """Reports of every node whose JVM is no longer running, with its last log lines."""
        reports: list[str] = []

        async def check(host: Host, node: cfg.NodeLayout) -> None:
            if await self._running(host, node):
                return
            tails = await host.executor.run(
                ["sh", "-c", f"{_tail_command(node.system_log)}; echo '--- stdout ---'; "
                             f"{_tail_command(node.stdout_log, 10)}"],
                timeout=self._timeout, check=False)
            reports.append(f"Cassandra {node} on {host.name} is not running (logs in "
                           f"{node.logs} there)\n{tails.stdout}")

        await self._each("check the Cassandra processes", check)
        return reports

    async def wait_ready(self, timeout: float) -> None:
        """Poll every node from here until all serve CQL and see the whole ring, twice."""
        if not self._processes:
            raise DatabaseError("RemoteCassandraCluster.wait_ready() needs start() first")
        began = time.monotonic()
        probes = {node: NodeProbe(host.address, cfg.NATIVE_PORT, self.contact_points)
                  for host, node in self._pairs()}
        problems: dict[cfg.NodeLayout, str] = {node: "not checked yet" for node in self._nodes}
        streak = 0
        try:
            async with asyncio.timeout(timeout):
                while streak < 2:
                    answers = await asyncio.gather(*(asyncio.to_thread(probe.check)
                                                     for probe in probes.values()))
                    problems = {node: answer for node, answer in zip(probes, answers, strict=True)
                                if answer is not None}
                    streak = 0 if problems else streak + 1
                    if problems:
                        dead = await self._dead_nodes()
                        if dead:
                            raise DatabaseError("\n".join(dead))
                    if streak < 2:
                        await asyncio.sleep(POLL_INTERVAL)
        except TimeoutError:
            detail = "\n".join(f"  {node}: {problem}" for node, problem in problems.items())
            raise ClusterNotReady(
                f"Cassandra cluster of {len(self._nodes)} remote node(s) not ready after "
                f"{timeout:g} s; last problems seen:\n{detail or '  none'}") from None
        finally:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(30):
                    await asyncio.gather(*(asyncio.to_thread(probe.close)
                                           for probe in probes.values()))
        log.info("Cassandra cluster ready (%d remote nodes) in %.1f s", len(self._nodes),
                 time.monotonic() - began)

    # -- stop, wipe, logs ----------------------------------------------------------------

    async def stop(self) -> None:
        """SIGTERM our JVM on every host, SIGKILL after the grace; idempotent.

        Every host is tried; one ``DatabaseError`` names each host where it failed.
        """

        async def stop_on(host: Host, node: cfg.NodeLayout) -> None:
            pattern = shlex.quote(kill_pattern(node))
            polls = int(STOP_GRACE / 0.2)
            script = (f"pkill -TERM -f {pattern} || exit 0; "
                      f"for i in $(seq {polls}); do pgrep -f {pattern} >/dev/null || exit 0; "
                      f"sleep 0.2; done; pkill -KILL -f {pattern}; sleep 1; "
                      f"! pgrep -f {pattern} >/dev/null")
            try:
                await host.executor.run(["sh", "-c", script], timeout=STOP_GRACE + 60)
            finally:
                self._processes.pop(host.name, None)

        await self._each("stop Cassandra", stop_on)

    async def wipe(self) -> None:
        """Remove every node's data directories (configuration, logs and jars stay).

        Every host is tried; one ``DatabaseError`` names each host where it failed.
        """

        async def wipe_on(host: Host, node: cfg.NodeLayout) -> None:
            await host.executor.run(["rm", "-rf", *data_dirs(node, self._spec.settings)],
                                    timeout=self._timeout)

        await self._each("wipe the Cassandra data", wipe_on)

    async def fetch_logs(self) -> None:
        """Copy every node's logs here (see ``logs``); a missing log is skipped."""

        async def fetch(host: Host, node: cfg.NodeLayout) -> None:
            for remote, local in zip((node.system_log, node.stdout_log),
                                     self.logs()[2 * node.index - 2:2 * node.index], strict=True):
                with contextlib.suppress(ScyllaBenchError):
                    await host.executor.get(str(remote), local)

        await self._each("fetch the Cassandra logs", fetch)

    async def adopt(self) -> bool:
        self.adopt_problem = "reusing a kept cluster is not supported on static hosts yet"
        return False
