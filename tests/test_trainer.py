"""The torch ``Trainer`` (learners/trainer.py) and its use by every torch learner: early
stopping restores the best epoch, the accuracy monitor, the time budget, convergence, the
per-epoch curves, the validation split (training rows only, never test rows), the
learning-rate schedules, and every deep learner through the harness with its training record,
profile, parameter count and FLOPs.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from learnbench.learners import trainer as trainer_mod
from learnbench.learners.trainer import (
    STOP_REASONS,
    Phase,
    Trainer,
    classification_validator,
    seeded,
    shuffled_batches,
    training_record,
    validation_split,
)

CPU = torch.device("cpu")
CURVE_KEYS = ("epoch", "train_loss", "val_loss", "val_accuracy", "seconds", "samples")


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread() -> Any:
    """One intra-op thread: these models are tiny and the host's cores are shared, where two
    contending threads make a LeNet step ~100x slower than one."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# -- toy problems -----------------------------------------------------------------------------


def toy_regression(n: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 3, generator=g)
    y = X @ torch.tensor([1.0, -2.0, 0.5]) + 0.3
    return X, y[:, None]


def mse_loss(X: torch.Tensor, y: torch.Tensor, sleep: float = 0.0,
             log: list[tuple[float, int]] | None = None) -> Any:
    def batch_loss(forward: Any, idx: torch.Tensor) -> tuple[torch.Tensor, int]:
        if sleep:
            time.sleep(sleep)
        loss = F.mse_loss(forward(X[idx]), y[idx])
        if log is not None:
            log.append((float(loss.detach()), len(idx)))
        return loss, len(idx)

    return batch_loss


def epochs_of(n: int, batch_size: int, seed: int = 0) -> Any:
    g = torch.Generator().manual_seed(seed)
    return lambda: shuffled_batches(n, batch_size, g, CPU)


def linear(seed: int = 0) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(3, 1)


class Scripted:
    """A validator returning a scripted loss (and accuracy) per epoch; it snapshots the
    weights it is shown (the module, as ``forward``) after every epoch."""

    def __init__(self, losses: list[float], accuracies: list[float] | None = None,
                 sleep: float = 0.0) -> None:
        self.losses, self.accuracies, self.sleep = losses, accuracies, sleep
        self.snapshots: list[dict[str, torch.Tensor]] = []

    def __call__(self, forward: Any) -> dict[str, float | None]:
        assert not forward.training  # scored in eval mode
        if self.sleep:
            time.sleep(self.sleep)
        self.snapshots.append({k: v.detach().clone() for k, v in forward.state_dict().items()})
        i = len(self.snapshots) - 1
        return {"loss": self.losses[i],
                "accuracy": None if self.accuracies is None else self.accuracies[i]}


def same_weights(module: nn.Module, snapshot: dict[str, torch.Tensor]) -> bool:
    state = module.state_dict()
    return state.keys() == snapshot.keys() and all(torch.equal(state[k], snapshot[k]) for k in state)


RISES_AFTER_2 = [1.0, 0.5, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5]


# -- early stopping ---------------------------------------------------------------------------


@pytest.mark.parametrize("patience", [1, 3])
def test_early_stopping_restores_the_best_epochs_weights(patience: int) -> None:
    X, y = toy_regression()
    module = linear()
    validate = Scripted(RISES_AFTER_2)
    phase = Trainer(CPU, max_epochs=10, lr=0.05, patience=patience).fit(
        module, epochs_of(32, 8), mse_loss(X, y), validate, val_size=7)
    assert phase.best_epoch == 2
    assert phase.stop_reason == "patience"
    assert phase.epochs_run == 2 + patience == len(validate.snapshots)
    assert phase.restored_best
    assert not module.training
    # the weights did move after epoch 2, and the module is back at exactly epoch 2's
    assert not all(torch.equal(validate.snapshots[1][k], validate.snapshots[-1][k])
                   for k in validate.snapshots[1])
    assert same_weights(module, validate.snapshots[1])
    assert phase.curves["val_loss"] == RISES_AFTER_2[: phase.epochs_run]
    assert phase.val_size == 7


