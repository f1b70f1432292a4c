"""``scyllabench aws``: what the command prints and exits with, on moto in-process (mock_aws)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_scyllabench import cli

moto = pytest.importorskip("moto")


@pytest.fixture(autouse=True)
def fake_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """Fake credentials only, no profile or config file of this machine, an empty moto."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    with moto.mock_aws():
        yield


@pytest.mark.parametrize("url", ["ec2.example.com", "http://bad host"])
def test_an_endpoint_botocore_refuses_is_one_error_line(
        url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["aws", "list", "--run-id", "20261123-193839-a1b2c3",
                     "--endpoint-url", url]) == 1
    err = capsys.readouterr().err
    assert err.startswith("scyllabench: error: ") and err.count("\n") == 1
    assert url in err
