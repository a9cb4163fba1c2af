"""pytest-benchmark micro-benchmarks of hot functions: loading records, building a table,
timing a predict. They run (few rounds) in the normal test run and also check their result,
so each is a test too; ``--benchmark-autosave`` / ``--benchmark-compare`` track them over time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from learnbench.harness.measure import latency
from learnbench.records import load_runs, write_record
from learnbench.reporting.tables import accuracy_table

N_RECORDS = 50
ROUNDS = 5  # fixed, few rounds (pedantic ignores --benchmark-min-rounds): fast in every run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """50 synthetic records: 5 datasets x 5 learners x 2 seeds."""
    root = tmp_path_factory.mktemp("micro") / "run"
    i = 0
    for d in range(5):
        for learner in ("logreg", "knn", "svm_rbf", "random_forest", "lenet5"):
            for seed in (0, 1):
                write_record(root, {
                    "run_id": "run", "suite": "ci", "cell_id": f"ds{d}-{learner}-s{seed}",
                    "config": {"dataset": f"ds{d}", "learner": learner, "seed": seed,
                               "device": "cpu", "params": {}, "dataset_params": {}},
                    "status": "ok", "started_at": "2026-11-25T20:00:00+00:00",
                    "metrics": {"accuracy": 0.9 + 0.001 * i, "fit_seconds": 1.0 + i},
                    "environment": {"cpu": "x", "cpu_count": 2, "git_commit": "a" * 40},
                })
                i += 1
    return root


def test_bench_load_runs(benchmark, run_dir: Path) -> None:
    df = benchmark.pedantic(load_runs, args=(run_dir,), rounds=ROUNDS, warmup_rounds=1)
    assert len(df) == N_RECORDS and df["accuracy"].notna().all()


def test_bench_accuracy_table(benchmark, run_dir: Path) -> None:
    df = load_runs(run_dir)
    table = benchmark.pedantic(accuracy_table, args=(df,), rounds=ROUNDS, warmup_rounds=1)
    assert table.shape == (5, 5 * 4)
    assert (table.xs("n_ok", axis=1, level="stat") == 2).all().all()


def test_bench_latency_trivial_predict(benchmark) -> None:
    X = np.zeros((256, 8))

    def run() -> dict[str, float]:
        return latency(lambda b: b.sum(axis=1), X, batch_size=32, n_batches=20, warmup=2)

    result = benchmark.pedantic(run, rounds=ROUNDS, warmup_rounds=1)
    assert result["batches"] == 20 and result["batch_size"] == 32
    assert result["throughput"] > 0 and result["p50_ms"] <= result["p95_ms"]
