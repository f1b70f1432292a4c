"""The example CI workflow in docs/ names only options, variables and commands that exist, and
each value it gives them parses."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from pytest_scyllabench.cli import _parser
from pytest_scyllabench.settings import OPTIONS

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / "docs" / "ci-benchmark.yml"


def test_the_workflow_parses_and_every_option_it_names_exists() -> None:
    text = WORKFLOW.read_text(encoding="utf-8")
    steps = yaml.safe_load(text)["jobs"]["bench"]["steps"]
    runs = "\n".join(step.get("run", "") for step in steps)
    by_flag = {option.cli: option for option in OPTIONS}
    used = re.findall(r"(--scyllabench-[a-z-]+)(?:=([^\s\"]+))?", text)
    assert {flag for flag, _ in used} >= {"--scyllabench-compare", "--scyllabench-save",
                                          "--scyllabench-save-sessions"}
    for flag, value in used:
        assert flag in by_flag, flag
        # Values given (not metavars such as NAME|latest or DIR, nor shell variables) parse.
        if value and not value[0].isupper() and "$" not in value and not by_flag[flag].flag:
            by_flag[flag].parse(value)
    for variable in re.findall(r"\bSCYLLABENCH_[A-Z_]+", text):
        assert variable in {option.env for option in OPTIONS} | {"SCYLLABENCH_*"}, variable
    assert "ensure-system-deps.sh bench" in runs and "make bench" in runs
    compare = re.search(r"scyllabench compare (--baseline-dir) \S+ main current", runs)
    assert compare is not None
    _parser().parse_args(["compare", compare[1], "baselines", "main", "current"])
