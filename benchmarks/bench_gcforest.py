"""asv benchmarks of gcForest's two stages: multi-grained scanning and one cascade level.

Both run on a fixed, seeded subsample of scikit-learn's bundled digits (8x8 images, no dataset
mirror needed) with small forests, so each figure takes seconds; they track the cost of the
code paths (window extraction, out-of-fold class vectors, forest fitting), not the paper's
configuration (500 trees per forest). ``n_jobs=1`` throughout, so the figures are comparable.

- ``GcForestScanning``: ``MultiGrainedScanner.fit_transform`` (default windows 2, 3, 4;
  a completely-random and a random forest per window size; 3-fold out-of-fold class vectors)
  and the scanned feature count as a ``track_``;
- ``GcForestCascadeLevel``: ``CascadeForestClassifier`` held to exactly one level
  (``max_levels=1``, ``validation_fraction=0``: no growing split), i.e. one level of 4 + 4
  forests with 3-fold class vectors, plus its test accuracy as a ``track_``.

    asv run --python=same --quick --bench bench_gcforest
"""

from __future__ import annotations

N_TRAIN, SEED, TREES = 300, 0, 20
IMAGE_SHAPE = (1, 8, 8)


def _digits():
    from learnbench.datasets import load_dataset
    from learnbench.harness.worker import subsample

    data = load_dataset("digits", seed=SEED)
    X_train, y_train = subsample(data.X_train, data.y_train, N_TRAIN, SEED)
    return X_train, y_train, data.X_test, data.y_test


def make_scanner(n_estimators: int | None = None):
    """The scanner the benchmark times (default window sizes for 8x8 images; TREES trees)."""
    from learnbench.learners.gcforest import MultiGrainedScanner

    return MultiGrainedScanner(
        input_shape=IMAGE_SHAPE, n_estimators=n_estimators or TREES, n_jobs=1, random_state=SEED
    )


def make_cascade_level(n_estimators: int | None = None):
    """A cascade held to one level (no growing/estimating split; TREES trees per forest)."""
    from learnbench.learners.gcforest import CascadeForestClassifier

    return CascadeForestClassifier(
        n_estimators=n_estimators or TREES, max_levels=1, validation_fraction=0.0, n_jobs=1, random_state=SEED
    )


class GcForestScanning:
    """Multi-grained scanning of 300 digits, 20 trees per forest."""

    timeout = 120
    number = 1
    repeat = (1, 5, 20.0)

    def setup(self) -> None:
        self.X, self.y, _, _ = _digits()

    def time_fit_transform(self) -> None:
        make_scanner().fit_transform(self.X, self.y)

    def peakmem_fit_transform(self) -> None:
        make_scanner().fit_transform(self.X, self.y)

    def track_scanned_features(self) -> int:
        return int(make_scanner(n_estimators=2).fit_transform(self.X[:60], self.y[:60]).shape[1])

    track_scanned_features.unit = "features"


class GcForestCascadeLevel:
    """One cascade level (4 completely-random + 4 random forests of 20 trees) on 300 digits."""

    timeout = 120
    number = 1
    repeat = (1, 5, 20.0)

    def setup(self) -> None:
        self.X, self.y, self.X_test, self.y_test = _digits()

    def time_fit_level(self) -> None:
        make_cascade_level().fit(self.X, self.y)

    def peakmem_fit_level(self) -> None:
        make_cascade_level().fit(self.X, self.y)

    def track_test_accuracy(self) -> float:
        est = make_cascade_level().fit(self.X, self.y)
        return float((est.predict(self.X_test) == self.y_test).mean())

    track_test_accuracy.unit = "accuracy"
