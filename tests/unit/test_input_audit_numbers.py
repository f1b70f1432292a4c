"""Numbers a profile gives that no tool can take: infinite floats, integers beyond 64 bits
(they were accepted and failed, or ran forever, after the cluster started)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_profile_support import error_of, write

from pytest_scyllabench.profile_schema import load_profile


@pytest.mark.parametrize(("text", "field"), [
    ("warmup: {seconds: .inf}\n", "warmup.seconds"),
    ("database: {start_timeout: .inf}\n", "database.start_timeout"),
    ("workloads:\n  w: {mix: {write: .inf}}\n", "workloads.w.mix.write"),
    ("workloads:\n  w: {mix: {write: 1, read: .inf}}\n", "workloads.w.mix.read"),
    ("workloads:\n  w: {mix: {write: 1}, zipf_exponent: .inf}\n", "workloads.w.zipf_exponent"),
    ("workloads:\n  w: {mix: {write: 1}, gaussian_stddev: -.inf}\n",
     "workloads.w.gaussian_stddev"),
])
def test_infinity_is_refused(tmp_path: Path, text: str, field: str) -> None:
    message = error_of(write(tmp_path, text))
    assert f"p.yaml: {field}: must be a finite number, got " in message


@pytest.mark.parametrize(("text", "field"), [
    (f"workloads:\n  w: {{mix: {{write: 1}}, partitions: {2**63}}}\n", "workloads.w.partitions"),
    (f"workloads:\n  w: {{mix: {{write: 1}}, row_size: {10**30}}}\n", "workloads.w.row_size"),
    (f"workloads:\n  w: {{mix: {{write: 1}}, populate: {10**30}}}\n", "workloads.w.populate"),
    (f"loaders: {{concurrency: {10**25}}}\n", "loaders.concurrency"),
    (f"warmup: {{rate: {-(2**63) - 1}}}\n", "warmup.rate"),
])
def test_integer_beyond_64_bits_is_refused(tmp_path: Path, text: str, field: str) -> None:
    message = error_of(write(tmp_path, text))
    assert f"p.yaml: {field}: must be an integer of 64 bits" in message
    assert len(message) < 300


def test_largest_64_bit_integer_is_kept(tmp_path: Path) -> None:
    text = f"workloads:\n  w: {{mix: {{write: 1}}, partitions: {2**63 - 1}}}\n"
    assert load_profile(write(tmp_path, text)).workloads["w"].partitions == 2**63 - 1


@pytest.mark.parametrize(("text", "field", "written"), [
    ("rate_tolerance: 5e-2\n", "rate_tolerance", "5e-2"),
    ("warmup: {seconds: 1e2}\n", "warmup.seconds", "1e2"),
    ("workloads:\n  w: {mix: {write: 1}, partitions: 1e6}\n", "workloads.w.partitions", "1e6"),
])
def test_exponent_without_a_dot_says_why_it_is_text(tmp_path: Path, text: str, field: str,
                                                    written: str) -> None:
    # YAML 1.1 (PyYAML) reads 5e-2 as a string: "must be a number, got a string ('5e-2')"
    # said no more than that.
    message = error_of(write(tmp_path, text))
    assert f"p.yaml: {field}: must be " in message
    assert f"got a string ('{written}'): YAML reads {written} as text" in message