def test_without_patience_the_last_epochs_weights_stay() -> None:
    X, y = toy_regression()
    module = linear()
    validate = Scripted(RISES_AFTER_2)
    phase = Trainer(CPU, max_epochs=5, lr=0.05).fit(module, epochs_of(32, 8), mse_loss(X, y), validate)
    assert (phase.best_epoch, phase.epochs_run, phase.stop_reason) == (2, 5, "epoch_budget")
    assert not phase.restored_best
    assert same_weights(module, validate.snapshots[-1])
    assert not same_weights(module, validate.snapshots[1])


def test_best_epoch_last_is_not_a_restore() -> None:
    X, y = toy_regression()
    module = linear()
    validate = Scripted([1.0, 0.9, 0.8])
    phase = Trainer(CPU, max_epochs=3, lr=0.05, patience=2).fit(
        module, epochs_of(32, 8), mse_loss(X, y), validate)
    assert (phase.best_epoch, phase.stop_reason, phase.restored_best) == (3, "epoch_budget", False)
    assert same_weights(module, validate.snapshots[-1])


@pytest.mark.parametrize(("monitor", "best"), [("accuracy", 3), ("loss", 1)])
def test_monitor_accuracy_picks_the_most_accurate_epoch(monitor: str, best: int) -> None:
    # the loss only rises (best: epoch 1) while the accuracy peaks at epoch 3
    losses = [0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2]
    accuracies = [0.2, 0.5, 0.9, 0.6, 0.4, 0.3, 0.2, 0.1]
    X, y = toy_regression()
    module = linear()
    validate = Scripted(losses, accuracies)
    phase = Trainer(CPU, max_epochs=8, lr=0.05, patience=2, monitor=monitor).fit(
        module, epochs_of(32, 8), mse_loss(X, y), validate)
    assert phase.best_epoch == best
    assert phase.epochs_run == best + 2
    assert phase.stop_reason == "patience"
    assert phase.restored_best
    assert same_weights(module, validate.snapshots[best - 1])
    assert phase.curves["val_accuracy"] == accuracies[: best + 2]


