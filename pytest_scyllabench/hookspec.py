"""Hooks for users and other plugins: implement them in a ``conftest.py`` or a plugin.

``pytest_scyllabench_cluster_ready``
    once per session, when the cluster is ready and before the profile's warm-up load: apply
    settings, create extra schema, start tracing.
``pytest_scyllabench_step_result``
    after every run of a step, once its result is saved: push it to a dashboard, attach more
    data to the test's directory.

A hook that raises fails the test (or the session's setup) that called it, as any pytest hook
does; the step's result is already on disk by then.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pluggy
import pytest

if TYPE_CHECKING:
    from pytest_scyllabench.result import StepResult
    from pytest_scyllabench.session import Cluster

hookspec = pluggy.HookspecMarker("pytest")


@hookspec
def pytest_scyllabench_cluster_ready(cluster: Cluster, trial_dir: Path,
                                     config: pytest.Config) -> None:
    """The session's cluster answers CQL with every node up; no step has run yet.

    :param cluster: the ready cluster (``cluster.database.contact_points``, ``.port``,
        ``.version``, ``cluster.deployment`` with its servers and loaders, ``cluster.reused``).
    :param trial_dir: the session's ``trials/<profile>/<timestamp>/`` directory.
    """


@hookspec
def pytest_scyllabench_step_result(item: pytest.Item, result: StepResult,
                                   breaches: tuple[str, ...], result_json: Path) -> None:
    """One run of a step finished and was saved (with ``--scyllabench-repeat``, each run).

    :param result: the merged result (percentiles, achieved rate, errors, histograms).
    :param breaches: one line per failed threshold, missed rate or regression; empty when
        the step passed. The test fails after this hook when it is not empty.
    :param result_json: the step's ``result.json`` in the trial directory.
    """
