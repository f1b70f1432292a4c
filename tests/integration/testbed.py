"""A test bed of real OpenSSH servers, each in its own network namespace (needs root).

One run (one :class:`TestBed`) has a short random id and owns:

* network namespaces ``sbtest-<id>-<n>`` (n = 1..N), each with ``lo`` up and an ``eth0`` that is
  one end of a veth pair whose other end ``sbt<id>v<n>`` is a port of the bridge ``sbt<id>br``;
* the subnet ``10.213.<k>.0/24`` (k chosen free under a lock): the bridge in the root
  namespace is ``.1``, host n is ``.<n+1>``; addresses from ``.200`` up are never used;
* one ``/usr/sbin/sshd -D`` per namespace, listening on the host's address with its own host key,
  config, pid file and log in the run's directory ``/run/sbtest/<id>/``, accepting root with one
  generated client key. sshd runs under a small reaper (a child subreaper, as a host's init) in
  the mount namespace ``ip netns exec`` makes, where each host gets its own empty ``/root`` and
  ``/tmp`` (bind mounts of ``/run/sbtest/<id>/host<n>/{home,tmp}``): hosts do not share files,
  and this machine's ``~/.bashrc`` (which bash reads for commands run by sshd) is not theirs;
* a state file ``/run/sbtest/<id>.json`` naming the owning process, written (under a lock)
  before anything else is created, so that :func:`cleanup_leftovers` removes what a crashed run
  left behind and never touches a live run of another test process.

Closing the bed (also after failures) kills every process in its namespaces, deletes the
namespaces (which deletes the veth pairs), the bridge, the temporary directory and the state
file. It installs nothing: sshd comes from ``scripts/ensure-system-deps.sh``.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

SSHD = Path("/usr/sbin/sshd")
NETNS_PREFIX = "sbtest-"
LINK_PREFIX = "sbt"
STATE_DIR = Path("/run/sbtest")
SUBNET_BASE = "10.213"
#: First address of each subnet that no host ever gets (for "unreachable host" tests).
UNUSED_FROM = 200
_NETNS_NAME = re.compile(r"^sbtest-([0-9a-f]{6})-\d+$")
_LINK_NAME = re.compile(r"^sbt([0-9a-f]{6})(?:br|v\d+)$")
_RUN_ID = re.compile(r"^[0-9a-f]{6}$")
_COMMAND_TIMEOUT = 30.0


@dataclass(frozen=True)
class TestHost:
    """One namespace host with its sshd."""

    __test__ = False  # not a test class, despite its name

    index: int
    netns: str
    address: str
    host_key_pub: Path


@dataclass
class TestBed:
    """N namespace hosts reachable from the root namespace over SSH (as root, key auth)."""

    __test__ = False  # not a test class, despite its name

    id: str
    subnet: int
    workdir: Path
    client_key: Path
    known_hosts: Path
    hosts: list[TestHost] = field(default_factory=list)
    _sshds: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _closed: bool = False

    @property
    def bridge(self) -> str:
        return f"{LINK_PREFIX}{self.id}br"

    def unused_address(self, offset: int = 0) -> str:
        """An address on the bed's subnet where no host answers."""
        return f"{SUBNET_BASE}.{self.subnet}.{UNUSED_FROM + offset}"

    def processes(self, host: TestHost) -> list[tuple[int, str]]:
        """(pid, command line) of every live process inside ``host``'s namespace."""
        return [(pid, _cmdline(pid)) for pid in _netns_pids(host.netns)]

    def sshd_log(self, host: TestHost) -> str:
        return (self.workdir / f"host{host.index}" / "sshd.log").read_text(errors="replace")

    def netns_inodes(self) -> set[int]:
        """The namespaces' inode numbers: they identify a process's namespace even after
        the namespace's name is deleted (see :func:`processes_in_namespaces`)."""
        return {Path(f"/run/netns/{host.netns}").stat().st_ino for host in self.hosts}

    def close(self) -> None:
        """Remove everything this bed created; idempotent, tolerant of half-built beds."""
        if self._closed:
            return
        self._closed = True
        # Kill everything but the reapers, which reap it all and then exit: nothing is left
        # as a zombie for this machine's init. Whatever remains is killed by _remove_run.
        reapers = {process.pid for process in self._sshds}
        deadline = time.monotonic() + 5
        while any(p.poll() is None for p in self._sshds) and time.monotonic() < deadline:
            for host in self.hosts:
                for pid in set(_netns_pids(host.netns)) - reapers:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            time.sleep(0.02)
        _remove_run(self.id, self.workdir)
        for process in self._sshds:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)