def test_patience_without_a_validator_monitors_the_training_loss() -> None:
    scripted = [1.0, 0.5, 0.7, 0.5, 0.6, 0.1]  # mean training loss of each epoch
    weight = nn.Parameter(torch.zeros(()))
    calls: list[int] = []

    def batch_loss(forward: Any, idx: torch.Tensor) -> tuple[torch.Tensor, int]:
        calls.append(len(idx))
        return weight * 0 + scripted[(len(calls) - 1) // 4], len(idx)  # 4 batches an epoch

    module = nn.Linear(1, 1)
    phase = Trainer(CPU, max_epochs=6, patience=2).fit(
        module, epochs_of(32, 8), batch_loss, params=[weight])
    # epoch 4 equals epoch 2's loss: no improvement, so patience runs out after epoch 4
    assert (phase.best_epoch, phase.epochs_run, phase.stop_reason) == (2, 4, "patience")
    assert phase.curves["train_loss"] == pytest.approx(scripted[:4])
    assert phase.curves["val_loss"] == [None] * 4


def test_min_delta_needs_a_large_enough_improvement() -> None:
    X, y = toy_regression()
    validate = Scripted([1.0, 0.95, 0.92, 0.5, 0.45, 0.44, 0.41, 0.1, 0.1, 0.1])
    module = linear()
    phase = Trainer(CPU, max_epochs=10, patience=3, min_delta=0.1).fit(
        module, epochs_of(32, 8), mse_loss(X, y), validate)
    # 0.95 and 0.92 are within 0.1 of 1.0; 0.5 improves by more; 0.45 .. 0.41 do not
    assert (phase.best_epoch, phase.epochs_run, phase.stop_reason) == (4, 7, "patience")
    assert phase.restored_best
    assert same_weights(module, validate.snapshots[3])


# -- budgets and curves -----------------------------------------------------------------------


def test_time_budget_is_honoured_within_one_epoch() -> None:
    X, y = toy_regression(32)
    budget = 0.3
    phase = Trainer(CPU, max_epochs=20, max_seconds=budget).fit(
        linear(), epochs_of(32, 8), mse_loss(X, y, sleep=0.05))  # 4 batches: >= 0.2 s an epoch
    seconds = phase.curves["seconds"]
    epoch_s = np.diff([0.0, *seconds])
    assert phase.stop_reason == "time_budget"
    assert phase.seconds == seconds[-1]
    assert budget <= phase.seconds < budget + epoch_s.max()
    # it stopped at the first epoch that reached the budget, not later
    assert all(s < budget for s in seconds[:-1])
    assert epoch_s.min() >= 4 * 0.05
    assert phase.epochs_run == len(seconds) <= 2


def test_validation_time_is_not_training_time() -> None:
    X, y = toy_regression(32)
    validate = Scripted([1.0, 0.9, 0.8], sleep=0.2)
    t0 = time.perf_counter()
    phase = Trainer(CPU, max_epochs=3, max_seconds=0.5).fit(
        linear(), epochs_of(32, 8), mse_loss(X, y, sleep=0.02), validate)
    wall = time.perf_counter() - t0
    # 4 x 0.02 s of training an epoch: three epochs fit in 0.5 s when the 0.2 s of validation
    # after each are not counted (two would not, if they were)
    assert phase.epochs_run == 3  # epoch_budget (time_budget too, on a very busy host)
    assert phase.seconds <= wall - 3 * 0.2


def test_tol_stops_converged_when_the_training_loss_reaches_it() -> None:
    X, y = toy_regression(64)
    free = Trainer(CPU, max_epochs=40, lr=0.05).fit(linear(), epochs_of(64, 16), mse_loss(X, y))
    curve = free.curves["train_loss"]
    assert free.stop_reason == "epoch_budget" and curve[-1] < curve[0] / 10
    tol = curve[9]  # reached at epoch 10 at the latest
    expected = next(i for i, loss in enumerate(curve) if loss <= tol) + 1
    phase = Trainer(CPU, max_epochs=40, lr=0.05, tol=tol).fit(linear(), epochs_of(64, 16), mse_loss(X, y))
    assert phase.stop_reason == "converged"
    assert phase.epochs_run == expected <= 10
    assert phase.curves["train_loss"] == curve[:expected]  # same seeds: the same trajectory
    assert phase.curves["train_loss"][-1] <= tol < min(phase.curves["train_loss"][:-1])


def test_epoch_budget_and_the_curves() -> None:
    n, batch_size, epochs = 50, 16, 4  # batches of 16, 16, 16 and 2
    X, y = toy_regression(n)
    log: list[tuple[float, int]] = []
    phase = Trainer(CPU, max_epochs=epochs, lr=0.01, name="warm").fit(
        linear(), epochs_of(n, batch_size), mse_loss(X, y, log=log), val_size=0)
    c = phase.curves
    assert (phase.name, phase.max_epochs, phase.epochs_run, phase.stop_reason) == ("warm", 4, 4,
                                                                                 "epoch_budget")
    assert all(len(c[k]) == epochs for k in CURVE_KEYS)
    assert c["epoch"] == [1, 2, 3, 4]
    assert c["samples"] == [n * e for e in range(1, epochs + 1)]
    assert phase.samples == epochs * n
    assert c["seconds"] == sorted(c["seconds"]) and c["seconds"][0] > 0
    assert phase.seconds == c["seconds"][-1]
    assert c["val_loss"] == [None] * epochs and c["val_accuracy"] == [None] * epochs
    # the training loss of an epoch is the sample-weighted mean of its batch losses
    assert len(log) == 4 * epochs
    for e in range(epochs):
        batch = log[4 * e : 4 * e + 4]
        mean = sum(loss * k for loss, k in batch) / sum(k for _, k in batch)
        assert c["train_loss"][e] == pytest.approx(mean, rel=1e-6)
    # a record carries the phase as is
    record = training_record([phase], 0.0)
    assert record["phases"] == [phase.to_dict()]
    assert (record["stop_reason"], record["epochs_run"], record["val_size"]) == ("epoch_budget", 4, 0)
    assert training_record([], 0.1) == {}


def test_skipped_batches_count_no_samples() -> None:
    X, y = toy_regression(50)
    inner = mse_loss(X, y)
    phase = Trainer(CPU, max_epochs=2).fit(
        linear(), epochs_of(50, 16), lambda f, idx: inner(f, idx) if len(idx) == 16 else None)
    assert phase.curves["samples"] == [48, 96] and phase.samples == 96


def test_training_record_sums_phases_and_reports_the_last() -> None:
    a, b = Phase("autoencoder", 5, epochs_run=5), Phase("fine_tune", 9, epochs_run=3,
                                                        stop_reason="patience", val_size=12)
    record = training_record([a, b], 0.1)
    assert record["epochs_run"] == 8
    assert (record["stop_reason"], record["val_size"], record["val_fraction"]) == ("patience", 12, 0.1)
    assert [p["name"] for p in record["phases"]] == ["autoencoder", "fine_tune"]


def test_classification_validator_scores_cross_entropy_and_accuracy() -> None:
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 3.0], [1.0, 0.0, 0.0],
                           [0.0, 0.5, 0.0]])
    y = torch.tensor([0, 1, 1, 2, 1])  # rows 0, 1 and 4 right
    validate = classification_validator(logits, y, batch_size=2)  # batches of 2, 2, 1
    scores = validate(lambda x: x)
    assert scores["accuracy"] == pytest.approx(3 / 5)
    assert scores["loss"] == pytest.approx(float(F.cross_entropy(logits, y)))


