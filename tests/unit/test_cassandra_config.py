"""Generated Cassandra configuration, readiness rules, Java detection and the jar cache."""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from pytest_scyllabench.db import cassandra_config as cfg
from pytest_scyllabench.db.cassandra import CassandraCluster, node_pids
from pytest_scyllabench.db.cassandra_probe import ring_problem
from pytest_scyllabench.db.maven import (
    MARKER,
    CassandraJars,
    cached_jars,
    parse_java_release,
    pom_xml,
    resolve_jars,
)
from pytest_scyllabench.errors import ClusterNotReady, DatabaseError
from pytest_scyllabench.profile import DatabaseSpec

DATA = Path(__file__).parent / "data"
ADDRESSES = ("127.0.0.1", "127.0.0.2", "127.0.0.3")


def layout(tmp_path: Path, index: int = 1) -> cfg.NodeLayout:
    return cfg.node_layouts(ADDRESSES, tmp_path)[index - 1]


# -- tokens ------------------------------------------------------------------------------


@pytest.mark.parametrize("nodes", [1, 2, 3, 5])
def test_tokens_are_distinct_sorted_and_evenly_interleaved(nodes: int) -> None:
    per_node = [cfg.tokens(i, nodes) for i in range(1, nodes + 1)]
    every = sorted(t for node in per_node for t in node)
    assert len(set(every)) == 16 * nodes
    assert all(-(2**63) <= t < 2**63 for t in every)
    gaps = {b - a for a, b in itertools.pairwise(every)}
    assert max(gaps) - min(gaps) <= 1  # evenly spaced
    # Consecutive ring positions belong to consecutive nodes: ranges alternate between nodes.
    owner = {t: i for i, node in enumerate(per_node) for t in node}
    assert [owner[t] for t in every[:nodes]] == list(range(nodes))


def test_tokens_reject_a_bad_index() -> None:
    with pytest.raises(ValueError):
        cfg.tokens(4, 3)


# -- cassandra.yaml ----------------------------------------------------------------------


def test_yaml_of_a_node(tmp_path: Path) -> None:
    node = layout(tmp_path, 2)
    settings = yaml.safe_load(cfg.render_yaml(cfg.cassandra_yaml(node, ADDRESSES, 3, {})))
    assert settings["listen_address"] == settings["rpc_address"] == "127.0.0.2"
    assert settings["native_transport_port"] == 9042
    assert settings["storage_port"] == 7000
    assert settings["endpoint_snitch"] == "SimpleSnitch"
    assert settings["auto_bootstrap"] is False
    assert settings["num_tokens"] == 16
    seeds = settings["seed_provider"][0]["parameters"][0]["seeds"]
    assert seeds == "127.0.0.1:7000,127.0.0.2:7000,127.0.0.3:7000"
    assert settings["initial_token"].split(",") == [str(t) for t in cfg.tokens(2, 3)]
    assert settings["data_file_directories"] == [str(tmp_path / "node2" / "data")]
    assert settings["commitlog_directory"] == str(tmp_path / "node2" / "commitlog")
    assert settings["hints_directory"] == str(tmp_path / "node2" / "hints")
    assert settings["cdc_raw_directory"] == str(tmp_path / "node2" / "cdc_raw")
    assert settings["saved_caches_directory"] == str(tmp_path / "node2" / "saved_caches")


def test_overrides_merge_last_and_recursively(tmp_path: Path) -> None:
    node = layout(tmp_path)
    overrides = {"concurrent_writes": 8, "num_tokens": 4,
                 "seed_provider": [{"class_name": "X", "parameters": [{"seeds": "1.2.3.4"}]}],
                 "audit_logging_options": {"enabled": True}}
    settings = cfg.cassandra_yaml(node, ADDRESSES, 3, overrides)
    assert settings["concurrent_writes"] == 8
    assert settings["seed_provider"][0]["class_name"] == "X"
    assert settings["initial_token"].split(",") == [str(t) for t in cfg.tokens(1, 3, 4)]
    assert cfg.merge({"a": {"b": 1, "c": 2}}, {"a": {"c": 3}}) == {"a": {"b": 1, "c": 3}}


