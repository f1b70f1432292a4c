"""The SSH executor without a server: the remote wrapper (run by a local sh), quoting,
messages, options and the known-hosts policy, key errors and the missing-asyncssh hint."""

from __future__ import annotations

import asyncio
import importlib
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_scyllabench.errors import (
    CommandError,
    ConfigError,
    MissingDependencyError,
    ProvisionError,
)
from pytest_scyllabench.execute.ssh_options import KnownHostsPolicy, SshOptions
from pytest_scyllabench.execute.ssh_wrapper import (
    PID_MARKER,
    StderrSink,
    env_preamble,
    group_alive,
    kill_group,
    wrap,
    wrap_detached,
)

SECRET = "SB-PLANTED-SECRET-7f3a9c"


def as_login_shell(remote: str, stdin: bytes = b"", *, lifeline: bool = False,
                   timeout: float = 30) -> subprocess.CompletedProcess[bytes]:
    """Run a remote command line as sshd does: ``<login shell> -c <line>``, in a new session.

    With a lifeline, stdin stays open until the command ends, as the executor keeps it.
    """
    if not lifeline:
        return subprocess.run(["bash", "-c", remote], input=stdin, capture_output=True,
                              timeout=timeout, start_new_session=True, check=False)
    process = subprocess.Popen(["bash", "-c", remote], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True)
    assert process.stdin is not None and process.stdout is not None
    assert process.stderr is not None
    process.stdin.write(stdin)
    process.stdin.flush()
    try:
        out, err = process.stdout.read(), process.stderr.read()
        code = process.wait(timeout=timeout)
    finally:
        process.stdin.close()
        process.kill()
    return subprocess.CompletedProcess(remote, code, out, err)


def split_pid(stderr: bytes) -> tuple[int, list[str]]:
    lines = stderr.decode().splitlines()
    assert lines[0].startswith(PID_MARKER), lines
    return int(lines[0][len(PID_MARKER):]), lines[1:]


# --- the wrapper ------------------------------------------------------------------------------


def test_arguments_reach_the_command_verbatim() -> None:
    argv = ["printf", "%s|", "two words", "it's", '"dq"', "$HOME", "`id`", "a\nb", "*", ""]
    result = as_login_shell(wrap(argv, env=False, cwd=None, lifeline=False))
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == "two words|it's|\"dq\"|$HOME|`id`|a\nb|*||"


def test_the_wrapper_reports_its_process_group_first() -> None:
    result = as_login_shell(wrap(["sh", "-c", "echo err >&2; ps -o pgid= -p $$"], env=False,
                                 cwd=None, lifeline=True), lifeline=True)
    pid, rest = split_pid(result.stderr)
    assert rest == ["err"]
    assert int(result.stdout) == pid  # the command runs in the group the wrapper reported


def test_environment_comes_from_stdin_and_cwd_is_entered(tmp_path: Path) -> None:
    env = {"SB_A": "x y'z$HOME", "SB_B": ""}
    remote = wrap(["sh", "-c", 'printf "%s|%s|%s" "$SB_A" "$SB_B" "$(pwd)"; cat'], env=True,
                  cwd=str(tmp_path), lifeline=False)
    assert "x y'z" not in remote  # values never on the command line
    result = as_login_shell(remote, stdin=env_preamble(env) + b"input")
    assert result.stdout.decode() == f"x y'z$HOME||{tmp_path}input"


def test_a_missing_directory_fails_before_the_command(tmp_path: Path) -> None:
    result = as_login_shell(wrap(["touch", str(tmp_path / "ran")], env=False,
                                 cwd=str(tmp_path / "missing"), lifeline=False))
    assert result.returncode == 1
    assert not (tmp_path / "ran").exists()


@pytest.mark.parametrize("value", ["a\nb", "a\0b"])
def test_env_values_with_newlines_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="SB_X"):
        env_preamble({"SB_X": value})


def test_env_names_are_checked() -> None:
    with pytest.raises(ValueError, match="invalid environment variable name"):
        env_preamble({"A B": "1"})
    assert env_preamble({}) == b""
    assert env_preamble({"A": "1", "B": "2"}) == b"A=1\nB=2\n\n"


def test_tee_keeps_the_exit_code_and_appends_to_the_file(tmp_path: Path) -> None:
    out = tmp_path / "logs" / "out.log"
    out.parent.mkdir()
    out.write_text("before\n")
    remote = wrap(["sh", "-c", "echo one; echo two; exit 3"], env=False, cwd=None,
                  lifeline=False, stdout_path=str(out), tee=True)
    result = as_login_shell(remote)
    assert result.returncode == 3
    assert result.stdout.decode().splitlines() == ["one", "two"]
    assert out.read_text().splitlines() == ["before", "one", "two"]


