"""The local executor with real subprocesses: exit codes, timeouts, streaming, files."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from pytest_scyllabench.errors import CommandError, CommandTimeout
from pytest_scyllabench.execute.local import LocalExecutor

PY = sys.executable


T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def test_run_returns_output_and_exit_code() -> None:
    result = run(LocalExecutor("node1").run(
        [PY, "-c", "import sys; print('out'); print('err', file=sys.stderr)"], timeout=30))
    assert result.exit_code == 0
    assert result.stdout == "out"
    assert result.stderr == "err"
    assert result.host == "node1"


def test_failure_names_host_command_exit_code_and_stderr_tail() -> None:
    script = "import sys\nfor i in range(30): print(f'line {i}', file=sys.stderr)\nsys.exit(3)"
    with pytest.raises(CommandError) as info:
        run(LocalExecutor("127.0.0.9").run([PY, "-c", script], timeout=30))
    message = str(info.value)
    assert info.value.exit_code == 3
    assert message.startswith("127.0.0.9: command failed (exit code 3): ")
    assert "line 29" in message and "line 20" in message
    assert "line 19" not in message  # only the tail


def test_check_false_returns_the_failure() -> None:
    result = run(LocalExecutor().run([PY, "-c", "raise SystemExit(5)"], timeout=30, check=False))
    assert result.exit_code == 5


def test_missing_program_is_a_command_error() -> None:
    with pytest.raises(CommandError, match="cannot execute"):
        run(LocalExecutor().run(["/nonexistent/program"], timeout=5))


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    # The child starts a grandchild in the same process group, then both sleep.
    script = (
        "import subprocess, sys, time\n"
        f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(p.pid))\n"
        "print('partial', file=sys.stderr, flush=True)\n"
        "time.sleep(60)\n"
    )
    began = time.monotonic()
    with pytest.raises(CommandTimeout) as info:
        run(LocalExecutor("local").run([PY, "-c", script], timeout=1.5))
    assert time.monotonic() - began < 10
    assert "timed out after 1.5 s" in str(info.value)
    assert "partial" in str(info.value)
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(grandchild)


def test_stdin_and_env_and_cwd(tmp_path: Path) -> None:
    script = "import os, sys; print(sys.stdin.read().upper(), os.environ['SB_X'], os.getcwd())"
    result = run(LocalExecutor().run([PY, "-c", script], timeout=30, stdin=b"abc",
                                     env={"SB_X": "42"}, cwd=str(tmp_path)))
    assert result.stdout == f"ABC 42 {tmp_path}"


def test_start_streams_stdout_to_callback_and_file(tmp_path: Path) -> None:
    lines: list[str] = []
    out = tmp_path / "logs" / "out.log"
    script = ("import sys, time\n"
              "for i in range(3):\n"
              "    print(f'tick {i}', flush=True); time.sleep(0.05)\n"
              "print('x' * 200000)\n"
              "print('oops', file=sys.stderr)\n")

    async def main() -> int:
        process = await LocalExecutor().start([PY, "-c", script], stdout_path=str(out),
                                              on_stdout=lines.append)
        code = await process.wait(timeout=30)
        assert process.stderr_tail() == "oops"
        return code

    assert run(main()) == 0
    assert lines[:3] == ["tick 0", "tick 1", "tick 2"]
    assert lines[3] == "x" * 200000  # a line longer than any read buffer
    assert out.read_text().splitlines()[:3] == ["tick 0", "tick 1", "tick 2"]


def test_a_failing_line_handler_does_not_stop_the_reading(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A progress handler that raises (its terminal went away) is dropped; the output is
    still read to its end, so the process does not block on a full pipe, and the file gets
    every line."""
    out = tmp_path / "out.log"
    script = "for i in range(20000):\n    print(f'line {i} ' + 'y' * 60)\n"  # ~1.4 MB
    calls: list[str] = []

    def broken(line: str) -> None:
        calls.append(line)
        raise BrokenPipeError("the terminal went away")

    async def main() -> int:
        process = await LocalExecutor().start([PY, "-c", script], stdout_path=str(out),
                                              on_stdout=broken)
        return await process.wait(timeout=60)

    assert run(main()) == 0
    assert calls == ["line 0 " + "y" * 60]  # called once, then dropped
    assert len(out.read_text().splitlines()) == 20000
    assert "a line handler failed and gets no more lines: BrokenPipeError" in caplog.text


