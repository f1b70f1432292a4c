"""The HTML report of a whole session, opened in headless Chromium: it renders every chart and
table, and loads nothing from the network.

The session runs the plugin with the fake backends of ``tests/plugin`` (a database that records
calls, a loader writing real HDR logs), two parametrized write steps, and writes a
self-contained pytest-html report. Chromium takes a screenshot, dumps the DOM after the
report's script ran, and logs its network activity to a file.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
PLUGIN_TESTS = Path(__file__).parent.parent / "plugin"
#: Where a screenshot is copied when this variable names a file (docs/report.png is made so).
SAVE_SCREENSHOT = "SCYLLABENCH_REPORT_SCREENSHOT"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PYTEST_HTML_CREDIT = "https://pypi.python.org/pypi/pytest-html"

CONFTEST = f"""
import sys
sys.path.insert(0, {str(PLUGIN_TESTS)!r})
from pytest_scyllabench import backends
backends.DATABASES["cassandra"] = "fakes:FakeDatabase"
backends.STRESS_TOOLS["builtin"] = "fakes:create_tool"
"""

PROFILE = """
name: fake
database: {nodes: 2, replication_factor: 2}
workloads:
  write: {mix: {write: 1}}
"""

BENCH = """
import pytest

@pytest.mark.parametrize("rate", [100, 200])
def test_write(scyllabench_step, rate):
    scyllabench_step("write", rate=rate, duration="3s", warmup=1)
"""

#: Classes of the charts every step of this session must show, and of the summary's chart.
STEP_CHARTS = ("sb-chart-percentiles", "sb-chart-throughput")
SUMMARY_CHART = "sb-chart-latency-throughput"


class Dom(HTMLParser):
    """Elements by tag with their attributes, and the text of ``<style>`` elements."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {name: value or "" for name, value in attrs}))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.styles.append(data)

    def with_class(self, css: str) -> list[dict[str, str]]:
        return [attrs for _, attrs in self.elements if css in attrs.get("class", "").split()]

    def urls(self) -> list[tuple[str, str]]:
        """(tag, URL) of everything the page could load or link to: src, href, xlink:href,
        srcset, CSS ``url()`` and ``@import``."""
        found = [(tag, value) for tag, attrs in self.elements for name, value in attrs.items()
                 if name in ("src", "href", "xlink:href", "srcset", "poster", "data")]
        for css in [*self.styles, *(attrs.get("style", "") for _, attrs in self.elements)]:
            found += [("css", part.split(")", 1)[0].strip("'\" "))
                      for part in css.split("url(")[1:]]
            if "@import" in css:
                found.append(("css", "@import"))
        return found


@pytest.fixture
def report(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A self-contained report of a real session with the fake backends."""
    pytester.makeconftest(CONFTEST)
    pytester.makefile(".yaml", fake=PROFILE)
    pytester.makepyfile(test_bench=BENCH)
    monkeypatch.setenv("FAKE_DB_JOURNAL", str(pytester.path / "journal"))
    monkeypatch.setenv("SCYLLABENCH_CACHE", str(pytester.path / "cache"))
    result = pytester.runpytest("--scyllabench-profile=fake.yaml", "-p", "no:cacheprovider",
                                "--html=report.html", "--self-contained-html")
    result.assert_outcomes(passed=2)
    return pytester.path / "report.html"


def chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Headless Chromium on ``page`` with every background service and cache off."""
    command = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--disable-extensions",
               "--hide-scrollbars", f"--user-data-dir={profile}", *args,
               # Expand every row: passed tests are collapsed by default.
               page.as_uri() + "?collapsed="]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)


def page_requests(net_log: Path) -> list[str]:
    """URLs the page asked for, from a Chromium net log (``--log-net-log``).

    Chromium's own traffic (time sync, component updates) is started by no origin; a request
    of the page carries the page's origin as initiator (``null`` for a file).
    """
    data = json.loads(net_log.read_text(encoding="utf-8"))
    start_job = data["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = []
    for event in data.get("events", []):
        params = event.get("params") or {}
        url = params.get("url")
        if (event.get("type") == start_job and isinstance(url, str)
                and params.get("initiator") != "not an origin"):
            urls.append(url)
    return [url for url in urls if not url.startswith(("file:", "data:"))]


needs_chromium = pytest.mark.skipif(not CHROMIUM.is_file(), reason="needs /usr/bin/chromium "
                                    "(scripts/ensure-system-deps.sh installs it)")


@needs_chromium
def test_the_network_check_sees_what_a_page_loads(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text('<img src="https://example.invalid/x.png">', encoding="utf-8")
    net_log = tmp_path / "net-log.json"
    chromium(page, tmp_path / "profile", "--dump-dom", "--virtual-time-budget=2000",
             f"--log-net-log={net_log}")
    assert page_requests(net_log) == ["https://example.invalid/x.png"]


@needs_chromium
def test_report_renders_offline_in_chromium(report: Path, tmp_path: Path) -> None:
    screenshot = tmp_path / "report.png"
    shot = chromium(report, tmp_path / "profile-1", f"--screenshot={screenshot}",
                    "--window-size=1400,2400")
    assert screenshot.is_file(), shot.stderr[-2000:]
    data = screenshot.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 50_000  # not a blank page
    target = os.environ.get(SAVE_SCREENSHOT)
    if target:
        shutil.copyfile(screenshot, target)

    net_log = tmp_path / "net-log.json"
    dumped = chromium(report, tmp_path / "profile-2", "--dump-dom", "--virtual-time-budget=5000",
                      f"--log-net-log={net_log}")
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    dom = Dom()
    dom.feed(dumped.stdout)
    dom.close()

    # The report's script ran and laid out both tests with their steps' charts.
    assert len(dom.with_class("collapsible")) >= 2
    for css in STEP_CHARTS:
        assert len(dom.with_class(css)) == 2, css
    assert len(dom.with_class(SUMMARY_CHART)) == 1
    for chart in (*dom.with_class(STEP_CHARTS[0]), *dom.with_class(SUMMARY_CHART)):
        assert chart.get("role") == "img" and chart.get("aria-label")
    assert len(dom.with_class("sb-env")) == 1
    assert len(dom.with_class("sb-table")) >= 2 * 3 + 2  # per step: rates, percentiles...
    text = dumped.stdout
    for expected in ("write@100", "write@200", "test_bench.py::test_write", "Environment",
                     "cassandra fake-1.0", "latency by percentile"):
        assert expected in text, expected

    # Nothing is fetched: every URL is in the page, data, or a local artifact that exists.
    # The one link out is pytest-html's credit in the header, a link nobody follows.
    base = report.parent
    for tag, url in dom.urls():
        if tag == "a" and url == PYTEST_HTML_CREDIT:
            continue
        parts = urlsplit(url)
        assert parts.scheme in ("", "data"), (tag, url)
        assert url != "@import" and not url.startswith("//"), (tag, url)
        if parts.scheme == "" and parts.path:
            assert (base / unquote(parts.path)).exists(), (tag, url)
    assert page_requests(net_log) == []
