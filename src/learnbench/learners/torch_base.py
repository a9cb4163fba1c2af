"""The torch learner base (:class:`TorchLearner`) and ``TorchClassifier``, a scikit-learn
classifier around a torch ``nn.Module``.

Every torch learner subclasses :class:`TorchLearner` and trains through
:class:`~learnbench.learners.trainer.Trainer`, so seeding, budgets, curves, profiling steps,
parameter counts, FLOPs and pickling are written once. ``TorchClassifier`` subclasses only
implement :meth:`TorchClassifier._build_module`.
"""

from __future__ import annotations

import contextlib
import copy
import math
import numbers
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted
from torch import Tensor, nn

from learnbench.errors import LearnbenchError
from learnbench.learners import trainer as trainer_mod
from learnbench.learners.augment import augment_batch
from learnbench.learners.constraints import DeclaredParams
from learnbench.validation import validate_params


def resolve_device(device: str) -> torch.device:
    """``"cpu"``, ``"cuda"`` (or ``"cuda:N"``) or ``"auto"`` (cuda when available)."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(device, str) or not re.fullmatch(r"cpu|cuda(:\d+)?", device):
        raise LearnbenchError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'auto'; got {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise LearnbenchError(f"device {device!r} requested but torch.cuda.is_available() is False")
    return torch.device(device)


@dataclass
class ProfileParts:
    """What :meth:`TorchLearner.profiling_steps` needs of a learner: one training batch with
    its loss on a module to train (a copy is trained), and one inference call."""

    train_module: nn.Module
    batch_loss: trainer_mod.BatchLoss
    batch: Any
    train_input: Tensor
    infer_module: nn.Module
    infer: Callable[[Callable[..., Tensor]], Any]
    infer_input: Tensor


class TorchLearner(DeclaredParams):
    """What every torch learner shares: device, seeding, the :class:`Trainer`, training
    records, parameter count, FLOPs, profiling steps and CUDA-safe pickling.

    Budget parameters read from the learner (each learner declares those it has in its
    ``__init__``): ``max_seconds`` (whole fit, shared by its phases), ``patience``,
    ``lr_schedule``, ``warmup_ratio``, ``validation_fraction``, ``amp``, ``compile``,
    ``cudnn_benchmark``, ``weight_decay``, ``momentum``, ``verbose``.

    The hooks the harness reads (all optional for a learner, all provided here):

    - ``training_record() -> dict``: ``details["training"]`` (phases, curves, stop reasons);
    - ``parameter_count() -> int`` and ``flops_per_sample() -> int``;
    - ``profiling_steps(X, y) -> {"train": fn, "infer": fn}``;
    - ``evaluation_extras(X, y) -> dict[str, float]`` (learner-specific test figures);
    - ``n_epochs_run_`` (epochs over the training rows, for training throughput).
    """

    # -- fit helpers ----------------------------------------------------------------------------

    def _begin_fit(self) -> int:
        """Resolve the device, reset the training log; returns the fit's int seed."""
        self.device_ = resolve_device(self.device)
        self.training_log_: list[trainer_mod.Phase] = []
        self._fit_started = time.perf_counter()
        return torch_seed(self.random_state)

    def _seeded(self, seed: int) -> contextlib.AbstractContextManager[torch.Generator]:
        return trainer_mod.seeded(seed, self.device_, self.random_state is not None,
                                  bool(getattr(self, "cudnn_benchmark", False)))

    def _split(self, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Seeded stratified train/validation split of the training rows."""
        return trainer_mod.validation_split(np.asarray(y), self._val_fraction(), seed)

    def _val_fraction(self) -> float:
        return float(getattr(self, "validation_fraction", 0.0) or 0.0)

    def _trainer(self, name: str, max_epochs: int, lr: float, **overrides: Any) -> trainer_mod.Trainer:
        """A Trainer with this learner's options; ``max_seconds`` is what the fit has left."""
        budget = getattr(self, "max_seconds", None)
        if budget is not None:
            budget = max(0.0, budget - (time.perf_counter() - self._fit_started))
        opts = {
            "device": self.device_, "max_epochs": int(max_epochs), "lr": float(lr),
            "optimizer": getattr(self, "optimizer", "adam"),
            "weight_decay": float(getattr(self, "weight_decay", 0.0)),
            "momentum": float(getattr(self, "momentum", 0.9)),
            "lr_schedule": getattr(self, "lr_schedule", None),
            "warmup_ratio": float(getattr(self, "warmup_ratio", 0.0) or 0.0),
            "max_seconds": budget, "patience": getattr(self, "patience", None),
            "amp": getattr(self, "amp", None), "compile": bool(getattr(self, "compile", False)),
            "name": name, "verbose": bool(getattr(self, "verbose", False)),
        }
        opts.update(overrides)
        return trainer_mod.Trainer(**opts)

    def _log(self, phase: trainer_mod.Phase) -> trainer_mod.Phase:
        self.training_log_.append(phase)
        return phase

    def training_record(self) -> dict[str, Any]:
        """``details["training"]``: every phase's budget, stop reason and curves."""
        return trainer_mod.training_record(getattr(self, "training_log_", []), self._val_fraction())

    # -- cost -----------------------------------------------------------------------------------

    def _cost_modules(self) -> list[nn.Module]:
        """The modules that make a prediction (parameters counted, FLOPs per sample)."""
        return [self.module_]

    def parameter_count(self) -> int:
        """Learned parameters of the modules used for prediction."""
        check_is_fitted(self, "device_")
        return sum(p.numel() for m in self._cost_modules() for p in m.parameters())

    def flops_per_sample(self) -> int:
        """Forward FLOPs of one sample through the prediction modules (2 per multiply-add)."""
        from learnbench.learners.flops import count_flops

        check_is_fitted(self, "device_")
        shape = self.input_shape_
        total, x = 0, None
        for m in self._cost_modules():
            if x is None:
                total += count_flops(m, shape)
                with torch.no_grad():
                    x = m.eval()(torch.zeros(1, *shape, device=self.device_))
            else:
                total += count_flops(m, tuple(x.shape[1:]))
                with torch.no_grad():
                    x = m(x)
        return int(total)

    # -- profiling ------------------------------------------------------------------------------

    def _profile_parts(self, X: Any, y: Any, n_train: int, n_infer: int) -> ProfileParts:
        raise NotImplementedError

    def profiling_steps(self, X: Any, y: Any,
                        batch_size: int | None = None) -> dict[str, Callable[[], None]]:
        """One training step and one inference batch as callables, for the profiler and asv.

        ``"train"``: the learner's own training step (its loss, its optimizer, the Trainer's
        autocast and compile options) on one fixed batch of ``batch_size`` rows (default: the
        training ``batch_size``) of ``X``, on a deep copy of the fitted module, so the fitted
        model never changes. ``"infer"``: one no-grad forward pass of ``batch_size`` rows
        (default: ``predict_batch_size``). Neither synchronises the device.

        Each callable carries ``batch_size``, ``module`` (the eager module it runs),
        ``example_input`` (its input batch) and ``eager`` (the same step without
        ``torch.compile``, for FLOP counting).
        """
        check_is_fitted(self, "device_")
        n_rows = len(X)
        n_train = min(int(batch_size or self.batch_size), n_rows)
        n_infer = min(int(batch_size or self.predict_batch_size), n_rows)
        parts = self._profile_parts(X, y, n_train, n_infer)
        module = copy.deepcopy(parts.train_module).train()
        step_trainer = self._trainer("profile", 1, getattr(self, "lr", 1e-3))
        eager_trainer = self._trainer("profile", 1, getattr(self, "lr", 1e-3), compile=False)
        train = step_trainer.step_callable(module, parts.batch_loss, parts.batch)
        train_eager = eager_trainer.step_callable(module, parts.batch_loss, parts.batch)
        benchmark = self._cudnn_benchmark_on()
        infer_forward = self._inference_forward(parts.infer_module)

        def infer_with(forward: Callable[..., Tensor]) -> Callable[[], Any]:
            def infer_step() -> Any:
                parts.infer_module.eval()
                with trainer_mod.deterministic_cudnn(False, benchmark), torch.inference_mode(), \
                        trainer_mod.autocast(getattr(self, "amp", None), self.device_):
                    return parts.infer(forward)

            return infer_step

        infer, infer_eager = infer_with(infer_forward), infer_with(parts.infer_module)
        for fn, eager, mod, xb in ((train, train_eager, module, parts.train_input),
                                   (infer, infer_eager, parts.infer_module, parts.infer_input)):
            fn.batch_size, fn.module, fn.example_input, fn.eager = len(xb), mod, xb, eager
        return {"train": train, "infer": infer}

    # -- options: mixed precision, torch.compile, cuDNN autotuning ------------------------------

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        """``torch.autocast`` to the ``amp`` dtype on the fit device, or a no-op when off."""
        device = getattr(self, "device_", None) or resolve_device(self.device)
        return trainer_mod.autocast(getattr(self, "amp", None), device)

    def _cudnn_benchmark_on(self) -> bool:
        device = getattr(self, "device_", None)
        return bool(getattr(self, "cudnn_benchmark", False)) and (
            device is not None and device.type == "cuda"
        )

    def _inference_forward(self, module: nn.Module | None = None) -> Callable[..., torch.Tensor]:
        """The fitted module, compiled once per process when ``compile`` is on (not pickled)."""
        module = self.module_ if module is None else module
        if not getattr(self, "compile", False):
            return module
        cache = self.__dict__.setdefault("_compiled_modules", {})
        if id(module) not in cache or cache[id(module)][0] is not module:
            cache[id(module)] = (module, torch.compile(module))
        return cache[id(module)][1]

    def _inference_context(self) -> contextlib.ExitStack:
        """No-grad inference with the learner's options (cuDNN autotuning, autocast)."""
        stack = contextlib.ExitStack()
        stack.enter_context(trainer_mod.deterministic_cudnn(False, self._cudnn_benchmark_on()))
        stack.enter_context(torch.inference_mode())
        stack.enter_context(self._autocast())
        return stack

    # -- pickling -------------------------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        """Pickle modules on CPU so a CUDA-fitted learner loads anywhere (shared ones stay shared)."""
        state = super().__getstate__()  # type: ignore[misc]
        state.pop("_compiled_modules", None)  # rebuilt on first use after unpickling
        state.pop("_compiled_module", None)
        modules = {k: v for k, v in state.items() if isinstance(v, nn.Module)}
        on_gpu = any(p.device.type != "cpu" for m in modules.values() for p in m.parameters())
        if on_gpu:
            copied = copy.deepcopy(modules)  # one deepcopy: shared modules stay shared
            state = {**state, **{k: m.to("cpu") for k, m in copied.items()}}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore; modules return to the fit device when it is present, else stay on CPU."""
        super().__setstate__(state)  # type: ignore[misc]
        device = getattr(self, "device_", None)
        if device is None:
            return
        if device.type == "cuda" and not torch.cuda.is_available():
            self.device_ = device = torch.device("cpu")
        for value in vars(self).values():
            if isinstance(value, nn.Module):
                value.to(device)


class TorchClassifier(TorchLearner, ClassifierMixin, BaseEstimator):
    """Mini-batch training of a torch module with softmax cross-entropy, by the :class:`Trainer`.

    The base class of learnbench's torch classifiers: a subclass implements only
    :meth:`_build_module`, which returns a fresh ``nn.Module`` mapping a tensor of shape
    ``(batch, *input_shape)`` to logits; parameter checks, seeding, the validation split,
    budgets, early stopping, mixed precision, ``torch.compile``, batched inference, parameter
    counts, FLOPs and CUDA-safe pickling are shared. The whole training set goes to the device
    once and each mini-batch is an index slice of a per-epoch ``randperm`` drawn from a seeded
    CPU generator: a ``DataLoader`` with per-sample collation would make the measured training
    throughput depend on host-side overhead, and the same seed gives the same batch order on
    any device.

    Parameters
    ----------
    max_epochs : int, default=3
        Epoch budget: at most this many passes over the training rows (an int >= 1).
    batch_size : int, default=128
        Training mini-batch size (>= 1); the last batch of an epoch may be smaller.
    lr : float, default=1e-3
        Learning rate (> 0); the peak rate under a schedule.
    optimizer : {"adam", "adamw", "sgd"}, default="adam"
        The optimizer; SGD uses ``momentum``.
    weight_decay : float, default=0.0
        L2 penalty passed to the optimizer (>= 0).
    momentum : float, default=0.9
        SGD momentum, in [0, 1]; ignored by Adam and AdamW.
    device : {"cpu", "cuda", "auto"} or str, default="auto"
        ``"cpu"``, ``"cuda"`` (or ``"cuda:N"``) or ``"auto"`` (cuda when available). A CUDA
        device where ``torch.cuda.is_available()`` is False is an error at ``fit``.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, the validation split and shuffling. When it is not None,
        CUDA fits also restrict cuDNN to deterministic algorithms.
    input_shape : tuple of int, default=None
        Shape of one sample, e.g. ``(C, H, W)`` (positive ints); the flat rows of ``X`` are
        reshaped to it, so its product must equal ``n_features``. None: the subclass decides (a
        flat vector by default).
    predict_batch_size : int, default=1024
        Inference (and validation) batch size (>= 1).
    verbose : bool or int, default=False
        Print the losses after each epoch.
    cudnn_benchmark : bool, default=False
        Let cuDNN autotune convolution algorithms (CUDA only; seeded CUDA fits still restrict
        it to deterministic algorithms).
    amp : {"bf16"} or None, default=None
        None: float32. ``"bf16"``: forward passes and the loss under
        ``torch.autocast(device_type, dtype=torch.bfloat16)``, in training and inference.
    compile : bool, default=False
        Run the module through ``torch.compile`` for training and inference; the fitted
        ``module_`` and its pickle stay the plain (uncompiled) module.
    max_seconds : float, default=None
        Time budget of the fit in training seconds (> 0), checked after each epoch, after a
        device synchronisation. None: no time budget.
    patience : int, default=None
        Early stopping: stop after this many epochs (>= 1) without a lower validation loss (the
        training loss when ``validation_fraction`` is 0), and restore the best epoch's weights.
        None: train for the whole budget.
    lr_schedule : {"cosine", "onecycle", "linear"} or None, default=None
        Learning-rate schedule, stepped per batch over ``max_epochs``: cosine annealing,
        one-cycle (30 % warm-up) or linear decay (as transformers'
        ``get_linear_schedule_with_warmup``, with no warm-up here). None: a constant rate.
    validation_fraction : float, default=0.1
        Share of the training rows, in [0, 1), held out (seeded, stratified) to draw the
        validation curve and to early-stop; 0: none. The test rows are never used.
    augment : {"flip", "shift", "flip+shift"} or None, default=None
        Per-image random horizontal flips and/or shifts (up to 10 % of the size) of each
        training batch; images ``(C, H, W)`` only (``fit`` raises otherwise). None: none.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels seen in ``fit``, sorted; ``predict_proba``'s columns follow them.
    n_features_in_ : int
        Number of features of the rows seen in ``fit``.
    input_shape_ : tuple of int
        The shape each row was reshaped to.
    device_ : torch.device
        The device the module was trained on (``device`` resolved).
    module_ : torch.nn.Module
        The trained module (plain, uncompiled).
    n_epochs_run_ : int
        Epochs run (fewer than ``max_epochs`` when ``patience`` or ``max_seconds`` stopped the
        fit).
    loss_curve_ : list of float
        Mean training loss per epoch.
    fit_samples_ : int
        Samples processed by all epochs.
    training_log_ : list of Phase
        The Trainer's :class:`~learnbench.learners.trainer.Phase` (one, ``"train"``): its
        budget, stop reason and per-epoch curves (``training_record()`` reports them).

    See Also
    --------
    ImageTorchClassifier : The base of the image classifiers (``input_shape`` ``(C, H, W)``).
    LeNet5Classifier : LeNet-5 on this base (``make_learner("lenet5")``).
    PlainCNNClassifier : A VGG-style CNN on this base (``make_learner("cnn")``).
    learnbench.learners.trainer.Trainer : The training loop every torch learner shares.

    Examples
    --------
    A subclass only builds the module:

    >>> import numpy as np
    >>> from torch import nn
    >>> from learnbench.learners import TorchClassifier
    >>> class LinearSoftmax(TorchClassifier):
    ...     def _build_module(self, input_shape, n_classes):
    ...         return nn.Linear(input_shape[0], n_classes)
    >>> rng = np.random.default_rng(0)
    >>> X = rng.random((40, 16), dtype=np.float32); y = np.arange(40) % 2
    >>> clf = LinearSoftmax(max_epochs=2, device="cpu", random_state=0).fit(X, y)
    >>> clf.predict(X[:3]).shape
    (3,)
    >>> clf.predict_proba(X[:3]).shape
    (3, 2)
    >>> clf.classes_, clf.input_shape_, clf.n_epochs_run_
    (array([0, 1]), (16,), 2)
    """

    def __init__(
        self,
        max_epochs: int = 3,
        batch_size: int = 128,
        lr: float = 1e-3,
        optimizer: str = "adam",
        weight_decay: float = 0.0,
        momentum: float = 0.9,
        device: str = "auto",
        random_state: int | np.random.RandomState | None = None,
        input_shape: tuple[int, ...] | None = None,
        predict_batch_size: int = 1024,
        verbose: bool = False,
        cudnn_benchmark: bool = False,
        amp: str | None = None,
        compile: bool = False,
        max_seconds: float | None = None,
        patience: int | None = None,
        lr_schedule: str | None = None,
        validation_fraction: float = 0.1,
        augment: str | None = None,
    ) -> None:
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.momentum = momentum
        self.device = device
        self.random_state = random_state
        self.input_shape = input_shape
        self.predict_batch_size = predict_batch_size
        self.verbose = verbose
        self.cudnn_benchmark = cudnn_benchmark
        self.amp = amp
        self.compile = compile
        self.max_seconds = max_seconds
        self.patience = patience
        self.lr_schedule = lr_schedule
        self.validation_fraction = validation_fraction
        self.augment = augment

    # -- hooks for subclasses -------------------------------------------------------------

    def _build_module(self, input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
        """Return a fresh module mapping a ``(batch, *input_shape)`` tensor to logits."""
        raise NotImplementedError

    def _default_input_shape(self, n_features: int) -> tuple[int, ...]:
        """The sample shape used when ``input_shape`` is None: a flat vector."""
        return (n_features,)

    # -- fitting --------------------------------------------------------------------------

    def _prepare_fit(self, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray, int]:
        """Validate, encode labels, resolve shape and device: ``(X, y_idx, seed)``."""
        validate_params(self)
        X, y = self._validate_data(X, y, dtype=np.float32)
        check_classification_targets(y)
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        self.input_shape_ = self._resolve_input_shape(X.shape[1])
        self._check_param_relations()
        return X, y_idx, self._begin_fit()

    def _tensors(self, X: np.ndarray, y_idx: np.ndarray) -> tuple[Tensor, Tensor]:
        """The rows as device tensors of shape ``(n, *input_shape_)`` and their label indices."""
        Xt = torch.from_numpy(np.ascontiguousarray(X)).to(self.device_)
        yt = torch.from_numpy(y_idx.astype(np.int64)).to(self.device_)
        return Xt.reshape(len(X), *self.input_shape_), yt

    def fit(self, X: Any, y: Any) -> TorchClassifier:
        """Train a fresh module on ``X`` (n_samples, n_features) and labels ``y``."""
        X, y_idx, seed = self._prepare_fit(X, y)
        tr, va = self._split(y_idx, seed)
        with self._seeded(seed) as shuffle:
            module = self._build_module(self.input_shape_, len(self.classes_)).to(self.device_)
            # The whole training set goes to the device once; each mini-batch is an index
            # slice of a per-epoch randperm. A DataLoader with per-sample collation would
            # make the measured training throughput depend on host-side overhead.
            Xt, yt = self._tensors(X[tr], y_idx[tr])
            validate = None
            if len(va):
                Xv, yv = self._tensors(X[va], y_idx[va])
                validate = trainer_mod.classification_validator(Xv, yv, self.predict_batch_size)
            phase = self._log(self._trainer("train", self.max_epochs, self.lr).fit(
                module,
                lambda: trainer_mod.shuffled_batches(len(Xt), self.batch_size, shuffle, self.device_),
                lambda forward, idx: (F.cross_entropy(
                    forward(augment_batch(Xt[idx], self.augment, shuffle)), yt[idx]), len(idx)),
                validate, val_size=len(va),
            ))
        self.module_ = module
        self.loss_curve_ = list(phase.curves["train_loss"])
        self.n_epochs_run_ = phase.epochs_run
        self.fit_samples_ = phase.samples
        return self

    def _check_param_relations(self) -> None:
        if self.augment is not None and len(self.input_shape_) != 3:
            raise LearnbenchError(f"{type(self).__name__}: augment={self.augment!r} needs images "
                                  f"(C, H, W); got input shape {self.input_shape_}")

    # -- profiling ------------------------------------------------------------------------

    def _profiling_batch(self, X: Any, y: Any, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        X = self._validate_data(X, dtype=np.float32, reset=False)[:n]
        Xt = torch.from_numpy(np.ascontiguousarray(X)).to(self.device_)
        Xt = Xt.reshape(len(X), *self.input_shape_)
        y_idx = np.searchsorted(self.classes_, np.asarray(y)[:n])
        y_idx = np.clip(y_idx, 0, len(self.classes_) - 1).astype(np.int64)
        return Xt, torch.from_numpy(y_idx).to(self.device_)

    def _profile_parts(self, X: Any, y: Any, n_train: int, n_infer: int) -> ProfileParts:
        Xb, yb = self._profiling_batch(X, y, n_train)
        Xi, _ = self._profiling_batch(X, y, n_infer)
        return ProfileParts(
            train_module=self.module_,
            batch_loss=lambda forward, b: (F.cross_entropy(forward(b[0]), b[1]), len(b[0])),
            batch=(Xb, yb), train_input=Xb,
            infer_module=self.module_, infer=lambda forward: forward(Xi), infer_input=Xi,
        )

    def _resolve_input_shape(self, n_features: int) -> tuple[int, ...]:
        if self.input_shape is None:
            return self._default_input_shape(n_features)
        shape = tuple(int(s) for s in self.input_shape)
        if math.prod(shape) != n_features:
            raise LearnbenchError(
                f"{type(self).__name__}: input_shape {shape} holds {math.prod(shape)} values "
                f"but X has {n_features} features"
            )
        return shape

    # -- inference ------------------------------------------------------------------------

    def _logits(self, X: Any) -> Iterator[torch.Tensor]:
        """Logits of ``X`` in batches of ``predict_batch_size``, on the fit device."""
        check_is_fitted(self, "module_")
        X = self._validate_data(X, dtype=np.float32, reset=False)
        self.module_.eval()
        forward = self._inference_forward()
        with self._inference_context():
            for start in range(0, len(X), self.predict_batch_size):
                xb = torch.from_numpy(X[start : start + self.predict_batch_size])
                yield forward(xb.to(self.device_).reshape(len(xb), *self.input_shape_))

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape (n_samples, n_classes), columns in ``classes_`` order."""
        parts = [torch.softmax(z.double(), dim=1).cpu() for z in self._logits(X)]
        return torch.cat(parts).numpy()

    def predict(self, X: Any) -> np.ndarray:
        """Most probable class label for each row of ``X``."""
        parts = [z.argmax(dim=1).cpu() for z in self._logits(X)]
        return self.classes_[torch.cat(parts).numpy()]


#: The Parameters entries every ``ImageTorchClassifier`` subclass shares (``max_epochs`` to
#: ``augment``), written once: a subclass docstring's line ``{image_classifier_parameters}``
#: is replaced by them when the class is created, so ``help()`` shows its whole list.
IMAGE_CLASSIFIER_PARAMETERS_DOC = """\
    max_epochs : int, default=3
        Epoch budget: at most this many passes over the training rows (>= 1).
    batch_size : int, default=128
        Training mini-batch size (>= 1).
    lr : float, default=1e-3
        Learning rate (> 0); the peak rate under a schedule.
    optimizer : {"adam", "adamw", "sgd"}, default="adam"
        The optimizer; SGD uses ``momentum``.
    weight_decay : float, default=0.0
        L2 penalty passed to the optimizer (>= 0).
    momentum : float, default=0.9
        SGD momentum, in [0, 1]; ignored by Adam and AdamW.
    device : {"cpu", "cuda", "auto"} or str, default="auto"
        ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"`` (cuda when available).
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, the validation split and shuffling.
    input_shape : tuple of int, default=None
        ``(C, H, W)`` (pass ``Dataset.image_shape``) or ``(H, W)`` (one channel) of one image.
        None: the features must form a square single-channel image (784 -> 1x28x28); otherwise
        ``fit`` raises a ``LearnbenchError`` rather than guess a layout.
    predict_batch_size : int, default=1024
        Inference (and validation) batch size (>= 1).
    verbose : bool or int, default=False
        Print the losses after each epoch.
    cudnn_benchmark : bool, default=False
        Let cuDNN autotune convolution algorithms (CUDA only).
    amp : {"bf16"} or None, default=None
        ``"bf16"``: bfloat16 autocast in training and inference; None: float32.
    compile : bool, default=False
        Run the modules through ``torch.compile`` for training and inference (the fitted modules
        stay uncompiled).
    max_seconds : float, default=None
        Time budget of the fit in seconds (> 0), checked after each epoch; None: none.
    patience : int, default=None
        Early stopping after this many epochs (>= 1) without a lower validation loss, restoring
        the best epoch's weights; None: off.
    lr_schedule : {"cosine", "onecycle", "linear"} or None, default=None
        Learning-rate schedule, stepped per batch; None: a constant rate.
    validation_fraction : float, default=0.1
        Share of the training rows, in [0, 1), held out (seeded, stratified) for the validation
        curve and early stopping; 0: none. The test rows are never used.
    augment : {"flip", "shift", "flip+shift"} or None, default=None
        Random horizontal flips and/or shifts (up to 10 % of the size) of each training batch;
        None: none.
"""
_IMAGE_PARAMETERS_MARK = "    {image_classifier_parameters}\n"


def fill_shared_doc(cls: type, mark: str, text: str) -> None:
    """Replace the line ``mark`` of ``cls``'s docstring by ``text`` (docs written once)."""
    if cls.__doc__ and mark in cls.__doc__:
        cls.__doc__ = cls.__doc__.replace(mark, text)


class ImageTorchClassifier(TorchClassifier):
    """A ``TorchClassifier`` whose samples are images ``(C, H, W)``.

    ``input_shape`` is ``(C, H, W)`` (pass ``Dataset.image_shape``) or ``(H, W)`` (one
    channel). When it is None, the features must form a square single-channel image
    (784 -> 1x28x28); otherwise ``fit`` raises a ``LearnbenchError`` rather than guess.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fill_shared_doc(cls, _IMAGE_PARAMETERS_MARK, IMAGE_CLASSIFIER_PARAMETERS_DOC)

    def _default_input_shape(self, n_features: int) -> tuple[int, ...]:
        side = math.isqrt(n_features)
        if side * side != n_features:
            raise LearnbenchError(
                f"{type(self).__name__} needs input_shape=(C, H, W) when n_features "
                f"({n_features}) is not a square image"
            )
        return (1, side, side)

    def _resolve_input_shape(self, n_features: int) -> tuple[int, ...]:
        shape = super()._resolve_input_shape(n_features)
        if len(shape) == 2:
            shape = (1, *shape)
        if len(shape) != 3:
            raise LearnbenchError(
                f"{type(self).__name__}: input_shape must be (C, H, W) or (H, W); got {shape}"
            )
        return shape


def torch_seed(random_state: int | np.random.RandomState | None) -> int:
    """An int seed: ``random_state`` itself when it is an int, else drawn from it."""
    if isinstance(random_state, numbers.Integral):
        return int(random_state)
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))



