"""Baselines: save a run's benchmarks, compare later runs with them, gate CI on regressions.

* :mod:`.record`: what is kept of a benchmark (identity, environment, encoded histograms).
* :mod:`.store`: the :class:`~.store.BaselineStore` protocol and :class:`~.store.DirectoryStore`.
* :mod:`.rules`: ``p99:+10% throughput:-5%`` and how layers of rules override each other.
* :mod:`.noise`: bootstrap confidence intervals of a change (repetitions, or HDR counts).
* :mod:`.compare`: verdicts per rule (regression, improvement, within noise).
* :mod:`.gate`: a session's use of all of the above.
* :mod:`.offline`: two saved runs compared without a session (``scyllabench compare``).
"""