def test_an_explicit_initial_token_is_kept(tmp_path: Path) -> None:
    settings = cfg.cassandra_yaml(layout(tmp_path), ADDRESSES, 3,
                                  {"num_tokens": 1, "initial_token": "0"})
    assert settings["initial_token"] == "0"


# -- logback.xml and JVM options ---------------------------------------------------------


def test_logback_writes_info_to_system_log_only(tmp_path: Path) -> None:
    node = layout(tmp_path)
    root = ET.fromstring(cfg.logback_xml(node.logs))
    appenders = root.findall("appender")
    assert [a.get("class") for a in appenders] == [
        "ch.qos.logback.core.rolling.RollingFileAppender"]
    assert appenders[0].findtext("file") == f"{node.logs}/system.log"
    assert root.find("root").get("level") == "INFO"  # type: ignore[union-attr]


def test_jvm_options_of_a_node(tmp_path: Path) -> None:
    node = layout(tmp_path, 3)
    jamm = tmp_path / "lib" / "jamm-0.4.0.jar"
    options = cfg.jvm_options(node, "768M", ("-XX:+UseZGC", "-Dx=1"), jamm)
    assert "-Xms768M" in options and "-Xmx768M" in options
    assert "-XX:+UseG1GC" in options
    assert "-Djdk.attach.allowAttachSelf=true" in options
    assert f"-javaagent:{jamm}" in options
    assert "-Dcassandra.jmx.local.port=7103" in options
    assert f"-Dcassandra.config=file://{node.yaml_path}" in options
    assert f"-Dcassandra.logdir={node.logs}" in options
    assert "-Dcassandra-foreground=yes" in options
    assert options[-2:] == ["-XX:+UseZGC", "-Dx=1"]  # the profile's options win
    pairs = list(itertools.pairwise(options))
    assert ("--add-opens", "java.base/sun.nio.ch=ALL-UNNAMED") in pairs
    assert ("--add-exports", "java.base/jdk.internal.misc=ALL-UNNAMED") in pairs
    command = cfg.java_command(Path("/jdk/bin/java"), options, "/a.jar:/b.jar", node)
    assert command[0] == "/jdk/bin/java"
    assert command[-3:] == ["-cp", f"{node.conf}:/a.jar:/b.jar", cfg.MAIN_CLASS]


def test_jmx_ports_follow_the_address() -> None:
    assert [cfg.jmx_port(a) for a in ADDRESSES] == [7101, 7102, 7103]
    assert cfg.jmx_port("127.0.0.21") == 7121


def test_fingerprint_changes_with_the_configuration() -> None:
    base = cfg.fingerprint("5.0.9", ADDRESSES, ["a: 1"], [["-Xmx1G"]])
    assert base == cfg.fingerprint("5.0.9", ADDRESSES, ["a: 1"], [["-Xmx1G"]])
    assert base != cfg.fingerprint("5.0.9", ADDRESSES, ["a: 2"], [["-Xmx1G"]])
    assert base != cfg.fingerprint("5.0.9", ADDRESSES, ["a: 1"], [["-Xmx2G"]])
    assert base != cfg.fingerprint("5.0.8", ADDRESSES, ["a: 1"], [["-Xmx1G"]])


# -- the cluster object ------------------------------------------------------------------


def test_constructor_has_no_side_effects(tmp_path: Path) -> None:
    cluster = CassandraCluster(DatabaseSpec(nodes=3), ADDRESSES, tmp_path / "w", tmp_path / "c",
                               keep=False)
    assert not (tmp_path / "w").exists() and not (tmp_path / "c").exists()
    assert cluster.contact_points == ADDRESSES
    assert cluster.port == 9042
    assert cluster.version == "5.0.9"
    assert [p.relative_to(tmp_path / "w") for p in cluster.logs()[:2]] == [
        Path("node1/logs/system.log"), Path("node1/logs/stdout.log")]


