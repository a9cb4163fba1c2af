"""Shared fixtures: the real dataset mirror and an isolated cache per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_MIRROR = REPO_ROOT.parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def mirror_dir() -> Path:
    """The read-only dataset mirror (``../shared/datasets``); tests needing it skip without it."""
    import os

    env = os.environ.get("LEARNBENCH_MIRROR")
    for candidate in ([Path(p) for p in env.split(os.pathsep) if p] if env else []) + [SHARED_MIRROR]:
        if (candidate / "mnist").is_dir():
            return candidate
    pytest.skip("dataset mirror not found: set LEARNBENCH_MIRROR or place ../shared/datasets")


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("learnbench-cache")


@pytest.fixture
def real_data(monkeypatch: pytest.MonkeyPatch, mirror_dir: Path, session_cache: Path) -> Path:
    """Point learnbench at the real mirror with a session-wide cache, offline."""
    monkeypatch.setenv("LEARNBENCH_MIRROR", str(mirror_dir))
    monkeypatch.setenv("LEARNBENCH_CACHE", str(session_cache))
    monkeypatch.setenv("LEARNBENCH_OFFLINE", "1")
    return mirror_dir


@pytest.fixture
def empty_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No mirror, an empty cache in ``tmp_path/cache``, offline."""
    monkeypatch.delenv("LEARNBENCH_MIRROR", raising=False)
    monkeypatch.setenv("LEARNBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("LEARNBENCH_OFFLINE", "1")
    return tmp_path / "cache"
