"""Find processes by their command line, to prove that nothing was left behind."""

from __future__ import annotations

from pathlib import Path


def processes_matching(*needles: str) -> list[tuple[int, str]]:
    """(pid, command line) of every live process whose command line holds all ``needles``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state == "Z":
            continue
        command = raw.replace(b"\0", b" ").decode(errors="replace")
        if all(needle in command for needle in needles):
            found.append((int(entry.name), command))
    return found


def interruptible() -> None:
    """``preexec_fn`` of a child the test stops with SIGINT, as Ctrl-C would.

    A test run as a background job of a non-interactive shell inherits SIGINT ignored, and so
    would the child: Python would then never raise KeyboardInterrupt in it.
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