def test_lifecycle_order_is_enforced(tmp_path: Path) -> None:
    cluster = CassandraCluster(DatabaseSpec(nodes=1), ADDRESSES[:1], tmp_path / "w", tmp_path,
                               keep=False)
    with pytest.raises(DatabaseError, match="install"):
        asyncio.run(cluster.configure())
    with pytest.raises(DatabaseError, match="install"):
        asyncio.run(cluster.start())
    with pytest.raises(DatabaseError, match="start"):
        asyncio.run(cluster.wait_ready(1))


def test_adopt_without_state_is_false(tmp_path: Path) -> None:
    cluster = CassandraCluster(DatabaseSpec(nodes=1), ADDRESSES[:1], tmp_path, tmp_path,
                               keep=True)
    assert asyncio.run(cluster.adopt()) is False


# -- readiness ---------------------------------------------------------------------------


def recorded_gossip() -> dict[str, object]:
    """``system_views.gossip_info`` and ``system.peers_v2`` of a ready Cassandra 5.0.9 node."""
    data: dict[str, object] = json.loads(
        (DATA / "cassandra-5.0.9-gossip-ready-3nodes.json").read_text())
    return data


def test_a_ready_node_has_no_problem() -> None:
    data = recorded_gossip()
    assert ring_problem(data["node"], data["gossip_info"], data["peers_v2"],  # type: ignore[arg-type]
                        ADDRESSES) is None


def test_ring_problems_are_named() -> None:
    data = recorded_gossip()
    rows: list[dict[str, object]] = data["gossip_info"]  # type: ignore[assignment]
    peers: list[str] = data["peers_v2"]  # type: ignore[assignment]
    node = "127.0.0.2"
    assert "does not know of 127.0.0.3" in str(ring_problem(node, rows[:2], peers, ADDRESSES))
    assert "outside the cluster: 127.0.0.3" in str(ring_problem(node, rows, peers,
                                                                  ADDRESSES[:2]))
    joining = [dict(rows[0], status_with_port=None), *rows[1:]]
    assert "not NORMAL yet: 127.0.0.1 UNKNOWN" in str(ring_problem(node, joining, peers,
                                                                  ADDRESSES))
    leaving = [dict(rows[0], status_with_port="LEAVING,1"), *rows[1:]]
    assert "127.0.0.1 LEAVING" in str(ring_problem(node, leaving, peers, ADDRESSES))
    split = [dict(rows[0], schema="00000000-0000-0000-0000-000000000000"), *rows[1:]]
    assert "schema versions disagree" in str(ring_problem(node, split, peers, ADDRESSES))
    assert "peers_v2 lacks 127.0.0.1" in str(ring_problem(node, rows, peers[:1], ADDRESSES))


# -- Java and the jar cache --------------------------------------------------------------


def test_java_release_from_recorded_output() -> None:
    assert parse_java_release((DATA / "java17-showsettings.txt").read_text()) == 17
    assert parse_java_release((DATA / "java25-showsettings.txt").read_text()) == 25
    assert parse_java_release("    java.specification.version = 1.8\n") == 8
    assert parse_java_release("no such line") is None


def test_java_release_from_odd_output() -> None:
    recorded = (DATA / "java17-showsettings.txt").read_text()
    line = "    java.specification.version = 17\n"
    assert line in recorded
    assert parse_java_release("") is None
    assert parse_java_release(recorded[:recorded.index(line)]) is None  # cut before the line
    assert parse_java_release(recorded.replace(line, "    java.specification.version = \n")
                              ) is None  # cut after the '='
    assert parse_java_release(recorded.replace(line, "    java.specification.version = seventeen\n")
                              ) is None
    odd = recorded.encode().replace(b"UTF-8", b"\xff\xfe", 1).decode(errors="replace")
    assert parse_java_release(odd) == 17  # a stray byte elsewhere changes nothing


