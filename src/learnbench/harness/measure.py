"""Timing and memory measurements of a fitted learner: what every record's metrics hold.

Written by hand because none of the libraries measures a scikit-learn estimator end to end
(fit, predict, batch-1 and bulk latency, peak memory) the same way for CPU and CUDA learners.
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def cuda_sync(device: str) -> None:
    """Wait for queued CUDA work so wall-clock timings include it (no-op on CPU)."""
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def timed(fn: Callable[[], Any], device: str = "cpu") -> tuple[Any, float]:
    """Run ``fn`` and return (its result, elapsed seconds), synchronising CUDA around it."""
    cuda_sync(device)
    start = time.perf_counter()
    out = fn()
    cuda_sync(device)
    return out, time.perf_counter() - start


def _rows(X: Any, start: int, stop: int) -> Any:
    return X[start:stop]


def latency(predict: Callable[[Any], Any], X: Any, batch_size: int, n_batches: int,
            device: str = "cpu", warmup: int = 3) -> dict[str, float]:
    """Per-batch latency of ``predict`` on consecutive batches of ``X``.

    Returns throughput (samples/s over the timed batches) and p50/p95 batch latency in ms.
    Warm-up batches (not timed) keep one-off costs (allocations, cuDNN autotuning) out.
    """
    n = X.shape[0]
    batch_size = max(1, min(batch_size, n))
    starts = [(i * batch_size) % max(1, n - batch_size + 1) for i in range(warmup + n_batches)]
    times = []
    for i, s in enumerate(starts):
        batch = _rows(X, s, s + batch_size)
        _, dt = timed(lambda b=batch: predict(b), device)
        if i >= warmup:
            times.append(dt)
    arr = np.asarray(times)
    return {
        "throughput": float(batch_size * len(arr) / arr.sum()),
        "p50_ms": float(np.percentile(arr, 50) * 1e3),
        "p95_ms": float(np.percentile(arr, 95) * 1e3),
        "batch_size": batch_size,
        "batches": len(arr),
    }


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB.

    Linux: ``VmHWM`` from /proc/self/status, the high-water mark of this process's own
    address space. Not ``ru_maxrss``: Linux carries that across fork+exec, so a worker would
    report at least its parent's peak (the runner's, with torch and pandas loaded).
    Elsewhere ``ru_maxrss`` (KiB on Linux/BSD, bytes on macOS) is the best available.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**10  # kB -> MiB
    except (OSError, ValueError, IndexError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**20 if sys.platform == "darwin" else 2**10)


def gpu_peak_mb(device: str) -> float | None:
    if not device.startswith("cuda"):
        return None
    import torch

    return torch.cuda.max_memory_allocated() / 2**20
