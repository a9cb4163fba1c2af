"""What produced a result: commit, library versions, OS, CPU, GPU (recorded in every record)."""

from __future__ import annotations

import os
import platform
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

_PACKAGES = {"torch": "torch", "torchvision": "torchvision", "sklearn": "scikit-learn",
             "xgboost": "xgboost", "numpy": "numpy", "pandas": "pandas", "learnbench": "learnbench"}


# Output directories a run writes into; changes there do not make the code "dirty".
OUTPUT_DIRS = ("results", "reports")


def git_state(cwd: str | os.PathLike[str] | None = None) -> tuple[str | None, bool | None]:
    """(commit sha, dirty flag) of the checkout at ``cwd``; (None, None) outside git."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                              check=True, timeout=10).stdout.strip()
    try:
        commit = git("rev-parse", "HEAD")
        # Untracked files (scratch runs, caches) do not make a checkout dirty; edits do, except
        # under results/ and reports/: a run rewrites its own tracked files there (the suite
        # copy in a committed run directory), which is output, not the code that ran.
        dirty = bool(git("status", "--porcelain", "--untracked-files=no", "--", ".",
                         *(f":(top,exclude){d}" for d in OUTPUT_DIRS)))
    except (OSError, subprocess.SubprocessError):
        return None, None
    return commit, dirty


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpu_info() -> dict[str, Any]:
    """GPU model, driver and CUDA version when torch sees a CUDA device, else Nones."""
    info: dict[str, Any] = {"gpu": None, "gpu_driver": None, "cuda": None}
    try:
        import torch
    except ImportError:
        return info
    if not torch.cuda.is_available():
        return info
    info["gpu"] = torch.cuda.get_device_name(0)
    info["cuda"] = torch.version.cuda
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10, check=True).stdout
        info["gpu_driver"] = out.strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        pass
    return info


@lru_cache(maxsize=1)
def collect_environment() -> dict[str, Any]:
    """Everything needed to say which code, libraries and machine produced a record."""
    import psutil

    commit, dirty = git_state()
    env: dict[str, Any] = {
        "git_commit": commit,
        "git_dirty": dirty,
        "hostname": platform.node(),
        "os": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
    }
    for key, dist in _PACKAGES.items():
        try:
            env[key] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            env[key] = None
    env.update(gpu_info())
    return env