def test_pom_depends_on_cassandra_all() -> None:
    root = ET.fromstring(pom_xml("5.0.9"))
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    dependency = root.find("m:dependencies/m:dependency", ns)
    assert dependency is not None
    assert dependency.findtext("m:artifactId", namespaces=ns) == "cassandra-all"
    assert dependency.findtext("m:version", namespaces=ns) == "5.0.9"


def test_a_download_without_marker_does_not_count(tmp_path: Path) -> None:
    lib = tmp_path / "cassandra" / "5.0.9" / "lib"
    lib.mkdir(parents=True)
    (lib / "cassandra-all-5.0.9.jar").write_bytes(b"")
    (lib / "jamm-0.4.0.jar").write_bytes(b"")
    assert cached_jars("5.0.9", tmp_path) is None
    (lib.parent / MARKER).write_text("cassandra-all-5.0.9.jar\njamm-0.4.0.jar\n")
    jars = cached_jars("5.0.9", tmp_path)
    assert jars is not None and jars.jamm == lib / "jamm-0.4.0.jar"
    assert jars.classpath.split(":")[0] == str(lib / "cassandra-all-5.0.9.jar")
    (lib / "jamm-0.4.0.jar").unlink()  # a jar listed by the marker went missing
    assert cached_jars("5.0.9", tmp_path) is None


def test_a_bad_version_is_refused_before_maven_runs(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match="invalid Cassandra version"):
        asyncio.run(resolve_jars("5.0.9; rm -rf /", tmp_path, None))  # type: ignore[arg-type]


def test_not_ready_names_each_node_and_its_last_problem(tmp_path: Path) -> None:
    # Nothing listens on these addresses: the deadline passes and every node is named.
    addresses = ("127.0.0.251", "127.0.0.252")
    cluster = CassandraCluster(DatabaseSpec(nodes=2), addresses, tmp_path, tmp_path)
    with pytest.raises(ClusterNotReady) as info:
        asyncio.run(cluster._await_ready(1.5, lambda: None))
    message = str(info.value)
    assert "not ready after 1.5 s" in message
    assert "node1 (127.0.0.251): CQL port 9042 is not open yet" in message
    assert "node2 (127.0.0.252): CQL port 9042 is not open yet" in message


def _fake_node(node: cfg.NodeLayout) -> subprocess.Popen[bytes]:
    """A process whose command line looks like ``node``'s Cassandra daemon."""
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)",
                             cfg.MAIN_CLASS, f"-Dcassandra.config=file://{node.yaml_path}"])


def test_configure_refuses_nodes_of_another_live_session_and_stops_a_kept_one(
        tmp_path: Path) -> None:
    cluster = CassandraCluster(DatabaseSpec(nodes=1), ADDRESSES[:1], tmp_path / "w", tmp_path)
    cluster._jars = CassandraJars("5.0.9", tmp_path, ())  # as if install() had run
    fake = _fake_node(cluster.nodes[0])
    other_session = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(0.2)
        assert node_pids(cluster.nodes[0]) == [fake.pid]
        state = {"kept": False, "owner": other_session.pid, "nodes": []}
        cluster.state_path.parent.mkdir(parents=True)
        cluster.state_path.write_text(json.dumps(state))
        with pytest.raises(DatabaseError, match=f"another running session \\(pid "
                                                f"{other_session.pid}\\)"):
            asyncio.run(cluster.configure())
        assert fake.poll() is None  # untouched

        cluster.state_path.write_text(json.dumps(dict(state, kept=True)))
        asyncio.run(cluster.configure())  # a kept cluster is replaced: stopped by SIGTERM
        assert fake.wait(timeout=10) == -signal.SIGTERM
        assert (cluster.nodes[0].yaml_path).is_file()
        assert not cluster.state_path.exists()
    finally:
        for process in (fake, other_session):
            process.kill()
            process.wait()
