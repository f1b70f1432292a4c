"""The SSH executor against real OpenSSH servers, each in its own network namespace."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import testbed
from testbed import TestBed, TestHost

from pytest_scyllabench.errors import CommandError, CommandTimeout, ProvisionError
from pytest_scyllabench.execute.ssh import KnownHostsPolicy, SshExecutor, SshOptions

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(testbed.skip_reason() is not None, reason=testbed.skip_reason() or ""),
]

T = TypeVar("T")
#: Planted secrets: none of them may appear in an exception message or a log record.
KEY_MARKER = "SB-PLANTED-KEY-MATERIAL-5c1e"
PASSWORD = "SB-PLANTED-PASSWORD-a9d2"


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


@pytest.fixture(scope="module")
def bed() -> Iterator[TestBed]:
    with testbed.testbed(2) as built:
        inodes = built.netns_inodes()
        yield built
    # Nothing of ours is left: no namespace, no link, no process in our namespaces (sshd,
    # per-connection children, commands), and our state file is gone.
    assert not [name for name in testbed.leftovers() if built.id in name]
    assert testbed.processes_in_namespaces(inodes) == []
    assert not (testbed.STATE_DIR / f"{built.id}.json").exists()
    assert not built.workdir.exists()


def options(bed: TestBed, **overrides: Any) -> SshOptions:
    settings: dict[str, Any] = {"key_path": bed.client_key,
                                "known_hosts": KnownHostsPolicy("strict", bed.known_hosts),
                                "connect_timeout": 10.0}
    settings.update(overrides)
    return SshOptions(**settings)


def executor(bed: TestBed, host: TestHost, **overrides: Any) -> SshExecutor:
    return SshExecutor(host.address, options(bed, **overrides))


def in_namespace(bed: TestBed, host: TestHost, prefix: str) -> list[str]:
    """Command lines of live processes in ``host``'s namespace that start with ``prefix``."""
    return [command for _, command in bed.processes(host) if command.startswith(prefix)]


def pgrep_in_netns(host: TestHost, pattern: str) -> str:
    result = subprocess.run(["ip", "netns", "exec", host.netns, "pgrep", "-a", "-f", pattern],
                            capture_output=True, text=True, check=False, timeout=30)
    return result.stdout.strip()


def accepted(bed: TestBed, host: TestHost) -> int:
    """How many SSH connections ``host``'s sshd has accepted so far."""
    return bed.sshd_log(host).count("Accepted publickey for root")


def settle(check: Any, timeout: float = 5.0) -> Any:
    """Poll ``check()`` until it returns something falsy; return its last value."""
    deadline = time.monotonic() + timeout
    value = check()
    while value and time.monotonic() < deadline:
        time.sleep(0.05)
        value = check()
    return value


# --- commands ---------------------------------------------------------------------------------


def test_run_on_both_hosts_reads_output_and_exit_code(bed: TestBed) -> None:
    async def main() -> list[tuple[str, str, str, int]]:
        executors = [executor(bed, host) for host in bed.hosts]
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(ex.run(
                    ["sh", "-c", "ip -4 -o addr show dev eth0 | awk '{print $4}'; "
                                 "echo warn >&2"], timeout=30)) for ex in executors]
            codes = await executors[0].run(["sh", "-c", "exit 5"], timeout=30, check=False)
        finally:
            for ex in executors:
                await ex.close()
        return [(t.result().host, t.result().stdout, t.result().stderr, codes.exit_code)
                for t in tasks]

    results = run(main())
    for host, (name, stdout, stderr, code) in zip(bed.hosts, results, strict=True):
        assert name == host.address
        assert stdout == f"{host.address}/24"
        assert stderr == "warn"
        assert code == 5


def test_failure_names_host_command_exit_code_and_stderr_tail(bed: TestBed) -> None:
    host = bed.hosts[1]
    script = "for i in $(seq 0 29); do echo line $i >&2; done; exit 3"
    with pytest.raises(CommandError) as info:
        run(_once(executor(bed, host), ["sh", "-c", script], timeout=30))
    message = str(info.value)
    assert info.value.exit_code == 3 and info.value.host == host.address
    assert message.startswith(f"{host.address}: command failed (exit code 3): "
                              f"sh -c 'for i in")
    assert "line 29" in message and "line 20" in message
    assert "line 19" not in message


def test_env_cwd_and_stdin(bed: TestBed) -> None:
    script = 'printf "%s %s " "$SB_X" "$(pwd)"; tr a-z A-Z'
    result = run(_once(executor(bed, bed.hosts[0]), ["sh", "-c", script], timeout=30,
                       env={"SB_X": "it's $x"}, cwd="/tmp", stdin=b"abc"))
    assert result.stdout == "it's $x /tmp ABC"


