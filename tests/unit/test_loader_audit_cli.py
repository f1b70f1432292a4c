"""The loader's command line refuses values it cannot run with, naming the argument.

Non-finite numbers used to pass (``inf`` is ``>= 0``) and crash the run phase with a
traceback (``OverflowError`` from the operation count, ``ValueError`` from the start time);
a zero duration divided by zero in the progress line; a port above 65535 reached the driver.
"""

from __future__ import annotations

import pytest

from pytest_scyllabench.loader.cli import parse_args
from pytest_scyllabench.loader.workload import workload_to_json
from pytest_scyllabench.stress.step import Workload

WORKLOAD = workload_to_json(Workload("w", {"write": 1.0}, partitions=100))


def _parse(*extra: str) -> None:
    parse_args(["--phase", "run", "--hosts", "h", "--driver", "fake", "--hdr-log", "l.hlog",
                "--workload-json", WORKLOAD, *extra])


@pytest.mark.parametrize(("extra", "message"), [
    (["--duration", "inf"], "argument --duration: must be finite"),
    (["--duration", "0"], "argument --duration: must be > 0"),
    (["--warmup", "inf"], "argument --warmup: must be finite"),
    (["--warmup", "-1"], "argument --warmup: must be >= 0"),
    (["--start-at", "nan"], "argument --start-at: must be finite"),
    (["--start-at", "inf"], "argument --start-at: must be finite"),
    (["--start-at", "x"], "argument --start-at: "),
    (["--request-timeout", "inf"], "argument --request-timeout: must be finite"),
    (["--connect-timeout=-inf"], "argument --connect-timeout: must be finite"),
    (["--fake-latency-ms", "inf"], "argument --fake-latency-ms: must be finite"),
    (["--port", "70000"], "argument --port: must be <= 65535"),
    (["--port", "0"], "argument --port: must be >= 1"),
])
def test_bad_values_are_refused_naming_the_argument(
        extra: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        _parse(*extra)
    assert exc.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert message in error


def test_good_values_pass() -> None:
    parse_args(["--phase", "run", "--hosts", "h", "--driver", "fake", "--hdr-log", "l.hlog",
                "--workload-json", WORKLOAD, "--duration", "0.5", "--warmup", "0",
                "--start-at", "1795516325.371", "--port", "65535", "--request-timeout", "0"])
