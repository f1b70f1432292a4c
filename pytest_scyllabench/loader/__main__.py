"""``python -m pytest_scyllabench.loader``: see :mod:`pytest_scyllabench.loader.phases`."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

from pytest_scyllabench.errors import ScyllaBenchError
from pytest_scyllabench.loader.cli import parse_args
from pytest_scyllabench.loader.phases import run_loader


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return asyncio.run(run_loader(args))
    except ScyllaBenchError as exc:
        print(f"loader {args.loader}: {args.phase}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
