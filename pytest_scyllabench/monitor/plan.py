"""What a session monitors: the options from its profile and the hosts of its deployment.

Pure functions, no I/O. The hosts, by provisioner:

- ``local`` (every host is this machine): one entry per database node (its own loopback
  address, role ``db``, no node exporter of its own) and one ``local`` host with the node
  exporter, roles ``loader`` and ``monitor``;
- remote hosts (``static``, ``aws``): one entry per machine at its private (listen) address,
  a node exporter on each, its roles the union of what runs there (a server is ``db``, a
  loader host ``loader``, the monitor host ``monitor``).

Prometheus (:func:`prometheus_place`) runs on the monitor host of a remote deployment that
has one, in ``<deployment workdir>/prometheus/<session>`` there, listening on its private
address (its ``address`` when it has none: Prometheus refuses to start on a public one, see
:func:`~pytest_scyllabench.monitor.prometheus.listen_address_problem`), installed if missing;
this process reaches it through a port forwarded over that host's SSH connection. Otherwise
it runs on this machine, under ``<cache>/prometheus/<session>`` on 127.0.0.1, and scrapes
every target at its address.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pytest_scyllabench.execute.base import Executor
from pytest_scyllabench.execute.local import LocalExecutor
from pytest_scyllabench.monitor.prometheus import MonitoredHost, Role
from pytest_scyllabench.monitor.stack import MonitorOptions, WatchedHost
from pytest_scyllabench.profile import MonitoringSpec
from pytest_scyllabench.provision.base import Deployment, Host

#: The ``host`` label of this machine in a local session.
LOCAL_HOST = "local"
LOCAL_ADDRESS = "127.0.0.1"
ROLE_ORDER: tuple[Role, ...] = ("db", "loader", "monitor")


def monitor_options(spec: MonitoringSpec, database_port: int | None) -> MonitorOptions:
    """The options of :class:`~pytest_scyllabench.monitor.stack.Monitoring` for a profile."""
    return MonitorOptions(required=spec.required, scrape_interval=spec.scrape_interval,
                          prometheus_port=spec.prometheus_port,
                          node_exporter_port=spec.node_exporter_port,
                          database_port=database_port,
                          reset_after_snapshot=spec.reset_between_tests,
                          quiet_timeout=spec.quiet_timeout,
                          prometheus_binary=spec.prometheus_binary,
                          node_exporter_binary=spec.node_exporter_binary)


@dataclass(frozen=True)
class PrometheusPlace:
    """Where a session's Prometheus runs: through ``executor``, in ``workdir`` on its host,
    listening on ``address``; ``install``: install Debian's package there if missing."""

    executor: Executor
    workdir: str
    address: str
    install: bool = False


def prometheus_place(deployment: Deployment, session: str, cache: Path) -> PrometheusPlace:
    """On the monitor host of a remote deployment, else on this machine (under ``cache``);
    ``session`` names the work directory, unique among the sessions sharing a host."""
    monitor = deployment.monitor
    if deployment.workdir is None or monitor is None:
        return PrometheusPlace(LocalExecutor(), str(cache / "prometheus" / session),
                               LOCAL_ADDRESS)
    return PrometheusPlace(monitor.executor, f"{deployment.workdir}/prometheus/{session}",
                           monitor.listen_address, install=True)


def watched_hosts(deployment: Deployment) -> list[WatchedHost]:
    """Every host of ``deployment`` to watch (see the module's docstring)."""
    if deployment.workdir is None:
        return _local_hosts(deployment)
    return _remote_hosts(deployment)


def _local_hosts(deployment: Deployment) -> list[WatchedHost]:
    watched = [WatchedHost(MonitoredHost(server.name, server.address, ("db",),
                                         node_exporter=False), server.executor)
               for server in deployment.servers]
    watched.append(WatchedHost(MonitoredHost(LOCAL_HOST, LOCAL_ADDRESS, ("loader", "monitor")),
                               LocalExecutor(host=LOCAL_HOST)))
    return watched


def _remote_hosts(deployment: Deployment) -> list[WatchedHost]:
    """One entry per address: a machine that is both server and loader, or runs several
    loader processes (``loaders.processes``), is watched once, under its own name."""
    by_address: dict[str, tuple[Host, set[Role]]] = {}
    monitor = (deployment.monitor,) if deployment.monitor is not None else ()
    roles_of: tuple[tuple[tuple[Host, ...], Role], ...] = (
        (deployment.servers, "db"), (deployment.loaders, "loader"), (monitor, "monitor"))
    for hosts, role in roles_of:
        for host in hosts:
            by_address.setdefault(host.listen_address, (host, set()))[1].add(role)
    return [WatchedHost(MonitoredHost(host.machine_name, host.listen_address,
                                      tuple(role for role in ROLE_ORDER if role in roles)),
                        host.executor)
            for host, roles in by_address.values()]
