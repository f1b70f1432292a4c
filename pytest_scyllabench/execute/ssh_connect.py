"""Connecting to a host over SSH: retries, the private key and the known-hosts policy.

Unreachable hosts and refused connections are retried with exponential backoff, within
``connect_timeout`` in all and at most ``connect_attempts`` times; the last error is reported. A
refused key or an untrusted host key fails at once: retrying cannot help. The private key is
read by this process (so asyncssh never looks for other keys or an agent) and is never logged
nor put in a message; its path is. No OpenSSH client configuration file is read: the options
are the whole truth.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from pytest_scyllabench.errors import MissingDependencyError, ProvisionError
from pytest_scyllabench.execute.ssh_options import REMOTE_EXTRA_HINT, SshOptions

try:
    import asyncssh
except ImportError as exc:
    raise MissingDependencyError(REMOTE_EXTRA_HINT) from exc

log = logging.getLogger(__name__)

#: Pauses between connection attempts: doubling from the first, capped.
BACKOFF_FIRST, BACKOFF_MAX = 0.25, 4.0


def _host_pattern(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


class _TrustOnFirstUse(asyncssh.SSHClient):
    """Accepts the key of a host absent from the session known_hosts file, and records it."""

    def __init__(self, path: Path, port: int) -> None:
        self._path = path
        self._port = port

    def validate_host_public_key(self, host: str, addr: str, port: int,
                                 key: asyncssh.SSHKey) -> bool:
        if self._path.is_file():
            known = asyncssh.read_known_hosts(str(self._path))
            if any(known.match(host, addr, port)):
                return False  # the host is known with another key: refuse, as ssh does
        line = f"{_host_pattern(host, self._port)} {key.export_public_key().decode().strip()}\n"
        self._path.parent.mkdir(parents=True, exist_ok=True)
        with self._path.open("a", encoding="ascii") as handle:
            handle.write(line)
        log.warning("%s: trusting host key %s on first use (recorded in %s)",
                    host, key.get_fingerprint(), self._path)
        return True


class Connector:
    """Makes connections to one host as ``options`` say."""

    def __init__(self, address: str, name: str, options: SshOptions) -> None:
        self._address = address
        self._name = name
        self._options = options
        self._key: asyncssh.SSHKey | None = None
        self._warned_unchecked = False

    async def connect(self) -> asyncssh.SSHClientConnection:
        """A new authenticated connection; retried with backoff within ``connect_timeout``."""
        opts = self._options
        target = f"{opts.user}@{self._address}:{opts.port}"
        key = self._private_key()
        loop = asyncio.get_running_loop()
        began = loop.time()
        deadline = began + opts.connect_timeout
        last, attempt = "no attempt could be made", 0
        last_exc: BaseException | None = None
        while attempt < opts.connect_attempts and (remaining := deadline - loop.time()) > 0:
            attempt += 1
            try:
                async with asyncio.timeout(remaining):
                    conn = await self._connect_once(key)
            except asyncssh.PermissionDenied as exc:
                raise ProvisionError(f"{self._name}: {target} refused the key "
                                     f"{opts.key_path}: {exc.reason}") from exc
            except asyncssh.HostKeyNotVerifiable as exc:
                raise ProvisionError(f"{self._name}: the host key of {target} is not trusted "
                                     f"(known-hosts policy {opts.known_hosts}): "
                                     f"{exc.reason}") from exc
            except TimeoutError as exc:
                last, last_exc = "no answer (timed out)", exc
            except (asyncssh.Error, OSError) as exc:
                last = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
                last_exc = exc
            else:
                log.debug("%s: connected to %s (attempt %d)", self._name, target, attempt)
                return conn
            log.debug("%s: connecting to %s failed (attempt %d): %s",
                      self._name, target, attempt, last)
            pause = min(BACKOFF_FIRST * 2 ** (attempt - 1), BACKOFF_MAX)
            if attempt < opts.connect_attempts and deadline - loop.time() > pause:
                await asyncio.sleep(pause)
        raise ProvisionError(
            f"{self._name}: cannot connect to {target} within {opts.connect_timeout:g} s "
            f"({attempt} attempt(s) in {loop.time() - began:.1f} s): {last}") from last_exc

    async def _connect_once(self, key: asyncssh.SSHKey) -> asyncssh.SSHClientConnection:
        opts = self._options
        policy = opts.known_hosts
        factory: Callable[[], asyncssh.SSHClient] = asyncssh.SSHClient
        known_hosts: str | asyncssh.SSHKnownHosts | None = None
        if policy.mode == "strict" and policy.path is not None:
            if not policy.path.is_file():
                raise ProvisionError(f"{self._name}: known_hosts file {policy.path} "
                                     "does not exist (known-hosts policy strict)")
            known_hosts = str(policy.path)
        elif policy.mode == "accept-new" and policy.path is not None:
            path = policy.path
            known_hosts = (str(path) if path.is_file()
                           else asyncssh.import_known_hosts(""))
            factory = lambda: _TrustOnFirstUse(path, opts.port)  # noqa: E731
        elif not self._warned_unchecked:
            self._warned_unchecked = True
            log.warning("%s: host key checking is off (known-hosts policy 'off')", self._name)
        conn: asyncssh.SSHClientConnection = await asyncssh.connect(
            self._address, opts.port, username=opts.user, client_keys=[key],
            known_hosts=known_hosts, client_factory=factory, config=[], agent_path=None,
            password=None, kbdint_auth=False, preferred_auth="publickey",
            keepalive_interval=opts.keepalive_interval, keepalive_count_max=3)
        return conn

    def _private_key(self) -> asyncssh.SSHKey:
        """The client key, read once; errors name the file, never its content."""
        if self._key is None:
            path = self._options.key_path
            try:
                self._key = asyncssh.read_private_key(path, self._options.key_passphrase)
            except OSError as exc:
                raise ProvisionError(f"{self._name}: cannot read the private key file {path}: "
                                     f"{exc.strerror or type(exc).__name__}") from exc
            except (asyncssh.KeyImportError, ValueError) as exc:
                raise ProvisionError(f"{self._name}: cannot load the private key file {path} "
                                     f"({exc}; a protected key needs its passphrase)") from exc
        return self._key
