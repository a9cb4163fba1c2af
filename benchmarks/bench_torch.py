"""asv benchmarks of the torch learners: one training step and one inference batch per model.

Each model is built exactly as its learner builds it (the registry's defaults, MNIST-shaped
1x28x28 inputs, 10 classes) and trained with the learner's own loss on fixed, seeded random
tensors, so the figures measure the model, its loss and PyTorch, not a dataset. The training
batch is the learner's default ``batch_size`` (128; 64 for the metric learners; 32 images x 4
rotations for ``rotation_probe``); the inference batch is ``INFER_BATCH`` images through the
network ``transform``/``predict`` uses. Threads are pinned (``torch.set_num_threads(THREADS)``,
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

# every torch learner with a simple step; `learnbench list` names them
MODELS = [
    "lenet5",
    "cnn",
    "mobilenet",
    "mobilenet_standard",
    "siamese_contrastive",
    "triplet",
    "ae_logreg",
    "conv_ae_logreg",
    "rotation_probe",
]


@dataclass
class Step:
    """A model, its optimiser, the loss of one training batch and its inference function."""

    module: Any
    optimizer: Any
    batch_size: int
    loss: Callable[[Any, Any], Any]  # (X, y) -> scalar tensor
    infer: Callable[[Any], Any]  # X -> output tensor


def make_step(name: str, batch_size: int | None = None) -> Step:
    """The ``Step`` of learner ``name`` (one of ``MODELS``), seeded, on the CPU."""
    import torch.nn.functional as F

    from learnbench.learners import make_learner

    if name not in MODELS:
        raise ValueError(f"no training step defined for learner {name!r}; known: {', '.join(MODELS)}")
    torch.manual_seed(SEED)
    est = make_learner(name)
    batch = int(batch_size or est.batch_size)
    if name in ("lenet5", "cnn", "mobilenet", "mobilenet_standard"):
        module = est._build_module(SHAPE, N_CLASSES)

        def loss(X: Any, y: Any) -> Any:
            return F.cross_entropy(module(X), y)

        infer = module
    elif name in ("siamese_contrastive", "triplet"):
        from learnbench.learners.losses import contrastive_loss, triplet_loss
        from learnbench.learners.mining import batch_hard_triplets

        module = est._build_module(SHAPE, N_CLASSES)
        if name == "triplet":

            def loss(X: Any, y: Any) -> Any:
                emb = module(X)
                a, p, n = batch_hard_triplets(emb, y)
                return triplet_loss(emb[a], emb[p], emb[n], est.margin)

        else:

            def loss(X: Any, y: Any) -> Any:
                half = len(X) // 2  # pairs (X[i], X[half + i]); y differs: a dissimilar pair
                emb = module(X[: 2 * half])
                dissimilar = (y[:half] != y[half : 2 * half]).long()
                return contrastive_loss(emb[:half], emb[half:], dissimilar, est.margin, est.loss_variant)

        infer = module
    elif name in ("ae_logreg", "conv_ae_logreg"):
        n_features = SHAPE[0] * SHAPE[1] * SHAPE[2]
        est.input_shape_ = est._resolve_input_shape(n_features)
        module = est._build_autoencoder()

        def loss(X: Any, y: Any) -> Any:
            reconstruction, penalty = est._ae_losses(module, X.reshape(len(X), *est.input_shape_))
            return reconstruction + penalty

        def infer(X: Any) -> Any:
            return module.encoder(X.reshape(len(X), *est.input_shape_))

    elif name == "rotation_probe":
        from learnbench.learners.cnn import PlainCNN
        from learnbench.learners.rotation import N_ROTATIONS, rotation_groups

        module = PlainCNN(SHAPE[0], N_ROTATIONS, est.widths)

        def loss(X: Any, y: Any) -> Any:
            total = sum(F.cross_entropy(module(xr), yr, reduction="sum") for xr, yr in rotation_groups(X))
            return total / (N_ROTATIONS * len(X))

        backbone = torch.nn.Sequential(module.features, module.pool, torch.nn.Flatten())
        infer = backbone
    else:  # pragma: no cover - MODELS and the branches above are kept in step
        raise AssertionError(name)
    optimizer = torch.optim.Adam(module.parameters(), lr=est.lr)
    return Step(module, optimizer, batch, loss, infer)


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
        gen = torch.Generator().manual_seed(SEED)
        n = max(self.step.batch_size, INFER_BATCH)
        self.X = torch.rand(n, *SHAPE, generator=gen)
        self.y = torch.arange(n) % N_CLASSES  # balanced: every anchor has a positive
        self.X_train, self.y_train = self.X[: self.step.batch_size], self.y[: self.step.batch_size]
        self.X_infer = self.X[:INFER_BATCH]
        self.inference_mode = torch.inference_mode
        self.train_step()  # warm-up: allocator, Adam state, oneDNN kernels

    def train_step(self) -> float:
        """Run one step; return its loss."""
        step = self.step
        step.module.train()
        step.optimizer.zero_grad(set_to_none=True)
        loss = step.loss(self.X_train, self.y_train)
        loss.backward()
        step.optimizer.step()
        return float(loss.detach())

    def inference_batch(self) -> Any:
        """Outputs of one inference batch, eval mode, no autograd."""
        self.step.module.eval()
        with self.inference_mode():
            return self.step.infer(self.X_infer)

    def time_train_step(self, model: str) -> None:
        self.train_step()

    def time_inference_batch(self, model: str) -> None:
        self.inference_batch()

    def peakmem_train_step(self, model: str) -> None:
        self.train_step()

    def peakmem_inference_batch(self, model: str) -> None:
        self.inference_batch()

    def track_parameters(self, model: str) -> int:
        return sum(p.numel() for p in self.step.module.parameters())

    track_parameters.unit = "parameters"
