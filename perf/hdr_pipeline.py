"""Our HDR merge against Java's HistogramLogProcessor on the same interval logs.

    .venv/bin/python perf/hdr_pipeline.py [--loaders 8] [--seconds 3600] [--ops 3000]
        [--runs 3] [--workers N] [--workdir DIR] [--no-java] [--quick]

Generates one interval log per loader as the built-in loader writes them (format 1.3, values in
microseconds in 1..60 s at 3 significant digits, tags write-rt write-st read-rt read-st, one
interval per second): about ``--ops`` operations per second per loader, half writes, half
reads; service time log-normal with a heavy (Pareto) tail, response time that plus queueing
and rare stalls. Loaders start their intervals at different sub-second offsets; every other
one writes relative timestamps against its own ``StartTime`` (as Java's writer does), the
others absolute ones (as ours does).

Then times:

* ours: :func:`~pytest_scyllabench.hdr.merge.build_step_result` over every loader's log and
  the whole time span -- read, decode, merge every tag plus ``all-rt``/``all-st``, per-loader
  counts and the per-second series -- in a fresh Python process per run. Reported: the
  in-process time of the call, and the process's wall time (interpreter start and imports
  included), its peak RSS and its workers'.
* Java: what a user of ``HistogramLogProcessor`` has to do: it reads one file and one tag per
  run, so the loaders' lines are joined into one time-sorted file with absolute timestamps,
  and the processor runs once per tag (``-tag T -csv -outputValueUnitRatio 1``), one after
  the other; each run's wall time includes JVM start. Preparing the joint file is timed apart
  and not counted.

Each of the ``--runs`` rounds runs ours, then Java; the ratio is Java's total over ours (best
round of each, and medians). CPU time (user + system of every process, our workers and the
JVM's threads included) is reported beside wall time: on a shared machine it is the steadier
figure, and the 1-minute load average is printed with each round. Finally the totals of each
tag's last CSV line (Total_50% .. Total_Max, Total_Count) must equal ours exactly; the exit
status is 1 if they do not. No timing is asserted. ``--quick`` is a small smoke run
(2 loaders x 20 s, 1 round).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pytest_scyllabench.hdr.encoding import encode_many
from pytest_scyllabench.hdr.layout import Layout

T0 = 1_700_000_000.0
TAGS = ("write-rt", "write-st", "read-rt", "read-st")
LAYOUT = Layout(1, 60_000_000, 3)  # the built-in loader's histograms, microseconds
LEGEND = '"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"'
JAR = Path(os.environ.get("SCYLLABENCH_HDR_JAR", "/usr/share/java/hdrhistogram.jar"))
#: Columns of the processor's CSV that hold the accumulated totals, and our percentiles.
TOTALS = ("Total_50%", "Total_90%", "Total_99%", "Total_99.9%", "Total_99.99%", "Total_Max")
QUANTILES = (50.0, 90.0, 99.0, 99.9, 99.99)
#: Seconds generated per chunk of a loader's log (bounds the generator's memory).
CHUNK_SECONDS = 120


@dataclass(frozen=True)
class Params:
    loaders: int
    seconds: int
    ops: int
    seed: int

    def manifest(self) -> dict[str, int]:
        return {"loaders": self.loaders, "seconds": self.seconds, "ops": self.ops,
                "seed": self.seed, "version": 1}


# --- generating the logs -------------------------------------------------------------------


def latencies(rng: np.random.Generator, count: int, median_us: float
              ) -> tuple[np.ndarray, np.ndarray]:
    """(response, service) times in microseconds: log-normal body, Pareto tail, stalls."""
    service = rng.lognormal(np.log(median_us), 0.45, count)
    tail = rng.random(count) < 0.01
    service[tail] *= 1.0 + rng.pareto(1.3, int(tail.sum())) * 4.0
    queueing = rng.exponential(median_us * 0.15, count)
    stalled = rng.random(count) < 0.001
    queueing[stalled] += rng.uniform(20_000, 400_000, int(stalled.sum()))
    response = service + queueing
    clip = (1, LAYOUT.highest)
    return (np.clip(response, *clip).astype(np.int64), np.clip(service, *clip).astype(np.int64))


def generate(directory: Path, params: Params) -> dict[str, Any]:
    """One log per loader in ``directory``; returns a summary of what was written."""
    rng = np.random.default_rng(params.seed)
    directory.mkdir(parents=True, exist_ok=True)
    values = intervals = 0
    for loader in range(params.loaders):
        offset = (loader * 0.137) % 1.0
        relative = loader % 2 == 1
        start_time = T0 + offset
        lines = ["#[Histogram log format version 1.3]",
                 f"#[StartTime: {start_time:.3f} (seconds since epoch), generated]"]
        if not relative:
            lines.append("#[BaseTime: 0.000 (seconds since epoch)]")
        lines.append(LEGEND)
        for first in range(0, params.seconds, CHUNK_SECONDS):
            seconds = range(first, min(first + CHUNK_SECONDS, params.seconds))
            chunk, count = _chunk(rng, seconds, params.ops)
            values += count
            intervals += len(chunk)
            jitter = rng.uniform(-0.002, 0.002, len(seconds))  # a loader's clock ticks
            for second, tag_number, max_us, payload in chunk:
                absolute = start_time + second + jitter[second - first]
                stamp = absolute - start_time if relative else absolute
                lines.append(f"Tag={TAGS[tag_number]},{stamp:.3f},1.000,{max_us / 1000:.3f},"
                             f"{payload}")
        (directory / f"loader-{loader}.hlog").write_text("\n".join(lines) + "\n")
    summary = {"intervals": intervals, "values": values,
               "bytes": sum(p.stat().st_size for p in directory.glob("loader-*.hlog"))}
    (directory / "manifest.json").write_text(json.dumps({**params.manifest(), **summary}))
    return summary


def _chunk(rng: np.random.Generator, seconds: range, ops: int
           ) -> tuple[list[tuple[int, int, int, str]], int]:
    """The encoded histograms of ``seconds``: (second, tag, max value, payload) each."""
    histograms = len(seconds) * len(TAGS)
    keys, recorded = [], 0
    for number in range(len(seconds)):
        for operation, median in ((0, 700.0), (2, 1800.0)):  # write, read
            count = int(rng.poisson(ops / 2))
            response, service = latencies(rng, count, median)
            for kind, sample in ((0, response), (1, service)):
                histogram = number * len(TAGS) + operation + kind
                keys.append(histogram * LAYOUT.counts_len + LAYOUT.index_of(sample))
                recorded += count
    unique, counts = np.unique(np.concatenate(keys), return_counts=True)
    histogram, index = np.divmod(unique, LAYOUT.counts_len)
    payloads = encode_many(LAYOUT, histogram, index, counts, histograms)
    last = np.zeros(histograms, dtype=np.int64)
    last[histogram] = index  # entries are sorted: the last write is the highest index
    maxima = LAYOUT.highest_at(last)
    out = [(seconds[h // len(TAGS)], h % len(TAGS), int(maxima[h]), payloads[h])
           for h in range(histograms)]
    return out, recorded


def write_joint(directory: Path, loaders: int) -> tuple[Path, float]:
    """What a Java user has to prepare: every loader's lines, absolute and time-sorted."""
    began = time.perf_counter()
    rows: list[tuple[float, int, str]] = []
    first_start = None
    for loader in range(loaders):
        start_time = base = None
        for line in (directory / f"loader-{loader}.hlog").read_text().splitlines():
            if line.startswith("#[StartTime:"):
                start_time = float(line.split()[1])
            elif line.startswith("#[BaseTime:"):
                base = float(line.split()[1])
            elif line.startswith("Tag="):
                tag, stamp, rest = line.split(",", 2)
                assert start_time is not None
                absolute = float(stamp) + (start_time if base is None else base)
                rows.append((absolute, loader, f"{tag},{absolute:.3f},{rest}"))
        first_start = start_time if first_start is None else min(first_start, start_time or 0)
    rows.sort(key=lambda row: (row[0], row[1]))
    joint = directory / "joint.hlog"
    header = ["#[Histogram log format version 1.3]",
              f"#[StartTime: {first_start:.3f} (seconds since epoch), joint]",
              "#[BaseTime: 0.000 (seconds since epoch)]", LEGEND]
    joint.write_text("\n".join(header + [row[2] for row in rows]) + "\n")
    return joint, time.perf_counter() - began


