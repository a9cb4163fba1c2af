"""asv benchmarks of the torch learners: one training step and one inference batch per model.

Each model is the learner's own (the registry's defaults, MNIST-shaped 1x28x28 inputs, 10
classes), and its step is the one the Trainer runs in a fit (``profiling_steps``: the
learner's loss, optimizer and options) on fixed, seeded random tensors, so the figures
measure the model, its loss and PyTorch, not a dataset. Every image torch learner of the
registry is here (``MODELS`` is derived from it). The training batch is the learner's default
``batch_size`` (128; 64 for the metric learners; 32 images x 4 rotations for
``rotation_probe``); the inference batch is ``INFER_BATCH`` images through the network
``transform``/``predict`` uses. Threads are pinned (``torch.set_num_threads(THREADS)``,
override with ``$LEARNBENCH_BENCH_THREADS``) so figures from different runs are comparable.

    asv run --python=same --quick --bench bench_torch
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch  # at import time: under asv's forkserver (asv.conf.json) it is imported once

SEED, INFER_BATCH, SHAPE, N_CLASSES = 0, 256, (1, 28, 28), 10
TRAIN_BATCH: int | None = None  # None: each learner's default batch_size
THREADS = int(os.environ.get("LEARNBENCH_BENCH_THREADS", "1"))



def _image_torch_learners() -> list[str]:
    """Every deep learner of the registry that takes images (the text ones need IMDB text)."""
    from learnbench.learners.registry import entries

    return [n for n, e in entries().items()
            if e.family == "deep" and "image" in e.modalities and e.benchmark]


MODELS = _image_torch_learners()


@dataclass
class Step:
    """A fitted learner's own training step and inference batch (``profiling_steps``)."""

    learner: Any
    batch_size: int
    train: Callable[[], Any]  # one optimizer step on a fixed batch; returns its loss
    infer: Callable[[], Any]  # one inference batch
    module: Any  # the module the training step updates


def make_step(name: str, batch_size: int | None = None) -> Step:
    """The ``Step`` of learner ``name`` (one of ``MODELS``), seeded, on the CPU.

    The learner is fitted for one epoch on one batch of seeded random images (balanced
    labels, so every anchor of the metric learners has a positive), then its
    ``profiling_steps`` give the step the Trainer runs in a fit: the learner's own loss,
    optimizer and options, on a copy of the fitted module.
    """
    from learnbench.learners import make_learner

    if name not in MODELS:
        raise ValueError(f"no training step defined for learner {name!r}; known: {', '.join(MODELS)}")
    torch.manual_seed(SEED)
    est = make_learner(name)
    batch = int(batch_size or est.batch_size)
    n = max(batch, INFER_BATCH)
    gen = torch.Generator().manual_seed(SEED)
    X = torch.rand(n, SHAPE[0] * SHAPE[1] * SHAPE[2], generator=gen).numpy()
    y = (torch.arange(n) % N_CLASSES).numpy()
    one_epoch = {k: 1 for k in ("max_epochs", "ae_epochs", "head_epochs", "fine_tune_epochs",
                                "pretext_epochs") if k in est.get_params()}
    est.set_params(device="cpu", random_state=SEED, input_shape=SHAPE, validation_fraction=0.0,
                   batch_size=batch, **one_epoch)
    est.fit(X[:batch], y[:batch])
    train = est.profiling_steps(X[:batch], y[:batch], batch_size=batch)["train"]
    infer = est.profiling_steps(X[:INFER_BATCH], y[:INFER_BATCH],
                                batch_size=INFER_BATCH)["infer"]
    return Step(est, batch, train, infer, train.module)


class TorchSteps:
    """One training step (forward, loss, backward, Adam) and one inference batch per model."""

    params = (MODELS,)
    param_names = ["model"]
    timeout = 120
    number = 1  # a mobilenet step is ~0.1-1 s on one thread: one call per sample
    repeat = (1, 10, 20.0)  # min repeats, max repeats, max seconds per benchmark

    def setup(self, model: str) -> None:
        torch.set_num_threads(THREADS)
        self.step = make_step(model, TRAIN_BATCH)
        self.train_step()  # warm-up: allocator, Adam state, oneDNN kernels

    def train_step(self) -> float:
        """Run one step; return its loss."""
        return float(self.step.train())

    def inference_batch(self) -> Any:
        """Outputs of one inference batch, eval mode, no autograd."""
        return self.step.infer()

    def time_train_step(self, model: str) -> None:
        self.train_step()

    def time_inference_batch(self, model: str) -> None:
        self.inference_batch()

    def peakmem_train_step(self, model: str) -> None:
        self.train_step()

    def peakmem_inference_batch(self, model: str) -> None:
        self.inference_batch()

    def track_parameters(self, model: str) -> int:
        return int(self.step.learner.parameter_count())

    track_parameters.unit = "parameters"