def skip_reason() -> str | None:
    """Why the test bed cannot run here, or ``None``."""
    if os.geteuid() != 0:
        return "the SSH test bed needs root (network namespaces)"
    if shutil.which("ip") is None:
        return "the SSH test bed needs iproute2's `ip`"
    if not SSHD.is_file() or shutil.which("ssh-keygen") is None:
        return "the SSH test bed needs openssh-server (run scripts/ensure-system-deps.sh)"
    probe = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return f"`ip netns` is not available: {probe.stderr.strip()}"
    return None


@contextlib.contextmanager
def testbed(count: int, ready_timeout: float = 30.0) -> Iterator[TestBed]:
    """Bring up ``count`` namespace hosts with sshd; remove them all on exit."""
    if not 1 <= count <= UNUSED_FROM - 2:
        raise ValueError(f"a test bed has 1 to {UNUSED_FROM - 2} hosts, not {count}")
    cleanup_leftovers()
    run_id = secrets.token_hex(3)
    workdir = STATE_DIR / run_id
    subnet = _claim_subnet(run_id, workdir)
    bed = TestBed(id=run_id, subnet=subnet, workdir=workdir, client_key=workdir / "client_key",
                  known_hosts=workdir / "known_hosts")
    try:  # from here on, bed.close() removes whatever exists, whatever failed
        _build(bed, count, ready_timeout)
        yield bed
    finally:
        bed.close()


def cleanup_leftovers() -> list[str]:
    """Remove namespaces, links, files and processes of earlier test beds whose owner is dead.

    Returns the ids of the runs that were removed.
    """
    removed = []
    with _locked():  # a run's state file exists whenever any of its parts does
        ids: set[str] = set()
        for name in _netns_names():
            if match := _NETNS_NAME.match(name):
                ids.add(match.group(1))
        for name in _link_names():
            if match := _LINK_NAME.match(name):
                ids.add(match.group(1))
        ids.update(path.name.partition(".")[0] for path in STATE_DIR.iterdir()
                   if _RUN_ID.match(path.name.partition(".")[0]))
        for run_id in sorted(ids):
            state = _read_state(run_id)
            if state is not None and _owner_alive(state):
                continue
            _remove_run(run_id, STATE_DIR / run_id)
            removed.append(run_id)
    return removed


def leftovers() -> list[str]:
    """Names of every sbtest namespace and link that exist now (of any run)."""
    return ([n for n in _netns_names() if n.startswith(NETNS_PREFIX)]
            + [n for n in _link_names() if _LINK_NAME.match(n)])


def processes_in_namespaces(inodes: set[int]) -> list[tuple[int, str]]:
    """Live processes of this machine whose network namespace is one of ``inodes``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                inode = (entry / "ns" / "net").stat().st_ino
            except OSError:
                continue
            if inode in inodes and _alive(int(entry.name)):
                found.append((int(entry.name), _cmdline(int(entry.name))))
    return found


def sshd_processes() -> list[tuple[int, str]]:
    """Every live sshd process of this machine: listeners and per-connection children."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            command = _cmdline(int(entry.name))
            if command.startswith(("sshd", str(SSHD))) and _alive(int(entry.name)):
                found.append((int(entry.name), command))
    return found


# --- building ---------------------------------------------------------------------------------


def _build(bed: TestBed, count: int, ready_timeout: float) -> None:
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
    _keygen(bed.client_key, "sbtest client")
    _ip("link", "add", bed.bridge, "type", "bridge")
    _ip("addr", "add", f"{SUBNET_BASE}.{bed.subnet}.1/24", "dev", bed.bridge)
    _ip("link", "set", bed.bridge, "up")
    for index in range(1, count + 1):
        bed.hosts.append(_add_host(bed, index))
    bed.known_hosts.write_text("".join(
        f"{host.address} {' '.join(host.host_key_pub.read_text().split()[:2])}\n"
        for host in bed.hosts))
    for host in bed.hosts:
        bed._sshds.append(_start_sshd(bed, host))
    deadline = time.monotonic() + ready_timeout
    for host, process in zip(bed.hosts, bed._sshds, strict=True):
        _wait_listening(host, process, deadline)


