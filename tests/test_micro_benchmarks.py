"""pytest-benchmark micro-benchmarks of hot functions: loading records, building a table,
timing a predict, the metric-learning losses and batch-hard mining, gcForest's window
extraction and the IMDB TF-IDF features. They run (few fixed rounds, ``pedantic``) in the
normal test run and each also checks its result, so each is a test too.

Compare against the stored baseline (``baselines/pytest-benchmark/``, see its README):

    pytest tests/test_micro_benchmarks.py --benchmark-enable \
        --benchmark-storage=baselines/pytest-benchmark --benchmark-compare=0001 \
        --benchmark-compare-fail=mean:25%
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from learnbench.datasets.imdb import tfidf_features
from learnbench.datasets.parsed_cache import pack_strings
from learnbench.harness.measure import latency
from learnbench.learners.gcforest import extract_windows
from learnbench.learners.losses import contrastive_loss, triplet_loss
from learnbench.learners.mining import batch_hard_triplets, pairwise_squared_distances
from learnbench.records import load_runs, write_record
from learnbench.reporting.tables import accuracy_table

N_RECORDS = 50
ROUNDS = 5  # fixed, few rounds (pedantic ignores --benchmark-min-rounds): fast in every run
EMB_BATCH, EMB_DIM = 256, 64  # a large metric-learning batch: 256 embeddings of 64 dims


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


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """Pinned threads: comparable figures on a shared machine (restored afterwards)."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


@pytest.fixture(scope="module")
def embeddings() -> tuple[torch.Tensor, torch.Tensor]:
    """256 L2-normalised 64-d embeddings, 32 classes x 8 (every anchor has positives)."""
    gen = torch.Generator().manual_seed(0)
    emb = torch.nn.functional.normalize(torch.randn(EMB_BATCH, EMB_DIM, generator=gen), dim=1)
    return emb, torch.arange(EMB_BATCH) % 32


def test_bench_contrastive_loss(benchmark, embeddings) -> None:
    emb, labels = embeddings
    half = EMB_BATCH // 2
    a, p = emb[:half], emb[half:]
    dissimilar = (labels[:half] != labels[half:]).long()
    loss = benchmark.pedantic(contrastive_loss, args=(a, p, dissimilar, 1.0), rounds=ROUNDS * 20,
                              warmup_rounds=2)
    d = (a - p).norm(dim=1)
    y = dissimilar.float()
    expected = (0.5 * (1 - y) * d**2 + 0.5 * y * (1.0 - d).clamp(min=0) ** 2).mean()
    assert torch.allclose(loss, expected, atol=1e-6)


def test_bench_triplet_loss(benchmark, embeddings) -> None:
    emb, _ = embeddings
    a, p, n = emb[:80], emb[80:160], emb[160:240]
    loss = benchmark.pedantic(triplet_loss, args=(a, p, n, 0.2), rounds=ROUNDS * 20, warmup_rounds=2)
    expected = np.maximum(0.2 + ((a - p) ** 2).sum(1).numpy() - ((a - n) ** 2).sum(1).numpy(), 0).mean()
    assert loss.item() == pytest.approx(float(expected), abs=1e-5)


def test_bench_batch_hard_mining(benchmark, embeddings) -> None:
    emb, labels = embeddings
    a, p, n = benchmark.pedantic(batch_hard_triplets, args=(emb, labels), rounds=ROUNDS * 20,
                                 warmup_rounds=2)
    assert len(a) == EMB_BATCH  # every anchor has a positive and a negative
    assert (labels[p] == labels[a]).all() and (p != a).all() and (labels[n] != labels[a]).all()
    d2 = pairwise_squared_distances(emb).numpy()
    same = (labels[:, None] == labels[None, :]).numpy()
    i = int(a[7])  # spot check: the farthest positive and the closest negative of one anchor
    assert d2[i, int(p[7])] == pytest.approx(np.where(same[i] & (np.arange(EMB_BATCH) != i), d2[i], -1).max())
    assert d2[i, int(n[7])] == pytest.approx(np.where(~same[i], d2[i], np.inf).min())


def test_bench_extract_windows(benchmark) -> None:
    """gcForest's scanning features: every 7x7 window of 64 MNIST-shaped images, stride 1."""
    images = np.random.default_rng(0).integers(0, 256, (64, 1, 28, 28), dtype=np.uint8)
    windows = benchmark.pedantic(extract_windows, args=(images, (7, 7)), rounds=ROUNDS * 4,
                                 warmup_rounds=1)
    assert windows.shape == (64 * 22 * 22, 49)
    # window at image 3, row 5, column 11 is that image's 7x7 patch, row-major
    assert np.array_equal(windows[3 * 484 + 5 * 22 + 11], images[3, 0, 5:12, 11:18].ravel())


def test_bench_tfidf_features(benchmark) -> None:
    """IMDB's TF-IDF representation on 400 short synthetic reviews (fit on train only)."""
    rng = np.random.default_rng(0)
    words = np.array([f"w{i}" for i in range(300)])
    raw = {}
    for split in ("train", "test"):
        reviews = [" ".join(rng.choice(words, 40)) + "<br />" for _ in range(200)]
        raw[f"{split}_data"], raw[f"{split}_offsets"] = pack_strings(reviews)
        for key in ("labels", "ratings", "ids"):
            raw[f"{split}_{key}"] = np.arange(200)
    out = benchmark.pedantic(tfidf_features, args=(raw, 1000), rounds=ROUNDS, warmup_rounds=1)
    shape = tuple(out["X_train_shape"])
    assert shape[0] == 200 and 300 <= shape[1] <= 1000  # unigrams at least; capped at 1000
    assert "br" not in set(out["vocab_data"].tobytes().decode().split())  # <br /> stripped