def test_hanging_command_times_out_naming_the_host(bed: TestBed) -> None:
    host = bed.hosts[0]
    began = time.monotonic()
    with pytest.raises(CommandTimeout) as info:
        run(_once(executor(bed, host), ["sleep", "600.1"], timeout=2))
    elapsed = time.monotonic() - began
    assert elapsed < 2 + 3
    assert str(info.value).startswith(f"{host.address}: command failed (timed out after 2 s)")
    assert settle(lambda: in_namespace(bed, host, "sleep 600.1")) == []


def test_waiting_for_a_busy_session_slot_times_out_naming_the_host(bed: TestBed) -> None:
    host = bed.hosts[0]
    marker = "/tmp/sbtest-slot-wait"

    async def main() -> CommandTimeout:
        ex = executor(bed, host, max_sessions=1)
        try:
            await ex.run(["rm", "-f", marker], timeout=30)
            holder = asyncio.create_task(ex.run(["sleep", "600.2"], timeout=600))
            await asyncio.sleep(0.5)  # the holder has the only slot
            try:
                with pytest.raises(CommandTimeout) as info:
                    await ex.run(["touch", marker], timeout=1)
            finally:
                holder.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await holder
            await ex.run(["true"], timeout=30)  # the slot is free again
            listed = await ex.run(["ls", marker], timeout=30, check=False)
            assert listed.exit_code != 0  # the timed-out command never ran
            return info.value
        finally:
            await ex.close()

    error = run(main())
    assert str(error) == (f"{host.address}: command failed (timed out after 1 s waiting for a "
                          f"free SSH session (all 1 of max_sessions busy)): touch {marker}")
    assert settle(lambda: in_namespace(bed, host, "sleep 600.2")) == []


def test_start_streams_lines_to_callback_and_remote_file(bed: TestBed) -> None:
    host = bed.hosts[1]
    remote_log = "/tmp/sbtest-stream/out.log"
    script = ("for i in 0 1 2; do echo tick $i; sleep 0.1; done; "
              "head -c 200000 /dev/zero | tr '\\0' x; echo; echo oops >&2")

    async def main() -> tuple[list[str], int, str, str]:
        lines: list[str] = []
        ex = executor(bed, host)
        try:
            await ex.run(["rm", "-rf", "/tmp/sbtest-stream"], timeout=30)
            process = await ex.start(["sh", "-c", script], stdout_path=remote_log,
                                     on_stdout=lines.append)
            code = await process.wait(timeout=30)
            written = (await ex.run(["cat", remote_log], timeout=30)).stdout
            return lines, code, process.stderr_tail(), written
        finally:
            await ex.close()

    lines, code, tail, written = run(main())
    assert code == 0
    assert lines == ["tick 0", "tick 1", "tick 2", "x" * 200000]
    assert tail == "oops"
    assert written.splitlines() == lines


def test_lines_arrive_while_it_runs_and_terminate_kills_the_group(bed: TestBed) -> None:
    host = bed.hosts[0]
    script = "sleep 600.2 & sleep 600.3 & echo ready; wait"

    async def main() -> tuple[list[str], int | None, int | None, list[str]]:
        seen: list[str] = []
        ex = executor(bed, host)
        try:
            process = await ex.start(["sh", "-c", script], on_stdout=seen.append)
            async with asyncio.timeout(15):
                while not seen:
                    await asyncio.sleep(0.02)
            assert process.returncode is None
            running = in_namespace(bed, host, "sleep 600.")
            code = await process.terminate(grace=5)
            again = await process.terminate(grace=5)  # idempotent
            return seen, code, again, running
        finally:
            await ex.close()

    seen, code, again, running = run(main())
    assert seen == ["ready"]
    assert len(running) == 2
    assert code == -15 and again == -15
    assert settle(lambda: pgrep_in_netns(host, "^sleep 600[.][23]")) == ""
    assert settle(lambda: in_namespace(bed, host, "sleep 600.")) == []


def test_terminate_escalates_to_sigkill(bed: TestBed) -> None:
    script = "trap '' TERM; echo armed; sleep 600.4"

    async def main() -> tuple[int | None, float]:
        armed = asyncio.Event()
        ex = executor(bed, bed.hosts[1])
        try:
            process = await ex.start(["sh", "-c", script], on_stdout=lambda _: armed.set(),
                                     stdout_path="/tmp/sbtest-escalate.log")
            async with asyncio.timeout(15):
                await armed.wait()
            began = time.monotonic()
            code = await process.terminate(grace=0.5)
            return code, time.monotonic() - began
        finally:
            await ex.close()

    code, elapsed = run(main())
    assert code == -9
    assert elapsed < 10
    assert settle(lambda: in_namespace(bed, bed.hosts[1], "sleep 600.4")) == []