def _add_host(bed: TestBed, index: int) -> TestHost:
    netns = f"{NETNS_PREFIX}{bed.id}-{index}"
    veth = f"{LINK_PREFIX}{bed.id}v{index}"
    address = f"{SUBNET_BASE}.{bed.subnet}.{index + 1}"
    _ip("netns", "add", netns)
    _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns)
    _ip("link", "set", veth, "master", bed.bridge, "up")
    _ip("-n", netns, "link", "set", "lo", "up")
    _ip("-n", netns, "addr", "add", f"{address}/24", "dev", "eth0")
    _ip("-n", netns, "link", "set", "eth0", "up")
    home = bed.workdir / f"host{index}"
    home.mkdir()
    (home / "home").mkdir(mode=0o700)
    (home / "tmp").mkdir()
    (home / "tmp").chmod(0o1777)
    host_key = home / "ssh_host_ed25519_key"
    _keygen(host_key, f"sbtest host {index}")
    (home / "sshd_config").write_text(
        f"ListenAddress {address}\n"
        "Port 22\n"
        f"HostKey {host_key}\n"
        f"PidFile {home / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {bed.client_key}.pub\n"
        "PermitRootLogin prohibit-password\n"
        "PubkeyAuthentication yes\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "UsePAM no\n"
        "StrictModes no\n"
        "UseDNS no\n"
        "PrintMotd no\n"
        # OpenSSH's defaults, stated because the concurrency tests depend on them.
        "MaxSessions 10\n"
        "MaxStartups 10:30:100\n"
        "Subsystem sftp internal-sftp\n"
        "LogLevel VERBOSE\n"
    )
    return TestHost(index=index, netns=netns, address=address,
                    host_key_pub=Path(f"{host_key}.pub"))


#: Directories every test-bed host sees even when they lie under ``/tmp`` or ``/root`` (which
#: are private to each host): this checkout, with its virtualenv, so that a loader host can run
#: the plugin wherever CI cloned it.
SHARED_PATHS = (str(Path(__file__).resolve().parents[2]), sys.prefix)

#: Runs sshd as a child subreaper, as a host's init would: processes orphaned inside the host
#: (a detached command, a killed wrapper's children) are reaped instead of staying zombies
#: under this machine's init, which may not reap them.
_REAPER = """
import ctypes, os, signal, subprocess, sys
home, tmp, shared, *sshd_argv = sys.argv[1:]
for private, target in ((home, "/root"), (tmp, "/tmp")):
    # Paths every host must see (this checkout and its virtualenv) stay visible through the
    # private directory: bound into it first, then the whole tree is bound over the target.
    for path in filter(None, shared.split(os.pathsep)):
        if path.startswith(target + "/"):
            inside = os.path.join(private, os.path.relpath(path, target))
            os.makedirs(inside, exist_ok=True)
            subprocess.run(["mount", "--bind", path, inside], check=True)
    subprocess.run(["mount", "--rbind", private, target], check=True)
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
sshd = subprocess.Popen(sshd_argv)
signal.signal(signal.SIGTERM, lambda *_: sshd.terminate())
code = 0
while True:  # until sshd and every orphan adopted are reaped
    try:
        pid, status = os.wait()
    except ChildProcessError:
        break
    if pid == sshd.pid:
        code = os.waitstatus_to_exitcode(status)
sys.exit(code)
"""


def _start_sshd(bed: TestBed, host: TestHost) -> subprocess.Popen[bytes]:
    home = bed.workdir / f"host{host.index}"
    return subprocess.Popen(
        ["ip", "netns", "exec", host.netns, sys.executable, "-c", _REAPER,
         str(home / "home"), str(home / "tmp"), os.pathsep.join(SHARED_PATHS),
         str(SSHD), "-D", "-f", str(home / "sshd_config"), "-E", str(home / "sshd.log")],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)


