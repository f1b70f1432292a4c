"""Where downloads and cluster state live: a cache outside the repository."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$SCYLLABENCH_CACHE``, else ``$XDG_CACHE_HOME/pytest-scyllabench``, else ``~/.cache``."""
    explicit = os.environ.get("SCYLLABENCH_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pytest-scyllabench"


def cluster_dir(profile: str) -> Path:
    """Data, configuration and logs of the local cluster of ``profile``."""
    return cache_dir() / "clusters" / profile
