"""Options, ini keys and profiles are validated before anything is provisioned."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

BENCH = """
def test_step(scyllabench_step):
    scyllabench_step("write", rate=100, duration=1)
"""


def test_help_lists_options_with_defaults(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    out = result.stdout.str()
    for flag in ("--scyllabench-profile=NAME|PATH", "--scyllabench-duration-scale=FACTOR",
                 "--scyllabench-keep-cluster", "--scyllabench-reuse-cluster",
                 "--scyllabench-output=DIR", "--scyllabench-html", "--scyllabench-repeat=N",
                 "--scyllabench-compare=NAME|latest", "--scyllabench-rules=EXPR",
                 "--scyllabench-save=NAME", "--scyllabench-baseline-dir=DIR",
                 "--scyllabench-fail-missing-baseline"):
        assert flag in out
    assert "p999:+20% throughput:-5%)" in " ".join(out.split())  # % survives argparse
    assert "scyllabench_profile" in out  # the ini key


@pytest.mark.parametrize(("option", "message"), [
    ("--scyllabench-rules=p42:+10%", "*argument --scyllabench-rules*p42*"),
    ("--scyllabench-repeat=0", "*argument --scyllabench-repeat*positive whole number*"),
    ("--scyllabench-save=../x", "*argument --scyllabench-save*"),
])
def test_bad_baseline_options(pytester: pytest.Pytester, option: str, message: str) -> None:
    pytester.makepyfile(BENCH)
    result = pytester.runpytest(option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_bad_duration_scale_option(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(BENCH)
    result = pytester.runpytest("--scyllabench-duration-scale=-3")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*argument --scyllabench-duration-scale*positive number*"])


def test_bad_ini_value(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nscyllabench_duration_scale = soon\n")
    pytester.makepyfile(BENCH)
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*ini key scyllabench_duration_scale: expected a number*"])


@pytest.mark.parametrize(("text", "message"), [
    ("database:\n  nodes: 0\n  replication_factor: 1\n",
     "*bad.yaml: database.nodes: must be between 1 and 5, got 0"),
    ("database:\n  nodes: 1\n  colour: red\n", "*bad.yaml: database.colour: unknown key*"),
    ("loaders:\n  count: many\n", "*bad.yaml: loaders.count: must be an integer*"),
])
def test_malformed_profile_is_one_line_and_starts_nothing(
        pytester: pytest.Pytester, text: str, message: str) -> None:
    pytester.makefile(".yaml", bad=text)
    pytester.makepyfile(BENCH)
    journal = pytester.path / "journal"
    result = pytester.runpytest("--scyllabench-profile=bad.yaml",
                                f"--scyllabench-output={pytester.path / 'out'}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])
    assert not journal.exists()
    assert not (pytester.path / "out").exists()


def test_unknown_profile_name(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(BENCH)
    result = pytester.runpytest("--scyllabench-profile=nope")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*nope: no such profile; known profiles: *local*"])


def test_bad_marker_argument_fails_at_collection(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest

        @pytest.mark.scyllabench_thresholds(p98="10ms")
        def test_step(scyllabench_step):
            scyllabench_step("write", rate=100, duration=1)
    """)
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*test_step: @pytest.mark.scyllabench_thresholds: *p98*"])


def test_plugin_is_inert_without_benchmarks(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain():\n    assert True\n")
    result = pytester.runpytest(f"--scyllabench-output={pytester.path / 'out'}")
    result.assert_outcomes(passed=1)
    assert not (pytester.path / "out").exists()
