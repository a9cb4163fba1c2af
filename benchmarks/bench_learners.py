"""asv benchmarks of the classical learners: fit time, peak memory and test accuracy.

Like scikit-learn's ``asv_benchmarks``: data preparation in ``setup`` (not timed), then
``time_fit`` and ``peakmem_fit`` on the same fixed, seeded subsample, and the test accuracy
as a ``track_`` benchmark so a change that trades accuracy for speed shows up too. The data
is scikit-learn's bundled digits set, so these run without any dataset mirror. The learners
are the registry's classical entries with ``benchmark=True`` (gcForest has its own module). Learners that
take ``n_jobs`` get ``n_jobs=1`` (pinned threads, comparable figures on any machine). The torch
models' steps are in ``bench_torch.py``, gcForest's stages in ``bench_gcforest.py``.

    asv run --python=same --quick --bench bench_learners
"""

from __future__ import annotations

N_TRAIN, SEED = 1000, 0


def _classical_learners() -> list[str]:
    """The registry's classical learners in the generic benchmarks (plug-ins included)."""
    from learnbench.learners.registry import entries

    return [n for n, e in entries().items() if e.family == "classical" and e.benchmark]


def _digits_subsample():
    from learnbench.datasets import load_dataset
    from learnbench.harness.worker import subsample

    data = load_dataset("digits", seed=SEED)
    X_train, y_train = subsample(data.X_train, data.y_train, N_TRAIN, SEED)
    return X_train, y_train, data.X_test, data.y_test


class ClassicalFit:
    """Fit of a classical learner on 1,000 digits (8x8) with the suite's default parameters."""

    params = (_classical_learners(),)
    param_names = ["learner"]
    timeout = 300

    def setup(self, learner: str) -> None:
        from learnbench.learners import make_learner

        self.X_train, self.y_train, self.X_test, self.y_test = _digits_subsample()
        self.estimator = make_learner(learner)
        if "random_state" in self.estimator.get_params():
            self.estimator.set_params(random_state=SEED)
        if "n_jobs" in self.estimator.get_params():
            self.estimator.set_params(n_jobs=1)

    def time_fit(self, learner: str) -> None:
        self.estimator.fit(self.X_train, self.y_train)

    def peakmem_fit(self, learner: str) -> None:
        self.estimator.fit(self.X_train, self.y_train)

    def track_test_accuracy(self, learner: str) -> float:
        from sklearn.base import clone

        est = clone(self.estimator).fit(self.X_train, self.y_train)
        return float((est.predict(self.X_test) == self.y_test).mean())

    track_test_accuracy.unit = "accuracy"
