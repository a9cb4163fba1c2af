"""Metric learning: Siamese (contrastive) and triplet embedding nets, classified by k-NN.

Both learners train an embedding network (a small :class:`~learnbench.learners.cnn.PlainCNN`
for images, an MLP otherwise) so that same-class samples are close and other-class samples
far apart, then classify a test sample by its nearest training samples in the embedding space
(``sklearn.neighbors.KNeighborsClassifier``). ``transform`` returns the embeddings and
``evaluation_extras`` the verification figures (is this pair the same class?) that the
harness records next to accuracy.

They subclass :class:`~learnbench.learners.torch_base.TorchClassifier` for its parameter
checks, device handling, seeding helpers, optimizer, batched inference and CUDA-safe
pickling, and because the harness recognises torch learners by that class (parameter count,
FLOPs per sample). ``fit`` is their own: the loss is on pairs or triplets, not on logits,
and the batches are built for them. It keeps the base's tensor-slicing loop: the training set
goes to the device once and every batch is an index slice drawn from one seeded CPU
generator, so the same seed gives the same model on any device.

An **epoch** is one pass with every training sample as an anchor once; ``fit_samples_``
(and the harness's ``train_throughput``) count anchors. The Siamese net also embeds one
partner per anchor, so its forward/backward work per epoch is about twice the triplet
learner's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.neighbors import KNeighborsClassifier
from sklearn.utils.validation import check_is_fitted
from torch import Tensor, nn

from learnbench.errors import LearnbenchError
from learnbench.learners.cnn import PlainCNN
from learnbench.learners.constraints import POSITIVE_INT, POSITIVE_INTS, POSITIVE_REAL
from learnbench.learners.losses import CONTRASTIVE_VARIANTS, contrastive_loss, triplet_loss
from learnbench.learners.mining import batch_hard_triplets, random_triplets, semi_hard_negatives
from learnbench.learners.torch_base import ProfileParts, TorchClassifier, fill_shared_doc, torch_seed
from learnbench.validation import Integral, Interval, StrOptions

MINING = ("batch_hard", "semi_hard", "random")


# -- the embedding network --------------------------------------------------------------------


class EmbeddingNet(nn.Module):
    """``body`` followed, when ``normalize``, by L2 normalisation onto the unit sphere
    (FaceNet, Schroff et al. 2015), which bounds distances to [0, 2] so one margin suits
    every dataset."""

    def __init__(self, body: nn.Module, normalize: bool = True) -> None:
        super().__init__()
        self.body = body
        self.normalize = normalize

    def forward(self, x: Tensor) -> Tensor:
        z = self.body(x)
        return F.normalize(z, dim=1) if self.normalize else z


def mlp(n_in: int, hidden_sizes: Sequence[int], n_out: int) -> nn.Sequential:
    """Flatten, then ``Linear-ReLU`` per hidden size, then a linear output layer."""
    layers: list[nn.Module] = [nn.Flatten()]
    prev = n_in
    for width in hidden_sizes:
        layers += [nn.Linear(prev, int(width)), nn.ReLU()]
        prev = int(width)
    layers.append(nn.Linear(prev, n_out))
    return nn.Sequential(*layers)


# -- batch construction -----------------------------------------------------------------------


class PairSampler:
    """One partner per anchor: alternately a similar and a dissimilar one (balanced).

    A similar partner is another sample of the anchor's class (never the anchor itself); a
    dissimilar one is uniform over the other classes. An anchor whose class has a single
    training sample always gets a dissimilar partner. All draws come from the CPU generator
    passed in, so pairs do not depend on the device.
    """

    def __init__(self, y: np.ndarray) -> None:
        y = np.asarray(y, dtype=np.int64)
        order = np.argsort(y, kind="stable")
        counts = np.bincount(y)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        rank = np.empty(len(y), dtype=np.int64)
        rank[order] = np.arange(len(y)) - starts[y[order]]
        self.y, self.order, self.rank = map(torch.from_numpy, (y, order, rank))
        self.counts, self.starts = torch.from_numpy(counts), torch.from_numpy(starts)

    def partners(self, anchors: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """``(partner indices, dissimilar flags)`` for the CPU index tensor ``anchors``."""
        c = self.y[anchors]
        count, start = self.counts[c], self.starts[c]
        u = torch.rand(2, len(anchors), generator=generator, dtype=torch.float64)
        offset = (u[0] * (count - 1).clamp_min(1)).long()  # 0 .. count-2: skips the anchor
        similar = self.order[start + (self.rank[anchors] + 1 + offset) % count]
        r = (u[1] * (len(self.y) - count)).long()  # uniform over the other classes' samples
        other = self.order[torch.where(r < start, r, r + count)]
        dissimilar = (torch.arange(len(anchors)) % 2 == 1) | (count == 1)
        return torch.where(dissimilar, other, similar), dissimilar


def class_balanced_batches(
    y: np.ndarray, batch_size: int, samples_per_class: int, generator: torch.Generator
) -> list[Tensor]:
    """One epoch of "P x K" batches (Hermans et al. 2017): groups of at most K same-class
    samples, whole groups per batch, at most ``batch_size`` samples per batch.

    Each class's shuffled samples are split into ``ceil(n_c / K)`` near-equal groups (so a
    class with at least 2 samples never yields a lone sample), the groups are shuffled and
    packed in order. Every sample appears exactly once per epoch.
    """
    y_t = torch.from_numpy(np.asarray(y, dtype=np.int64))
    groups: list[Tensor] = []
    for c in torch.unique(y_t).tolist():
        members = (y_t == c).nonzero().squeeze(1)
        members = members[torch.randperm(len(members), generator=generator)]
        groups += list(torch.tensor_split(members, math.ceil(len(members) / samples_per_class)))
    batches: list[Tensor] = []
    current: list[Tensor] = []
    size = 0
    for g in torch.randperm(len(groups), generator=generator).tolist():
        if current and size + len(groups[g]) > batch_size:
            batches.append(torch.cat(current))
            current, size = [], 0
        current.append(groups[g])
        size += len(groups[g])
    if current:
        batches.append(torch.cat(current))
    return batches


# -- the learners -----------------------------------------------------------------------------


def _with_count(loss: Tensor | None, n: int) -> tuple[Tensor, int] | None:
    return None if loss is None else (loss, n)


#: The Parameters entries both metric learners share (``lr`` to ``validation_fraction``),
#: written once: the line ``{metric_learner_parameters}`` of a subclass docstring is
#: replaced by them when the class is created.
METRIC_LEARNER_PARAMETERS_DOC = """\
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
        ``(C, H, W)`` or ``(H, W)``: an image (CNN embedding net); ``(n,)`` or None: a flat
        vector (MLP embedding net).
    predict_batch_size : int, default=1024
        Inference (and validation) batch size (>= 1).
    verbose : bool or int, default=False
        Print the losses after each epoch.
    max_seconds : float, default=None
        Time budget of the fit in seconds (> 0), checked after each epoch; None: none.
    patience : int, default=None
        Early stopping after this many epochs (>= 1) without a higher validation k-NN accuracy,
        restoring the best epoch's weights; None: off.
    lr_schedule : {"cosine", "onecycle", "linear"} or None, default=None
        Learning-rate schedule, stepped per batch; None: a constant rate.
    validation_fraction : float, default=0.1
        Share of the training rows, in [0, 1), held out (seeded, stratified); the validation
        curve is the k-NN accuracy of their embeddings against the training rows' (a pair or
        triplet loss on a few held-out rows per class is too noisy to stop on). 0: none.
