"""HTML for pytest-html: the step block, the session summary, escaping, relative links."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from test_report_support import make_result

from pytest_scyllabench.report.charts import LatencyPoint
from pytest_scyllabench.report.html import (
    artifact_links,
    relative_href,
    step_extras,
    summary_html,
)
from pytest_scyllabench.report.serialize import StepSummary, summarize
from pytest_scyllabench.report.terminal import fmt_ms

EVIL = '<script>alert("x")</script>&'


class _Collector(HTMLParser):
    """Collects tags and hrefs; proves the markup parses and nothing injected a tag."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.hrefs: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.hrefs += [value or "" for name, value in attrs if name == "href"]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> _Collector:
    collector = _Collector()
    collector.feed(html)
    collector.close()
    return collector


def test_step_extras_show_rates_percentiles_and_verdict(tmp_path: Path) -> None:
    result = make_result(tmp_path, operations=("read", "write"))
    extras = step_extras(result, [], test="t.py::test_mix[2000]", rate_tolerance=0.05)
    assert len(extras) == 1 and extras[0]["format_type"] == "html"
    content = str(extras[0]["content"])
    text = " ".join(parse(content).text)
    assert "2,000" in text and "1,990.5" in text and "99.5%" in text
    assert f"{result.ops:,}" in text
    for operation in ("all", "read", "write"):
        for kind in ("rt", "st"):
            latency = result.latency(operation, kind)
            for name in ("p50", "p99", "p9999", "max"):
                assert fmt_ms(latency[name]) in text
    assert "response time (ms)" in text and "service time (ms)" in text
    assert "p99.99" in text
    assert "PASS" in text and "FAIL" not in text
    assert "target rate reached" in text


def test_step_extras_escape_everything(tmp_path: Path) -> None:
    result = make_result(tmp_path, step=EVIL, workload=EVIL, error_samples=(EVIL,))
    links = [(EVIL, 'a"b.hlog')]
    content = str(step_extras(result, [EVIL], links)[0]["content"])
    assert "<script>" not in content
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;" in content
    assert 'href="a&quot;b.hlog"' in content
    assert "script" not in parse(content).tags
    text = " ".join(parse(content).text)
    assert "FAIL" in text and EVIL in text  # the breach is shown, as text


def test_service_time_only_is_labelled(tmp_path: Path) -> None:
    result = make_result(tmp_path, service_time_only=True)
    content = str(step_extras(result, [])[0]["content"])
    assert "only service time was measured" in content
    assert "response time (ms) *" in content
    plain = str(step_extras(make_result(tmp_path), [])[0]["content"])
    assert "only service time" not in plain


def test_artifact_links_are_relative_to_the_report(tmp_path: Path) -> None:
    step_dir = tmp_path / "trial" / "test_x.py__test_w-2000" / "write_2000"
    result = make_result(step_dir)
    links = artifact_links(result, tmp_path / "trial", step_dir / "result.json")
    assert links[0] == ("result JSON", "test_x.py__test_w-2000/write_2000/result.json")
    assert ("loader-2 HDR log", "test_x.py__test_w-2000/write_2000/loader-2.hlog") in links
    assert ("loader-1 output", "test_x.py__test_w-2000/write_2000/loader-1.out") in links
    content = str(step_extras(result, [], links)[0]["content"])
    hrefs = parse(content).hrefs
    assert len(hrefs) == 5
    assert not any(href.startswith(("/", "file:", "http")) for href in hrefs)
    assert all((tmp_path / "trial" / href).is_file() for href in hrefs[1:])


def test_relative_href_climbs_and_quotes(tmp_path: Path) -> None:
    assert relative_href(tmp_path / "a b" / "x#1.out", tmp_path / "report") == "../a%20b/x%231.out"


def _summary(tmp_path: Path, nodeid: str, rate: float, breaches: list[str]) -> StepSummary:
    step = f"write@{rate:.0f}"
    result = make_result(tmp_path, step=step, target=rate, achieved=rate)
    return summarize(result, test=nodeid, breaches=breaches, rate_tolerance=0.05)