def test_wait_timeout_raises_command_timeout(bed: TestBed) -> None:
    host = bed.hosts[0]

    async def main() -> None:
        ex = executor(bed, host)
        try:
            process = await ex.start(["sleep", "600.5"])
            with pytest.raises(CommandTimeout, match=f"^{host.address}: command failed"):
                await process.wait(timeout=0.5)
            await process.terminate(grace=2)
        finally:
            await ex.close()

    run(main())


def test_attached_command_dies_when_the_connection_drops_and_it_reconnects(
        bed: TestBed) -> None:
    host = bed.hosts[1]

    async def main() -> tuple[int, str]:
        ex = executor(bed, host)
        try:
            before = accepted(bed, host)
            process = await ex.start(["sh", "-c", "sleep 600.6 & sleep 600.7"])
            async with asyncio.timeout(15):
                while len(in_namespace(bed, host, "sleep 600.")) < 2:
                    await asyncio.sleep(0.05)
            for pid, command in bed.processes(host):  # drop the connection server-side
                if command.startswith("sshd: root@notty"):
                    os.kill(pid, 9)
            with pytest.raises(CommandError, match="connection was lost"):
                await process.wait(timeout=15)
            result = await ex.run(["echo", "again"], timeout=30)
            return accepted(bed, host) - before, result.stdout
        finally:
            await ex.close()

    connections, stdout = run(main())
    assert stdout == "again" and connections == 2
    assert settle(lambda: in_namespace(bed, host, "sleep 600.")) == []


def test_detached_process_outlives_the_connection(bed: TestBed) -> None:
    host = bed.hosts[0]
    out = "/tmp/sbtest-detached/out.log"
    go = "/tmp/sbtest-detached/go"
    script = f"echo to-out; echo to-err >&2; until [ -e {go} ]; do sleep 0.05; done; exit 4"

    async def main() -> tuple[list[str], int, str, int | None]:
        ex = executor(bed, host)
        try:
            await ex.run(["rm", "-rf", "/tmp/sbtest-detached"], timeout=30)
            process = await ex.start(["sh", "-c", script], stdout_path=out, detach=True)
            await ex.close()  # the connection goes; the detached command stays
            await asyncio.sleep(0.3)
            running = in_namespace(bed, host, f"sh -c {script}")
            await ex.run(["touch", go], timeout=30)
            code = await process.wait(timeout=30)
            tail = process.stderr_tail()
            sleeper = await ex.start(["sleep", "600.8"], detach=True)
            killed = await sleeper.terminate(grace=5)
            return running, code, tail, killed
        finally:
            await ex.close()

    running, code, tail, killed = run(main())
    assert running  # (more than one while its loop forks a sleep)
    assert code == 4
    assert tail.splitlines() in (["to-out", "to-err"], ["to-err", "to-out"])
    assert killed == -15
    assert settle(lambda: in_namespace(bed, host, "sleep 600.8")) == []


# --- files ------------------------------------------------------------------------------------


def test_put_and_get_round_trip_a_file(bed: TestBed, tmp_path: Path) -> None:
    payload = os.urandom(3 << 20)
    source = tmp_path / "payload.bin"
    source.write_bytes(payload)
    host = bed.hosts[1]

    async def main() -> str:
        ex = executor(bed, host)
        try:
            await ex.put(source, "/tmp/sbtest-files/deep/payload.bin")
            digest = await ex.run(["sha256sum", "/tmp/sbtest-files/deep/payload.bin"],
                                  timeout=30)
            await ex.get("/tmp/sbtest-files/deep/payload.bin", tmp_path / "back" / "p.bin")
            with pytest.raises(CommandError, match=f"^{host.address}: .*copy failed"):
                await ex.get("/tmp/sbtest-files/missing", tmp_path / "missing")
            return digest.stdout.split()[0]
        finally:
            await ex.close()

    import hashlib

    assert run(main()) == hashlib.sha256(payload).hexdigest()
    assert (tmp_path / "back" / "p.bin").read_bytes() == payload


# --- connecting -------------------------------------------------------------------------------