def _wait_listening(host: TestHost, process: subprocess.Popen[bytes], deadline: float) -> None:
    """Poll until sshd accepts TCP connections; fail with the last error and sshd's log."""
    last = "not tried"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            last = f"sshd exited with {process.returncode}"
            break
        try:
            with socket.create_connection((host.address, 22), timeout=1.0) as sock:
                if sock.recv(4).startswith(b"SSH-"):
                    return
        except OSError as exc:
            last = str(exc)
        time.sleep(0.02)
    log = host.host_key_pub.parent / "sshd.log"
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    raise RuntimeError(f"sshd in {host.netns} at {host.address} did not come up: {last}\n{tail}")


def _keygen(path: Path, comment: str) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                   check=True, capture_output=True, timeout=_COMMAND_TIMEOUT)


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    """Serializes state changes between the test processes of this machine."""
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    with open(STATE_DIR / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _claim_subnet(run_id: str, workdir: Path) -> int:
    """Choose a free 10.213.<k>.0/24, record the run's state file and make its directory."""
    with _locked():
        taken = {state["subnet"] for state in map(_read_state, _state_ids()) if state}
        taken.update(_subnets_in_use())
        free = next((k for k in range(1, 255) if k not in taken), None)
        if free is None:
            raise RuntimeError(f"no free {SUBNET_BASE}.<k>.0/24 subnet for a test bed")
        me = os.getpid()
        state = {"pid": me, "start": _start_time(me), "subnet": free, "workdir": str(workdir)}
        (STATE_DIR / f"{run_id}.json").write_text(json.dumps(state))
        workdir.mkdir(mode=0o700)
    return free


def _subnets_in_use() -> set[int]:
    out = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True,
                         check=True, timeout=_COMMAND_TIMEOUT).stdout
    used = set()
    for word in out.split():
        with contextlib.suppress(ValueError):
            network = ipaddress.ip_interface(word).network
            if str(network.network_address).startswith(f"{SUBNET_BASE}."):
                used.add(int(str(network.network_address).split(".")[2]))
    return used


# --- removing ---------------------------------------------------------------------------------


def _remove_run(run_id: str, workdir: Path) -> None:
    """Kill, delete and unlink everything of one run that still exists."""
    netns = [n for n in _netns_names() if n.startswith(f"{NETNS_PREFIX}{run_id}-")]
    for name in netns:
        for pid in _netns_pids(name):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    for name in netns:
        _wait_gone(_netns_pids(name))
        _ip("netns", "delete", name, check=False)
    for name in _link_names():
        if name.startswith(f"{LINK_PREFIX}{run_id}"):
            _ip("link", "delete", name, check=False)
    shutil.rmtree(workdir, ignore_errors=True)
    (STATE_DIR / f"{run_id}.json").unlink(missing_ok=True)


def _wait_gone(pids: list[int], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.02)


# --- small helpers ----------------------------------------------------------------------------


def _ip(*args: str, check: bool = True) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False,
                            timeout=_COMMAND_TIMEOUT)
    if check and result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed: {result.stderr.strip()}")


def _netns_names() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False,
                         timeout=_COMMAND_TIMEOUT).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _link_names() -> list[str]:
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True,
                         check=False, timeout=_COMMAND_TIMEOUT).stdout
    names = []
    for line in out.splitlines():
        parts = line.split(":", 2)
        if len(parts) >= 2:
            names.append(parts[1].strip().split("@")[0])
    return names


def _netns_pids(netns: str) -> list[int]:
    out = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True,
                         check=False, timeout=_COMMAND_TIMEOUT).stdout
    return [int(word) for word in out.split() if word.isdigit() and _alive(int(word))]


def _state_ids() -> list[str]:
    return [path.stem for path in STATE_DIR.glob("*.json")] if STATE_DIR.is_dir() else []


def _read_state(run_id: str) -> dict[str, object] | None:
    try:
        state = json.loads((STATE_DIR / f"{run_id}.json").read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def _owner_alive(state: dict[str, object]) -> bool:
    pid = state.get("pid")
    return isinstance(pid, int) and _alive(pid) and _start_time(pid) == state.get("start")


def _start_time(pid: int) -> int | None:
    """The process's start time in clock ticks (tells a live owner from a reused pid)."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""
