"""Self-supervised rotation pretext task, then a linear probe on the frozen features.

``RotationPretextClassifier`` trains a CNN to tell which of four rotations (0, 90, 180, 270
degrees) was applied to an image, using no labels (Gidaris, Singh & Komodakis, Unsupervised
representation learning by predicting image rotations, ICLR 2018). Every image of a
mini-batch is shown in all four rotations, so the pretext labels are exactly balanced. The
frozen features then feed a classical learner (``probe``, default logistic regression on
standardised features: a linear probe).

Architecture: the backbone is :class:`learnbench.learners.cnn.PlainCNN` (the ``cnn``
learner's net) with a 4-way head; the probe reads its global-average-pooled last block
(``widths[-1]`` features). The ``cnn`` learner with the same ``widths`` is therefore the
"same CNN trained from scratch with labels" to report next to ``rotation_probe``. Gidaris et
al. probe earlier conv blocks with spatial pooling, which often does better than the last
block; this learner keeps to the last block so the comparison with ``cnn`` is one net.

Non-square images (ORL 56x46) rotate to W x H at 90 and 270 degrees; those go through the
net as a separate group of the mini-batch (the CNN's global pooling accepts any size).
Unlabelled rows passed as ``fit(X, y, X_unlabelled=...)`` join the pretext task only; see
``autoencoder.py`` for how the harness could pass them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted
from torch import Tensor, nn

from learnbench.errors import LearnbenchError
from learnbench.learners import trainer as trainer_mod
from learnbench.learners.autoencoder import FeatureLearnerMixin, image_shape
from learnbench.learners.cnn import PlainCNN
from learnbench.learners.constraints import NON_NEGATIVE_INT, POSITIVE_INTS
from learnbench.learners.heads import fit_head
from learnbench.learners.torch_base import ProfileParts

N_ROTATIONS = 4
# evaluation_extras scores the pretext task on at most this many images (x4 rotations), so
# the extra figure costs a second or two on a CPU, not a second pass over a 10,000-image test set
PRETEXT_EVAL_MAX = 1000


def rotate_batch(x: Tensor) -> tuple[Tensor, Tensor]:
    """All four rotations of square images ``x`` (B, C, H, W): (4B, C, H, W) and labels.

    Rotation ``k`` (label ``k``) turns the image by ``k * 90`` degrees counter-clockwise
    (``torch.rot90`` over (H, W), like ``np.rot90``); the output is grouped by rotation:
    rows ``k*B .. (k+1)*B - 1`` are rotation ``k`` of the B images in order.
    """
    if x.shape[-1] != x.shape[-2]:
        raise LearnbenchError(f"rotate_batch needs square images; got {tuple(x.shape[-2:])}")
    return torch.cat([torch.rot90(x, k, dims=(-2, -1)) for k in range(N_ROTATIONS)]), _labels(
        range(N_ROTATIONS), len(x), x.device
    )


def rotation_groups(x: Tensor) -> list[tuple[Tensor, Tensor]]:
    """The four rotations of ``x`` as (images, labels) groups of equal image shape.

    Square images: one group (:func:`rotate_batch`). Otherwise two: rotations 0 and 180
    (H x W) and rotations 90 and 270 (W x H).
    """
    if x.shape[-1] == x.shape[-2]:
        return [rotate_batch(x)]
    return [
        (torch.cat([torch.rot90(x, k, dims=(-2, -1)) for k in ks]), _labels(ks, len(x), x.device))
        for ks in ((0, 2), (1, 3))
    ]


def _rotation_loss(forward: Any, x: Tensor) -> tuple[Tensor, int]:
    """Mean cross-entropy over the four rotations of the images ``x``; counts the images."""
    loss_sum = sum(F.cross_entropy(forward(images), labels, reduction="sum")
                   for images, labels in rotation_groups(x))
    return loss_sum / (N_ROTATIONS * len(x)), len(x)


def _labels(ks: Any, n: int, device: torch.device) -> Tensor:
    return torch.tensor(list(ks), device=device).repeat_interleave(n)


class RotationPretextClassifier(FeatureLearnerMixin, ClassifierMixin, BaseEstimator):
    """Rotation-prediction pretraining of a :class:`PlainCNN`, then a probe on its features.

    Gidaris, Singh & Komodakis, Unsupervised representation learning by predicting image
    rotations, ICLR 2018. ``fit`` trains a :class:`~learnbench.learners.cnn.PlainCNN` with a
    4-way head to tell which of four rotations (0, 90, 180, 270 degrees) was applied to an
    image, using no labels; every image of a mini-batch is shown in all four rotations, so the
    pretext labels are exactly balanced. The frozen features then feed a classical learner
    (``probe``, default logistic regression on standardised features: a linear probe).

    The probe reads the global-average-pooled last block (``widths[-1]`` features), so the
    ``cnn`` learner with the same ``widths`` is the "same CNN trained from scratch with labels"
    to report next to ``rotation_probe``. Gidaris et al. probe earlier conv blocks with spatial
    pooling, which often does better than the last block; this learner keeps to the last block
    so the comparison with ``cnn`` is one net. Non-square images (ORL 56x46) rotate to W x H at
    90 and 270 degrees; those go through the net as a separate group of the mini-batch.
    Unlabelled rows passed as ``fit(X, y, X_unlabelled=...)`` join the pretext task only.

    Parameters
    ----------
    widths : tuple of int, default=(32, 64, 128)
        Output channels of the PlainCNN blocks (as the ``cnn`` learner's ``widths``).
    pretext_epochs : int, default=3
        Epoch budget (>= 0) of the "pretext" phase: passes over the images for the rotation
        task.
    batch_size : int, default=32
        Images per pretext step (>= 1); the net sees ``4 * batch_size`` rotated images.
    lr : float, default=1e-3
        Adam learning rate (> 0) of the pretext task.
    probe : str, default="logreg"
        Registry name of the learnbench learner fitted on the frozen features.
    probe_params : dict, default=None
        Parameters of ``probe``; it gets the fit's seed as ``random_state`` unless they set one.
        None: the registry defaults.
    standardize : bool, default=True
        Standardise the features (a ``StandardScaler`` fitted on the training features) before
        the probe; pooled ReLU features have arbitrary scales, which slows lbfgs.
    device : {"cpu", "cuda", "auto"} or str, default="auto"
        ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"`` (cuda when available).
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, the validation split, shuffling and the probe.
    input_shape : tuple of int, default=None
        ``(C, H, W)`` (pass ``Dataset.image_shape``) or ``(H, W)`` (one channel) of one image.
        None: the features must form a square single-channel image (784 -> 1x28x28); otherwise
        ``fit`` raises a ``LearnbenchError`` rather than guess a layout.
    predict_batch_size : int, default=1024
        Inference (and validation) batch size (>= 1).
    verbose : bool or int, default=False
        Print the losses after each epoch.
    max_seconds : float, default=None
        Time budget of the fit in seconds (> 0), checked after each epoch; None: none.
    patience : int, default=None
        Early stopping after this many epochs (>= 1) without a lower validation rotation loss,
        restoring the best epoch's weights; None: off.
    lr_schedule : {"cosine", "onecycle", "linear"} or None, default=None
        Learning-rate schedule, stepped per batch; None: a constant rate.
    validation_fraction : float, default=0.1
        Share of the labelled rows, in [0, 1), held out (seeded, stratified) for the pretext
        validation curve (rotation loss and accuracy on their four rotations) and early
        stopping; the probe is fitted on all labelled rows. 0: none.
    amp : {"bf16"} or None, default=None
        ``"bf16"``: bfloat16 autocast in training and inference; None: float32.
    compile : bool, default=False
        Run the modules through ``torch.compile`` for training and inference (the fitted modules
        stay uncompiled).
    cudnn_benchmark : bool, default=False
        Let cuDNN autotune convolution algorithms (CUDA only).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels seen in ``fit``, sorted.
    n_features_in_ : int
        Number of features of the rows seen in ``fit``.
    input_shape_ : tuple of int
        ``(C, H, W)`` of one image.
    device_ : torch.device
        The device the network was trained on.
    network_ : torch.nn.Module
        The PlainCNN with its 4-way rotation head.
    backbone_ : torch.nn.Sequential
        Its features + global pooling (image -> feature vector), sharing ``network_``'s weights,
        frozen.
    probe_ : estimator
        The fitted probe; a ``Pipeline`` of the scaler and the probe when ``standardize``.
    pretext_loss_curve_ : list of float
        Mean cross-entropy per rotated image per epoch.
    n_epochs_run_ : int
        Pretext epochs run.
    fit_samples_ : int
        Rotated samples processed, unlabelled included (the harness's ``train_throughput`` is
        network samples/s, comparable with ``cnn``'s).
    training_log_ : list of Phase
        The "pretext" phase (:class:`~learnbench.learners.trainer.Phase`).

    See Also
    --------
    learnbench.learners.make_learner : ``make_learner("rotation_probe")`` builds this class.
    PlainCNNClassifier : The same CNN trained from scratch with labels
        (``make_learner("cnn")``).
    AutoencoderClassifier : Autoencoder codes with a classical head.

    Examples
    --------
    >>> import numpy as np
    >>> from learnbench.learners import make_learner
    >>> rng = np.random.default_rng(0)
    >>> X = rng.random((40, 64), dtype=np.float32); y = np.arange(40) % 2
    >>> clf = make_learner("rotation_probe", widths=(4,), pretext_epochs=1, device="cpu",
    ...                    input_shape=(1, 8, 8), random_state=0).fit(X, y)
    >>> clf.predict(X[:3]).shape
    (3,)
    >>> clf.transform(X[:3]).shape
    (3, 4)
    >>> 0.0 <= clf.pretext_accuracy(X[:5]) <= 1.0
    True
    """

    _parameter_constraints = {
        "widths": [POSITIVE_INTS],
        "pretext_epochs": [NON_NEGATIVE_INT],
        "probe": [str],
        "probe_params": [None, dict],
        "standardize": ["boolean"],
    }

    def __init__(
        self,
        widths: tuple[int, ...] = (32, 64, 128),
        pretext_epochs: int = 3,
        batch_size: int = 32,
        lr: float = 1e-3,
        probe: str = "logreg",
        probe_params: dict[str, Any] | None = None,
        standardize: bool = True,
        device: str = "auto",
        random_state: int | np.random.RandomState | None = None,
        input_shape: tuple[int, ...] | None = None,
        predict_batch_size: int = 1024,
        verbose: bool = False,
        max_seconds: float | None = None,
        patience: int | None = None,
        lr_schedule: str | None = None,
        validation_fraction: float = 0.1,
        amp: str | None = None,
        compile: bool = False,
        cudnn_benchmark: bool = False,
    ) -> None:
        self.widths = widths
        self.pretext_epochs = pretext_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.probe = probe
        self.probe_params = probe_params
        self.standardize = standardize
        self.device = device
        self.random_state = random_state
        self.input_shape = input_shape
        self.predict_batch_size = predict_batch_size
        self.verbose = verbose
        self.max_seconds = max_seconds
        self.patience = patience
        self.lr_schedule = lr_schedule
        self.validation_fraction = validation_fraction
        self.amp = amp
        self.compile = compile
        self.cudnn_benchmark = cudnn_benchmark

    def fit(self, X: Any, y: Any, X_unlabelled: Any = None) -> RotationPretextClassifier:
        """Pretrain on the rotations of ``X`` (and ``X_unlabelled``), then probe on ``X, y``."""
        owner = type(self).__name__
        self._check_params()
        X, y = self._validate_data(X, y, dtype=np.float32)
        check_classification_targets(y)
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        extra = self._unlabelled(X_unlabelled, X.shape[1])
        self.input_shape_ = image_shape(self.input_shape, X.shape[1], owner)
        seed = self._begin_fit()
        # held-out labelled rows draw the pretext validation curve (rotation accuracy); the
        # probe (not iterative) is fitted on all labelled rows
        tr, va = self._split(y_idx, seed)
        X_pre = X[tr] if extra is None else np.concatenate([X[tr], extra])
        with self._seeded(seed) as shuffle:
            net = PlainCNN(self.input_shape_[0], N_ROTATIONS, self.widths).to(self.device_)
            self.pretext_loss_curve_ = self._pretrain(net, self._to_tensor(X_pre),
                                                      self._to_tensor(X[va]), shuffle)
        self.network_ = net.eval()
        self.backbone_ = nn.Sequential(net.features, net.pool, nn.Flatten()).requires_grad_(False)
        phase = self.training_log_[-1]
        self.n_epochs_run_ = phase.epochs_run
        self.fit_samples_ = N_ROTATIONS * phase.samples
        features = self.transform(X)
        if self.standardize:
            scaler = StandardScaler().fit(features)
            head = fit_head(self.probe, self.probe_params, seed, scaler.transform(features), y)
            self.probe_: Any = Pipeline([("scale", scaler), ("probe", head)])
        else:
            self.probe_ = fit_head(self.probe, self.probe_params, seed, features, y)
        return self

    def _pretrain(self, net: nn.Module, Xt: Tensor, Xv: Tensor,
                  shuffle: torch.Generator) -> list[float]:
        """The "pretext" phase: 4-way rotation cross-entropy; validation: the rotation loss
        and accuracy on the held-out rows' four rotations."""
        def validate(forward: Any) -> dict[str, float | None]:
            loss = correct = 0.0
            for i in range(0, len(Xv), self.predict_batch_size):
                for images, labels in rotation_groups(Xv[i : i + self.predict_batch_size]):
                    z = forward(images).float()
                    loss += float(F.cross_entropy(z, labels, reduction="sum"))
                    correct += float((z.argmax(1) == labels).sum())
            n = N_ROTATIONS * len(Xv)
            return {"loss": loss / n, "accuracy": correct / n}

        phase = self._log(self._trainer("pretext", self.pretext_epochs, self.lr).fit(
            net, lambda: trainer_mod.shuffled_batches(len(Xt), self.batch_size, shuffle, self.device_),
            lambda forward, idx: _rotation_loss(forward, Xt[idx]),
            validate if len(Xv) else None, val_size=len(Xv),
        ))
        return list(phase.curves["train_loss"])

    # -- cost and profiling ---------------------------------------------------------------

    def _probe_head(self) -> Any:
        return self.probe_[-1] if isinstance(self.probe_, Pipeline) else self.probe_

    def _cost_modules(self) -> list[nn.Module]:
        return [self.backbone_]

    def parameter_count(self) -> int:
        """Backbone parameters plus the linear probe's."""
        check_is_fitted(self, "probe_")
        backbone = sum(p.numel() for p in self.backbone_.parameters())
        return backbone + self._head_cost(self._probe_head())[0]

    def flops_per_sample(self) -> int:
        """Backbone FLOPs per image plus the linear probe's (2 per multiply-add)."""
        from learnbench.learners.flops import count_flops

        check_is_fitted(self, "probe_")
        return int(count_flops(self.backbone_, self.input_shape_)) + self._head_cost(self._probe_head())[1]

    def _profile_parts(self, X: Any, y: Any, n_train: int, n_infer: int) -> ProfileParts:
        """One pretext step (four rotations of a batch) and the backbone's inference."""
        X = self._validate_data(X, dtype=np.float32, reset=False)
        Xb, Xi = self._to_tensor(X[:n_train]), self._to_tensor(X[:n_infer])
        return ProfileParts(
            train_module=self.network_, batch_loss=_rotation_loss, batch=Xb, train_input=Xb,
            infer_module=self.backbone_, infer=lambda forward: forward(Xi), infer_input=Xi,
        )

    def transform(self, X: Any) -> np.ndarray:
        """Frozen backbone features of ``X``: float32, shape (n_samples, widths[-1])."""
        check_is_fitted(self, "backbone_")
        with torch.inference_mode():
            return torch.cat([self.backbone_(xb).float().cpu() for xb in self._batches(X)]).numpy()

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities from the probe, columns in ``classes_`` order."""
        return self.probe_.predict_proba(self.transform(X))

    def predict(self, X: Any) -> np.ndarray:
        """The probe's predicted label for each row of ``X``."""
        return self.probe_.predict(self.transform(X))

    def pretext_accuracy(self, X: Any) -> float:
        """Accuracy of the rotation head on all four rotations of the images ``X``."""
        check_is_fitted(self, "network_")
        correct = total = 0
        with torch.inference_mode():
            for xb in self._batches(X):
                for images, labels in rotation_groups(xb):
                    correct += int((self.network_(images).argmax(1) == labels).sum())
                    total += len(labels)
        return correct / total

    def evaluation_extras(self, X: Any, y: Any) -> dict[str, float]:
        """Figures the harness records next to accuracy (``y`` unused).

        ``pretext_accuracy`` on the first ``PRETEXT_EVAL_MAX`` images of ``X``;
        ``backbone_flops_per_sample`` (FlopCounterMode: 2 per multiply-add, convs and matrix
        products) and ``backbone_parameters``; ``probe_flops_per_sample`` for a linear probe.
        """
        from learnbench.learners.flops import count_flops

        X = check_array(X, dtype=np.float32)[:PRETEXT_EVAL_MAX]
        extras = {
            "pretext_accuracy": self.pretext_accuracy(X),
            "backbone_flops_per_sample": float(count_flops(self.backbone_, self.input_shape_)),
            "backbone_parameters": float(sum(p.numel() for p in self.backbone_.parameters())),
        }
        head = self.probe_[-1] if isinstance(self.probe_, Pipeline) else self.probe_
        coef = getattr(head, "coef_", None)
        if coef is not None:
            extras["probe_flops_per_sample"] = float(2 * np.size(coef))
        return extras
