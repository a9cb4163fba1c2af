"""asv benchmarks of dataset loading from the parsed-array cache (a warm ``load_dataset``).

``setup`` loads each dataset once (verifying the artifacts and filling the parsed cache, not
timed); ``time_load_cached`` / ``peakmem_load_cached`` then measure the load every suite cell
pays. Needs the artifacts ($LEARNBENCH_MIRROR or $LEARNBENCH_CACHE); a dataset whose
artifacts are missing raises ``NotImplementedError`` in ``setup``, which asv reports as a
skipped benchmark (``digits`` is bundled with scikit-learn and always runs). The cold load
(first verification and parsing) is measured by ``tests/test_load_benchmarks.py``.

    LEARNBENCH_MIRROR=../shared/datasets asv run --python=same --quick --bench bench_datasets
"""

from __future__ import annotations

DATASETS = ["digits", "mnist", "fashion_mnist", "orl", "imdb", "letter", "adult", "yeast"]


class DatasetLoad:
    """``load_dataset(name)`` once the artifacts are present and parsed (warm cache)."""

    params = (DATASETS,)
    param_names = ["dataset"]
    timeout = 300

    def setup(self, dataset: str) -> None:
        from learnbench.datasets import load_dataset
        from learnbench.errors import LearnbenchError

        try:
            load_dataset(dataset)  # first load verifies and caches; not timed
        except LearnbenchError as exc:
            raise NotImplementedError(f"{dataset} unavailable: {exc}") from None

    def time_load_cached(self, dataset: str) -> None:
        from learnbench.datasets import load_dataset

        load_dataset(dataset)

    def peakmem_load_cached(self, dataset: str) -> None:
        from learnbench.datasets import load_dataset

        load_dataset(dataset)

    def track_train_rows(self, dataset: str) -> int:
        from learnbench.datasets import load_dataset

        return len(load_dataset(dataset).y_train)

    track_train_rows.unit = "rows"