def test_seeded_gives_the_same_weights_and_batch_order() -> None:
    def draw() -> tuple[torch.Tensor, list[torch.Tensor]]:
        with seeded(7, CPU) as g:
            return nn.Linear(3, 2).weight.detach().clone(), shuffled_batches(10, 4, g, CPU)

    (w1, b1), (w2, b2) = draw(), draw()
    assert torch.equal(w1, w2) and all(torch.equal(p, q) for p, q in zip(b1, b2, strict=True))
    assert [len(b) for b in b1] == [4, 4, 2]
    assert sorted(torch.cat(b1).tolist()) == list(range(10))


# -- the validation split ---------------------------------------------------------------------


def check_partition(tr: np.ndarray, va: np.ndarray, n: int) -> None:
    assert len(np.intersect1d(tr, va)) == 0
    assert np.array_equal(np.sort(np.concatenate([tr, va])), np.arange(n))
    assert np.array_equal(tr, np.sort(tr)) and np.array_equal(va, np.sort(va))


def test_validation_split_is_stratified_disjoint_and_seeded() -> None:
    y = np.random.default_rng(3).permutation(np.repeat(np.arange(10), 30))
    tr, va = validation_split(y, 0.2, seed=0)
    check_partition(tr, va, len(y))
    assert len(va) == 60
    assert np.array_equal(np.bincount(y[va], minlength=10), np.full(10, 6))  # stratified
    again = validation_split(y, 0.2, seed=0)
    assert np.array_equal(again[0], tr) and np.array_equal(again[1], va)
    other = validation_split(y, 0.2, seed=1)
    assert not np.array_equal(other[1], va)
    check_partition(*other, len(y))


def test_validation_split_fraction_zero_is_empty() -> None:
    y = np.repeat(np.arange(4), 5)
    tr, va = validation_split(y, 0.0, seed=0)
    assert np.array_equal(tr, np.arange(20)) and len(va) == 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_validation_split_with_fewer_validation_rows_than_classes(seed: int) -> None:
    # ORL: 40 subjects x 5 images, 10 % held out = 20 rows, fewer than the 40 classes
    y = np.repeat(np.arange(40), 5)
    tr, va = validation_split(y, 0.1, seed=seed)
    check_partition(tr, va, len(y))
    assert len(va) == 20
    assert np.array_equal(np.unique(y[tr]), np.arange(40))  # every class keeps a training row
    assert np.bincount(y[va], minlength=40).max() <= 4
    assert np.array_equal(validation_split(y, 0.1, seed=seed)[1], va)
    assert not np.array_equal(validation_split(y, 0.1, seed=seed + 10)[1], va)


