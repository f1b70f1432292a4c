"""The plugin's own hooks, implemented in a user's conftest.py, in a session of fakes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.plugin import test_session
from tests.plugin.test_session import CONFTEST, run

pytest_plugins = ["pytester"]

#: The session tests' project (their conftest, profile and environment).
session_dir = test_session.session_dir

HOOKS = CONFTEST + """
import json

def pytest_scyllabench_cluster_ready(cluster, trial_dir, config):
    (trial_dir / "hook-cluster.json").write_text(json.dumps({
        "contact_points": list(cluster.database.contact_points),
        "reused": cluster.reused,
        "steps_so_far": sorted(p.name for p in trial_dir.rglob("result.json")),
    }))

def pytest_scyllabench_step_result(item, result, breaches, result_json):
    with open(item.config.rootpath / "hook-steps.jsonl", "a") as out:
        out.write(json.dumps({"test": item.name, "step": result.step,
                              "p99": result.latency()["p99"], "breaches": list(breaches),
                              "saved": result_json.is_file()}) + "\\n")
"""

BENCH = """
import pytest

@pytest.mark.parametrize("rate", [100, 200])
def test_write(scyllabench_step, rate):
    scyllabench_step("write", rate=rate, duration=1, warmup=0)

@pytest.mark.scyllabench_thresholds(p99="1ms")
def test_too_strict(scyllabench_step, scyllabench_trial_dir):
    (scyllabench_trial_dir / "mine.txt").write_text("a test's own artifact")
    scyllabench_step("write", rate=100, duration=1, warmup=0)
"""


def test_hooks_see_the_cluster_and_every_saved_step(pytester: pytest.Pytester,
                                                    session_dir: Path) -> None:
    pytester.makeconftest(HOOKS)
    pytester.makepyfile(test_bench=BENCH)
    result = run(pytester)
    result.assert_outcomes(passed=2, failed=1)

    trial = session_dir / "trials" / "fake" / "latest"
    ready = json.loads((trial / "hook-cluster.json").read_text())
    assert ready == {"contact_points": ["127.0.0.1", "127.0.0.2"], "reused": False,
                     "steps_so_far": []}
    assert (trial / "mine.txt").read_text() == "a test's own artifact"

    steps = [json.loads(line)
             for line in (session_dir / "hook-steps.jsonl").read_text().splitlines()]
    assert [(s["test"], s["step"], s["saved"]) for s in steps] == [
        ("test_write[100]", "write@100", True),
        ("test_write[200]", "write@200", True),
        ("test_too_strict", "write@100", True),
    ]
    assert steps[0]["breaches"] == [] and steps[0]["p99"] > 0
    assert len(steps[2]["breaches"]) == 1 and "p99" in steps[2]["breaches"][0]


def test_a_failing_hook_fails_the_test_after_the_step_was_saved(
        pytester: pytest.Pytester, session_dir: Path) -> None:
    pytester.makeconftest(HOOKS + """
def pytest_scyllabench_step_result(item, result, breaches, result_json):
    raise RuntimeError("dashboard unreachable")
""")
    pytester.makepyfile(test_bench="""
def test_write(scyllabench_step):
    scyllabench_step("write", rate=100, duration=1, warmup=0)
""")
    result = run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*RuntimeError: dashboard unreachable*"])
    saved = list((session_dir / "trials" / "fake" / "latest").rglob("result.json"))
    assert len(saved) == 1
