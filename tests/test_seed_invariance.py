"""One seed where seeds cannot differ: deterministic learners on fixed splits (and § in reports)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from learnbench.harness.runner import run_suite
from learnbench.harness.suite import load_suite
from learnbench.records import load_runs
from learnbench.reporting.sections.accuracy import marked_accuracy

SUITE = """
[suite]
name = "seeds"
seeds = [0, 1, 2]
device = "cpu"
latency = { batch1_samples = 5, bulk_batch_size = 256, bulk_batches = 1 }

[[datasets]]
name = "letter"

[[datasets]]
name = "digits"

[[datasets]]
name = "mnist"
label = "mnist-1k"
subsample_train = 1000
subsample_test = 200

[[learners]]
name = "knn"

[[learners]]
name = "logreg"
label = "logreg-saga"
params = { solver = "saga", max_iter = 20 }
datasets = ["letter"]

[[learners]]
name = "random_forest"
params = { n_estimators = 5 }
datasets = ["letter"]
"""


def seeds_of(suite, label: str, dataset: str) -> list[int]:
    return [c.seed for c in suite.cells if c.label == label and c.dataset_label == dataset]


def test_only_seed_free_cells_lose_their_repeats(tmp_path: Path) -> None:
    path = tmp_path / "seeds.toml"
    path.write_text(SUITE)
    suite = load_suite(path)
    assert seeds_of(suite, "knn", "letter") == [0]  # deterministic on a fixed split
    [cell] = [c for c in suite.cells if c.label == "knn" and c.dataset == "letter"]
    assert cell.seed_invariant.startswith("deterministic learner (knn) on a fixed split")
    assert seeds_of(suite, "knn", "digits") == [0, 1, 2]  # the split is drawn with the seed
    assert seeds_of(suite, "knn", "mnist-1k") == [0, 1, 2]  # subsampling uses the seed
    assert seeds_of(suite, "logreg-saga", "letter") == [0, 1, 2]  # saga draws from the seed
    assert seeds_of(suite, "random_forest", "letter") == [0, 1, 2]  # not deterministic
    every = load_suite(path, all_seeds=True)
    assert seeds_of(every, "knn", "letter") == [0, 1, 2]
    # the kept cell is the same cell (same id) whether or not the others run
    assert cell.cell_id in {c.cell_id for c in every.cells}


def test_the_record_and_the_report_say_deterministic_one_run(tmp_path: Path) -> None:
    path = tmp_path / "one.toml"
    path.write_text(textwrap.dedent(SUITE).split("[[datasets]]\nname = \"digits\"")[0]
                    + '[[learners]]\nname = "knn"\n')
    suite = load_suite(path)
    assert len(suite.cells) == 1
    run_suite(suite, tmp_path / "run", progress=lambda _: None)
    df = load_runs(tmp_path / "run")
    assert df["seed_invariant"].iloc[0].startswith("deterministic learner (knn)")
    cells = marked_accuracy(df, "md").cells
    assert cells["letter"].iloc[0].endswith("§") and "±" not in cells["letter"].iloc[0]