def test_validation_split_keeps_singleton_classes_in_training() -> None:
    y = np.array([0] * 20 + [1] * 20 + [2])  # class 2 has one row
    for seed in range(5):
        tr, va = validation_split(y, 0.3, seed=seed)
        check_partition(tr, va, len(y))
        assert 40 in tr and len(va) == round(0.3 * len(y))


DIGITS_CELL: dict[str, Any] = {
    "dataset": "digits",
    "learner": "lenet5",
    "params": {"max_epochs": 2, "batch_size": 64, "validation_fraction": 0.2},
    "dataset_params": {"subsample_train": 300, "subsample_test": 200},
    "seed": 0,
    "device": "cpu",
    "threads": 1,
    "latency": {"batch1_samples": 2, "bulk_batch_size": 50, "bulk_batches": 1},
}


def rows(X: Any) -> set[bytes]:
    return {r.tobytes() for r in np.ascontiguousarray(np.asarray(X, dtype=np.float32))}


def test_the_validation_split_never_touches_test_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    from learnbench.datasets import load_dataset
    from learnbench.harness.worker import run_cell, subsample
    from learnbench.learners.lenet import LeNet5Classifier

    fit_X: list[np.ndarray] = []
    splits: list[tuple[np.ndarray, np.ndarray]] = []
    val_X: list[np.ndarray] = []
    real_fit, real_split = LeNet5Classifier.fit, trainer_mod.validation_split
    real_validator = trainer_mod.classification_validator

    def spy_fit(self: Any, X: Any, y: Any) -> Any:
        fit_X.append(np.array(X, copy=True))
        return real_fit(self, X, y)

    def spy_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
        splits.append(real_split(y, fraction, seed))
        return splits[-1]

    def spy_validator(X: torch.Tensor, y: torch.Tensor, batch_size: int, **kw: Any) -> Any:
        val_X.append(X.detach().cpu().reshape(len(X), -1).numpy().copy())
        return real_validator(X, y, batch_size, **kw)

    monkeypatch.setattr(LeNet5Classifier, "fit", spy_fit)
    monkeypatch.setattr(trainer_mod, "validation_split", spy_split)
    monkeypatch.setattr(trainer_mod, "classification_validator", spy_validator)
    result = run_cell(DIGITS_CELL)

    metrics, training = result["metrics"], result["details"]["training"]
    assert metrics["n_train"] == 300 and metrics["n_test"] == 200
    assert training["val_size"] == 60 == round(0.2 * metrics["n_train"])
    assert training["val_fraction"] == 0.2
    phase = training["phases"][0]
    assert phase["val_size"] == 60 and phase["samples"] == 240 * phase["epochs_run"]

    # the same rows run_cell drew: the fit saw exactly the training subsample
    data = load_dataset("digits", seed=0)
    X_train, _ = subsample(data.X_train, data.y_train, 300, 0)
    X_test, _ = subsample(data.X_test, data.y_test, 200, 0)
    assert len(fit_X) == 1 and len(fit_X[0]) == metrics["n_train"]
    assert np.array_equal(fit_X[0], X_train)
    assert not rows(fit_X[0]) & rows(X_test)
    # the validation rows are a split of those rows, and none of them is a test row
    (tr, va), = splits
    check_partition(tr, va, 300)
    assert len(va) == 60 and len(val_X) == 1 and len(val_X[0]) == 60
    assert rows(val_X[0]) == rows(fit_X[0][va])
    assert not rows(val_X[0]) & rows(X_test)


# -- learning-rate schedules ------------------------------------------------------------------


