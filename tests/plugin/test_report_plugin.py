"""The report functions wired into real pytest-html and junitxml output, in a pytester session.

The conftest below plays the plugin's part (the real wiring is plugin.py's): a fixture runs a
fake step built from real hdrh histograms, writes its result.json, records JUnit properties
and keeps the step for the hooks, which add pytest-html extras, the summary tables and the
terminal table.
"""

from __future__ import annotations

import html
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

CONFTEST = r'''
from pathlib import Path

import pytest
from hdrh.histogram import HdrHistogram

from pytest_scyllabench.report import html as sb_html
from pytest_scyllabench.report import junit as sb_junit
from pytest_scyllabench.report import terminal as sb_terminal
from pytest_scyllabench.report.artifacts import TrialsDir
from pytest_scyllabench.report.serialize import summarize
from pytest_scyllabench.result import LoaderRun, StepResult

TRIALS = TrialsDir(Path("trials"), "local")
STEPS = []
PENDING = pytest.StashKey()


def histogram(base):
    h = HdrHistogram(1, 3_600_000_000, 3)
    for i in range(1000):
        h.record_value(base + (i * 7919) % 1000)
    h.record_value(base * 40)
    return h


@pytest.fixture
def fake_step(request):
    def run(rate, limit_ms=None, name=None):
        nodeid = request.node.nodeid
        step_id = name or f"write@{rate}"
        step_dir = TRIALS.step_dir(nodeid, step_id)
        runs = []
        for n in (1, 2):
            files = TRIALS.loader_files(step_dir, f"loader-{n}")
            files.hdr_log.write_text("#hdr\n")
            files.stdout.write_text("out\n")
            runs.append(LoaderRun(f"loader-{n}", f"10.0.0.{n}", "builtin", "0.1", 0,
                                  rate / 2, 500, 0, rate / 2, files.hdr_log, files.stdout))
        result = StepResult(
            step=step_id, workload="write", target_rate=rate, duration=10.0,
            achieved_rate=rate * 0.995, ops=1001, errors=0,
            histograms={"all-rt": histogram(rate), "all-st": histogram(rate // 2),
                        "write-rt": histogram(rate), "write-st": histogram(rate // 2)},
            loaders=tuple(runs), artifacts=step_dir)
        p99 = result.latency()["p99"]
        breaches = [] if limit_ms is None or p99 <= limit_ms else [
            f"p99: {p99:.3f} ms > limit {limit_ms} ms ({step_id})"]
        json_path = TRIALS.write_result(result, test=nodeid, breaches=breaches,
                                        rate_tolerance=0.05)
        sb_junit.record_properties(request.node, result, breaches, test=nodeid,
                                   rate_tolerance=0.05)
        links = sb_html.artifact_links(result, Path.cwd(), json_path)
        request.node.stash.setdefault(PENDING, []).append((result, breaches, links))
        STEPS.append(summarize(result, test=nodeid, breaches=breaches, rate_tolerance=0.05))
        if breaches:
            pytest.fail("\n".join(breaches), pytrace=False)
        return result
    return run


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        extras = list(getattr(report, "extras", []))
        for result, breaches, links in item.stash.get(PENDING, []):
            extras += sb_html.step_extras(result, breaches, links, test=item.nodeid,
                                          rate_tolerance=0.05)
        report.extras = extras
    return report


def pytest_html_results_summary(prefix, summary, postfix, session):
    prefix.extend(sb_html.summary_html(STEPS))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    for line in sb_terminal.summary_lines(STEPS):
        terminalreporter.write_line(line)
'''

TESTS = '''
import pytest

@pytest.mark.parametrize("rate", [4000, 1000])
def test_write(fake_step, rate):
    fake_step(rate)

def test_limits(fake_step):
    fake_step(2000, limit_ms=0.5, name='<b>"evil"</b>')
'''


def _test_data(report: Path) -> dict[str, Any]:
    blob = re.search(r'data-jsonblob="([^"]*)"', report.read_text(encoding="utf-8"))
    assert blob is not None
    data: dict[str, Any] = json.loads(html.unescape(blob.group(1)))
    return data


@pytest.fixture
def session(pytester: pytest.Pytester) -> tuple[pytest.RunResult, Path]:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_bench=TESTS)
    result = pytester.runpytest("-p", "no:scyllabench", "--html=report.html",
                                "--self-contained-html", "--junitxml=junit.xml")
    return result, pytester.path


def test_extras_and_summary_in_the_html_report(session: tuple[pytest.RunResult, Path]) -> None:
    result, root = session
    result.assert_outcomes(passed=2, failed=1)
    tests = _test_data(root / "report.html")["tests"]
    passed = tests["test_bench.py::test_write[1000]"][0]
    (extra,) = [e for e in passed["extras"] if e["format_type"] == "html"]
    assert "write@1000" in extra["content"] and "1,000" in extra["content"]
    assert "service time (ms)" in extra["content"] and "PASS" in extra["content"]
    hrefs = re.findall(r'<a href="([^"]+)"', extra["content"])
    assert len(hrefs) == 5 and all((root / html.unescape(h)).is_file() for h in hrefs)
    assert any(h.endswith("result.json") for h in hrefs)

    failed = tests["test_bench.py::test_limits"][0]
    content = failed["extras"][0]["content"]
    assert "FAIL" in content and "limit 0.5 ms" in content
    assert "<b>" not in content and "&lt;b&gt;&quot;evil&quot;&lt;/b&gt;" in content

    page = (root / "report.html").read_text(encoding="utf-8")
    summary = page[page.index('additional-summary prefix'):page.index('class="run-count"')]
    assert "test_bench.py::test_write" in summary and "test_bench.py::test_limits" in summary
    rows = re.findall(r"write@(\d+)", summary)
    assert rows == ["1000", "4000"]  # sorted by target rate, not by run order
    assert "<script" not in summary and "<b>" not in summary


def test_properties_in_junit_xml(session: tuple[pytest.RunResult, Path]) -> None:
    _, root = session
    cases = {case.get("name"): case for case in ET.parse(root / "junit.xml").iter("testcase")}
    props = {p.get("name"): p.get("value") for p in cases["test_write[4000]"].iter("property")}
    assert props["step"] == "write@4000"
    assert props["target_rate"] == "4000" and props["achieved_rate"] == "3980"
    assert props["ops"] == "1001" and props["passed"] == "true"
    assert float(props["p99_ms"] or "nan") == pytest.approx(4.99, rel=0.01)
    failed = {p.get("name"): p.get("value") for p in cases["test_limits"].iter("property")}
    assert failed["passed"] == "false" and "limit 0.5 ms" in (failed["breach"] or "")


def test_result_files_and_terminal_table(session: tuple[pytest.RunResult, Path]) -> None:
    result, root = session
    results = sorted((root / "trials" / "local" / "latest").glob("*/*/result.json"))
    assert [p.parent.name for p in results] == ["b_evil_b", "write_1000", "write_4000"]
    result.stdout.fnmatch_lines([
        "scyllabench: 3 steps, 2 passed, 1 failed",
        "*test_bench.py::test_write*write@1000*PASS",
        "*test_bench.py::test_write*write@4000*PASS",
    ])
