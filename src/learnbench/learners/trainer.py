"""``Trainer``: the one training loop every torch learner uses.

A learner supplies only its batches (a callable returning one epoch's batches) and its loss
for a batch; the Trainer owns everything else, so every deep learner is trained and measured
the same way:

- seeding and cuDNN determinism (:func:`seeded`), autocast (``amp``) and ``torch.compile``;
- the optimizer (Adam, AdamW or SGD) and an optional learning-rate schedule from
  ``torch.optim.lr_scheduler`` (cosine annealing, one-cycle, or linear warm-up then decay);
- the training-loss sum kept on the device (one host sync per epoch, never per step);
- per-epoch curves: training loss, validation loss and accuracy, cumulative training seconds
  (validation excluded) and training samples;
- budgets: ``max_epochs`` and ``max_seconds`` (clocks read after a device synchronisation, so
  seconds mean the same on CUDA as on CPU), early stopping on the validation loss with
  ``patience`` (the best epoch's weights are restored), and ``tol`` (converged: the mean
  training loss fell to ``tol`` or below);
- a single training step as a callable (:meth:`Trainer.step_callable`) for the profiler and asv.

Written by hand because none of the libraries we use does this without taking over the data
pipeline (Lightning, ignite, HF ``Trainer`` each want their own dataset and module classes);
the loop itself is ~60 lines and keeps the harness's measured throughput within a few percent
of a plain PyTorch loop on the same tensors.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor, nn

from learnbench.errors import LearnbenchError
from learnbench.learners.constraints import AMP_NAMES, LR_SCHEDULES, OPTIMIZERS

STOP_REASONS = ("converged", "patience", "epoch_budget", "time_budget")
AMP_DTYPES = {"bf16": torch.bfloat16}
assert tuple(AMP_DTYPES) == AMP_NAMES  # the names the learners' constraints accept

# A batch's loss: ``(mean loss over the batch, samples in it)``, or None to skip the batch.
BatchLoss = Callable[[Callable[..., Tensor], Any], "tuple[Tensor, int] | None"]


class Validator(Protocol):
    """Scores the module in eval mode on held-out rows: ``{"loss": float, "accuracy": float|None}``."""

    def __call__(self, forward: Callable[..., Tensor]) -> dict[str, float | None]: ...


@contextlib.contextmanager
def deterministic_cudnn(enabled: bool, benchmark: bool = False) -> Iterator[None]:
    """Make cuDNN pick deterministic kernels for the duration of a seeded CUDA fit.

    ``benchmark`` (the learner's ``cudnn_benchmark``) turns on cuDNN's autotuner as well; with
    ``enabled`` it only chooses among deterministic algorithms.
    """
    if not enabled and not benchmark:
        yield
        return
    saved = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    torch.backends.cudnn.deterministic = enabled or saved[0]
    torch.backends.cudnn.benchmark = benchmark
    try:
        yield
    finally:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved


@contextlib.contextmanager
def seeded(seed: int, device: torch.device, deterministic: bool = True,
           cudnn_benchmark: bool = False) -> Iterator[torch.Generator]:
    """Seed torch (weights, dropout, noise; CUDA too) and yield a CPU generator for batches.

    Batches are drawn on the CPU from the yielded generator, so the same seed gives the same
    batch order on any device. ``deterministic`` restricts cuDNN to deterministic kernels on
    CUDA (a seeded fit); ``cudnn_benchmark`` turns on its autotuner.
    """
    on_cuda = device.type == "cuda"
    with deterministic_cudnn(deterministic and on_cuda, cudnn_benchmark and on_cuda):
        torch.manual_seed(seed)
        yield torch.Generator().manual_seed(seed)


def synchronize(device: torch.device) -> None:
    """Wait for queued device work, so a clock read after it includes that work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def autocast(amp: str | None, device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """``torch.autocast`` to the ``amp`` dtype on ``device``, or a no-op when ``amp`` is None."""
    if amp is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=AMP_DTYPES[amp])


def shuffled_batches(n: int, batch_size: int, generator: torch.Generator,
                     device: torch.device) -> list[Tensor]:
    """Index tensors (on ``device``) of one epoch's shuffled mini-batches of ``range(n)``.

    The permutation is drawn on the CPU from ``generator``: the same order on any device.
    """
    perm = torch.randperm(n, generator=generator).to(device)
    return [perm[start : start + batch_size] for start in range(0, n, batch_size)]


@dataclass
class Phase:
    """What one training phase did: its budget, why it stopped and its per-epoch curves."""

    name: str
    max_epochs: int
    epochs_run: int = 0
    stop_reason: str = "epoch_budget"
    best_epoch: int | None = None
    restored_best: bool = False
    seconds: float = 0.0
    samples: int = 0
    val_size: int = 0
    curves: dict[str, list[Any]] = field(default_factory=lambda: {
        "epoch": [], "train_loss": [], "val_loss": [], "val_accuracy": [], "seconds": [],
        "samples": [],
    })

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, as the harness records it under ``details["training"]["phases"]``."""
        return asdict(self)


@dataclass
class Trainer:
    """Mini-batch training of one module under a budget; see the module docstring.

    ``max_seconds`` and ``patience`` are None for no limit. ``patience`` counts epochs without
    an improvement of the monitored loss (validation loss when a validator is given, else the
    training loss) by more than ``min_delta``. ``tol`` > 0 stops as "converged" once the mean
    training loss of an epoch is at most ``tol``. ``lr_schedule`` steps once per batch over
    ``max_epochs`` epochs (or ``total_steps`` steps, when given: a step-capped phase);
    ``warmup_ratio`` is the warm-up share of "linear" and "onecycle".
    """

    device: torch.device
    max_epochs: int
    lr: float = 1e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    momentum: float = 0.9
    lr_schedule: str | None = None
    warmup_ratio: float = 0.0
    max_seconds: float | None = None
    patience: int | None = None
    min_delta: float = 0.0
    monitor: str = "loss"
    tol: float = 0.0
    clip_grad_norm: float | None = None
    amp: str | None = None
    compile: bool = False
    name: str = "train"
    verbose: bool = False
    total_steps: int | None = None

    # -- pieces -------------------------------------------------------------------------------

    def make_optimizer(self, params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
        """The configured optimizer over ``params``."""
        params = [p for p in params if p.requires_grad]
        if self.optimizer == "adam":
            return torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)
        if self.optimizer == "adamw":
            return torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
        if self.optimizer == "sgd":
            return torch.optim.SGD(params, lr=self.lr, momentum=self.momentum,
                                   weight_decay=self.weight_decay)
        raise LearnbenchError(f"optimizer must be one of {', '.join(OPTIMIZERS)}; "
                              f"got {self.optimizer!r}")

    def schedule_steps(self, steps_per_epoch: int) -> int:
        """Steps of the learning-rate schedule: ``total_steps``, else ``max_epochs *
        steps_per_epoch`` (the first epoch's batch count); at least 1."""
        total = (self.total_steps if self.total_steps is not None
                 else self.max_epochs * max(1, steps_per_epoch))
        return max(1, total)

    def make_scheduler(self, opt: torch.optim.Optimizer,
                       steps_per_epoch: int) -> torch.optim.lr_scheduler.LRScheduler | None:
        """The learning-rate schedule over ``total_steps`` (default ``max_epochs *
        steps_per_epoch``) steps, or None."""
        if self.lr_schedule is None:
            return None
        total = self.schedule_steps(steps_per_epoch)
        sched = torch.optim.lr_scheduler
        if self.lr_schedule == "cosine":
            return sched.CosineAnnealingLR(opt, T_max=total)
        if self.lr_schedule == "onecycle":
            return sched.OneCycleLR(opt, max_lr=self.lr, total_steps=total,
                                    pct_start=self.warmup_ratio or 0.3)
        if self.lr_schedule == "linear":  # as transformers' get_linear_schedule_with_warmup
            warm = int(self.warmup_ratio * total)
            return sched.LambdaLR(opt, lambda s: (s + 1) / max(1, warm) if s < warm
                                  else max(0.0, (total - s) / max(1, total - warm)))
        raise LearnbenchError(f"lr_schedule must be None or one of {', '.join(LR_SCHEDULES)}; "
                              f"got {self.lr_schedule!r}")

    def forward_of(self, module: nn.Module) -> Callable[..., Tensor]:
        """``torch.compile(module)`` when ``compile`` is on (it shares the weights), else it."""
        return torch.compile(module) if self.compile else module

    def _update(self, opt: torch.optim.Optimizer, loss: Tensor, params: list[nn.Parameter]) -> None:
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.clip_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(params, self.clip_grad_norm)
        opt.step()

    def step_callable(self, module: nn.Module, batch_loss: BatchLoss, batch: Any,
                      params: Iterable[nn.Parameter] | None = None) -> Callable[[], Tensor | None]:
        """One training step (forward, loss, backward, optimizer step) on ``batch`` as a
        callable returning the batch's (detached) loss, with a fresh optimizer over
        ``module`` (pass a copy: it is updated). Used by the profiler and asv; it does not
        synchronise the device."""
        params = [p for p in (module.parameters() if params is None else params)
                  if p.requires_grad]
        opt = self.make_optimizer(params)
        forward = self.forward_of(module)

        def train_step() -> Tensor | None:
            module.train()
            with autocast(self.amp, self.device):
                out = batch_loss(forward, batch)
            if out is None:
                return None
            self._update(opt, out[0], params)
            return out[0].detach()

        return train_step

    # -- the loop -----------------------------------------------------------------------------

    def fit(self, module: nn.Module, epoch_batches: Callable[[], Iterable[Any]],
            batch_loss: BatchLoss, validate: Validator | None = None,
            params: Iterable[nn.Parameter] | None = None, val_size: int = 0) -> Phase:
        """Train ``module`` (only ``params``, default all trainable) until a budget ends.

        ``epoch_batches()`` returns one epoch's batches; ``batch_loss(forward, batch)`` their
        loss (under autocast). ``validate(forward)`` scores the module in eval mode after each
        epoch. Returns the :class:`Phase`; the module is left in eval mode with the best
        epoch's weights when early stopping chose an earlier epoch.
        """
        params = [p for p in (module.parameters() if params is None else params)
                  if p.requires_grad]
        opt = self.make_optimizer(params)
        first = list(epoch_batches())
        sched = self.make_scheduler(opt, len(first))
        # The schedule spans the first epoch's batch count times max_epochs, but a later epoch
        # may have more batches than the first (class-balanced P x K batches vary): stepping
        # stops at the schedule's last rate, which any extra batches keep (past its end
        # OneCycleLR raises and cosine annealing climbs back up).
        sched_left = self.schedule_steps(len(first)) - 1 if sched is not None else 0
        forward = self.forward_of(module)
        phase = Phase(self.name, self.max_epochs, val_size=val_size)
        best_loss, best_state = math.inf, None
        elapsed, samples = 0.0, 0
        for epoch in range(1, self.max_epochs + 1):
            synchronize(self.device)
            t0 = time.perf_counter()
            module.train()
            total = torch.zeros((), device=self.device)  # summed on device: no per-batch sync
            counted = 0
            for batch in first if epoch == 1 else epoch_batches():
                with autocast(self.amp, self.device):
                    out = batch_loss(forward, batch)
                if out is None:
                    continue
                loss, n = out
                self._update(opt, loss, params)
                if sched_left > 0:
                    sched.step()
                    sched_left -= 1
                total += loss.detach().float() * n
                counted += n
            train_loss = total.item() / max(counted, 1)  # .item() synchronises the device
            elapsed += time.perf_counter() - t0
            samples += counted
            scores = self._validate(module, forward, validate) if validate else {}
            self._record(phase, epoch, train_loss, scores, elapsed, samples)

            monitored = _monitored(self.monitor, scores, train_loss)
            if monitored < best_loss - self.min_delta:
                best_loss, phase.best_epoch = monitored, epoch
                if self.patience is not None:
                    best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
            reason = self._stop_reason(epoch, train_loss, phase.best_epoch, elapsed)
            if reason:
                phase.stop_reason = reason
                break
        if best_state is not None and phase.best_epoch != phase.epochs_run:
            module.load_state_dict(best_state)
            phase.restored_best = True
        module.eval()
        phase.seconds, phase.samples = elapsed, samples
        return phase

    def _validate(self, module: nn.Module, forward: Callable[..., Tensor],
                  validate: Validator) -> dict[str, float | None]:
        module.eval()
        with torch.inference_mode(), autocast(self.amp, self.device):
            return validate(forward)

    def _record(self, phase: Phase, epoch: int, train_loss: float,
                scores: dict[str, float | None], elapsed: float, samples: int) -> None:
        c = phase.curves
        c["epoch"].append(epoch)
        c["train_loss"].append(train_loss)
        c["val_loss"].append(_finite_or_none(scores.get("loss")))
        c["val_accuracy"].append(_finite_or_none(scores.get("accuracy")))
        c["seconds"].append(elapsed)
        c["samples"].append(samples)
        phase.epochs_run = epoch
        if self.verbose:
            val = "" if scores.get("loss") is None else f", val loss {scores['loss']:.4f}"
            acc = "" if scores.get("accuracy") is None else f", val acc {scores['accuracy']:.4f}"
            print(f"{self.name} epoch {epoch}/{self.max_epochs}: loss {train_loss:.4f}{val}{acc}")

    def _stop_reason(self, epoch: int, train_loss: float, best_epoch: int | None,
                     elapsed: float) -> str | None:
        if self.tol > 0 and train_loss <= self.tol:
            return "converged"
        if self.patience is not None and best_epoch is not None and epoch - best_epoch >= self.patience:
            return "patience"
        if self.max_seconds is not None and elapsed >= self.max_seconds:
            return "time_budget"
        if epoch >= self.max_epochs:
            return "epoch_budget"
        return None


def _monitored(monitor: str, scores: dict[str, float | None], train_loss: float) -> float:
    """The early-stopping quantity, lower is better: the validation loss (or minus the
    validation accuracy, ``monitor="accuracy"``), the training loss without validation."""
    if monitor == "accuracy" and scores.get("accuracy") is not None:
        return -float(scores["accuracy"])
    if scores.get("loss") is not None:
        return float(scores["loss"])
    return train_loss


def _finite_or_none(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def classification_validator(X: Tensor, y: Tensor, batch_size: int,
                             logits_of: Callable[[Callable[..., Tensor], Tensor], Tensor] | None = None,
                             ) -> Validator:
    """Mean cross-entropy and accuracy of ``forward`` on ``(X, y)`` (tensors on the device).

    ``logits_of(forward, xb)`` maps a batch to logits (default: ``forward(xb)``).
    """
    def validate(forward: Callable[..., Tensor]) -> dict[str, float | None]:
        loss = torch.zeros((), device=X.device)
        correct = torch.zeros((), device=X.device)
        for start in range(0, len(X), batch_size):
            xb, yb = X[start : start + batch_size], y[start : start + batch_size]
            z = (logits_of(forward, xb) if logits_of else forward(xb)).float()
            loss += torch.nn.functional.cross_entropy(z, yb, reduction="sum")
            correct += (z.argmax(1) == yb).sum()
        return {"loss": loss.item() / len(X), "accuracy": correct.item() / len(X)}

    return validate


def validation_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(train_idx, val_idx)``: a seeded split of the training rows, stratified by ``y``.

    The validation rows come from the training data only (the harness never passes test
    rows to ``fit``). ``fraction`` 0 gives no validation rows. Stratified with at least one
    row per class when the fraction allows it; otherwise (fewer validation rows than classes)
    each class still keeps at least one training row.
    """
    n = len(y)
    if fraction <= 0 or n < 2:
        return np.arange(n), np.arange(0)
    from sklearn.model_selection import train_test_split

    n_val = max(1, int(round(fraction * n)))
    idx = np.arange(n)
    classes, counts = np.unique(y, return_counts=True)
    tr = None
    if n_val >= len(classes) and n - n_val >= len(classes) and counts.min() >= 2:
        tr, va = train_test_split(idx, test_size=n_val, stratify=y, random_state=seed)
        if len(np.unique(y[tr])) < len(classes):  # a class lost all its training rows
            tr = None
    if tr is None:
        rng = np.random.default_rng(seed)
        perm = rng.permutation(n)
        _, first = np.unique(y[perm], return_index=True)  # one kept row per class
        rest = np.setdiff1d(np.arange(n), first)
        va = perm[rest[:n_val]]
        tr = np.setdiff1d(idx, va)
    return np.sort(tr), np.sort(va)


def training_record(phases: list[Phase], val_fraction: float) -> dict[str, Any]:
    """``details["training"]`` of a record: every phase, plus the main (last) phase's summary."""
    if not phases:
        return {}
    return {
        "val_fraction": float(val_fraction),
        "val_size": int(phases[-1].val_size),
        "phases": [p.to_dict() for p in phases],
        "stop_reason": phases[-1].stop_reason,
        "epochs_run": int(sum(p.epochs_run for p in phases)),
    }
