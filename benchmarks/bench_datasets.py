"""asv benchmarks of dataset loading: a cached MNIST load (the parsed-array cache path).

Needs the MNIST artifacts ($LEARNBENCH_MIRROR or $LEARNBENCH_CACHE); without them ``setup``
raises ``NotImplementedError``, which asv reports as a skipped benchmark.

    LEARNBENCH_MIRROR=../shared/datasets asv run --python=same --quick --bench bench_datasets
"""

from __future__ import annotations


class MnistLoad:
    """``load_dataset("mnist")`` once the artifacts are present and parsed (warm cache)."""

    timeout = 300

    def setup(self) -> None:
        from learnbench.datasets import load_dataset
        from learnbench.errors import LearnbenchError

        try:
            load_dataset("mnist")  # first load verifies and caches; not timed
        except LearnbenchError as exc:
            raise NotImplementedError(f"MNIST unavailable: {exc}") from None

    def time_load_cached(self) -> None:
        from learnbench.datasets import load_dataset

        load_dataset("mnist")
