"""Mutated deployment profiles and workload files for the profile fuzz tests.

Each shipped profile (``fixtures/profiles``, the embedded ``profiles``) and workload file
(``fixtures/workloads``) is mutated with a seeded :class:`random.Random`, so a case is the same
on every run and its number reproduces it: keys deleted or added at any depth, values
replaced with another type, anchors and aliases (self-referencing ones too), duplicate keys,
a list or a scalar instead of a mapping, bytes that are not UTF-8, an empty file, tabs.

:func:`check_case` loads a case with the package's loader: it either loads, or raises a
:class:`~pytest_scyllabench.errors.ConfigError` of one line that starts with the file and
names a field path found in the mutated document (or the document itself). Any other
exception propagates and fails the test.

The recorded output of real tools (``data/``) is mutated the same way, as bytes and lines
(:data:`OUTPUT`, :data:`HDR_LOG`, :func:`mutate_json`), by ``test_output_fuzz.py``.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import random
import re
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from test_static_profile import AWS

from pytest_scyllabench.errors import ConfigError
from pytest_scyllabench.profile_schema import EMBEDDED, load_profile

REPO = Path(__file__).resolve().parents[2]
#: Where a case's files go under its temporary directory: profiles next to ``workloads``, so
#: that ``workload_files: [../workloads/latency.yaml]`` resolves as in the repository.
PROFILES_DIR = "profiles"
WORKLOADS_DIR = "workloads"

#: Values that replace a field: other types, edge numbers, odd strings.
BAD_VALUES: tuple[Any, ...] = (
    [], [1, "two"], {}, {"x": 1}, None, True, False, 10**30, -(10**30), 10**400, -1, 0,
    float("nan"), float("inf"), -float("inf"), 1e-300, "", " ", "ñandú ☃ 日本", "x" * 5000,
    "line\nbreak", "tab\there", "1G\u2028", "nul\x00byte", "../../etc/passwd",
    "~nosuchuser/x", "strict:~nosuchuser/x", "5.0.9", "127.0.0.1",
)
#: Keys added to a mapping: unknown names, other types, odd strings.
ODD_KEYS: tuple[Any, ...] = (
    "bogus", "", "ñame", "a b", "a.b", "k" * 300, 1, 2.5, None, True, "line\nbreak",
    "nodes", "mix", "write", "p99",
)
#: Text that replaces a whole file.
WHOLE_FILES: tuple[bytes, ...] = (
    b"", b"\n", b"# only a comment\n", b"- a\n- b\n", b"42\n", b"just a string\n",
    b"~\n", b"[]\n", b"{}\n", b"\xff\xfe\x00\x00", b"a: [\n", b"a: &x [*x]\n",
    b"&r {a: *r}\n", b"9" * 5000 + b"\n", b"[" * 700 + b"]" * 700 + b"\n",
    b"a: 1\na: 2\n", b"\tdatabase: {}\n",
)


@dataclass(frozen=True)
class Seed:
    """A shipped file to mutate and the profile to load for it."""

    #: Path of the file to mutate under the case's directory.
    target: str
    #: Path of the profile to load under the case's directory.
    entry: str


@dataclass(frozen=True)
class Case:
    number: int
    #: What was done, for the failure message.
    description: str
    #: File contents by path under the case's directory.
    files: dict[str, bytes]
    entry: str


#: Profiles of the other provisioners and sections, which no shipped profile uses (written
#: like the examples of the README), with the files they name.
EXTRA: dict[str, bytes] = {
    f"{PROFILES_DIR}/static.yaml": b"""\
provisioner: static
database: {kind: scylla, version: '6.2', replication_factor: 3}
scylla: {}
static:
  ssh: {user: bench, key: id_test, port: 2222, known_hosts: "accept-new:kh",
        connect_timeout: 5, command_timeout: 120, connect_attempts: 2, max_sessions: 4}
  servers: [10.0.0.1, {name: big, address: 10.0.0.2}, 10.0.0.3]
  loaders: [10.0.0.9]
  monitor: {name: mon, address: 10.0.0.20}
  workdir: /var/tmp/sb
  loader_python: /opt/venv/bin/python
