"""``python -m pytest_scyllabench.loader``: see :mod:`pytest_scyllabench.loader.phases`."""

from __future__ import annotations

import asyncio
import selectors
import sys
from collections.abc import Sequence

from pytest_scyllabench.errors import ScyllaBenchError
from pytest_scyllabench.loader.cli import parse_args
from pytest_scyllabench.loader.phases import run_loader


def event_loop() -> asyncio.AbstractEventLoop:
    """The loader's event loop, on ``select(2)``: it wakes a timer within tens of microseconds,
    where epoll rounds every timeout up to a whole millisecond -- about 0.5 ms more on every
    operation's send, hence on every response time (``perf/loader_rate.py --overhead``). The
    loop watches only its own wake-up pipe and a driver's few sockets, far below select's
    1024 descriptors."""
    return asyncio.SelectorEventLoop(selectors.SelectSelector())


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        with asyncio.Runner(loop_factory=event_loop) as runner:
            return runner.run(run_loader(args))
    except ScyllaBenchError as exc:
        print(f"loader {args.loader}: {args.phase}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
