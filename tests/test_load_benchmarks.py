"""Load times of the mirror's datasets: the first (cold) load and a load from the parsed cache.

Opt-in: skipped unless pytest runs with ``--benchmark-enable`` or ``--benchmark-only``, or
``LEARNBENCH_BENCHMARKS=1`` is set, because the cold loads (IMDB alone fits TF-IDF on
25,000 reviews, ~20 s) would dominate the normal test run. To measure:

    pytest tests/test_load_benchmarks.py --benchmark-enable

A cold load starts from an empty cache directory and an empty in-process hash memo, so it
pays for verifying the mirror's artifacts, decompressing, parsing and feature building;
it is timed once (``pedantic(rounds=1)``). The cached load then reuses that directory and
is timed over pytest-benchmark's usual rounds.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from learnbench.datasets import load_dataset
from learnbench.datasets.artifacts import _HASH_MEMO

DATASETS = {
    "mnist": {},
    "fashion_mnist": {},
    "orl": {},
    "imdb": {},  # TF-IDF, the default representation
    "letter": {},
    "adult": {},
    "yeast": {},
}


@pytest.fixture(autouse=True)
def _opt_in(request: pytest.FixtureRequest) -> None:
    config = request.config
    enabled = (
        config.getoption("benchmark_enable", False)
        or config.getoption("benchmark_only", False)
        or os.environ.get("LEARNBENCH_BENCHMARKS", "").lower() in {"1", "true", "yes", "on"}
    )
    if not enabled:
        pytest.skip("load benchmarks are opt-in: --benchmark-enable or LEARNBENCH_BENCHMARKS=1")


@pytest.fixture(scope="module")
def bench_caches(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache directory per dataset, shared by its cold and its cached benchmark."""
    return tmp_path_factory.mktemp("bench-caches")


@pytest.fixture
def offline_mirror(monkeypatch: pytest.MonkeyPatch, mirror_dir: Path) -> Path:
    monkeypatch.setenv("LEARNBENCH_MIRROR", str(mirror_dir))
    monkeypatch.setenv("LEARNBENCH_OFFLINE", "1")
    return mirror_dir


@pytest.mark.benchmark(group="load-cold")
@pytest.mark.parametrize("name", list(DATASETS))
def test_cold_load(benchmark, name, offline_mirror, bench_caches, monkeypatch):
    cache = bench_caches / name

    def empty_cache() -> None:
        shutil.rmtree(cache, ignore_errors=True)
        monkeypatch.setenv("LEARNBENCH_CACHE", str(cache))
        _HASH_MEMO.clear()  # hash the mirror's files again, as a fresh process would

    data = benchmark.pedantic(
        load_dataset, args=(name,), kwargs=DATASETS[name], setup=empty_cache, rounds=1
    )
    assert data.meta["cache_hit"] is False


@pytest.mark.benchmark(group="load-cached")
@pytest.mark.parametrize("name", list(DATASETS))
def test_cached_load(benchmark, name, offline_mirror, bench_caches, monkeypatch):
    monkeypatch.setenv("LEARNBENCH_CACHE", str(bench_caches / name))
    load_dataset(name, **DATASETS[name])  # fills the cache if the cold test did not run
    data = benchmark(load_dataset, name, **DATASETS[name])
    assert data.meta["cache_hit"] is True