def lrs_of(schedule: str, steps: int = 20, warmup_ratio: float = 0.0, lr: float = 0.1) -> list[float]:
    """The learning rate used at each of ``steps`` steps (2 epochs of steps / 2 batches)."""
    trainer = Trainer(CPU, max_epochs=2, lr=lr, optimizer="sgd", lr_schedule=schedule,
                      warmup_ratio=warmup_ratio)
    opt = trainer.make_optimizer([nn.Parameter(torch.zeros(1))])
    sched = trainer.make_scheduler(opt, steps // 2)
    assert sched is not None
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    out.append(opt.param_groups[0]["lr"])  # after the last step
    return out


def test_cosine_schedule_ends_near_zero() -> None:
    lrs = lrs_of("cosine")
    assert lrs[0] == pytest.approx(0.1)
    assert lrs[-1] == pytest.approx(0.0, abs=1e-9)
    assert all(a >= b for a, b in zip(lrs, lrs[1:], strict=False))
    assert lrs[10] == pytest.approx(0.05)  # half way: half the rate


def test_onecycle_schedule_peaks_at_lr() -> None:
    lrs = lrs_of("onecycle", warmup_ratio=0.25)
    peak = int(np.argmax(lrs))
    assert max(lrs) == pytest.approx(0.1)
    assert peak == 0.25 * 20 - 1  # warmup_ratio is the rising share (torch's pct_start)
    assert lrs[0] == pytest.approx(0.1 / 25)  # torch's default div_factor
    assert lrs[-2] < 1e-4
    assert all(a <= b for a, b in zip(lrs[:peak], lrs[1 : peak + 1], strict=True))
    assert all(a >= b for a, b in zip(lrs[peak:-2], lrs[peak + 1 : -1], strict=True))


def test_linear_schedule_warms_up_then_decays() -> None:
    lrs = lrs_of("linear", warmup_ratio=0.2)  # 4 warm-up steps of 20
    assert lrs[:5] == pytest.approx([0.025, 0.05, 0.075, 0.1, 0.1])
    assert lrs[5:] == pytest.approx([0.1 * (20 - s) / 16 for s in range(5, 21)])
    assert lrs[-1] == 0.0


def test_no_schedule_keeps_the_rate_and_unknown_ones_fail() -> None:
    trainer = Trainer(CPU, max_epochs=2)
    opt = trainer.make_optimizer([nn.Parameter(torch.zeros(1))])
    assert trainer.make_scheduler(opt, 5) is None
    from learnbench.errors import LearnbenchError

    with pytest.raises(LearnbenchError, match="lr_schedule must be"):
        Trainer(CPU, max_epochs=2, lr_schedule="step").make_scheduler(opt, 5)
    with pytest.raises(LearnbenchError, match="optimizer must be"):
        Trainer(CPU, max_epochs=2, optimizer="lbfgs").make_optimizer([nn.Parameter(torch.zeros(1))])


def scheduled_rates(trainer: Trainer, steps_per_epoch: int, steps: int) -> list[float]:
    """The rate of each of ``steps`` steps under ``trainer``'s schedule, run by hand."""
    opt = trainer.make_optimizer([nn.Parameter(torch.zeros(1))])
    sched = trainer.make_scheduler(opt, steps_per_epoch)
    assert sched is not None
    rates = []
    for _ in range(steps):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return rates


class RecordingTrainer(Trainer):
    """A Trainer that keeps its optimizer, to read the rate each batch trained at."""

    def make_optimizer(self, params: Any) -> torch.optim.Optimizer:
        self.opt = super().make_optimizer(params)
        return self.opt


@pytest.mark.parametrize("schedule", ["cosine", "onecycle", "linear"])
def test_fit_steps_the_schedule_once_per_batch(schedule: str) -> None:
    X, y = toy_regression(40)
    trainer = RecordingTrainer(CPU, max_epochs=3, lr=0.1, optimizer="sgd", lr_schedule=schedule,
                               warmup_ratio=0.2)
    inner, used = mse_loss(X, y), []

    def batch_loss(forward: Any, idx: torch.Tensor) -> Any:
        used.append(trainer.opt.param_groups[0]["lr"])
        return inner(forward, idx)

    trainer.fit(linear(), epochs_of(40, 8), batch_loss)  # 5 batches x 3 epochs
    assert len(used) == 15
    reference = Trainer(CPU, max_epochs=3, lr=0.1, optimizer="sgd", lr_schedule=schedule,
                        warmup_ratio=0.2)
    assert used == pytest.approx(scheduled_rates(reference, steps_per_epoch=5, steps=15))
    assert max(used) == pytest.approx(0.1, rel=0.05) and used[-1] < 0.1 / 2


@pytest.mark.parametrize("schedule", ["cosine", "onecycle", "linear"])
def test_a_later_epoch_with_more_batches_than_the_first_does_not_overrun_the_schedule(
    schedule: str,
) -> None:
    # class-balanced P x K batches (the triplet learner) vary in number between epochs; the
    # schedule spans max_epochs x the first epoch's count and must stop there (OneCycleLR
    # raised "Tried to step 17 times" here)
    X, y = toy_regression(36)
    sizes = iter([4, 5, 6, 6])  # batches in epochs 1..4: 4 + 5 + 6 + 6 = 21 > 4 x 4 = 16
    trainer = RecordingTrainer(CPU, max_epochs=4, lr=0.1, optimizer="sgd", lr_schedule=schedule)
    used: list[float] = []
    inner = mse_loss(X, y)

    def batch_loss(forward: Any, idx: torch.Tensor) -> Any:
        used.append(trainer.opt.param_groups[0]["lr"])
        return inner(forward, idx)

    phase = trainer.fit(linear(), lambda: list(torch.arange(36).tensor_split(next(sizes))), batch_loss)
    assert phase.epochs_run == 4 and len(used) == 21
    # the schedule's 16 rates, then its last one for the 5 extra batches
    expected = scheduled_rates(Trainer(CPU, max_epochs=4, lr=0.1, optimizer="sgd", lr_schedule=schedule),
                               steps_per_epoch=4, steps=16)
    assert used == pytest.approx(expected + [expected[-1]] * 5)
    assert max(used) <= 0.1 + 1e-12


# -- every deep learner through the harness ---------------------------------------------------

TEXT_LEARNERS = {
    "bert_mlm": "needs IMDB text (tests/test_bert.py)",
    "minilm_logreg": "needs IMDB text and the MiniLM weights (tests/test_bert.py)",
    "minilm_finetune": "needs IMDB text and the MiniLM weights (tests/test_bert.py)",
}
SMALL_AE = {"ae_epochs": 1, "code_size": 16, "batch_size": 32}
SMALL_NET = {"max_epochs": 2, "batch_size": 32}
METRIC = {**SMALL_NET, "widths": [4, 8], "embedding_dim": 8, "verification_pairs": 100}
# the smallest settings that still run each learner, and the phases its record should hold
DEEP_CELLS: dict[str, tuple[dict[str, Any], list[str]]] = {
    "lenet5": (SMALL_NET, ["train"]),
    "cnn": ({**SMALL_NET, "widths": [4, 8]}, ["train"]),
    "mobilenet": ({**SMALL_NET, "width_mult": 0.25}, ["train"]),
    "mobilenet_standard": ({**SMALL_NET, "width_mult": 0.25}, ["train"]),
    "siamese_contrastive": (METRIC, ["train"]),
    "triplet": (METRIC, ["train"]),
    "ae_logreg": (SMALL_AE, ["autoencoder"]),
    "dae_logreg": (SMALL_AE, ["autoencoder"]),
    "sae_logreg": (SMALL_AE, ["autoencoder"]),
    "cae_logreg": (SMALL_AE, ["autoencoder"]),
    "conv_ae_logreg": ({**SMALL_AE, "conv_widths": [4, 8]}, ["autoencoder"]),
    "ae_finetune": ({**SMALL_AE, "head_epochs": 1, "fine_tune_epochs": 1},
                    ["autoencoder", "head", "fine_tune"]),
    "rotation_probe": ({"widths": [4, 8], "pretext_epochs": 1}, ["pretext"]),
}


def validation_curves(learner: str, phase: str) -> tuple[str, ...]:
    """The validation curves a phase draws: the autoencoder phase scores reconstruction only,
    the metric learners a k-NN accuracy only, the others loss and accuracy."""
    if phase == "autoencoder":
        return ("val_loss",)
    if learner in ("siamese_contrastive", "triplet"):
        return ("val_accuracy",)
    return ("val_loss", "val_accuracy")


def deep_learner_names() -> list[str]:
    from learnbench.learners import learner_family, learner_names

    return [n for n in learner_names() if learner_family(n) == "deep"]


def test_every_deep_learner_has_a_cell_here() -> None:
    names = set(deep_learner_names())
    assert names - set(TEXT_LEARNERS) == set(DEEP_CELLS), "add small settings for a new deep learner"
    assert set(TEXT_LEARNERS) <= names


@pytest.mark.parametrize("name", [n for n in deep_learner_names() if n not in TEXT_LEARNERS])
def test_deep_learner_through_the_harness(name: str) -> None:
    from learnbench.harness.worker import run_cell
    from learnbench.learners import is_torch_learner, make_learner

    assert is_torch_learner(make_learner(name))
    params, phase_names = DEEP_CELLS[name]
    result = run_cell({
        "dataset": "digits", "learner": name, "params": params,
        "dataset_params": {"subsample_train": 160, "subsample_test": 60},
        "seed": 0, "device": "cpu", "threads": 1,
        "latency": {"batch1_samples": 2, "bulk_batch_size": 30, "bulk_batches": 1},
        "profile": {"warmup": 1, "steps": 1, "trace": False},
    })
    metrics, details = result["metrics"], result["details"]
    training = details["training"]
    phases = training["phases"]
    assert [p["name"] for p in phases] == phase_names
    for p in phases:
        assert p["stop_reason"] in STOP_REASONS
        assert 1 <= p["epochs_run"] <= p["max_epochs"]
        for key, values in p["curves"].items():
            assert len(values) == p["epochs_run"], (p["name"], key)
        assert p["curves"]["epoch"] == list(range(1, p["epochs_run"] + 1))
        assert p["samples"] == p["curves"]["samples"][-1] > 0
        assert p["val_size"] == 16  # validation_fraction 0.1 of the 160 training rows
        scored = validation_curves(name, p["name"])
        for key in ("val_loss", "val_accuracy"):
            drawn = [v is not None for v in p["curves"][key]]
            assert drawn == [key in scored] * p["epochs_run"], (p["name"], key)
    assert training["stop_reason"] == phases[-1]["stop_reason"]
    assert training["epochs_run"] == sum(p["epochs_run"] for p in phases)
    assert "profile_skipped" not in details, details.get("profile_skipped")
    assert details["profile"]["phases"]
    assert metrics["n_parameters"] > 0
    assert metrics["flops_per_sample"] > 0
    assert 0.0 <= metrics["accuracy"] <= 1.0


def test_a_large_validation_fraction_still_keeps_every_class_in_training():
    y = np.repeat(np.arange(9), 2)
    for fraction in (0.6, 0.8):
        tr, va = validation_split(y, fraction, seed=0)
        assert set(y[tr]) == set(range(9))
        assert len(np.intersect1d(tr, va)) == 0 and len(tr) + len(va) == len(y)


@pytest.mark.parametrize(("params", "message"), [
    ({"max_seconds": 0}, "must be None or a float in the range (0.0, inf). Got 0 instead."),
    ({"patience": 0}, "must be None or an int in the range [1, inf). Got 0 instead."),
    ({"lr_schedule": "step"},
     "must be None or a str among {'cosine', 'linear', 'onecycle'}. Got 'step' instead."),
    ({"validation_fraction": 1.0}, "must be a float in the range [0.0, 1.0). Got 1.0 instead."),
])
def test_bad_budget_parameters_are_one_line_errors(params: dict[str, Any], message: str) -> None:
    from learnbench.errors import LearnbenchError
    from learnbench.learners import make_learner

    X = np.zeros((20, 64), dtype=np.float32)
    y = np.arange(20) % 2
    est = make_learner("lenet5", device="cpu", input_shape=(1, 8, 8), **params)
    [key] = params
    with pytest.raises(LearnbenchError) as err:
        est.fit(X, y)
    assert str(err.value) == f"The {key!r} parameter of LeNet5Classifier {message}"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_a_cuda_cell_without_cuda_fails_with_one_line() -> None:
    from learnbench.harness.worker import error_line, run_cell

    config = {"dataset": "digits", "learner": "logreg", "params": {}, "seed": 0, "device": "cuda"}
    with pytest.raises(RuntimeError) as info:
        run_cell(config)
    line = error_line(info.value)
    assert "\n" not in line
    assert "cell asks for device 'cuda' but torch.cuda.is_available() is False" in line
    assert "worker.py" in line
