"""Monitoring with Prometheus: exporters, the server, snapshots and vital signs.

- :mod:`~pytest_scyllabench.monitor.client`: the HTTP API and readiness waits (errors are
  :class:`~pytest_scyllabench.errors.MonitoringError`);
- :mod:`~pytest_scyllabench.monitor.exporters`: the JMX exporter agent for Cassandra (resolved
  from Maven Central) and the node exporter of each host;
- :mod:`~pytest_scyllabench.monitor.prometheus`: the scrape configuration and the server;
- :mod:`~pytest_scyllabench.monitor.snapshot`: TSDB snapshots as ``.tar.gz``, and serving one;
- :mod:`~pytest_scyllabench.monitor.vitals`: range queries of a step's window, ``wait_quiet``;
- :mod:`~pytest_scyllabench.monitor.stack`: all of it for one session, optional or required;
- :mod:`~pytest_scyllabench.monitor.plan`: the hosts and options of a session's profile.
"""
