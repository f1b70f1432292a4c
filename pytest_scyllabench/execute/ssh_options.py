"""How to reach hosts over SSH: user, port, key, host-key policy, timeouts, concurrency.

Kept apart from the executor so that settings and profiles can parse and validate SSH options
without asyncssh installed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pytest_scyllabench.errors import ConfigError

#: What to say when asyncssh is missing.
REMOTE_EXTRA_HINT = ("the ssh executor needs asyncssh: "
                     "pip install 'pytest-scyllabench[remote]'")

KnownHostsMode = Literal["strict", "accept-new", "off"]
_MODES: tuple[KnownHostsMode, ...] = ("strict", "accept-new", "off")
#: A login user name on a POSIX host (useradd's rule, with directory users such as
#: ``jane@corp.example`` and machine accounts ending in ``$``), which ssh passes on as it is.
_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}\$?")
USER_RULE = ("letters, digits, '_', '.', '@', '-' and a final '$', at most 65, not starting "
             "with '-', '.' or '@'")


def is_user_name(text: str) -> bool:
    """Whether ``text`` can be the login user of a host (see :data:`USER_RULE`)."""
    return _USER.fullmatch(text) is not None


_SYNTAX = "strict:<known_hosts file>, accept-new:<session known_hosts file> or off"


@dataclass(frozen=True)
class KnownHostsPolicy:
    """How host keys are checked; always stated explicitly, never a silent default.

    * ``strict:<file>``: the host key must be in ``file`` (OpenSSH known_hosts format);
    * ``accept-new:<file>``: a host absent from ``file`` is trusted on first use and its key
      appended to ``file`` (a session known_hosts file); a host present with another key is
      refused;
    * ``off``: no checking at all, for test beds only (a warning is logged per host).
    """

    mode: KnownHostsMode
    path: Path | None = None

    def __post_init__(self) -> None:
        if self.mode not in _MODES:
            raise ConfigError(f"unknown known-hosts policy {self.mode!r}; use {_SYNTAX}")
        if self.mode == "off" and self.path is not None:
            raise ConfigError("known-hosts policy 'off' takes no file")
        if self.mode != "off" and self.path is None:
            raise ConfigError(f"known-hosts policy {self.mode!r} needs a file: {self.mode}:<path>")

    @classmethod
    def parse(cls, text: str) -> KnownHostsPolicy:
        """Parse ``strict:<file>``, ``accept-new:<file>`` or ``off``."""
        name, colon, path = text.strip().partition(":")
        mode = next((known for known in _MODES if known == name), None)
        if mode is None:
            raise ConfigError(f"unknown known-hosts policy {text!r}; use {_SYNTAX}")
        if colon and not path.strip():
            raise ConfigError(f"known-hosts policy {text!r} names no file; use {_SYNTAX}")
        return cls(mode, Path(path.strip()).expanduser() if colon else None)

    def __str__(self) -> str:
        return self.mode if self.path is None else f"{self.mode}:{self.path}"


@dataclass(frozen=True)
class SshOptions:
    """Everything an ``SshExecutor`` needs besides the host's address.

    ``connect_timeout`` bounds the whole connection, retries included: unreachable hosts and
    refused connections are retried with backoff (at most ``connect_attempts`` times) until it
    runs out; a refused key or an untrusted host key fails at once. ``max_sessions`` bounds the
    commands and transfers running at once on one host; it must stay below the server's
    ``MaxSessions`` (OpenSSH: 10), which also counts the channels of started processes and of
    the short control commands (``kill``) the executor sends.
    """

    key_path: Path
    known_hosts: KnownHostsPolicy
    user: str = "root"
    port: int = 22
    connect_timeout: float = 30.0
    connect_attempts: int = 5
    max_sessions: int = 8
    keepalive_interval: float = 15.0
    transfer_timeout: float = 1800.0
    #: The private key's passphrase, if it has one; never shown in repr, logs or messages.
    key_passphrase: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.user:
            raise ConfigError("ssh user must not be empty")
        if not 1 <= self.port <= 65535:
            raise ConfigError(f"ssh port must be 1..65535, not {self.port}")
        for name in ("connect_timeout", "keepalive_interval", "transfer_timeout"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"ssh {name} must be a positive number of seconds, not {value}")
        if self.connect_attempts < 1:
            raise ConfigError(f"ssh connect_attempts must be at least 1, not "
                              f"{self.connect_attempts}")
        if self.max_sessions < 1:
            raise ConfigError(f"ssh max_sessions must be at least 1, not {self.max_sessions}")