def test_unreachable_host_raises_provision_error_within_the_connect_timeout(
        bed: TestBed) -> None:
    """Commands waiting for the same connection share its one attempt and its error."""
    address = bed.unused_address()

    async def main() -> list[BaseException | Any]:
        ex = SshExecutor(address, options(bed, connect_timeout=2.0))
        try:
            return await asyncio.gather(*(ex.run(["true"], timeout=30) for _ in range(5)),
                                        return_exceptions=True)
        finally:
            await ex.close()

    began = time.monotonic()
    outcomes = run(main())
    assert time.monotonic() - began < 2.0 + 1.5
    for outcome in outcomes:
        assert isinstance(outcome, ProvisionError)
        assert str(outcome).startswith(f"{address}: cannot connect to root@{address}:22 "
                                       "within 2 s")


def test_wrong_key_raises_provision_error(bed: TestBed) -> None:
    wrong = bed.workdir / "wrong_key"
    if not wrong.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(wrong)],
                       check=True, timeout=30)
    host = bed.hosts[0]
    began = time.monotonic()
    with pytest.raises(ProvisionError) as info:
        run(_once(executor(bed, host, key_path=wrong, connect_timeout=5.0), ["true"],
                  timeout=30))
    assert time.monotonic() - began < 5.0
    message = str(info.value)
    assert message.startswith(f"{host.address}: root@{host.address}:22 refused the key ")
    assert str(wrong) in message
    assert "BEGIN" not in message and wrong.read_text().split("\n")[1] not in message


def test_known_hosts_policies(bed: TestBed, tmp_path: Path) -> None:
    host = bed.hosts[0]
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    with pytest.raises(ProvisionError, match=f"^{host.address}: the host key .* not trusted "
                                             f"\\(known-hosts policy strict:"):
        run(_once(executor(bed, host, known_hosts=KnownHostsPolicy("strict", empty)),
                  ["true"], timeout=30))

    session = tmp_path / "session" / "known_hosts"
    tofu = KnownHostsPolicy("accept-new", session)
    run(_once(executor(bed, host, known_hosts=tofu), ["true"], timeout=30))
    recorded = session.read_text().split()
    assert recorded == [host.address, *host.host_key_pub.read_text().split()[:2]]
    # The recorded key is then checked, by a fresh executor as by strict checking.
    run(_once(executor(bed, host, known_hosts=tofu), ["true"], timeout=30))
    strict = KnownHostsPolicy("strict", session)
    run(_once(executor(bed, host, known_hosts=strict), ["true"], timeout=30))
    # A host recorded with another key (a changed host key) is refused, not re-recorded.
    other = " ".join(bed.hosts[1].host_key_pub.read_text().split()[:2])
    session.write_text(f"{host.address} {other}\n")
    with pytest.raises(ProvisionError, match=r"not trusted .*accept-new"):
        run(_once(executor(bed, host, known_hosts=tofu), ["true"], timeout=30))
    assert session.read_text() == f"{host.address} {other}\n"


def test_checking_off_is_logged(bed: TestBed, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="pytest_scyllabench")
    run(_once(executor(bed, bed.hosts[1], known_hosts=KnownHostsPolicy("off")), ["true"],
              timeout=30))
    assert f"{bed.hosts[1].address}: host key checking is off" in caplog.text


def test_concurrent_commands_share_one_connection_within_the_bound(bed: TestBed) -> None:
    host = bed.hosts[1]
    bound, count = 3, 24
    script = ('d=/tmp/sbtest-concurrency; mkdir -p $d; touch $d/$$; ls $d | wc -l; '
              'sleep 0.3; rm $d/$$')

    async def main() -> tuple[list[int], float]:
        ex = executor(bed, host, max_sessions=bound)
        try:
            await ex.run(["rm", "-rf", "/tmp/sbtest-concurrency"], timeout=30)
            began = time.monotonic()
            results = await asyncio.gather(*(ex.run(["sh", "-c", script], timeout=60)
                                             for _ in range(count)))
            return [int(r.stdout) for r in results], time.monotonic() - began
        finally:
            await ex.close()

    before = accepted(bed, host)
    active, elapsed = run(main())
    assert accepted(bed, host) - before == 1  # one connection for all of them
    assert max(active) <= bound
    assert max(active) >= 2  # they did overlap
    assert elapsed >= count / bound * 0.3