loaders: {tool: builtin, concurrency: 64, connections: 2, driver: scylla-driver}
warmup: {workload: w, rate: 100, seconds: 10}
thresholds: {p99: 20ms, read_max: 1s}
monitoring: {enabled: true, required: true, scrape_interval: 2, snapshots: per-session,
             quiet_timeout: 30, prometheus_port: 9091}
workloads:
  w: {mix: {write: 1}, distribution: gaussian, gaussian_stddev: 0.2, keyspace: ks, table: t}
""",
    f"{PROFILES_DIR}/id_test": b"not really a key\n",
    f"{PROFILES_DIR}/aws.yaml": AWS.encode() + b"""\
database: {nodes: 3, heap: 2G, settings: {concurrent_writes: 64}, jvm_options: [-Xss1m]}
workload_files: [../workloads/latency.yaml]
""",
    f"{PROFILES_DIR}/docker.yaml": b"""\
provisioner: docker
database: {kind: scylla, version: 6.2.3, nodes: 2, replication_factor: 2}
docker: {smp: 2}
loaders: {count: 2}
workloads:
  r: {mix: {read: 0.9, write: 0.1}, populate: 100, partitions: 100}
""",
}


def originals() -> dict[str, bytes]:
    """Every shipped profile and workload file, by its path under a case's directory, and
    :data:`EXTRA`."""
    files: dict[str, bytes] = dict(EXTRA)
    for folder in (REPO / "fixtures" / "profiles", EMBEDDED):
        for path in sorted(folder.glob("*.yaml")):
            files[f"{PROFILES_DIR}/{path.name}"] = path.read_bytes()
    for path in sorted((REPO / "fixtures" / "workloads").glob("*.yaml")):
        files[f"{WORKLOADS_DIR}/{path.name}"] = path.read_bytes()
    return files


def seeds(files: dict[str, bytes]) -> list[Seed]:
    """Each profile mutated itself; each workload file mutated under the profiles using it."""
    profiles = [name for name in files
                if name.startswith(f"{PROFILES_DIR}/") and name.endswith(".yaml")]
    result = [Seed(name, name) for name in profiles]
    for name in files:
        if name.startswith(f"{WORKLOADS_DIR}/"):
            result += [Seed(name, profile) for profile in profiles
                       if Path(name).name.encode() in files[profile]]
    return result


def cases(count: int, seed: int = 20261124) -> Iterator[Case]:
    """``count`` mutated cases, the same on every run."""
    files = originals()
    targets = seeds(files)
    for number in range(count):
        rng = random.Random(seed * 100_003 + number)
        chosen = rng.choice(targets)
        text, description = mutate(files[chosen.target], rng)
        yield Case(number, f"case {number}: {chosen.target}: {description}",
                   {**files, chosen.target: text}, chosen.entry)


def mutate(original: bytes, rng: random.Random) -> tuple[bytes, str]:
    """One to three structural mutations, then sometimes one of the text."""
    roll = rng.random()
    if roll < 0.06:
        whole = rng.choice(WHOLE_FILES)
        return whole, f"whole file replaced by {whole[:40]!r}"
    data = yaml.safe_load(original)
    done = []
    for _ in range(rng.randint(1, 3)):
        data, what = rng.choice(STRUCTURAL)(data, rng)
        done.append(what)
    text = yaml.safe_dump(data, allow_unicode=rng.random() < 0.5, sort_keys=False,
                          width=rng.choice((80, 10**6))).encode()
    if rng.random() < 0.3:
        text, what = rng.choice(TEXTUAL)(text, rng)
        done.append(what)
    return text, "; ".join(done)


def _nodes(data: Any, path: tuple[Any, ...] = (),
           above: frozenset[int] = frozenset()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Every (path, value) of ``data``, the root included (a node inside itself once)."""
    yield path, data
    if id(data) in above:
        return
    above = above | {id(data)}
    if isinstance(data, dict):
        for key, value in list(data.items()):
            yield from _nodes(value, (*path, key), above)
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _nodes(value, (*path, index), above)