def test_lines_arrive_while_the_process_runs() -> None:
    async def main() -> list[str]:
        seen: list[str] = []
        process = await LocalExecutor().start(
            [PY, "-c", "import time; print('ready', flush=True); time.sleep(30)"],
            on_stdout=seen.append)
        async with asyncio.timeout(10):
            while not seen:
                await asyncio.sleep(0.02)
        assert process.returncode is None
        await process.terminate(grace=5)
        return seen

    assert run(main()) == ["ready"]


def test_terminate_escalates_to_sigkill() -> None:
    script = ("import signal, time\n"
              "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
              "print('armed', flush=True)\n"
              "time.sleep(60)\n")

    async def main() -> tuple[int | None, int | None, float]:
        armed = asyncio.Event()
        process = await LocalExecutor().start(
            [PY, "-c", script], on_stdout=lambda line: armed.set())
        async with asyncio.timeout(10):
            await armed.wait()
        began = time.monotonic()
        code = await process.terminate(grace=0.5)
        again = await process.terminate(grace=0.5)  # idempotent
        return code, again, time.monotonic() - began

    code, again, elapsed = run(main())
    assert code == -9 and again == -9
    assert elapsed < 10


def test_wait_timeout_raises_command_timeout() -> None:
    async def main() -> None:
        process = await LocalExecutor("h").start([PY, "-c", "import time; time.sleep(30)"])
        try:
            with pytest.raises(CommandTimeout, match="h: command failed"):
                await process.wait(timeout=0.3)
        finally:
            await process.terminate(grace=1)

    run(main())


def test_child_runs_in_its_own_session() -> None:
    async def main() -> int:
        result = await LocalExecutor().run([PY, "-c", "import os; print(os.getsid(0))"],
                                           timeout=30)
        return int(result.stdout)

    assert run(main()) != os.getsid(0)


def test_detached_process_writes_both_streams_to_the_file(tmp_path: Path) -> None:
    out = tmp_path / "detached.log"

    async def main() -> None:
        process = await LocalExecutor().start(
            [PY, "-c", "import sys; print('to out'); print('to err', file=sys.stderr)"],
            stdout_path=str(out), detach=True)
        assert await process.wait(timeout=30) == 0
        assert "to err" in process.stderr_tail()

    run(main())
    assert set(out.read_text().splitlines()) == {"to out", "to err"}


def test_detached_process_refuses_a_callback(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="detached"):
        run(LocalExecutor().start([PY, "-c", "pass"], on_stdout=print, detach=True))


def test_put_and_get_copy_files(tmp_path: Path) -> None:
    source = tmp_path / "a.txt"
    source.write_text("payload")
    executor = LocalExecutor()
    run(executor.put(source, str(tmp_path / "remote" / "b.txt")))
    run(executor.get(str(tmp_path / "remote" / "b.txt"), tmp_path / "back" / "c.txt"))
    assert (tmp_path / "back" / "c.txt").read_text() == "payload"
    with pytest.raises(CommandError, match="copy failed"):
        run(executor.get(str(tmp_path / "missing"), tmp_path / "x"))


def test_attached_child_dies_with_its_parent(tmp_path: Path) -> None:
    """PR_SET_PDEATHSIG: a parent killed without teardown takes its attached children along."""
    parent = (
        "import asyncio, os, sys\n"
        "from pytest_scyllabench.execute.local import LocalExecutor\n"
        "async def main():\n"
        "    sleeper = [sys.executable, '-c', 'import time; time.sleep(60)']\n"
        "    p = await LocalExecutor().start(sleeper)\n"
        "    print(p.pid, flush=True)\n"
        "    os._exit(0)\n"
        "asyncio.run(main())\n"
    )
    result = run(LocalExecutor().run([PY, "-c", parent], timeout=30))
    child = int(result.stdout)
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)