def test_tee_mirrors_death_by_signal(tmp_path: Path) -> None:
    remote = wrap(["sh", "-c", "kill -s SEGV $$"], env=False, cwd=None, lifeline=False,
                  stdout_path=str(tmp_path / "out.log"), tee=True)
    assert as_login_shell(remote).returncode == -11


def test_stdout_only_to_a_file_creates_its_directory(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b" / "out.log"
    result = as_login_shell(wrap(["echo", "hi"], env=False, cwd=None, lifeline=False,
                                 stdout_path=str(out)))
    assert result.returncode == 0 and result.stdout == b""
    assert out.read_text() == "hi\n"


def test_the_lifeline_kills_the_group_when_stdin_closes() -> None:
    """What happens when the connection drops: sshd closes the wrapper's stdin."""
    remote = wrap(["sh", "-c", "sleep 60 & sleep 61"], env=False, cwd=None, lifeline=True)
    process = subprocess.Popen(["bash", "-c", remote], stdin=subprocess.PIPE,
                               stderr=subprocess.PIPE, start_new_session=True)
    assert process.stderr is not None and process.stdin is not None
    pid = int(process.stderr.readline().decode()[len(PID_MARKER):])
    time.sleep(0.3)
    assert _group_members(pid)
    began = time.monotonic()
    process.stdin.close()
    assert process.wait(timeout=10) == -9
    while _group_members(pid) and time.monotonic() - began < 5:
        time.sleep(0.05)
    assert not _group_members(pid)


def test_a_finished_command_leaves_its_lifeline_nothing_to_kill() -> None:
    remote = wrap(["true"], env=False, cwd=None, lifeline=True)
    process = subprocess.Popen(["bash", "-c", remote], stdin=subprocess.PIPE,
                               stderr=subprocess.PIPE, start_new_session=True)
    assert process.wait(timeout=10) == 0


def test_detached_command_reports_its_session_and_writes_its_exit_code(tmp_path: Path) -> None:
    out, rc = tmp_path / "logs" / "d.log", tmp_path / "logs" / "d.log.rc"
    remote = wrap_detached(["sh", "-c", "echo out; echo err >&2; exit 4"], env=True, cwd=None,
                           stdout_path=str(out), rc_path=str(rc))
    result = as_login_shell(remote, stdin=env_preamble({"SB_X": "1"}))
    assert result.returncode == 0
    pid, _ = split_pid(result.stderr)
    deadline = time.monotonic() + 10
    while not rc.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert rc.read_text().strip() == "4"
    assert set(out.read_text().splitlines()) == {"out", "err"}
    assert pid > 0


def test_group_alive_and_kill_group_commands() -> None:
    sleeper = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        assert subprocess.run(["sh", "-c", group_alive(sleeper.pid)]).returncode == 0
        assert subprocess.run(["sh", "-c", kill_group(sleeper.pid, "TERM")]).returncode == 0
        assert sleeper.wait(timeout=10) == -15
        assert subprocess.run(["sh", "-c", group_alive(sleeper.pid)]).returncode != 0
    finally:
        sleeper.kill()


def test_a_group_of_zombies_is_not_alive() -> None:
    """An init that does not reap leaves zombies, which ``kill -0`` still finds."""
    zombie = subprocess.Popen(["true"], start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while _state(zombie.pid) != "Z" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _state(zombie.pid) == "Z"
        kill_0 = f"kill -s 0 -- -{zombie.pid}"
        assert subprocess.run(["sh", "-c", kill_0]).returncode == 0
        assert subprocess.run(["sh", "-c", group_alive(zombie.pid)]).returncode != 0
    finally:
        zombie.wait(timeout=10)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return ""


def test_stderr_sink_takes_out_the_pid_line_only_once() -> None:
    sink = StderrSink(keep=3)
    for line in ["boot noise", f"{PID_MARKER}123", "a", f"{PID_MARKER}9", "b", "c"]:
        sink(line)
    assert sink.pid == 123 and sink.settled.is_set()
    assert sink.text() == f"{PID_MARKER}9\nb\nc"
    assert sink.text(1) == "c"


def test_an_empty_command_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        wrap([], env=False, cwd=None, lifeline=False)


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if fields[0] != "Z" and int(fields[2]) == pgid:
                members.append(int(entry.name))
    return members


# --- messages ---------------------------------------------------------------------------------


def test_command_error_quotes_the_command_with_shlex() -> None:
    import shlex

    error = CommandError("node1", shlex.join(["sh", "-c", "exit 3"]), 3, "boom")
    assert str(error).startswith("node1: command failed (exit code 3): sh -c 'exit 3'")
    assert str(error).endswith("boom")


# --- options ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "mode", "path"), [
    ("strict:/etc/ssh/ssh_known_hosts", "strict", "/etc/ssh/ssh_known_hosts"),
    ("accept-new:/tmp/session/known_hosts", "accept-new", "/tmp/session/known_hosts"),
    (" off ", "off", None),
])
def test_known_hosts_policy_parses(text: str, mode: str, path: str | None) -> None:
    policy = KnownHostsPolicy.parse(text)
    assert policy.mode == mode
    assert policy.path == (Path(path) if path else None)
    assert KnownHostsPolicy.parse(str(policy)) == policy