def test_six_hosts_in_parallel_beside_another_bed(bed: TestBed) -> None:
    """A second bed (another id and subnet) comes up while the module's bed runs."""
    with testbed.testbed(6) as six:
        assert six.subnet != bed.subnet and six.id != bed.id

        async def main() -> list[str]:
            executors = [executor(six, host) for host in six.hosts]
            try:
                async with asyncio.TaskGroup() as group:
                    tasks = [group.create_task(ex.run(["cat", "/proc/sys/kernel/hostname"],
                                                      timeout=30)) for ex in executors]
            finally:
                for ex in executors:
                    await ex.close()
            return [task.result().host for task in tasks]

        assert run(main()) == [host.address for host in six.hosts]
        inodes = six.netns_inodes()
    assert testbed.processes_in_namespaces(inodes) == []
    assert not [name for name in testbed.leftovers() if six.id in name]


def test_cleanup_removes_what_a_crashed_run_left_and_spares_live_beds(bed: TestBed) -> None:
    crash = ("import os, signal, sys\n"
             f"sys.path.insert(0, {str(Path(testbed.__file__).parent)!r})\n"
             "import testbed\n"
             "with testbed.testbed(1) as bed:\n"
             "    print(bed.id, bed.workdir, flush=True)\n"
             "    os.kill(os.getpid(), signal.SIGKILL)\n")
    child = subprocess.run([sys.executable, "-c", crash], capture_output=True, text=True,
                           timeout=60, check=False)
    assert child.returncode == -9, child.stderr
    crashed, workdir = child.stdout.split()
    netns = f"sbtest-{crashed}-1"
    inode = Path(f"/run/netns/{netns}").stat().st_ino
    assert netns in testbed.leftovers() and testbed.processes_in_namespaces({inode})

    removed = testbed.cleanup_leftovers()

    assert crashed in removed and bed.id not in removed
    assert not [name for name in testbed.leftovers() if crashed in name]
    assert testbed.processes_in_namespaces({inode}) == []
    assert not Path(workdir).exists()
    assert not (testbed.STATE_DIR / f"{crashed}.json").exists()
    result = run(_once(executor(bed, bed.hosts[0]), ["echo", "alive"], timeout=30))
    assert result.stdout == "alive"


# --- secrets ----------------------------------------------------------------------------------


def test_planted_secrets_never_reach_messages_or_logs(
        bed: TestBed, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, asyncssh's included
    host = bed.hosts[0]
    fake_key = bed.workdir / "fake_key"
    fake_key.write_text(f"-----BEGIN OPENSSH PRIVATE KEY-----\n{KEY_MARKER}\n"
                        "-----END OPENSSH PRIVATE KEY-----\n")
    protected = bed.workdir / "protected_key"
    if not protected.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "right-passphrase", "-f",
                        str(protected)], check=True, timeout=30)
    errors: list[BaseException] = []

    async def main() -> list[str]:
        for key, passphrase in ((fake_key, None), (protected, PASSWORD)):
            with pytest.raises(ProvisionError) as info:
                await _once(executor(bed, host, key_path=key, key_passphrase=passphrase),
                            ["true"], timeout=30)
            errors.append(info.value)
        ex = executor(bed, host)
        try:
            env = {"SB_PASSWORD": PASSWORD}
            with pytest.raises(CommandError) as failed:
                await ex.run(["sh", "-c", 'test -n "$SB_PASSWORD"; echo nope >&2; exit 2'],
                             timeout=30, env=env)
            errors.append(failed.value)
            with pytest.raises(CommandTimeout) as hung:
                await ex.run(["sleep", "600.9"], timeout=1, env=env)
            errors.append(hung.value)
            process = await ex.start(["sh", "-c", 'echo "${#SB_PASSWORD}"; sleep 600.9'],
                                     env=env)
            await asyncio.sleep(0.5)
            visible = [command for _, command in bed.processes(host)]
            await process.terminate(grace=2)
            return visible
        finally:
            await ex.close()

    visible = run(main())
    assert len(errors) == 4
    for error in errors:
        text = _chain_text(error)
        assert KEY_MARKER not in text and PASSWORD not in text
    assert str(fake_key) in str(errors[0]) and str(protected) in str(errors[1])
    assert KEY_MARKER not in caplog.text and PASSWORD not in caplog.text
    assert not [command for command in visible if PASSWORD in command]  # not in remote ps
    assert "sleep 600.9" in caplog.text  # the log did record the commands


def _chain_text(error: BaseException) -> str:
    parts = []
    seen: BaseException | None = error
    while seen is not None:
        parts += [str(seen), repr(seen), repr(getattr(seen, "args", ""))]
        seen = seen.__cause__ or seen.__context__
    return "\n".join(parts)


async def _once(ex: SshExecutor, command: list[str], **kwargs: Any) -> Any:
    """One command on a fresh executor, closed afterwards."""
    try:
        return await ex.run(command, **kwargs)
    finally:
        await ex.close()
