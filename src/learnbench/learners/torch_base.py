"""``TorchClassifier``: a scikit-learn classifier around a torch ``nn.Module``.

Subclasses only implement :meth:`TorchClassifier._build_module`; fitting, seeding, batching,
inference and pickling live here so every deep learner is measured the same way.
"""

from __future__ import annotations

import contextlib
import copy
import math
import numbers
import re
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted
from torch import nn

from learnbench.errors import LearnbenchError

OPTIMIZERS = ("adam", "sgd")
DEVICES = ("cpu", "cuda", "auto")
AMP_DTYPES = {"bf16": torch.bfloat16}


def resolve_device(device: str) -> torch.device:
    """``"cpu"``, ``"cuda"`` (or ``"cuda:N"``) or ``"auto"`` (cuda when available)."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(device, str) or not re.fullmatch(r"cpu|cuda(:\d+)?", device):
        raise LearnbenchError(f"device must be one of {', '.join(DEVICES)}; got {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise LearnbenchError(f"device {device!r} requested but torch.cuda.is_available() is False")
    return torch.device(device)


@contextlib.contextmanager
def _deterministic_cudnn(enabled: bool, benchmark: bool = False) -> Iterator[None]:
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


class TorchClassifier(ClassifierMixin, BaseEstimator):
    """Mini-batch training of a torch module with softmax cross-entropy.

    Parameters
    ----------
    epochs : passes over the training set.
    batch_size : training mini-batch size (the last batch of an epoch may be smaller).
    lr : learning rate.
    optimizer : ``"adam"`` or ``"sgd"`` (SGD uses ``momentum``).
    weight_decay : L2 penalty passed to the optimizer.
    momentum : SGD momentum; ignored by Adam.
    device : ``"cpu"``, ``"cuda"`` (or ``"cuda:N"``) or ``"auto"`` (cuda when available).
    random_state : int, ``RandomState`` or None; seeds weight init and shuffling.
    input_shape : shape of one sample, e.g. ``(C, H, W)``; the flat rows of ``X`` are
        reshaped to it. None: the subclass decides (flat vector by default).
    predict_batch_size : inference batch size.
    verbose : print the mean loss after each epoch.
    cudnn_benchmark : let cuDNN autotune convolution algorithms (CUDA only; seeded CUDA fits
        still restrict it to deterministic algorithms).
    amp : None (float32) or ``"bf16"``: forward passes and the loss under
        ``torch.autocast(device_type, dtype=torch.bfloat16)``, in training and inference.
    compile : run the module through ``torch.compile`` for training and inference; the
        fitted ``module_`` and its pickle stay the plain (uncompiled) module.

    Fitted attributes: ``classes_``, ``n_features_in_``, ``input_shape_``, ``device_``,
    ``module_``, ``n_epochs_run_``, ``loss_curve_`` (mean training loss per epoch) and
    ``fit_samples_`` (samples processed by all epochs).
    """

    def __init__(
        self,
        epochs: int = 3,
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
    ) -> None:
        self.epochs = epochs
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

    # -- hooks for subclasses -------------------------------------------------------------

    def _build_module(self, input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
        """Return a fresh module mapping a ``(batch, *input_shape)`` tensor to logits."""
        raise NotImplementedError

    def _default_input_shape(self, n_features: int) -> tuple[int, ...]:
        """The sample shape used when ``input_shape`` is None: a flat vector."""
        return (n_features,)

    # -- fitting --------------------------------------------------------------------------

    def fit(self, X: Any, y: Any) -> TorchClassifier:
        """Train a fresh module on ``X`` (n_samples, n_features) and labels ``y``."""
        self._check_params()
        X, y = self._validate_data(X, y, dtype=np.float32)
        check_classification_targets(y)
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        self.input_shape_ = self._resolve_input_shape(X.shape[1])
        self.device_ = resolve_device(self.device)
        seed = _torch_seed(self.random_state)
        seeded_cuda = self.random_state is not None and self.device_.type == "cuda"

        with _deterministic_cudnn(seeded_cuda, self._cudnn_benchmark_on()):
            torch.manual_seed(seed)  # weight initialisation (seeds CUDA too)
            shuffle = torch.Generator().manual_seed(seed)  # CPU: same order on any device
            module = self._build_module(self.input_shape_, len(self.classes_)).to(self.device_)
            opt = self._make_optimizer(module)
            # The whole training set goes to the device once; each mini-batch is an index
            # slice of a per-epoch randperm. A DataLoader with per-sample collation would
            # make the measured training throughput depend on host-side overhead; this loop
            # stays within a few percent of a hand-written PyTorch loop on the same tensors.
            Xt = torch.from_numpy(X).to(self.device_).reshape(len(X), *self.input_shape_)
            yt = torch.from_numpy(y_idx.astype(np.int64)).to(self.device_)
            n = len(Xt)
            self.loss_curve_: list[float] = []
            forward = self._maybe_compile(module)
            module.train()
            for epoch in range(self.epochs):
                perm = torch.randperm(n, generator=shuffle).to(self.device_)
                total = torch.zeros((), device=self.device_)  # summed on device: no per-batch sync
                for start in range(0, n, self.batch_size):
                    idx = perm[start : start + self.batch_size]
                    opt.zero_grad(set_to_none=True)
                    with self._autocast():
                        loss = F.cross_entropy(forward(Xt[idx]), yt[idx])
                    loss.backward()
                    opt.step()
                    total += loss.detach() * len(idx)
                self.loss_curve_.append(total.item() / n)
                if self.verbose:
                    print(f"epoch {epoch + 1}/{self.epochs}: loss {self.loss_curve_[-1]:.4f}")
        module.eval()
        self.module_ = module
        self.n_epochs_run_ = self.epochs
        self.fit_samples_ = self.epochs * n
        return self

    def _check_params(self) -> None:
        name = type(self).__name__
        for key in ("epochs", "batch_size", "predict_batch_size"):
            value = getattr(self, key)
            if not isinstance(value, numbers.Integral) or value < 1:
                raise LearnbenchError(f"{name}: {key} must be a positive integer; got {value!r}")
        if self.optimizer not in OPTIMIZERS:
            raise LearnbenchError(
                f"{name}: optimizer must be one of {', '.join(OPTIMIZERS)}; got {self.optimizer!r}"
            )
        if not self.lr > 0:
            raise LearnbenchError(f"{name}: lr must be positive; got {self.lr!r}")
        for key in ("cudnn_benchmark", "compile"):
            value = getattr(self, key, False)
            if not isinstance(value, (bool, np.bool_)):
                raise LearnbenchError(f"{name}: {key} must be true or false; got {value!r}")
        amp = getattr(self, "amp", None)
        if amp is not None and amp not in AMP_DTYPES:
            raise LearnbenchError(
                f"{name}: amp must be None or one of {', '.join(AMP_DTYPES)}; got {amp!r}"
            )
        if getattr(self, "compile", False) and not hasattr(torch, "compile"):
            raise LearnbenchError(f"{name}: compile=True needs torch.compile (torch >= 2.0)")

    # -- options: mixed precision, torch.compile, cuDNN autotuning ------------------------

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        """``torch.autocast`` to the ``amp`` dtype on the fit device, or a no-op when off."""
        amp = getattr(self, "amp", None)
        if amp is None:
            return contextlib.nullcontext()
        device = getattr(self, "device_", None) or resolve_device(self.device)
        return torch.autocast(device_type=device.type, dtype=AMP_DTYPES[amp])

    def _cudnn_benchmark_on(self) -> bool:
        device = getattr(self, "device_", None)
        return bool(getattr(self, "cudnn_benchmark", False)) and (
            device is not None and device.type == "cuda"
        )

    def _maybe_compile(self, module: nn.Module) -> Callable[..., torch.Tensor]:
        """``torch.compile(module)`` when ``compile`` is on (shares its parameters), else it."""
        return torch.compile(module) if getattr(self, "compile", False) else module

    def _inference_forward(self) -> Callable[..., torch.Tensor]:
        """The fitted module, compiled once per process when ``compile`` is on (not pickled)."""
        if not getattr(self, "compile", False):
            return self.module_
        compiled = self.__dict__.get("_compiled_module")
        if compiled is None or compiled[0] is not self.module_:
            compiled = (self.module_, torch.compile(self.module_))
            self.__dict__["_compiled_module"] = compiled
        return compiled[1]

    def _inference_context(self) -> contextlib.ExitStack:
        """No-grad inference with the learner's options (cuDNN autotuning, autocast)."""
        stack = contextlib.ExitStack()
        stack.enter_context(_deterministic_cudnn(False, self._cudnn_benchmark_on()))
        stack.enter_context(torch.inference_mode())
        stack.enter_context(self._autocast())
        return stack

    # -- profiling ------------------------------------------------------------------------

    def _profiling_batch(self, X: Any, y: Any, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        X = self._validate_data(X, dtype=np.float32, reset=False)[:n]
        Xt = torch.from_numpy(np.ascontiguousarray(X)).to(self.device_)
        Xt = Xt.reshape(len(X), *self.input_shape_)
        y_idx = np.searchsorted(self.classes_, np.asarray(y)[:n])
        y_idx = np.clip(y_idx, 0, len(self.classes_) - 1).astype(np.int64)
        return Xt, torch.from_numpy(y_idx).to(self.device_)

    def profiling_steps(
        self, X: Any, y: Any, batch_size: int | None = None
    ) -> dict[str, Callable[[], None]]:
        """One training step and one inference batch as callables, for the profiler.

        ``"train"``: forward, loss, backward and optimizer step on one fixed batch of
        ``batch_size`` rows (default: the training ``batch_size``) of ``X``, on a deep copy of
        the fitted module with a fresh optimizer, so the fitted model never changes.
        ``"infer"``: one no-grad forward pass of ``batch_size`` rows (default:
        ``predict_batch_size``) through the fitted module. Both use the learner's ``amp``,
        ``compile`` and ``cudnn_benchmark`` options; neither synchronizes the device.

        Each callable carries ``batch_size``, ``module`` (the eager module it runs),
        ``example_input`` (its input batch) and ``eager`` (the same step without
        ``torch.compile``, for FLOP counting). Subclasses that train differently (their own
        ``fit``) get ``{}``: the generic step would not be theirs.
        """
        check_is_fitted(self, "module_")
        if type(self).fit is not TorchClassifier.fit:
            return {}
        n_rows = len(X)
        n_train = min(int(batch_size or self.batch_size), n_rows)
        n_infer = min(int(batch_size or self.predict_batch_size), n_rows)
        Xb, yb = self._profiling_batch(X, y, n_train)
        Xi, _ = self._profiling_batch(X, y, n_infer)

        module = copy.deepcopy(self.module_).train()
        opt = self._make_optimizer(module)
        compiled = self._maybe_compile(module)
        benchmark = self._cudnn_benchmark_on()

        def train_with(forward: Callable[..., torch.Tensor]) -> Callable[[], None]:
            def train_step() -> None:
                with _deterministic_cudnn(False, benchmark):
                    opt.zero_grad(set_to_none=True)
                    with self._autocast():
                        loss = F.cross_entropy(forward(Xb), yb)
                    loss.backward()
                    opt.step()

            return train_step

        def infer_with(forward: Callable[..., torch.Tensor]) -> Callable[[], None]:
            def infer_step() -> None:
                with self._inference_context():
                    forward(Xi)

            return infer_step

        self.module_.eval()
        train, infer = train_with(compiled), infer_with(self._inference_forward())
        for fn, eager, mod, xb in ((train, train_with(module), module, Xb),
                                   (infer, infer_with(self.module_), self.module_, Xi)):
            fn.batch_size, fn.module, fn.example_input, fn.eager = len(xb), mod, xb, eager
        return {"train": train, "infer": infer}

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

    def _make_optimizer(self, module: nn.Module) -> torch.optim.Optimizer:
        params = module.parameters()
        if self.optimizer == "adam":
            return torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)
        return torch.optim.SGD(
            params, lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay
        )

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

    # -- pickling -------------------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the module's weights on CPU so a CUDA-fitted model loads anywhere."""
        state = super().__getstate__()
        state.pop("_compiled_module", None)  # rebuilt on first use after unpickling
        module = state.get("module_")
        if module is not None and next(module.parameters(), torch.empty(0)).device.type != "cpu":
            state = {**state, "module_": _to_cpu_copy(module)}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore; the module returns to its fit device when that device is present."""
        super().__setstate__(state)
        device = getattr(self, "device_", None)
        if getattr(self, "module_", None) is not None and device is not None:
            if device.type == "cuda" and not torch.cuda.is_available():
                self.device_ = torch.device("cpu")
            self.module_.to(self.device_)


class ImageTorchClassifier(TorchClassifier):
    """A ``TorchClassifier`` whose samples are images ``(C, H, W)``.

    ``input_shape`` is ``(C, H, W)`` (pass ``Dataset.image_shape``) or ``(H, W)`` (one
    channel). When it is None, the features must form a square single-channel image
    (784 -> 1x28x28); otherwise ``fit`` raises a ``LearnbenchError`` rather than guess.
    """

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


def _to_cpu_copy(module: nn.Module) -> nn.Module:
    """A CPU copy of ``module`` that leaves the original where it is."""
    copied = copy.deepcopy(module)
    return copied.to("cpu")


def _torch_seed(random_state: int | np.random.RandomState | None) -> int:
    """An int seed: ``random_state`` itself when it is an int, else drawn from it."""
    if isinstance(random_state, numbers.Integral):
        return int(random_state)
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