"""


class MetricLearningClassifier(TorchClassifier):
    """Shared fit / predict / verification of the metric learners (not registered itself).

    Subclasses implement :meth:`_prepare` (per-fit sampling state), :meth:`_epoch_batches`
    and :meth:`_batch_loss`. Parameters beyond :class:`TorchClassifier`'s:

    embedding_dim : size of the embedding.
    widths : conv block widths of the image embedding net (a ``PlainCNN`` whose linear head
        outputs the embedding); used when ``input_shape`` is ``(C, H, W)`` or ``(H, W)``.
    hidden_sizes : hidden layers of the MLP embedding net, used for flat inputs.
    normalize : L2-normalise embeddings (distances in [0, 2]).
    margin : the loss margin.
    n_neighbors : k of the k-NN classifier on the training embeddings.
    verification_pairs : ``evaluation_extras`` scores all test pairs when there are at most
        this many, else this many pairs drawn with ``random_state``.

    Fitted attributes: those of ``TorchClassifier`` (``module_`` is the embedding net) and
    ``knn_``, the k-NN classifier fitted on the training embeddings.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fill_shared_doc(cls, "    {metric_learner_parameters}\n", METRIC_LEARNER_PARAMETERS_DOC)

    _parameter_constraints = {
        "embedding_dim": [POSITIVE_INT],
        "widths": [POSITIVE_INTS],
        "hidden_sizes": [POSITIVE_INTS],
        "normalize": ["boolean"],
        "margin": [POSITIVE_REAL],
        "n_neighbors": [POSITIVE_INT],
        "verification_pairs": [POSITIVE_INT],
    }

    def __init__(
        self,
        embedding_dim: int = 64,
        widths: tuple[int, ...] = (16, 32, 64),
        hidden_sizes: tuple[int, ...] = (256,),
        normalize: bool = True,
        margin: float = 1.0,
        n_neighbors: int = 1,
        verification_pairs: int = 100_000,
        max_epochs: int = 10,
        batch_size: int = 64,
        lr: float = 1e-3,
        optimizer: str = "adam",
        weight_decay: float = 0.0,
        momentum: float = 0.9,
        device: str = "auto",
        random_state: int | np.random.RandomState | None = None,
        input_shape: tuple[int, ...] | None = None,
        predict_batch_size: int = 1024,
        verbose: bool = False,
        max_seconds: float | None = None,
        patience: int | None = None,
        lr_schedule: str | None = None,
        validation_fraction: float = 0.1,
    ) -> None:
        super().__init__(
            max_epochs=max_epochs,
            batch_size=batch_size,
            lr=lr,
            optimizer=optimizer,
            weight_decay=weight_decay,
            momentum=momentum,
            device=device,
            random_state=random_state,
            input_shape=input_shape,
            predict_batch_size=predict_batch_size,
            verbose=verbose,
            max_seconds=max_seconds,
            patience=patience,
            lr_schedule=lr_schedule,
            validation_fraction=validation_fraction,
        )
        self.embedding_dim = embedding_dim
        self.widths = widths
        self.hidden_sizes = hidden_sizes
        self.normalize = normalize
        self.margin = margin
        self.n_neighbors = n_neighbors
        self.verification_pairs = verification_pairs

    # -- hooks ------------------------------------------------------------------------------

    def _prepare(self, y: np.ndarray) -> Any:
        """Per-fit sampling state built from the encoded training labels."""
        return None

    def _epoch_batches(self, y: np.ndarray, state: Any, generator: torch.Generator) -> list[Tensor]:
        """The CPU index tensors of one epoch's batches."""
        raise NotImplementedError

    def _batch_loss(
        self, module: nn.Module, X: Tensor, y: Tensor, idx: Tensor, state: Any, generator: torch.Generator
    ) -> Tensor | None:
        """The loss of batch ``idx`` (CPU indices into ``X``/``y`` on the device); None: skip."""
        raise NotImplementedError

    # -- TorchClassifier hooks --------------------------------------------------------------

    def _build_module(self, input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
        if len(input_shape) == 3:
            body: nn.Module = PlainCNN(input_shape[0], self.embedding_dim, self.widths)
        else:
            body = mlp(input_shape[0], self.hidden_sizes, self.embedding_dim)
        return EmbeddingNet(body, bool(self.normalize))

    def _resolve_input_shape(self, n_features: int) -> tuple[int, ...]:
        """``(C, H, W)`` or ``(H, W)``: an image (CNN); ``(n,)`` or None: a flat vector (MLP)."""
        shape = super()._resolve_input_shape(n_features)
        if len(shape) == 2:
            shape = (1, *shape)
        if len(shape) not in (1, 3):
            raise LearnbenchError(
                f"{type(self).__name__}: input_shape must be (C, H, W), (H, W) or None; got {shape}"
            )
        return shape

    # -- fitting ----------------------------------------------------------------------------

    def fit(self, X: Any, y: Any) -> MetricLearningClassifier:
        """Train a fresh embedding net on ``X`` and ``y``, then fit k-NN on its embeddings.

        The validation curve is the k-NN accuracy of the held-out rows' embeddings against
        the training rows' (early stopping monitors it: a pair or triplet loss on a few
        held-out rows per class is too noisy to stop on).
        """
        X, y_idx, seed = self._prepare_fit(X, y)
        if len(self.classes_) < 2:
            raise LearnbenchError(f"{type(self).__name__} needs at least two classes")
        tr, va = self._split(y_idx, seed)
        y_tr = y_idx[tr]
        with self._seeded(seed) as generator:  # batches, pairs, random mining
            module = self._build_module(self.input_shape_, len(self.classes_)).to(self.device_)
            Xt, yt = self._tensors(X[tr], y_tr)
            state = self._prepare(y_tr)
            validate = None
            if len(va):
                Xv, yv = self._tensors(X[va], y_idx[va])
                validate = self._knn_validator(Xt, y_tr, Xv, yv)
            phase = self._log(self._trainer("train", self.max_epochs, self.lr,
                                            monitor="accuracy").fit(
                module,
                lambda: self._epoch_batches(y_tr, state, generator),
                lambda forward, idx: _with_count(
                    self._batch_loss(forward, Xt, yt, idx, state, generator), len(idx)),
                validate, val_size=len(va),
            ))
        self.module_ = module
        self.loss_curve_ = list(phase.curves["train_loss"])
        self.n_epochs_run_ = phase.epochs_run
        self.fit_samples_ = phase.samples
        n_neighbors = min(self.n_neighbors, len(tr))
        self.knn_ = KNeighborsClassifier(n_neighbors=n_neighbors).fit(self.transform(X[tr]), y_tr)
        return self

    def _knn_validator(self, Xt: Tensor, y_tr: np.ndarray, Xv: Tensor, yv: Tensor) -> Any:
        """k-NN accuracy of the validation embeddings against the training embeddings."""
        k = min(self.n_neighbors, len(y_tr))

        def embed(forward: Any, X: Tensor) -> np.ndarray:
            parts = [forward(X[i : i + self.predict_batch_size]).float().cpu()
                     for i in range(0, len(X), self.predict_batch_size)]
            return torch.cat(parts).numpy()

        def validate(forward: Any) -> dict[str, float | None]:
            knn = KNeighborsClassifier(n_neighbors=k).fit(embed(forward, Xt), y_tr)
            pred = knn.predict(embed(forward, Xv))
            return {"loss": None, "accuracy": float((pred == yv.cpu().numpy()).mean())}

        return validate

    def _profile_parts(self, X: Any, y: Any, n_train: int, n_infer: int) -> ProfileParts:
        X = self._validate_data(X, dtype=np.float32, reset=False)
        y_idx = np.clip(np.searchsorted(self.classes_, np.asarray(y)), 0, len(self.classes_) - 1)
        generator = torch.Generator().manual_seed(torch_seed(self.random_state))
        state = self._prepare(y_idx)
        idx = self._epoch_batches(y_idx, state, generator)[0][:n_train]
        Xt, yt = self._tensors(X, y_idx)
        Xi = Xt[:n_infer]
        return ProfileParts(
            train_module=self.module_,
            batch_loss=lambda forward, b: _with_count(
                self._batch_loss(forward, Xt, yt, b, state, generator), len(b)),
            batch=idx, train_input=Xt[idx.to(self.device_)],
            infer_module=self.module_, infer=lambda forward: forward(Xi), infer_input=Xi,
        )

    # -- inference --------------------------------------------------------------------------

    def transform(self, X: Any) -> np.ndarray:
        """Embeddings of ``X``, shape (n_samples, embedding_dim), float32."""
        parts = [z.float().cpu() for z in self._logits(X)]
        return torch.cat(parts).numpy()

    def predict_proba(self, X: Any) -> np.ndarray:
        """k-NN class probabilities in the embedding space, columns in ``classes_`` order."""
        check_is_fitted(self, "knn_")
        return self.knn_.predict_proba(self.transform(X))

    def predict(self, X: Any) -> np.ndarray:
        """The k-NN class of each row of ``X`` in the embedding space."""
        check_is_fitted(self, "knn_")
        return self.classes_[self.knn_.predict(self.transform(X))]

    def evaluation_extras(self, X: Any, y: Any) -> dict[str, float]:
        """Verification on pairs of ``(X, y)``: is the pair the same class?

        The score of a pair is its negative embedding distance. Returns
        ``verification_roc_auc`` (``sklearn.metrics.roc_auc_score``), ``verification_eer``
        (equal error rate: where the false-accept and false-reject rates cross on the ROC
        curve, their mean at the closest point) and ``verification_pairs`` (pairs scored:
        all ``n(n-1)/2`` pairs when at most ``verification_pairs``, else that many distinct-
        sample pairs drawn with ``random_state``). Empty when every pair has the same
        outcome (AUC undefined).
        """
        emb = self.transform(X)
        y = np.asarray(y)
        n = len(emb)
        if n * (n - 1) // 2 <= self.verification_pairs:
            i, j = np.triu_indices(n, k=1)
        else:
            rng = np.random.default_rng(torch_seed(self.random_state))
            i = rng.integers(0, n, self.verification_pairs)
            j = rng.integers(0, n - 1, self.verification_pairs)
            j = j + (j >= i)  # a different sample
        same = y[i] == y[j]
        if same.all() or not same.any():
            return {}
        score = -np.linalg.norm(emb[i] - emb[j], axis=1)
        fpr, tpr, _ = roc_curve(same, score)
        k = int(np.argmin(np.abs((1 - tpr) - fpr)))
        return {
            "verification_roc_auc": float(roc_auc_score(same, score)),
            "verification_eer": float((fpr[k] + 1 - tpr[k]) / 2),
            "verification_pairs": float(len(i)),
        }


class SiameseContrastiveClassifier(MetricLearningClassifier):
    """A Siamese embedding net trained with the contrastive loss, classified by k-NN.

    Bromley et al., Signature verification using a "Siamese" time delay neural network, NIPS
    1993; Hadsell, Chopra & LeCun, Dimensionality reduction by learning an invariant mapping,
    CVPR 2006.

    The embedding net is a small :class:`~learnbench.learners.cnn.PlainCNN` for images or an MLP
    for flat inputs, L2-normalised by default. Each batch of ``batch_size`` anchors gets one
    partner per anchor from :class:`PairSampler` (half similar, half dissimilar); both go
    through the same net in one forward pass, so the work per epoch is about twice the triplet
    learner's. A test sample gets the class of its nearest training samples in the embedding
    space (``sklearn.neighbors.KNeighborsClassifier``). ``transform`` returns the embeddings and
    ``evaluation_extras`` the verification figures (is this pair the same class? ROC AUC and
    equal error rate) that the harness records next to accuracy. Batches and pairs are drawn
    from one seeded CPU generator, so the same seed gives the same model on any device.

    Parameters
    ----------
    loss_variant : {"hadsell", "squared_hinge"}, default="hadsell"
        The contrastive loss (see :func:`~learnbench.learners.losses.contrastive_loss`).
    margin : float, default=1.0
        The loss margin (> 0); 1.0 puts the dissimilar boundary at distance 1 on the unit sphere
        for both variants.
    embedding_dim : int, default=64
        Size of the embedding (>= 1).
    widths : tuple of int, default=(16, 32, 64)
        Conv block widths of the image embedding net (a ``PlainCNN`` whose linear head outputs
        the embedding), used when ``input_shape`` is ``(C, H, W)`` or ``(H, W)``.
    hidden_sizes : tuple of int, default=(256,)
        Hidden layers (``Linear-ReLU``) of the MLP embedding net, used for flat inputs.
    normalize : bool, default=True
        L2-normalise the embeddings onto the unit sphere (FaceNet), which bounds distances to
        [0, 2] so one margin suits every dataset.
    n_neighbors : int, default=1
        k (>= 1) of the k-NN classifier on the training embeddings (capped at the number of
        training rows).
    verification_pairs : int, default=100_000
        ``evaluation_extras`` scores all test pairs when there are at most this many, else this
        many distinct-sample pairs drawn with ``random_state``.
    max_epochs : int, default=10
        Epoch budget (>= 1); an epoch has every training sample as an anchor once.
    batch_size : int, default=64
        Anchors per batch (>= 1); each brings one partner.
    {metric_learner_parameters}

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels seen in ``fit`` (at least two), sorted.
    n_features_in_ : int
        Number of features of the rows seen in ``fit``.
    input_shape_ : tuple of int
        ``(C, H, W)`` for images, ``(n_features,)`` otherwise.
    device_ : torch.device
        The device the net was trained on (``device`` resolved).
    module_ : torch.nn.Module
        The trained embedding net (``EmbeddingNet``).
    knn_ : sklearn.neighbors.KNeighborsClassifier
        The k-NN classifier fitted on the training embeddings.
    n_epochs_run_ : int
        Epochs run.
    loss_curve_ : list of float
        Mean training loss per epoch.
    fit_samples_ : int
        Anchors processed by all epochs (the partners are not counted).
    training_log_ : list of Phase
        The Trainer's :class:`~learnbench.learners.trainer.Phase` (one, ``"train"``), with its
        curves and stop reason.

    See Also
    --------
    learnbench.learners.make_learner : ``make_learner("siamese_contrastive")`` builds this
        class.
    TripletClassifier : The same embedding nets trained with the triplet loss.

    Examples
    --------
    >>> import numpy as np
    >>> from learnbench.learners import make_learner
    >>> rng = np.random.default_rng(0)
    >>> X = rng.random((40, 16), dtype=np.float32); y = np.arange(40) % 2
    >>> clf = make_learner("siamese_contrastive", hidden_sizes=(16,), embedding_dim=8,
    ...                    max_epochs=1, device="cpu", random_state=0).fit(X, y)
    >>> clf.predict(X[:3]).shape
    (3,)
    >>> clf.transform(X[:3]).shape
    (3, 8)
    >>> sorted(clf.evaluation_extras(X, y))
    ['verification_eer', 'verification_pairs', 'verification_roc_auc']
    """

    _parameter_constraints = {"loss_variant": [StrOptions(set(CONTRASTIVE_VARIANTS))]}

    def __init__(
        self,
        loss_variant: str = "hadsell",
        margin: float = 1.0,
        embedding_dim: int = 64,
        widths: tuple[int, ...] = (16, 32, 64),
        hidden_sizes: tuple[int, ...] = (256,),
        normalize: bool = True,
        n_neighbors: int = 1,
        verification_pairs: int = 100_000,
        max_epochs: int = 10,
        batch_size: int = 64,
        lr: float = 1e-3,
        optimizer: str = "adam",
        weight_decay: float = 0.0,
        momentum: float = 0.9,
        device: str = "auto",
        random_state: int | np.random.RandomState | None = None,
        input_shape: tuple[int, ...] | None = None,
        predict_batch_size: int = 1024,
        verbose: bool = False,
        max_seconds: float | None = None,
        patience: int | None = None,
        lr_schedule: str | None = None,
        validation_fraction: float = 0.1,
    ) -> None:
        super().__init__(
            embedding_dim=embedding_dim,
            widths=widths,
            hidden_sizes=hidden_sizes,
            normalize=normalize,
            margin=margin,
            n_neighbors=n_neighbors,
            verification_pairs=verification_pairs,
            max_epochs=max_epochs,
            batch_size=batch_size,
            lr=lr,
            optimizer=optimizer,
            weight_decay=weight_decay,
            momentum=momentum,
            device=device,
            random_state=random_state,
            input_shape=input_shape,
            predict_batch_size=predict_batch_size,
            verbose=verbose,
            max_seconds=max_seconds,
            patience=patience,
            lr_schedule=lr_schedule,
            validation_fraction=validation_fraction,
        )
        self.loss_variant = loss_variant

    def _prepare(self, y: np.ndarray) -> PairSampler:
        return PairSampler(y)

    def _epoch_batches(self, y: np.ndarray, state: Any, generator: torch.Generator) -> list[Tensor]:
        return list(torch.randperm(len(y), generator=generator).split(self.batch_size))

    def _batch_loss(
        self, module: nn.Module, X: Tensor, y: Tensor, idx: Tensor, state: Any, generator: torch.Generator
    ) -> Tensor | None:
        partners, dissimilar = state.partners(idx, generator)
        both = torch.cat([idx, partners]).to(X.device)
        emb = module(X[both])
        a, p = emb[: len(idx)], emb[len(idx) :]
        return contrastive_loss(a, p, dissimilar.to(X.device), self.margin, self.loss_variant)


class TripletClassifier(MetricLearningClassifier):
    """An embedding net trained with the triplet loss on "P x K" batches, classified by k-NN.

    Schroff, Kalenichenko & Philbin, FaceNet, CVPR 2015; Hermans, Beyer & Leibe, In defense of
    the triplet loss for person re-identification, arXiv:1703.07737, 2017.

    The embedding net is a small :class:`~learnbench.learners.cnn.PlainCNN` for images or an MLP
    for flat inputs, L2-normalised by default. Batches hold whole groups of up to
    ``samples_per_class`` (K) same-class samples (:func:`class_balanced_batches`), so most
    anchors have a positive in the batch, and triplets are mined in the batch. A test sample
    gets the class of its nearest training samples in the embedding space
    (``sklearn.neighbors.KNeighborsClassifier``); ``transform`` returns the embeddings and
    ``evaluation_extras`` the verification figures (ROC AUC and equal error rate of same-class
    pairs).

    Parameters
    ----------
    mining : {"batch_hard", "semi_hard", "random"}, default="batch_hard"
        ``"batch_hard"``: the hardest positive and negative per anchor; ``"semi_hard"``: every
        anchor-positive pair with a semi-hard negative, falling back to the hardest negative;
        ``"random"``: no mining.
    margin : float, default=0.2
        The loss margin on squared distances (> 0); 0.2 is FaceNet's value on the unit sphere.
    samples_per_class : int, default=4
        K, the largest group of same-class samples in a batch (>= 2, at most ``batch_size``).
    embedding_dim : int, default=64
        Size of the embedding (>= 1).
    widths : tuple of int, default=(16, 32, 64)
        Conv block widths of the image embedding net (a ``PlainCNN`` whose linear head outputs
        the embedding), used when ``input_shape`` is ``(C, H, W)`` or ``(H, W)``.
    hidden_sizes : tuple of int, default=(256,)
        Hidden layers (``Linear-ReLU``) of the MLP embedding net, used for flat inputs.
    normalize : bool, default=True
        L2-normalise the embeddings onto the unit sphere (FaceNet), which bounds distances to
        [0, 2] so one margin suits every dataset.
    n_neighbors : int, default=1
        k (>= 1) of the k-NN classifier on the training embeddings (capped at the number of
        training rows).
    verification_pairs : int, default=100_000
        ``evaluation_extras`` scores all test pairs when there are at most this many, else this
        many distinct-sample pairs drawn with ``random_state``.
    max_epochs : int, default=10
        Epoch budget (>= 1); an epoch has every training sample as an anchor once.
    batch_size : int, default=64
        Largest batch (>= 1, at least ``samples_per_class``); whole groups are packed into it.
    {metric_learner_parameters}

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels seen in ``fit`` (at least two), sorted.
    n_features_in_ : int
        Number of features of the rows seen in ``fit``.
    input_shape_ : tuple of int
        ``(C, H, W)`` for images, ``(n_features,)`` otherwise.
    device_ : torch.device
        The device the net was trained on (``device`` resolved).
    module_ : torch.nn.Module
        The trained embedding net (``EmbeddingNet``).
    knn_ : sklearn.neighbors.KNeighborsClassifier
        The k-NN classifier fitted on the training embeddings.
    n_epochs_run_ : int
        Epochs run.
    loss_curve_ : list of float
        Mean training loss per epoch.
    fit_samples_ : int
        Anchors processed by all epochs (every training sample once per epoch).
    training_log_ : list of Phase
        The Trainer's :class:`~learnbench.learners.trainer.Phase` (one, ``"train"``), with its
        curves and stop reason.

    See Also
    --------
    learnbench.learners.make_learner : ``make_learner("triplet")`` builds this class.
    SiameseContrastiveClassifier : The same embedding nets trained with the contrastive loss on
        pairs.

    Examples
    --------
    >>> import numpy as np
    >>> from learnbench.learners import make_learner
    >>> rng = np.random.default_rng(0)
    >>> X = rng.random((40, 16), dtype=np.float32); y = np.arange(40) % 2
    >>> clf = make_learner("triplet", hidden_sizes=(16,), embedding_dim=8, max_epochs=1,
    ...                    device="cpu", random_state=0).fit(X, y)
    >>> clf.predict(X[:3]).shape
    (3,)
    >>> clf.transform(X[:3]).shape
    (3, 8)
    >>> clf.knn_.n_neighbors
    1
    """

    _parameter_constraints = {
        "mining": [StrOptions(set(MINING))],
        "samples_per_class": [Interval(Integral, 2, None, closed="left")],
    }

    def __init__(
        self,
        mining: str = "batch_hard",
        margin: float = 0.2,
        samples_per_class: int = 4,
        embedding_dim: int = 64,
        widths: tuple[int, ...] = (16, 32, 64),
        hidden_sizes: tuple[int, ...] = (256,),
        normalize: bool = True,
        n_neighbors: int = 1,
        verification_pairs: int = 100_000,
        max_epochs: int = 10,
        batch_size: int = 64,
        lr: float = 1e-3,
        optimizer: str = "adam",
        weight_decay: float = 0.0,
        momentum: float = 0.9,
        device: str = "auto",
        random_state: int | np.random.RandomState | None = None,
        input_shape: tuple[int, ...] | None = None,
        predict_batch_size: int = 1024,
        verbose: bool = False,
        max_seconds: float | None = None,
        patience: int | None = None,
        lr_schedule: str | None = None,
        validation_fraction: float = 0.1,
    ) -> None:
        super().__init__(
            embedding_dim=embedding_dim,
            widths=widths,
            hidden_sizes=hidden_sizes,
            normalize=normalize,
            margin=margin,
            n_neighbors=n_neighbors,
            verification_pairs=verification_pairs,
            max_epochs=max_epochs,
            batch_size=batch_size,
            lr=lr,
            optimizer=optimizer,
            weight_decay=weight_decay,
            momentum=momentum,
            device=device,
            random_state=random_state,
            input_shape=input_shape,
            predict_batch_size=predict_batch_size,
            verbose=verbose,
            max_seconds=max_seconds,
            patience=patience,
            lr_schedule=lr_schedule,
            validation_fraction=validation_fraction,
        )
        self.mining = mining
        self.samples_per_class = samples_per_class

    def _check_param_relations(self) -> None:
        super()._check_param_relations()
        if self.samples_per_class > self.batch_size:
            raise LearnbenchError(
                f"{type(self).__name__}: samples_per_class ({self.samples_per_class}) must be "
                f"at most batch_size ({self.batch_size})"
            )

    def _epoch_batches(self, y: np.ndarray, state: Any, generator: torch.Generator) -> list[Tensor]:
        return class_balanced_batches(y, self.batch_size, self.samples_per_class, generator)

    def _batch_loss(
        self, module: nn.Module, X: Tensor, y: Tensor, idx: Tensor, state: Any, generator: torch.Generator
    ) -> Tensor | None:
        idx = idx.to(X.device)
        emb, labels = module(X[idx]), y[idx]
        if self.mining == "batch_hard":
            a, p, n = batch_hard_triplets(emb, labels)
        elif self.mining == "semi_hard":
            a, p, n = semi_hard_negatives(emb, labels, self.margin)
        else:
            a, p, n = random_triplets(labels, generator)
        if len(a) == 0:
            return None
        return triplet_loss(emb[a], emb[p], emb[n], self.margin)
