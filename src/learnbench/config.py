"""Where learnbench looks for things: the cache and mirror directories (environment variables),
and the directories shipped inside the package (tiers, baselines)."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import platformdirs

CACHE_ENV = "LEARNBENCH_CACHE"
MIRROR_ENV = "LEARNBENCH_MIRROR"
OFFLINE_ENV = "LEARNBENCH_OFFLINE"


def cache_dir() -> Path:
    """The cache root: ``$LEARNBENCH_CACHE`` or the user cache dir (e.g. ~/.cache/learnbench)."""
    root = os.environ.get(CACHE_ENV) or platformdirs.user_cache_dir("learnbench")
    path = Path(root).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def mirror_dirs() -> list[Path]:
    """Mirror directories from ``$LEARNBENCH_MIRROR`` (an ``os.pathsep``-separated list)."""
    raw = os.environ.get(MIRROR_ENV, "")
    return [Path(p).expanduser() for p in raw.split(os.pathsep) if p.strip()]


def offline() -> bool:
    """True when ``$LEARNBENCH_OFFLINE`` is set to a true value: never try canonical URLs."""
    return os.environ.get(OFFLINE_ENV, "").lower() in {"1", "true", "yes", "on"}


def packaged(name: str) -> Path:
    """A directory shipped inside the package (``suites``, ``baselines``), read with
    ``importlib.resources``: what an installed learnbench has wherever it runs."""
    return Path(str(resources.files("learnbench") / name))
