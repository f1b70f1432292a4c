"""What runs on the remote host: the ``sh`` wrapper around every command of the SSH executor.

Every command runs as ``exec sh -c <wrapper>`` whatever the login shell is. sshd starts that
shell as a session leader, so the wrapper's pid is also its process group id: the wrapper
reports it on stderr as its first line (``__scyllabench_pid__ <pid>``), then execs the
command (or stays as the group leader when it must tee stdout into a file). Killing the remote
command means ``kill -s SIG -- -<pid>``: the whole group, grandchildren included.

Environment values never appear on a command line (where ``ps`` and asyncssh's log would show
them): they are written to the wrapper's stdin, one ``NAME=value`` line each, ended by an empty
line, and exported by the wrapper before anything else.

An attached command (not detached, no stdin data) gets a *lifeline*: a background subshell
holding the channel's stdin, which never receives data. When the connection drops (this
process died or the network went away), sshd closes it, the subshell reads end of file and
kills the group if the command still runs, so the command dies with us as a local child does.
A detached command is started with ``setsid`` in its own session, its output in a file; its
exit code is written to a ``.rc`` file beside the output (or in ``/tmp``) by a small ``sh``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shlex
from collections import deque
from collections.abc import Mapping, Sequence

#: The first line of the wrapper's stderr: the remote process group id.
PID_MARKER = "__scyllabench_pid__ "
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

_READ_ENV = 'while IFS= read -r sb_l && [ -n "$sb_l" ]; do export "$sb_l"; done'
_REPORT_PID = f"printf '{PID_MARKER}%s\\n' \"$$\" >&2"
_LIFELINE = ('exec 3<&0 </dev/null\n'
             '( trap "" HUP INT TERM; read -r sb_l <&3; '
             'kill -s 0 "$$" 2>/dev/null && kill -s KILL 0 ) >/dev/null 2>&1 &\n'
             'exec 3<&-')
#: Runs the command with stdout both on the channel and appended to "$sb_out". POSIX sh has
#: no pipefail: the exit code travels back on fd 3. The wrapper and tee ignore SIGTERM (and the
#: subshell around the command catches it) so that what the command prints while it shuts down
#: still arrives and its exit code is known; the command itself gets SIGTERM's default action.
#: A command that died of a signal is mirrored by the wrapper killing itself with that signal.
_TEE = ('trap "" TERM\n'
        'exec 4>&1\n'
        'sb_rc=$( { { trap : TERM; "$@" 3>&- 4>&-; echo "$?" >&3; } '
        '| tee -a -- "$sb_out" >&4 3>&-; } 3>&1 )\n'
        'sb_rc=${sb_rc:-1}\n'
        'if [ "$sb_rc" -gt 128 ] && [ "$sb_rc" -lt 160 ]; then '
        'trap - TERM; kill -s "$(kill -l "$sb_rc")" "$$"; fi\n'
        'exit "$sb_rc"')


def env_preamble(env: Mapping[str, str] | None) -> bytes:
    """The bytes the wrapper reads from stdin before the command's own input."""
    if not env:
        return b""
    lines = []
    for name, value in env.items():
        if not _ENV_NAME.match(name):
            raise ValueError(f"invalid environment variable name {name!r}")
        if "\n" in value or "\0" in value:
            raise ValueError(f"the value of environment variable {name} holds a newline or NUL")
        lines.append(f"{name}={value}\n")
    return ("".join(lines) + "\n").encode()


def wrap(argv: Sequence[str], *, env: bool, cwd: str | None, lifeline: bool,
         stdout_path: str | None = None, tee: bool = False) -> str:
    """The remote command line running ``argv`` (attached) under the wrapper."""
    if not argv:
        raise ValueError("empty command")
    lines = _prologue(env, cwd)
    if lifeline:
        lines.append(_LIFELINE)
    if stdout_path is not None:
        lines.append(f"sb_out={shlex.quote(stdout_path)}")
        lines.append('mkdir -p -- "$(dirname -- "$sb_out")" || exit 1')
        lines.append(_TEE if tee else 'exec "$@" >>"$sb_out"')
    else:
        lines.append('exec "$@"')
    return _sh(lines, argv)


def wrap_detached(argv: Sequence[str], *, env: bool, cwd: str | None,
                  stdout_path: str | None, rc_path: str) -> str:
    """The remote command line starting ``argv`` in its own session; reports its pid and exits."""
    if not argv:
        raise ValueError("empty command")
    lines = [_READ_ENV] if env else []
    if cwd is not None:
        lines.append(f"cd -- {shlex.quote(cwd)} || exit 1")
    out = shlex.quote(stdout_path) if stdout_path is not None else "/dev/null"
    if stdout_path is not None:
        lines.append(f'mkdir -p -- "$(dirname -- {out})" || exit 1')
    lines.append(f'rm -f -- {shlex.quote(rc_path)}')
    lines.append(f"setsid sh -c '\"$@\"; echo \"$?\" >\"$0.tmp\" && mv \"$0.tmp\" \"$0\"' "
                 f"{shlex.quote(rc_path)} \"$@\" </dev/null >>{out} 2>&1 &")
    lines.append(f"printf '{PID_MARKER}%s\\n' \"$!\" >&2")
    return _sh(lines, argv)


def kill_group(pgid: int, signal_name: str) -> str:
    """The command signalling the process group ``pgid`` (works in dash, bash and zsh)."""
    return f"kill -s {signal_name} -- -{int(pgid)}"


def group_alive(pgid: int) -> str:
    """A command that succeeds while the process group ``pgid`` has a live member.

    ``kill -0`` alone also succeeds for zombies, which an init that does not reap (some
    containers) leaves behind; ``ps``, where installed, tells them apart.
    """
    pgid = int(pgid)
    return (f"kill -s 0 -- -{pgid} 2>/dev/null && {{ command -v ps >/dev/null 2>&1 || exit 0; "
            f"ps -e -o pgid= -o stat= | awk '$1 == {pgid} && $2 !~ /^Z/ {{ alive = 1 }} "
            "END { exit !alive }'; }")


def _prologue(env: bool, cwd: str | None) -> list[str]:
    lines = [_READ_ENV] if env else []
    lines.append(_REPORT_PID)
    if cwd is not None:
        lines.append(f"cd -- {shlex.quote(cwd)} || exit 1")
    return lines


def _sh(lines: Sequence[str], argv: Sequence[str]) -> str:
    """``exec sh -c <script> sh argv...``: the script sees the command as ``"$@"``."""
    return f"exec sh -c {shlex.quote(chr(10).join(lines))} sh {shlex.join(argv)}"


class StderrSink:
    """Collects stderr lines, taking the wrapper's pid line out of them.

    ``settled`` is set once the pid is known or stderr has ended without one.
    """

    def __init__(self, keep: int | None) -> None:
        self.lines: deque[str] = deque(maxlen=keep)
        self.pid: int | None = None
        self.settled = asyncio.Event()

    def __call__(self, line: str) -> None:
        if not self.settled.is_set() and line.startswith(PID_MARKER):
            self.settled.set()
            with contextlib.suppress(ValueError):
                self.pid = int(line[len(PID_MARKER):])
            return
        self.lines.append(line)

    def ended(self) -> None:
        self.settled.set()

    def text(self, lines: int | None = None) -> str:
        kept = list(self.lines)
        return "\n".join(kept if lines is None else kept[-lines:])
