"""moto in server mode, standing in for the EC2 API: one server per test module."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from procs import processes_matching

MOTO_SERVER = Path(sys.executable).parent / "moto_server"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def moto_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not MOTO_SERVER.exists():
        pytest.skip("moto_server is not installed: pip install -e '.[dev]'")
    port = _free_port()
    log_path = tmp_path_factory.mktemp("moto") / "moto_server.log"
    url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen([str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)],
                                   stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    try:
        deadline, last = time.monotonic() + 60, "not started"
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"moto_server exited ({process.returncode}): {log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{url}/moto-api/data.json", timeout=2):
                    break
            except OSError as exc:
                last = str(exc)
                time.sleep(0.2)
        else:
            pytest.fail(f"moto_server did not answer within 60 s: {last}")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
    assert processes_matching(str(MOTO_SERVER), str(port)) == []


def ec2_leftovers(ec2: Any) -> dict[str, list[str]]:
    """What a run may leave in EC2: live instances, security groups, key pairs."""
    instances = [i["InstanceId"] for r in ec2.describe_instances()["Reservations"]
                 for i in r["Instances"] if i["State"]["Name"] != "terminated"]
    groups = [g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]
              if g["GroupName"] != "default"]
    keys = [k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]]
    return {"instances": instances, "security_groups": groups, "key_pairs": keys}