# --- ours ----------------------------------------------------------------------------------


def merge_only(directory: Path, workers: int | None) -> None:
    """Child mode: one build_step_result over the logs; prints timing and totals as JSON."""
    from pytest_scyllabench.hdr.merge import LoaderOutput, Window, build_step_result
    from pytest_scyllabench.stress.base import LoaderSummary
    from pytest_scyllabench.stress.step import Step, Workload

    manifest = json.loads((directory / "manifest.json").read_text())
    loaders, seconds = manifest["loaders"], manifest["seconds"]
    window = Window(T0 - 5, T0 + seconds + 5)
    outputs = [LoaderOutput(
        name=f"loader-{n}", host="localhost", tool="generated",
        summary=LoaderSummary(loader=f"loader-{n}", tool_version="generated",
                              measure_start=window.start, measure_end=window.end,
                              ops=0, errors=0),
        hdr_log=directory / f"loader-{n}.hlog") for n in range(loaders)]
    step = Step(workload=Workload(name="mixed", mix={"write": 0.5, "read": 0.5}),
                rate=manifest["ops"] * loaders, duration=float(seconds))
    began, cpu = time.perf_counter(), _cpu_seconds()
    result = build_step_result(step, outputs, window, workers=workers)
    elapsed, cpu = time.perf_counter() - began, _cpu_seconds() - cpu
    totals = {}
    for tag in TAGS:
        histogram = result.histograms[tag]
        values = histogram.values_at_percentiles(QUANTILES)
        totals[tag] = {**dict(zip(TOTALS, [*values, histogram.get_max_value()], strict=True)),
                       "Total_Count": histogram.get_total_count()}
    print(json.dumps({
        "seconds": elapsed, "cpu_seconds": cpu, "ops": result.ops,
        "series_points": len(result.series), "tags": sorted(result.histograms), "totals": totals,
        "maxrss_mb": _peak_rss_mb(),
        "children_maxrss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }))


def _peak_rss_mb() -> float:
    """This process's peak RSS. ``VmHWM``: ``ru_maxrss`` keeps the parent's from before exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the worker processes)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _children_cpu() -> float:
    """CPU time of this process's finished children (and of theirs)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return children.ru_utime + children.ru_stime


def run_ours(directory: Path, workers: int | None) -> tuple[dict[str, Any], float, float]:
    """Our merge in a fresh process: its report, wall time and CPU time (workers included)."""
    command = [sys.executable, __file__, "--merge-only", str(directory)]
    if workers is not None:
        command += ["--workers", str(workers)]
    began, cpu = time.perf_counter(), _children_cpu()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall, cpu = time.perf_counter() - began, _children_cpu() - cpu
    if done.returncode != 0:
        sys.exit(f"our merge failed ({done.returncode}):\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1]), wall, cpu


# --- Java ----------------------------------------------------------------------------------


def java_available() -> str | None:
    java = shutil.which("java")
    if java is None:
        return "java is not installed"
    if not JAR.is_file():
        return f"HdrHistogram jar not found at {JAR} (apt-get install libhdrhistogram-java)"
    return None


def run_java(joint: Path, tag: str) -> tuple[dict[str, int], float, float]:
    """One HistogramLogProcessor run over the joint file for ``tag``: totals, wall, CPU."""
    out = joint.with_name(f"java-{tag}")
    command = ["java", "-cp", str(JAR), "org.HdrHistogram.HistogramLogProcessor",
               "-i", str(joint), "-tag", tag, "-csv", "-outputValueUnitRatio", "1",
               "-o", str(out)]
    began, cpu = time.perf_counter(), _children_cpu()
    subprocess.run(command, check=True, capture_output=True)
    wall, cpu = time.perf_counter() - began, _children_cpu() - cpu
    rows = [line for line in out.read_text().splitlines() if line and line[0] != "#"]
    header = [name.strip('"') for name in rows[0].split(",")]
    last = dict(zip(header, rows[-1].split(","), strict=True))
    totals = {name: round(float(last[name])) for name in TOTALS}
    totals["Total_Count"] = int(last["Total_Count"])
    return totals, wall, cpu


# --- main ----------------------------------------------------------------------------------


def prepare(workdir: Path | None, params: Params) -> tuple[Path, dict[str, Any], bool]:
    """The logs' directory (reused when it holds these parameters) and their summary."""
    directory = workdir or Path(tempfile.mkdtemp(prefix="hdr-pipeline-"))
    manifest = directory / "manifest.json"
    if manifest.is_file():
        known = json.loads(manifest.read_text())
        if all(known.get(key) == value for key, value in params.manifest().items()):
            return directory, known, False
    began = time.perf_counter()
    summary = generate(directory, params)
    summary["generated_s"] = time.perf_counter() - began
    return directory, summary, True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loaders", type=int, default=8, metavar="N",
                        help="loaders, one log each (default 8)")
    parser.add_argument("--seconds", type=int, default=3600, metavar="S",
                        help="seconds of 1 s intervals per log (default 3600)")
    parser.add_argument("--ops", type=int, default=3000, metavar="N",
                        help="operations per second per loader (default 3000)")
    parser.add_argument("--runs", type=int, default=3, metavar="N",
                        help="timed rounds of ours and Java (default 3)")
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="processes for our merge (default: decided from the work)")
    parser.add_argument("--workdir", type=Path, default=None, metavar="DIR",
                        help="keep the logs here and reuse them when the parameters match "
                             "(default: a temporary directory, removed)")
    parser.add_argument("--seed", type=int, default=2024, help="random seed (default 2024)")
    parser.add_argument("--no-java", action="store_true", help="time ours only")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 2 loaders x 20 s, 1 round")
    parser.add_argument("--merge-only", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.merge_only is not None:
        merge_only(args.merge_only, args.workers)
        return 0
    if args.quick:
        args.loaders, args.seconds, args.runs = 2, 20, 1
    params = Params(args.loaders, args.seconds, args.ops, args.seed)
    directory, summary, fresh = prepare(args.workdir, params)
    try:
        return compare(directory, summary, fresh, args)
    finally:
        if args.workdir is None:
            shutil.rmtree(directory, ignore_errors=True)


def compare(directory: Path, summary: dict[str, Any], fresh: bool,
            args: argparse.Namespace) -> int:
    made = f"generated in {summary['generated_s']:.1f} s" if fresh else "reused"
    print(f"logs: {args.loaders} loaders x {args.seconds} s, tags {' '.join(TAGS)}: "
          f"{summary['intervals']} intervals, {summary['values'] / 1e6:.1f} M values, "
          f"{summary['bytes'] / 1e6:.1f} MB ({made}, in {directory})")
    problem = None if not args.no_java else "--no-java"
    problem = problem or java_available()
    joint = None
    if problem is None:
        joint, join_s = write_joint(directory, args.loaders)
        print(f"java: joint time-sorted file prepared in {join_s:.1f} s (not counted)")
    ours_s, ours_wall, ours_cpu, java_s, java_cpu = [], [], [], [], []
    ours: dict[str, Any] = {}
    java: dict[str, dict[str, int]] = {}
    for round_number in range(1, args.runs + 1):
        ours, wall, cpu = run_ours(directory, args.workers)
        ours_s.append(ours["seconds"])
        ours_wall.append(wall)
        ours_cpu.append(cpu)
        line = (f"round {round_number} (load {os.getloadavg()[0]:.1f}): ours "
                f"{ours['seconds']:.2f} s (process {wall:.2f} s, CPU {cpu:.2f} s, peak RSS "
                f"{ours['maxrss_mb']:.0f} MB, workers {ours['children_maxrss_mb']:.0f} MB)")
        if joint is not None:
            walls, cpus = {}, {}
            for tag in TAGS:
                java[tag], walls[tag], cpus[tag] = run_java(joint, tag)
            java_s.append(sum(walls.values()))
            java_cpu.append(sum(cpus.values()))
            line += (f"; java {java_s[-1]:.2f} s (CPU {java_cpu[-1]:.2f} s; " + ", ".join(
                f"{tag} {seconds:.2f}" for tag, seconds in walls.items()) + ")")
        print(line, flush=True)
    print(f"ours: {ours['ops']} ops counted, tags {' '.join(ours['tags'])}, "
          f"{ours['series_points']} series points; best {min(ours_s):.2f} s, median "
          f"{statistics.median(ours_s):.2f} s (process wall best {min(ours_wall):.2f} s, "
          f"CPU best {min(ours_cpu):.2f} s)")
    if joint is None:
        print(f"java: skipped ({problem})")
        return 0
    print(f"java: 4 runs of HistogramLogProcessor, JVM start included: best "
          f"{min(java_s):.2f} s, median {statistics.median(java_s):.2f} s (CPU best "
          f"{min(java_cpu):.2f} s)")
    print(f"ratio java/ours: best {min(java_s) / min(ours_s):.1f}x, median "
          f"{statistics.median(java_s) / statistics.median(ours_s):.1f}x; counting our "
          f"process start too: best {min(java_s) / min(ours_wall):.1f}x; CPU time: best "
          f"{min(java_cpu) / min(ours_cpu):.1f}x")
    disagree = 0
    for tag in TAGS:
        expected, got = java[tag], ours["totals"][tag]
        same = expected == got
        disagree += not same
        detail = f"Total_Count {got['Total_Count']}" if same else f"java {expected} ours {got}"
        print(f"  {tag}: {'agree' if same else 'DIFFER'} (Total_50% .. Total_Max, {detail})")
    return 1 if disagree else 0


if __name__ == "__main__":
    sys.exit(main())
