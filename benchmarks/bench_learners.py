"""asv benchmarks of the learners: classical fit time/peak memory/accuracy, LeNet-5 steps.

Like scikit-learn's ``asv_benchmarks``: data preparation in ``setup`` (not timed), then
``time_fit`` and ``peakmem_fit`` on the same fixed, seeded subsample, and the test accuracy
as a ``track_`` benchmark so a change that trades accuracy for speed shows up too. The data
is scikit-learn's bundled digits set, so these run without any dataset mirror.

    asv run --python=same --quick --bench bench_learners
"""

from __future__ import annotations

N_TRAIN, SEED, BATCH = 1000, 0, 128


def _digits_subsample():
    from learnbench.datasets import load_dataset
    from learnbench.harness.worker import subsample

    data = load_dataset("digits", seed=SEED)
    X_train, y_train = subsample(data.X_train, data.y_train, N_TRAIN, SEED)
    return X_train, y_train, data.X_test, data.y_test


class ClassicalFit:
    """Fit of a classical learner on 1,000 digits (8x8) with the suite's default parameters."""

    params = (["logreg", "random_forest", "xgboost", "knn"],)
    param_names = ["learner"]
    timeout = 300

    def setup(self, learner: str) -> None:
        from learnbench.learners import make_learner

        self.X_train, self.y_train, self.X_test, self.y_test = _digits_subsample()
        self.estimator = make_learner(learner)
        if "random_state" in self.estimator.get_params():
            self.estimator.set_params(random_state=SEED)

    def time_fit(self, learner: str) -> None:
        self.estimator.fit(self.X_train, self.y_train)

    def peakmem_fit(self, learner: str) -> None:
        self.estimator.fit(self.X_train, self.y_train)

    def track_test_accuracy(self, learner: str) -> float:
        from sklearn.base import clone

        est = clone(self.estimator).fit(self.X_train, self.y_train)
        return float((est.predict(self.X_test) == self.y_test).mean())

    track_test_accuracy.unit = "accuracy"


class LeNet5Steps:
    """One LeNet-5 training step (forward, backward, Adam) and one inference batch, CPU.

    Random 28x28 tensors, batch 128: measures the model and PyTorch, not any dataset.
    """

    timeout = 120

    def setup(self) -> None:
        import torch

        from learnbench.learners.lenet import LeNet5

        torch.manual_seed(SEED)
        self.model = LeNet5()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.X = torch.rand(BATCH, 1, 28, 28)
        self.y = torch.randint(0, 10, (BATCH,))
        self.loss = torch.nn.functional.cross_entropy
        self.no_grad = torch.no_grad

    def time_train_step(self) -> None:
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        self.loss(self.model(self.X), self.y).backward()
        self.optimizer.step()

    def time_inference_batch(self) -> None:
        self.model.eval()
        with self.no_grad():
            self.model(self.X)