def _containers(data: Any, kind: type) -> list[tuple[tuple[Any, ...], Any]]:
    return [(path, node) for path, node in _nodes(data) if isinstance(node, kind)]


def _set(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    parent = data
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return data


def _bad_value(rng: random.Random) -> Any:
    return copy.deepcopy(rng.choice(BAD_VALUES))


def delete_key(data: Any, rng: random.Random) -> tuple[Any, str]:
    mappings = [(p, m) for p, m in _containers(data, dict) if m]
    if not mappings:
        return data, "nothing to delete"
    path, mapping = rng.choice(mappings)
    key = rng.choice(list(mapping))
    del mapping[key]
    return data, f"deleted {(*path, key)}"


def add_key(data: Any, rng: random.Random) -> tuple[Any, str]:
    mappings = _containers(data, dict)
    if not mappings:
        return data, "no mapping to add to"
    path, mapping = rng.choice(mappings)
    key, value = rng.choice(ODD_KEYS), _bad_value(rng)
    mapping[key] = value
    return data, f"added {(*path, key)} = {value!r:.60}"


def replace_value(data: Any, rng: random.Random) -> tuple[Any, str]:
    path, _ = rng.choice(list(_nodes(data)))
    if not path and rng.random() < 0.7:  # mostly below the root
        return replace_value(data, rng) if isinstance(data, dict | list) and data else (
            data, "empty root")
    value = _bad_value(rng)
    return _set(data, path, value), f"replaced {path} by {value!r:.60}"


def share_node(data: Any, rng: random.Random) -> tuple[Any, str]:
    """One node put in a second place (an anchor and an alias), or inside itself."""
    containers = [(p, n) for p, n in _nodes(data) if p and isinstance(n, dict | list)]
    places = [p for p, _ in _nodes(data) if p]
    if not containers or not places:
        return data, "nothing to alias"
    source_path, node = rng.choice(containers)
    if rng.random() < 0.3:
        if isinstance(node, dict):
            node["self"] = node
        else:
            node.append(node)
        return data, f"{source_path} made to contain itself"
    target = rng.choice(places)
    if target[: len(source_path)] == source_path:
        return data, "alias target inside its anchor: skipped"
    return _set(data, target, node), f"{target} made an alias of {source_path}"


STRUCTURAL: tuple[Callable[[Any, random.Random], tuple[Any, str]], ...] = (
    delete_key, delete_key, add_key, add_key, replace_value, replace_value, replace_value,
    share_node,
)


def duplicate_line(text: bytes, rng: random.Random) -> tuple[bytes, str]:
    lines = text.splitlines(keepends=True)
    keyed = [i for i, line in enumerate(lines) if re.match(rb"\s*[\w-]+:", line)]
    if not keyed:
        return text, "no key to duplicate"
    index = rng.choice(keyed)
    lines.insert(index + 1, lines[index])
    return b"".join(lines), f"duplicated line {index + 1}"


def insert_bytes(text: bytes, rng: random.Random) -> tuple[bytes, str]:
    at = rng.randint(0, len(text))
    junk = rng.choice((b"\xff", b"\xc3\x28", b"\xe2\x82", b"\x00", b"\x1b[0m", b"\xef\xbb\xbf"))
    return text[:at] + junk + text[at:], f"inserted {junk!r} at byte {at}"


def tab_indent(text: bytes, rng: random.Random) -> tuple[bytes, str]:
    lines = text.splitlines(keepends=True)
    indented = [i for i, line in enumerate(lines) if line.startswith(b" ")]
    if not indented:
        return b"\t" + text, "tab before the first line"
    index = rng.choice(indented)
    lines[index] = b"\t" + lines[index].lstrip(b" ")
    return b"".join(lines), f"tab indenting line {index + 1}"


def truncate(text: bytes, rng: random.Random) -> tuple[bytes, str]:
    at = rng.randint(0, len(text))
    return text[:at], f"truncated at byte {at}"


TEXTUAL: tuple[Callable[[bytes, random.Random], tuple[bytes, str]], ...] = (
    duplicate_line, insert_bytes, tab_indent, truncate,
)


def write_case(case: Case, directory: Path) -> Path:
    for name, content in case.files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return directory / case.entry


def check_case(case: Case, directory: Path) -> None:
    """Load ``case``: it loads, or its ConfigError is one line naming file and field."""
    directory = directory.resolve()
    entry = write_case(case, directory)
    try:
        load_profile(entry)
    except ConfigError as exc:
        check_message(str(exc), case, directory)


#: Problems of a whole document (its field path is empty or a line of the file).
DOCUMENT_PROBLEMS = ("invalid YAML", "cannot read", "must be a mapping at the top level",
                     "must be a mapping of workload names", "not UTF-8")


def check_message(message: str, case: Case, directory: Path) -> None:
    where = f"{case.description}\n  error: {message[:500]!r}"
    assert len(message.splitlines()) == 1, f"not one line: {where}"
    for name in case.files:
        prefix = f"{directory / name}: "
        if message.startswith(prefix):
            rest = message[len(prefix):]
            break
    else:
        raise AssertionError(f"does not start with a case file: {where}")
    if rest.startswith("line ") or any(rest.startswith(p) for p in DOCUMENT_PROBLEMS):
        return
    try:
        document = yaml.safe_load(case.files[name])
    except (yaml.YAMLError, ValueError):
        raise AssertionError(f"a field of an unreadable document: {where}") from None
    assert names_field(document, rest), f"names no field of the document: {where}"


def names_field(document: Any, rest: str) -> bool:
    """Whether ``rest`` (``a.b[0].c: problem``) starts with a path of ``document``, whose
    last names may be keys left out (a default, or a required key that is missing)."""
    candidates = [m.start() for m in re.finditer(": ", rest)]
    return any(_resolves(document, rest[:end]) for end in candidates)


def _resolves(node: Any, path: str) -> bool:
    if not path:
        return True
    if isinstance(node, list):
        match = re.match(r"\[(\d+)\]\.?", path)
        if match is None or int(match.group(1)) >= len(node):
            return False
        return _resolves(node[int(match.group(1))], path[match.end():])
    if not isinstance(node, dict):
        return False
    for key, value in node.items():
        for spelling in {str(key), repr(key), repr(str(key))}:
            if path == spelling:
                return True
            if path.startswith(spelling) and path[len(spelling)] in ".[":
                rest = path[len(spelling):].removeprefix(".")
                if _resolves(value, rest):
                    return True
    # Keys left out (defaults) or missing, under a mapping that is there: no list index.
    return re.fullmatch(r"[\w-]+(\.[\w-]+)*", path) is not None



# --- tool output and HDR interval logs ----------------------------------------------------
# The recorded output of real tools (``data/``), mutated the same way: each mutation takes
# the bytes of a file and the seeded generator, and says what it did.

#: Numbers that replace one of a line: signs, edge magnitudes, NaN, exponent and odd forms.
ODD_NUMBERS: tuple[bytes, ...] = (
    b"-1", b"-0", b"0", b"0.000", b"-3.5", b"1e400", b"-1e400", b"1e-320", b"nan", b"NaN",
    b"inf", b"-Infinity", b"9" * 40, b"1e308", b"1.5e3", b"0x1F", b"1_000", b"", b" ", b"+3",
    b"1,5", b"\xd9\xa1", b"18446744073709551616", b"-9223372036854775809",
)
#: Tags that replace an interval's tag (or its ``Tag=`` prefix).
ODD_TAGS: tuple[bytes, ...] = (
    b"Tag=", b"", b"Tag=write-rt", b"Tag=READ-st", b"Tag=co-fixed", b"Tag=raw-write",
    b"Tag=cycles", b"Tag=requests", b"Tag=all-rt", b"Tag=x,y", b"Tag=\xc3\xb1",
    b"Tag=a b", b"tag=write-rt", b"Tag=" + b"t" * 300,
)
#: A number standing alone (not digits inside a base64 payload or a word).
_NUMBER = re.compile(rb"(?<![A-Za-z0-9.])[-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?(?![A-Za-z0-9])")
_BASE64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_INTERVAL = re.compile(rb"^(?P<head>(?:Tag=[^,\n]*,)?[^,\n]*,[^,\n]*,[^,\n]*,)(?P<payload>"
                       rb"[A-Za-z0-9+/=]{12,})\r?$", re.MULTILINE)


def _lines(text: bytes) -> list[bytes]:
    return text.splitlines(keepends=True)


def delete_line(text: bytes, rng: random.Random) -> tuple[bytes, str]:
    lines = _lines(text)
    if not lines:
        return text, "no line to delete"
    index = rng.randrange(len(lines))
    del lines[index]
    return b"".join(lines), f"deleted line {index + 1}"


def copy_line(text: bytes, rng: random.Random) -> tuple[bytes, str]:
    """A line repeated next to itself or somewhere else."""
    lines = _lines(text)
    if not lines:
        return text, "no line to copy"
    index = rng.randrange(len(lines))
    line = lines[index] if lines[index].endswith(b"\n") else lines[index] + b"\n"
    to = index + 1 if rng.random() < 0.5 else rng.randint(0, len(lines))
    lines.insert(to, line)
    return b"".join(lines), f"line {index + 1} copied before line {to + 1}"


def swap_lines(text: bytes, rng: random.Random) -> tuple[bytes, str]:
    lines = [line.rstrip(b"\n") for line in _lines(text)]
    if len(lines) < 2:
        return text, "no lines to swap"
    first, second = rng.sample(range(len(lines)), 2)
    lines[first], lines[second] = lines[second], lines[first]
    end = b"\n" if text.endswith(b"\n") else b""
    return b"\n".join(lines) + end, f"swapped lines {first + 1} and {second + 1}"


def alter_number(text: bytes, rng: random.Random) -> tuple[bytes, str]:
    numbers = list(_NUMBER.finditer(text))
    if not numbers:
        return text, "no number to alter"
    match = rng.choice(numbers)
    odd = rng.choice(ODD_NUMBERS)
    line = text.count(b"\n", 0, match.start()) + 1
    return (text[:match.start()] + odd + text[match.end():],
            f"line {line}: number {match[0][:30]!r} replaced by {odd!r}")


def emptied(text: bytes, rng: random.Random) -> tuple[bytes, str]:
    whole = rng.choice((b"", b"\n", b"   \n\n", b"\r\n", b"\x00"))
    return whole, f"whole file replaced by {whole!r}"


def flip_payload_character(text: bytes, rng: random.Random) -> tuple[bytes, str]:
    """One character of an interval's base64 payload replaced (another base64 one, mostly)."""
    intervals = list(_INTERVAL.finditer(text))
    if not intervals:
        return text, "no payload"
    match = rng.choice(intervals)
    at = rng.randrange(match.start("payload"), match.end("payload"))
    new = bytes([rng.choice(_BASE64)]) if rng.random() < 0.9 else rng.choice((b"!", b"\xff"))
    line = text.count(b"\n", 0, at) + 1
    return text[:at] + new + text[at + 1:], f"line {line}: payload byte {at} set to {new!r}"


def corrupt_histogram(text: bytes, rng: random.Random) -> tuple[bytes, str]:
    """An interval's histogram changed inside its compression, so that the payload is still
    base64 of a zlib stream: a header field set to an edge value, a count byte changed, the
    counts cut or lengthened."""
    intervals = list(_INTERVAL.finditer(text))
    if not intervals:
        return text, "no payload"
    match = rng.choice(intervals)
    line = text.count(b"\n", 0, match.start()) + 1
    try:
        raw = base64.b64decode(match["payload"], validate=True)
        body = bytearray(zlib.decompress(raw[8:]))
    except (binascii.Error, zlib.error):
        return text, "payload already corrupt"
    roll = rng.random()
    if roll < 0.4:  # cookie, length, offset, digits (4 bytes), lowest, highest (8), ratio (8)
        offset, size = rng.choice(((0, 4), (4, 4), (8, 4), (12, 4), (16, 8), (24, 8), (32, 8)))
        value = rng.choice((0, 1, 2**(8 * size - 1) - 1, 2**(8 * size) - 1, 2**(8 * size - 1),
                            5, 64, 2**31))
        body[offset:offset + size] = value.to_bytes(size, "big")
        what = f"header bytes {offset}..{offset + size} set to {value}"
    elif roll < 0.75 and len(body) > 40:
        at = rng.randrange(40, len(body))
        body[at] = rng.choice((0x00, 0x01, 0x7F, 0x80, 0xFF, body[at] ^ 0x40))
        what = f"count byte {at} set to {body[at]:#x}"
    elif roll < 0.9:
        at = rng.randint(40, max(40, len(body)))
        del body[at:]
        what = f"counts cut at byte {at}"
    else:
        body += rng.choice((b"\xff" * 12, b"\x02" * 5000, b"\x80", b"\xfe\xff\xff\xff\x0f"))
        what = "counts lengthened"
    packed = zlib.compress(bytes(body))
    payload = base64.b64encode(raw[:4] + len(packed).to_bytes(4, "big") + packed)
    return (text[:match.start("payload")] + payload + text[match.end("payload"):],
            f"line {line}: histogram {what}")


def header_line(text: bytes, rng: random.Random) -> tuple[bytes, str]:
    """A comment or legend line deleted, or repeated later (with another value, sometimes)."""
    lines = _lines(text)
    headers = [i for i, line in enumerate(lines) if line[:1] in (b"#", b'"')]
    if not headers:
        return text, "no header line"
    index = rng.choice(headers)
    if rng.random() < 0.4:
        del lines[index]
        return b"".join(lines), f"header line {index + 1} deleted"
    line = lines[index] if lines[index].endswith(b"\n") else lines[index] + b"\n"
    if rng.random() < 0.5:
        line, _ = alter_number(line, rng)
    to = rng.randint(index, len(lines))
    lines.insert(to, line)
    return b"".join(lines), f"header line {index + 1} repeated before line {to + 1}"


def change_tag(text: bytes, rng: random.Random) -> tuple[bytes, str]:
    intervals = list(_INTERVAL.finditer(text))
    if not intervals:
        return text, "no interval"
    match = rng.choice(intervals)
    head = match["head"]
    tag = rng.choice(ODD_TAGS)
    if head.startswith(b"Tag="):
        old, _, rest = head.partition(b",")
    else:
        old, rest = b"", head
    new = tag + b"," + rest if tag else rest
    line = text.count(b"\n", 0, match.start()) + 1
    return (text[:match.start()] + new + text[match.end("head"):],
            f"line {line}: tag {old!r} replaced by {tag!r}")


#: Mutations of any text a tool writes.
OUTPUT: tuple[Callable[[bytes, random.Random], tuple[bytes, str]], ...] = (
    truncate, insert_bytes, delete_line, copy_line, swap_lines, alter_number, alter_number,
    alter_number, emptied,
)
#: Mutations of an HDR interval log: those of any output and the log's own.
HDR_LOG: tuple[Callable[[bytes, random.Random], tuple[bytes, str]], ...] = (
    *OUTPUT, flip_payload_character, corrupt_histogram, corrupt_histogram, corrupt_histogram,
    header_line, header_line, change_tag,
)


def mutate_json(original: bytes, rng: random.Random) -> tuple[bytes, str]:
    """A JSON report mutated as a profile is (keys deleted or added, values replaced), or as
    text."""
    if rng.random() < 0.5:
        return mutate_output(original, rng, OUTPUT)
    data = json.loads(original)
    done = []
    for _ in range(rng.randint(1, 2)):
        data, what = rng.choice((delete_key, add_key, replace_value, replace_value))(data, rng)
        done.append(what)
    return json.dumps(data, indent=rng.choice((None, 1))).encode(), "; ".join(done)


def mutate_output(original: bytes, rng: random.Random,
                  kinds: Sequence[Callable[[bytes, random.Random], tuple[bytes, str]]],
                  ) -> tuple[bytes, str]:
    """One to three mutations of ``kinds`` in a row."""
    text, done = original, []
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        text, what = rng.choice(kinds)(text, rng)
        done.append(what)
    return text, "; ".join(done)