@pytest.mark.parametrize(("text", "problem"), [
    ("strict", "needs a file"),
    ("accept-new", "needs a file"),
    ("strict:", "names no file"),
    ("off:/tmp/x", "takes no file"),
    ("yes", "unknown known-hosts policy"),
    ("", "unknown known-hosts policy"),
])
def test_known_hosts_policy_refuses(text: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        KnownHostsPolicy.parse(text)


def test_known_hosts_policy_expands_the_home_directory() -> None:
    policy = KnownHostsPolicy.parse("strict:~/.ssh/known_hosts")
    assert policy.path == Path.home() / ".ssh" / "known_hosts"


@pytest.mark.parametrize(("field", "value", "problem"), [
    ("port", 0, "port"), ("port", 70000, "port"), ("user", "", "user"),
    ("connect_timeout", 0.0, "connect_timeout"), ("connect_timeout", float("inf"), "connect"),
    ("connect_attempts", 0, "connect_attempts"), ("max_sessions", 0, "max_sessions"),
])
def test_ssh_options_are_validated(field: str, value: object, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        SshOptions(key_path=Path("k"), known_hosts=KnownHostsPolicy("off"),
                   **{field: value})  # type: ignore[arg-type]


def test_the_passphrase_is_not_in_repr() -> None:
    options = SshOptions(key_path=Path("/keys/id"), known_hosts=KnownHostsPolicy("off"),
                         key_passphrase=SECRET)
    assert SECRET not in repr(options)
    assert "/keys/id" in repr(options)


# --- the executor without a server ------------------------------------------------------------


def test_an_unreadable_key_names_the_file_not_its_content(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from pytest_scyllabench.execute.ssh import SshExecutor

    caplog.set_level("DEBUG")
    fake = tmp_path / "id_fake"
    fake.write_text(f"-----BEGIN OPENSSH PRIVATE KEY-----\n{SECRET}\n"
                    "-----END OPENSSH PRIVATE KEY-----\n")
    executor = SshExecutor("192.0.2.1", SshOptions(
        key_path=fake, known_hosts=KnownHostsPolicy("off"), key_passphrase=SECRET))
    with pytest.raises(ProvisionError) as info:
        asyncio.run(executor.run(["true"], timeout=5))
    assert str(fake) in str(info.value) and "192.0.2.1" in str(info.value)
    assert SECRET not in _chain_text(info.value)
    assert SECRET not in caplog.text
    missing = SshExecutor("h1", SshOptions(key_path=tmp_path / "none",
                                           known_hosts=KnownHostsPolicy("off")))
    with pytest.raises(ProvisionError, match=r"h1: cannot read the private key file .*none"):
        asyncio.run(missing.run(["true"], timeout=5))


def test_a_detached_process_refuses_a_callback(tmp_path: Path) -> None:
    from pytest_scyllabench.execute.ssh import SshExecutor

    executor = SshExecutor("h", SshOptions(key_path=tmp_path / "k",
                                           known_hosts=KnownHostsPolicy("off")))
    with pytest.raises(ValueError, match="detached"):
        asyncio.run(executor.start(["true"], on_stdout=print, detach=True))


def test_missing_asyncssh_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "asyncssh", None)  # makes `import asyncssh` fail
    for name in ("ssh", "ssh_connect"):
        monkeypatch.delitem(sys.modules, f"pytest_scyllabench.execute.{name}", raising=False)
        with pytest.raises(MissingDependencyError,
                           match=r"pip install 'pytest-scyllabench\[remote\]'"):
            importlib.import_module(f"pytest_scyllabench.execute.{name}")
    # Options parse without asyncssh, so settings can be validated before anything else.
    monkeypatch.delitem(sys.modules, "pytest_scyllabench.execute.ssh_options", raising=False)
    options = importlib.import_module("pytest_scyllabench.execute.ssh_options")
    assert options.KnownHostsPolicy.parse("off").mode == "off"


def _chain_text(error: BaseException) -> str:
    """Every message and repr along an exception's cause and context chain."""
    parts = []
    seen: BaseException | None = error
    while seen is not None:
        parts += [str(seen), repr(seen)]
        seen = seen.__cause__ or seen.__context__
    return "\n".join(parts)
