"""Per-step overhead of a benchmark session: wall time spent outside the measured window.

Reads the ``result.json`` files of one trial directory (default: the latest of profile
``local``) and prints, per step, the measured window, the overhead (loader start, warm-up,
collection and merging) and the ratio of overhead to measured time.

    .venv/bin/python perf/step_overhead.py [trials/local/latest]
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path


def main() -> None:
    trial = Path(sys.argv[1] if len(sys.argv) > 1 else "trials/local/latest").resolve()
    files = sorted(trial.glob("*/*/result.json"))
    if not files:
        sys.exit(f"no result.json under {trial}")
    print(f"{'step':<40} {'measured s':>10} {'overhead s':>10} {'ratio':>6}")
    overheads = []
    for path in files:
        data = json.loads(path.read_text())
        measured, overhead = data["duration_s"], data["overhead_s"]
        overheads.append(overhead)
        name = f"{path.parent.parent.name}/{data['step']}"
        print(f"{name:<40} {measured:>10.1f} {overhead:>10.2f} {overhead / measured:>6.2f}")
    print(f"overhead per step: median {statistics.median(overheads):.2f} s, "
          f"max {max(overheads):.2f} s over {len(overheads)} steps (warm-up included)")


if __name__ == "__main__":
    main()
