"""Measurements recorded for every cell: latency statistics and peak memory."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest

from learnbench.harness import measure


def test_peak_rss_sees_an_allocation() -> None:
    # in a fresh process: this one's high-water mark may already be above any new allocation
    code = ("import numpy as np; from learnbench.harness.measure import peak_rss_mb; "
            "a = peak_rss_mb(); b = np.ones(200 * 2**20, dtype=np.uint8); print(a, peak_rss_mb())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    before, after = map(float, out.stdout.split())
    assert after >= before + 150


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM is Linux-only")
def test_worker_peak_rss_does_not_inherit_the_parents() -> None:
    """ru_maxrss survives fork+exec on Linux; a worker must report its own peak only."""
    parent = np.ones(400 * 2**20, dtype=np.uint8)  # noqa: F841 - held while the child runs
    code = "from learnbench.harness.measure import peak_rss_mb; print(peak_rss_mb())"
    child = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 check=True).stdout)
    assert child < 300, f"child reported {child:.0f} MiB: the parent's 400 MiB leaked in"


def test_latency_statistics_of_a_known_delay() -> None:
    def predict(batch: np.ndarray) -> np.ndarray:
        time.sleep(0.002 * len(batch))
        return batch

    X = np.zeros((100, 3))
    lat = measure.latency(predict, X, batch_size=5, n_batches=4, warmup=1)
    assert lat["batch_size"] == 5 and lat["batches"] == 4
    assert 10 <= lat["p50_ms"] <= lat["p95_ms"] < 60
    assert lat["throughput"] == pytest.approx(5 / (lat["p50_ms"] / 1e3), rel=0.5)