def test_summary_groups_by_test_function_and_sorts_by_rate(tmp_path: Path) -> None:
    steps = [
        _summary(tmp_path, "t.py::test_write[8000]", 8000, ["p99: 30 ms > 20 ms"]),
        _summary(tmp_path, "t.py::test_write[1000]", 1000, []),
        _summary(tmp_path, "t.py::test_read[500]", 500, []),
        _summary(tmp_path, "t.py::test_write[4000]", 4000, []),
    ]
    parts = summary_html(steps)
    assert len(parts) == 1
    html = parts[0]
    parse(html)
    assert html.count("<h4>") == 2
    assert html.index("t.py::test_write") < html.index("t.py::test_read")
    write_section = html[html.index("t.py::test_write"):html.index("t.py::test_read")]
    order = re.findall(r"write@(\d+)", write_section)
    assert order == ["1000", "4000", "8000"]
    assert write_section.count("PASS") == 2 and write_section.count("FAIL") == 1
    assert "p99: 30 ms &gt; 20 ms" in write_section
    assert ('<p class="sb-capacity">sustains 4,000 ops/s within its limits; 8,000 ops/s '
            'failed</p>') in write_section
    assert "sb-capacity" not in html[html.index("t.py::test_read"):]  # one rate: nothing said
    assert fmt_ms(steps[0].latency["all-rt"]["p999"]) in write_section
    assert "<link" not in html and "src=" not in html  # nothing fetched: opens offline


def test_summary_links_each_tests_snapshot_and_the_sessions(tmp_path: Path) -> None:
    steps = [_summary(tmp_path, "t.py::test_write[2000]", 2000, []),
             _summary(tmp_path, "t.py::test_write[1000]", 1000, []),
             _summary(tmp_path, "t.py::test_read[500]", 500, [])]
    snapshots = {"t.py::test_write[1000]": "t.py__test_write-1000/prometheus.tar.gz",
                 "t.py::test_write[2000]": "t.py__test_write-2000/prometheus.tar.gz"}
    html = summary_html(steps, snapshots=snapshots, session_snapshot="prometheus.tar.gz")[0]
    assert parse(html).hrefs == [
        "prometheus.tar.gz", "t.py__test_write-1000/prometheus.tar.gz",
        "t.py__test_write-2000/prometheus.tar.gz"]  # in step order, under their benchmark
    read_section = html[html.index("t.py::test_read"):]
    assert "Prometheus snapshots" not in read_section  # none was taken for it
    assert "scyllabench serve-snapshot" in html
    assert "<a" not in summary_html(steps)[0]  # no monitoring, no link


def test_summary_escapes_node_ids_and_is_empty_without_steps(tmp_path: Path) -> None:
    assert summary_html([]) == []
    html = summary_html([_summary(tmp_path, f"t.py::test_{EVIL}[1]", 100, [])])[0]
    assert "<script>" not in html and "script" not in parse(html).tags


def _charts(content: str) -> list[str]:
    """The kinds of the charts in ``content``, in order."""
    return re.findall(r'<svg class="sb-chart sb-chart-([a-z-]+)"', content)


def test_step_block_has_its_charts_in_captioned_figures(tmp_path: Path) -> None:
    result = make_result(tmp_path, operations=("read", "write"))
    content = str(step_extras(result, [], test="t.py::test_mix[2000]")[0]["content"])
    assert _charts(content) == ["percentiles", "throughput"]
    parsed = parse(content)
    assert parsed.tags.count("figure") == 2 and parsed.tags.count("figcaption") == 2
    assert "write@2000: latency by percentile" in content
    assert "write@2000: throughput and p99 per second" in content
    # Charts come after the tables they illustrate, before the raw links.
    assert content.index("threshold") < content.index("<svg")
    plain = str(step_extras(result, [], with_charts=False)[0]["content"])
    assert _charts(plain) == [] and "<figure" not in plain


def test_vital_signs_are_charted_when_given(tmp_path: Path) -> None:
    result = make_result(tmp_path)
    vitals = {"cpu busy %": {"node1": [(0.0, 50.0), (5.0, 60.0)],
                             "node2": [(0.0, 40.0), (5.0, 45.0)]},
              "disk <write> MB/s": {"node1": [(0.0, 1.0), (5.0, 2.0)]}}
    content = str(step_extras(result, [], vitals=vitals)[0]["content"])
    assert _charts(content) == ["percentiles", "throughput", "vitals"]
    assert "cpu busy %" in content and "disk &lt;write&gt; MB/s" in content
    assert "<write>" not in content
    assert "write@2000: vital signs" in content


def test_step_without_series_or_histograms_omits_those_charts(tmp_path: Path) -> None:
    result = make_result(tmp_path)
    result.series = []
    content = str(step_extras(result, [])[0]["content"])
    assert _charts(content) == ["percentiles"]


