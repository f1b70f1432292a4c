"""``static.ssh`` settings of a profile: session and retry bounds, and the key's passphrase,
taken from an environment variable the profile names and never shown anywhere."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from test_profile_support import error_of as profile_error

from pytest_scyllabench.errors import ProvisionError
from pytest_scyllabench.profile_schema import load_profile

#: A planted passphrase: it must appear in no message, log line or repr.
PLANTED = "planted-Passphrase-7f3c9e"
VARIABLE = "SB_TEST_KEY_PASS"

PROFILE = """
provisioner: static
static:
  ssh: {{key: id_test, known_hosts: "off"{ssh}}}
  servers: [10.0.0.1]
  loaders: [10.0.0.9]
database: {{replication_factor: 1}}
"""


def write(tmp_path: Path, ssh: str = "", key: bytes = b"not really a key") -> Path:
    (tmp_path / "id_test").write_bytes(key)
    path = tmp_path / "static.yaml"
    path.write_text(PROFILE.format(ssh=ssh))
    return path


def error_of(path: Path) -> str:
    message = profile_error(path)
    assert message.startswith(f"{path}: ")
    return message


def test_defaults(tmp_path: Path) -> None:
    static = load_profile(write(tmp_path)).static
    assert static is not None
    for user in ("ec2-user", "jane@corp.example", "svc_bench$"):
        loaded = load_profile(write(tmp_path, f", user: '{user}'")).static
        assert loaded is not None and loaded.ssh.user == user
    assert (static.ssh.max_sessions, static.ssh.connect_attempts) == (8, 5)
    assert static.ssh.key_passphrase is None


def test_sessions_and_attempts_reach_the_options(tmp_path: Path) -> None:
    static = load_profile(write(tmp_path, ", max_sessions: 3, connect_attempts: 9")).static
    assert static is not None
    assert (static.ssh.max_sessions, static.ssh.connect_attempts) == (3, 9)


@pytest.mark.parametrize(("ssh", "problem"), [
    (", max_sessions: 0", "static.ssh.max_sessions: must be at least 1, got 0"),
    (", connect_attempts: -2", "static.ssh.connect_attempts: must be at least 1, got -2"),
    (", max_sessions: 2.5", "static.ssh.max_sessions: must be an integer"),
    (", connect_attempts: many", "static.ssh.connect_attempts: must be an integer"),
    (", key_passphrase_env: 'not a name'",
     "static.ssh.key_passphrase_env: must name an environment variable"),
    (", user: \"ubuntu\\nroot\"", "static.ssh.user: not a user name"),
    (", user: '-oProxyCommand=x'", "static.ssh.user: not a user name"),
    (", user: ''", "static.ssh.user: not a user name"),
])
def test_bad_values_name_the_field(tmp_path: Path, ssh: str, problem: str) -> None:
    assert problem in error_of(write(tmp_path, ssh))


def test_a_known_hosts_path_with_a_line_break_is_not_a_file_name(tmp_path: Path) -> None:
    path = write(tmp_path)
    path.write_text(path.read_text().replace('known_hosts: "off"',
                                             'known_hosts: "accept-new:/tmp/a\\nb"'))
    assert "static.ssh.known_hosts: not a file name: " in error_of(path)


def test_the_variable_must_be_set_when_the_profile_loads(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(VARIABLE, raising=False)
    path = write(tmp_path, f", key_passphrase_env: {VARIABLE}")
    assert (f"static.ssh.key_passphrase_env: environment variable {VARIABLE} is not set"
            in error_of(path))
    monkeypatch.setenv(VARIABLE, "")
    assert f"environment variable {VARIABLE} is empty" in error_of(path)


def test_a_passphrase_written_in_the_profile_is_refused_unrepeated(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, f", key_passphrase: {PLANTED}"))
    assert "static.ssh.key_passphrase: a passphrase is never written in a profile" in message
    assert PLANTED not in message


def test_the_passphrase_is_loaded_but_never_shown(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VARIABLE, PLANTED)
    profile = load_profile(write(tmp_path, f", key_passphrase_env: {VARIABLE}"))
    assert profile.static is not None
    assert profile.static.ssh.key_passphrase == PLANTED
    assert PLANTED not in repr(profile) and PLANTED not in str(profile)
    # Another error of the same profile does not show it either.
    bad = write(tmp_path, f", key_passphrase_env: {VARIABLE}, max_sessions: 0")
    assert PLANTED not in error_of(bad)


def _encrypted_key(passphrase: str) -> bytes:
    asyncssh = pytest.importorskip("asyncssh")
    key = asyncssh.generate_private_key("ecdsa-sha2-nistp256")
    # PKCS#8: OpenSSH's own encrypted format needs bcrypt, which asyncssh may lack.
    exported: bytes = key.export_private_key("pkcs8-pem", passphrase=passphrase)
    return exported


def test_the_connector_opens_the_key_with_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    from pytest_scyllabench.execute.ssh_connect import Connector

    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv(VARIABLE, PLANTED)
    path = write(tmp_path, f", key_passphrase_env: {VARIABLE}", key=_encrypted_key(PLANTED))
    static = load_profile(path).static
    assert static is not None
    key = Connector("10.0.0.1", "node1", static.ssh)._private_key()
    assert key.get_fingerprint()
    # A wrong passphrase fails naming the file, showing neither passphrase.
    wrong = "wrong-" + PLANTED
    monkeypatch.setenv(VARIABLE, wrong)
    static = load_profile(path).static
    assert static is not None
    connector = Connector("10.0.0.1", "node1", static.ssh)
    with pytest.raises(ProvisionError) as info:
        asyncio.run(connector.connect())
    text = " ".join(str(e) for e in (info.value, info.value.__cause__) if e is not None)
    assert "node1" in text and str(tmp_path / "id_test") in text
    assert PLANTED not in text and PLANTED not in caplog.text