def test_summary_charts_each_benchmark_of_several_steps(tmp_path: Path) -> None:
    steps = [
        _summary(tmp_path, "t.py::test_write[1000]", 1000, []),
        _summary(tmp_path, "t.py::test_write[4000]", 4000, []),
        _summary(tmp_path, "t.py::test_read[500]", 500, []),
    ]
    html = summary_html(steps)[0]
    write_section = html[html.index("t.py::test_write"):html.index("t.py::test_read")]
    read_section = html[html.index("t.py::test_read"):]
    assert _charts(write_section) == ["latency-throughput"]
    assert "t.py::test_write: latency against achieved throughput" in write_section
    assert _charts(read_section) == []  # one step: no chart
    assert "baseline" not in html
    assert _charts(summary_html(steps, with_charts=False)[0]) == []


def test_summary_draws_a_given_baseline_dashed(tmp_path: Path) -> None:
    steps = [_summary(tmp_path, f"t.py::test_write[{rate}]", rate, []) for rate in (1000, 2000)]
    baseline = [LatencyPoint(rate, 0.3, 1.0, 3.0) for rate in (1000.0, 2000.0)]
    html = summary_html(steps, baselines={"t.py::test_write": baseline,
                                          "t.py::other": baseline})[0]
    assert html.count('class="sb-baseline-p99"') == 1
    assert "(baseline dashed)" in html
    named = summary_html(steps, baselines={"t.py::test_write": baseline},
                         baseline_name="main")[0]
    assert "(baseline main dashed)" in named and ">baseline main p99<" in named


def test_summary_shows_the_environment_escaped(tmp_path: Path) -> None:
    facts = [("database", "cassandra 5.0.9"), ("nodes", "3, replication factor 3"),
             ("instance types", EVIL)]
    html = summary_html([_summary(tmp_path, "t.py::test_w[1]", 100, [])], environment=facts)[0]
    parsed = parse(html)
    assert "script" not in parsed.tags
    text = " ".join(parsed.text)
    assert "Environment" in text and "cassandra 5.0.9" in text and EVIL in text
    assert html.index("Environment") < html.index("t.py::test_w")
    assert "Environment" not in summary_html([_summary(tmp_path, "t.py::w", 1, [])])[0]


def test_merge_warnings_are_shown_escaped(tmp_path: Path) -> None:
    result = make_result(tmp_path)
    result.warnings = [f"loader-1: truncated last line {EVIL}"]
    content = str(step_extras(result, [], with_charts=False)[0]["content"])
    assert "truncated last line &lt;script&gt;" in content
    assert "<ul class=\"sb-note\">" not in str(step_extras(make_result(tmp_path), [],
                                            with_charts=False)[0]["content"])


def _rows(content: str) -> list[list[str]]:
    """The cells of every row of the step's checks table."""
    table = content[content.index('<th class="sb-l">check</th>'):]
    table = table[:table.index("</table>")]
    return [[re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)]
            for row in re.findall(r"<tr>(.*?)</tr>", table)]


def test_every_latency_limit_has_a_row_with_its_observed_value(tmp_path: Path) -> None:
    from pytest_scyllabench.thresholds import evaluate, parse_thresholds

    result = make_result(tmp_path, operations=("read", "write"))
    p99 = result.latency()["p99"]
    verdicts = evaluate(result, parse_thresholds({"p99": "1000ms", "read_p50": "0.001ms"}))
    breaches = [v.breach for v in verdicts if v.breach] + ["p99 regressed: +30% (rule +10%)"]
    content = str(step_extras(result, breaches, rate_tolerance=0.05, limits=verdicts,
                              with_charts=False)[0]["content"])
    rows = _rows(content)
    assert rows[0][0] == "target rate reached" and rows[0][3] == "PASS"
    assert rows[1] == ["p99", f"\u2264 {fmt_ms(1000)} ms", f"{fmt_ms(p99)} ms", "PASS"]
    assert rows[2][0] == "read p50" and rows[2][3] == "FAIL"
    # The limit's breach is its row; a breach of another kind gets a row of its own.
    assert rows[3] == ["p99 regressed: +30% (rule +10%)", "", "", "FAIL"]
    assert len(rows) == 4


def test_a_step_without_limits_says_so(tmp_path: Path) -> None:
    result = make_result(tmp_path)
    content = str(step_extras(result, [], with_charts=False)[0]["content"])
    assert ["latency thresholds", "", "", "none set"] in _rows(content)


def test_a_missed_rate_is_one_row(tmp_path: Path) -> None:
    from pytest_scyllabench.thresholds import check_rate

    result = make_result(tmp_path)
    result.achieved_rate = result.target_rate * 0.5
    missed = check_rate(result, 0.05)
    assert missed is not None
    content = str(step_extras(result, [str(missed)], rate_tolerance=0.05,
                              with_charts=False)[0]["content"])
    rows = _rows(content)
    assert rows[0][0] == "target rate reached" and rows[0][3] == "FAIL"
    assert not any("did not reach" in row[0] for row in rows)
