"""Autoencoders as feature learners: train an autoencoder, then classify its codes.

``AutoencoderClassifier`` trains an autoencoder on the training images (plus optional
unlabelled rows), then either fits a classical learner (``classifier``, default logistic
regression) on the frozen codes, or (``fine_tune=True``) follows the transfer-learning recipe:
a linear softmax head on the frozen encoder, then encoder + head end to end at a smaller
learning rate. Four kinds of autoencoder:

- ``undercomplete``: a code smaller than the input, plain reconstruction;
- ``denoising``: reconstruct the clean input from a corrupted one, masking noise (a random
  fraction ``noise`` of the inputs set to 0) or additive Gaussian noise of std ``noise``
  (Vincent, Larochelle, Bengio & Manzagol, Extracting and composing robust features with
  denoising autoencoders, ICML 2008);
- ``sparse``: an L1 penalty ``sparsity_weight * sum_j |h_j|`` on the code (Ng, Sparse
  autoencoder, CS294A lecture notes, 2011, which uses a KL penalty on mean activations; L1 on
  the code is the common variant);
- ``contractive``: a penalty ``contractive_weight * ||dh/dx||_F^2`` on the encoder's Jacobian
  (Rifai, Vincent, Muller, Glorot & Bengio, Contractive auto-encoders, ICML 2011). The FC
  encoder is one sigmoid layer, where the penalty has the closed form
  ``sum_j (h_j (1 - h_j))^2 sum_i W_ji^2`` (Rifai et al., Eq. 5 and after); the conv encoder
  gets the exact Jacobian by autograd (one vmapped backward pass per code unit with
  ``is_grads_batched``, so its cost grows with ``code_size``: at code 32 on MNIST it trained
  about 50x slower than the plain conv autoencoder on one CPU thread).

The reconstruction loss is the squared error summed over the pixels of an image and averaged
over the batch, so ``reconstruction_loss_curve_`` reads as "squared error per image" and the
penalty weights are relative to it. FC codes are sigmoid units in (0, 1), conv codes are
linear (see :class:`ConvEncoder`); neither is rescaled before the head. Decoder outputs are
sigmoids: the inputs are meant to be images in [0, 1] (the ``Dataset`` contract).

Unlabelled data: ``fit(X, y, X_unlabelled=...)`` trains the autoencoder on the rows of
``X`` and ``X_unlabelled`` together; the head only sees the labelled rows. The harness does
not pass unlabelled rows today; it could, for a cell with a training subsample, pass the
training rows left out of the subsample (``fit(X_sub, y_sub, X_unlabelled=X_rest)``) to
learners whose ``fit`` accepts ``X_unlabelled`` (checked with ``inspect.signature``), which
measures how much the unlabelled rows help at a fixed labelled budget.

The shared machinery (image shapes, heads fitted on features, batched inference, pickling of
modules) lives in :class:`FeatureLearnerMixin`, which ``rotation.py`` reuses.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted
from torch import Tensor, nn

from learnbench.errors import LearnbenchError
from learnbench.learners import trainer as trainer_mod
from learnbench.learners.constraints import (
    NON_NEGATIVE_INT,
    NON_NEGATIVE_REAL,
    POSITIVE_INT,
    POSITIVE_INTS,
    POSITIVE_REAL,
)
from learnbench.learners.heads import fit_head
from learnbench.learners.torch_base import ProfileParts, TorchLearner
from learnbench.validation import StrOptions

KINDS = ("undercomplete", "denoising", "sparse", "contractive")
ARCHITECTURES = ("fc", "conv")
CORRUPTIONS = ("masking", "gaussian")


# -- penalties and corruption ------------------------------------------------------------------


def corrupt(x: Tensor, corruption: str, noise: float) -> Tensor:
    """A corrupted copy of ``x`` (Vincent et al. 2008): masking or additive Gaussian noise.

    ``"masking"`` sets each value to 0 with probability ``noise``; ``"gaussian"`` adds
    N(0, noise^2) noise. Uses torch's global generator (seeded at the start of ``fit``).
    """
    if corruption == "masking":
        return x * (torch.rand_like(x) >= noise).to(x.dtype)
    if corruption == "gaussian":
        return x + noise * torch.randn_like(x)
    raise LearnbenchError(f"corruption must be one of {', '.join(CORRUPTIONS)}; got {corruption!r}")


def l1_code_penalty(h: Tensor) -> Tensor:
    """Sparse-AE penalty: ``sum_j |h_j|`` per sample, averaged over the batch."""
    return h.abs().flatten(1).sum(1).mean()


def contractive_penalty_sigmoid(h: Tensor, weight: Tensor) -> Tensor:
    """Closed-form ``||dh/dx||_F^2`` of ``h = sigmoid(W x + b)``, averaged over the batch.

    ``dh_j/dx_i = h_j (1 - h_j) W_ji``, so the squared Frobenius norm is
    ``sum_j (h_j (1 - h_j))^2 sum_i W_ji^2`` (Rifai et al. 2011). ``h``: (batch, code);
    ``weight``: ``W``, (code, n_features).
    """
    return ((h * (1 - h)) ** 2 @ (weight**2).sum(1)).mean()


def contractive_penalty_autograd(encoder: nn.Module, x: Tensor) -> tuple[Tensor, Tensor]:
    """``(h, ||dh/dx||_F^2 averaged over the batch)`` for any encoder, by autograd.

    The Jacobian rows come from one batched vector-Jacobian product per code unit
    (``torch.autograd.grad(..., is_grads_batched=True)``), kept in the graph so the penalty
    can be minimised. Assumes the samples do not interact (no batch norm in train mode).
    """
    x = x.detach().requires_grad_(True)
    h = encoder(x)
    code = h.shape[1]
    basis = torch.eye(code, device=h.device, dtype=h.dtype).unsqueeze(1).expand(code, *h.shape)
    (jac,) = torch.autograd.grad(h, x, grad_outputs=basis, create_graph=True, is_grads_batched=True)
    return h, jac.pow(2).sum() / len(x)


# -- modules -----------------------------------------------------------------------------------


class FCEncoder(nn.Module):
    """One sigmoid layer on the flattened input: ``h = sigmoid(W x + b)``."""

    def __init__(self, n_features: int, code_size: int) -> None:
        super().__init__()
        self.linear = nn.Linear(n_features, code_size)

    def forward(self, x: Tensor) -> Tensor:
        return torch.sigmoid(self.linear(x.flatten(1)))


class FCAutoencoder(nn.Module):
    """:class:`FCEncoder` + a sigmoid linear decoder; ``tied``: decoder weight is ``W^T``.

    Tied: the decoder owns only its bias and uses the encoder's weight transposed, so the
    autoencoder has ``n*code + code + n`` parameters instead of ``2*n*code + code + n``.
    """

    def __init__(self, input_shape: tuple[int, ...], code_size: int, tied: bool = False) -> None:
        super().__init__()
        self.input_shape = tuple(input_shape)
        n_features = math.prod(self.input_shape)
        self.tied = bool(tied)
        self.encoder = FCEncoder(n_features, code_size)
        if self.tied:
            self.register_parameter("decoder_weight", None)
        else:
            self.decoder_weight = nn.Parameter(nn.Linear(code_size, n_features).weight.detach())
        self.decoder_bias = nn.Parameter(torch.zeros(n_features))

    def decoder_matrix(self) -> Tensor:
        """The decoder's (n_features, code) weight: the encoder's transposed when tied."""
        return self.encoder.linear.weight.t() if self.tied else self.decoder_weight

    def decode(self, h: Tensor) -> Tensor:
        out = torch.sigmoid(F.linear(h, self.decoder_matrix(), self.decoder_bias))
        return out.reshape(len(h), *self.input_shape)

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encoder(x))


class ConvEncoder(nn.Module):
    """Stride-2 3x3 convs with ReLU (one per entry of ``widths``), then a linear code.

    The code is not squashed: with a sigmoid code the conv autoencoder drove every unit to
    saturation (code 1.0 on all of a 3,000-image MNIST sample, 11% test accuracy of the head),
    while the linear code trains (92%).
    """

    def __init__(self, input_shape: tuple[int, int, int], code_size: int, widths: tuple[int, ...]) -> None:
        super().__init__()
        channels, height, width = input_shape
        self.sizes: list[tuple[int, int]] = [(height, width)]
        convs = []
        for out in widths:
            convs.append(nn.Conv2d(channels, out, 3, stride=2, padding=1))
            self.sizes.append(tuple((s + 1) // 2 for s in self.sizes[-1]))  # type: ignore[misc]
            channels = out
        self.convs = nn.ModuleList(convs)
        self.linear = nn.Linear(channels * math.prod(self.sizes[-1]), code_size)

    def forward(self, x: Tensor) -> Tensor:
        for conv in self.convs:
            x = F.relu(conv(x))
        return self.linear(x.flatten(1))


class ConvAutoencoder(nn.Module):
    """:class:`ConvEncoder` + the mirror-image decoder (linear, then transposed convs).

    ``tied``: the decoder's linear layer uses the encoder's weight transposed and each
    transposed conv uses the weight of the matching encoder conv (``conv_transpose2d`` with
    the same tensor is the conv's adjoint); the decoder then owns only biases.
    """

    def __init__(
        self,
        input_shape: tuple[int, int, int],
        code_size: int,
        widths: tuple[int, ...] = (16, 32),
        tied: bool = False,
    ) -> None:
        super().__init__()
        self.tied = bool(tied)
        self.encoder = ConvEncoder(input_shape, code_size, widths)
        convs = self.encoder.convs
        flat = self.encoder.linear.in_features
        if self.tied:
            self.register_parameter("decoder_weight", None)
            self.deconv_weights = nn.ParameterList()
        else:
            self.decoder_weight = nn.Parameter(nn.Linear(code_size, flat).weight.detach())
            # ConvTranspose2d(out, in) weights have the shape of Conv2d(in, out) weights
            self.deconv_weights = nn.ParameterList(
                nn.Parameter(nn.ConvTranspose2d(c.out_channels, c.in_channels, 3).weight.detach())
                for c in convs
            )
        self.decoder_bias = nn.Parameter(torch.zeros(flat))
        self.deconv_biases = nn.ParameterList(nn.Parameter(torch.zeros(c.in_channels)) for c in convs)

    def decode(self, h: Tensor) -> Tensor:
        enc = self.encoder
        weight = enc.linear.weight.t() if self.tied else self.decoder_weight
        x = F.relu(F.linear(h, weight, self.decoder_bias))
        x = x.reshape(len(h), enc.convs[-1].out_channels, *enc.sizes[-1])
        for i in reversed(range(len(enc.convs))):
            kernel = enc.convs[i].weight if self.tied else self.deconv_weights[i]
            (out_h, out_w), (in_h, in_w) = enc.sizes[i], enc.sizes[i + 1]
            pad = (out_h - (2 * in_h - 1), out_w - (2 * in_w - 1))  # restores odd/even sides
            x = F.conv_transpose2d(x, kernel, self.deconv_biases[i], stride=2, padding=1,
                                   output_padding=pad)
            x = torch.sigmoid(x) if i == 0 else F.relu(x)
        return x

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encoder(x))


# -- shared machinery --------------------------------------------------------------------------


def image_shape(input_shape: Any, n_features: int, owner: str) -> tuple[int, int, int]:
    """``(C, H, W)`` from ``input_shape`` ((C, H, W) or (H, W)); None: a square 1-channel image."""
    if input_shape is None:
        side = math.isqrt(n_features)
        if side * side != n_features:
            raise LearnbenchError(
                f"{owner} needs input_shape=(C, H, W) when n_features ({n_features}) is not a "
                "square image"
            )
        return (1, side, side)
    shape = tuple(int(s) for s in input_shape)
    if len(shape) == 2:
        shape = (1, *shape)
    if len(shape) != 3 or math.prod(shape) != n_features:
        raise LearnbenchError(
            f"{owner}: input_shape must be (C, H, W) or (H, W) holding {n_features} values; "
            f"got {tuple(input_shape)}"
        )
    return shape  # type: ignore[return-value]


class FeatureLearnerMixin(TorchLearner):
    """Batched inference for torch feature learners (device, pickling: :class:`TorchLearner`).

    Needs ``input_shape_``, ``device_`` and ``predict_batch_size``; :meth:`_batches` yields
    the rows of ``X`` as tensors of shape ``(batch, *input_shape_)`` on the fit device.
    """

    def _batches(self, X: Any) -> Iterator[Tensor]:
        X = self._validate_data(X, dtype=np.float32, reset=False)  # type: ignore[attr-defined]
        for start in range(0, len(X), self.predict_batch_size):  # type: ignore[attr-defined]
            xb = torch.from_numpy(X[start : start + self.predict_batch_size])  # type: ignore[attr-defined]
            yield xb.to(self.device_).reshape(len(xb), *self.input_shape_)  # type: ignore[attr-defined]

    def _to_tensor(self, X: np.ndarray) -> Tensor:
        X = np.ascontiguousarray(X)
        return torch.from_numpy(X).to(self.device_).reshape(len(X), *self.input_shape_)  # type: ignore[attr-defined]

    def _head_cost(self, head: Any) -> tuple[int, int]:
        """``(parameters, FLOPs per sample)`` of a linear head (``coef_`` or an ``nn.Linear``)."""
        weight = getattr(head, "weight", None)
        if weight is not None:
            return sum(p.numel() for p in head.parameters()), 2 * weight.numel()
        coef = getattr(head, "coef_", None)
        if coef is None:
            return 0, 0
        return int(np.size(coef) + np.size(getattr(head, "intercept_", ()))), 2 * int(np.size(coef))

    def _unlabelled(self, X_unlabelled: Any, n_features: int) -> np.ndarray | None:
        if X_unlabelled is None:
            return None
        extra = check_array(X_unlabelled, dtype=np.float32)
        if extra.shape[1] != n_features:
            raise LearnbenchError(
                f"{type(self).__name__}: X_unlabelled has {extra.shape[1]} features but X has "
                f"{n_features}"
            )
        return extra


# -- the classifier ----------------------------------------------------------------------------


class AutoencoderClassifier(FeatureLearnerMixin, ClassifierMixin, BaseEstimator):
    """An autoencoder's codes, classified by a classical learner or a fine-tuned softmax head.

    ``fit`` trains an autoencoder on the training rows (plus ``X_unlabelled``, when given; the
    head only sees the labelled rows), then either fits a classical learnbench learner
    (``classifier``, default logistic regression) on the frozen codes, or (``fine_tune=True``)
    follows the transfer-learning recipe: a linear softmax head on the frozen encoder, then
    encoder + head end to end at a smaller learning rate. Four kinds of autoencoder:

    - ``"undercomplete"``: a code smaller than the input, plain reconstruction;
    - ``"denoising"``: reconstruct the clean input from a corrupted one, masking noise or
      additive Gaussian noise (Vincent, Larochelle, Bengio & Manzagol, Extracting and composing
      robust features with denoising autoencoders, ICML 2008);
    - ``"sparse"``: an L1 penalty on the code (Ng, Sparse autoencoder, CS294A lecture notes,
      2011, which uses a KL penalty on mean activations; L1 on the code is the common variant);
    - ``"contractive"``: a penalty on the encoder's Jacobian (Rifai, Vincent, Muller, Glorot &
      Bengio, Contractive auto-encoders, ICML 2011).

    The reconstruction loss is the squared error summed over the pixels of an image and averaged
    over the batch, so ``reconstruction_loss_curve_`` reads as "squared error per image" and the
    penalty weights are relative to it. FC codes are sigmoid units in (0, 1), conv codes are
    linear (see :class:`ConvEncoder`); neither is rescaled before the head. Decoder outputs are
    sigmoids: the inputs are meant to be images in [0, 1] (the ``Dataset`` contract). Every
    phase trains with Adam through the Trainer.

    Parameters
    ----------
    kind : {"undercomplete", "denoising", "sparse", "contractive"}, default="undercomplete"
        The kind of autoencoder (see above).
    architecture : {"fc", "conv"}, default="fc"
        ``"fc"``: one sigmoid layer ``h = sigmoid(W x + b)`` on the flattened input. ``"conv"``:
        stride-2 3x3 convs with ReLU, then a linear code; needs ``(C, H, W)`` images.
    code_size : int, default=128
        Number of code units (>= 1).
    tied_weights : bool, default=False
        The decoder shares the encoder's weights (the transposed matrix; the matching encoder
        convs' kernels in its transposed convs) and owns only biases.
    noise : float, default=0.25
        Denoising only (>= 0): the masking probability (``"masking"``: each input set to 0 with
        this probability, which must be < 1) or the Gaussian std (``"gaussian"``). Applied to
        training inputs only.
    corruption : {"masking", "gaussian"}, default="masking"
        Denoising only: the corruption of the training inputs.
    sparsity_weight : float, default=0.05
        Sparse only: weight (>= 0) of the L1 penalty ``sum_j |h_j|`` on the code, per sample,
        averaged over the batch.
    contractive_weight : float, default=0.1
        Contractive only: weight (>= 0) of the penalty ``||dh/dx||_F^2``. The FC encoder uses
        its closed form ``sum_j (h_j (1 - h_j))^2 sum_i W_ji^2`` (Rifai et al., Eq. 5 and
        after); the conv encoder gets the exact Jacobian by autograd (one vmapped backward pass
        per code unit), so its cost grows with ``code_size``: at code 32 on MNIST it trained
        about 50x slower than the plain conv autoencoder on one CPU thread.
    conv_widths : tuple of int, default=(16, 32)
        Conv only: output channels of the encoder's stride-2 convs (a non-empty tuple of
        positive ints).
    ae_epochs : int, default=10
        Epoch budget (>= 0) of the "autoencoder" phase.
    batch_size : int, default=128
        Mini-batch size of every phase (>= 1).
    lr : float, default=5e-3
        Adam learning rate (> 0) of the autoencoder and of a fine-tuned head. 5e-3: at 1e-3, 10
        epochs left the FC autoencoder's reconstruction error twice as high on MNIST.
    classifier : str, default="logreg"
        Registry name of the learnbench learner fitted on the frozen codes when ``fine_tune`` is
        False.
    classifier_params : dict, default=None
        Parameters of ``classifier``; it gets the fit's seed as ``random_state`` unless they set
        one. None: the registry defaults.
    fine_tune : bool, default=False
        False: freeze the encoder and fit ``classifier`` on its codes. True: a linear softmax
        head on the frozen encoder for ``head_epochs`` (at ``lr``), then encoder + head together
        for ``fine_tune_epochs`` at ``fine_tune_lr``.
    head_epochs : int, default=5
        Fine-tuning only: epoch budget (>= 0) of the "head" phase.
    fine_tune_epochs : int, default=5
        Fine-tuning only: epoch budget (>= 0) of the "fine_tune" phase.
    fine_tune_lr : float, default=None
        Fine-tuning only: learning rate (> 0) of the "fine_tune" phase; None: ``lr / 10``.
    device : {"cpu", "cuda", "auto"} or str, default="auto"
        ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"`` (cuda when available).
    random_state : int, RandomState instance or None, default=None
        Seeds the weights, the corruption noise, the validation split, shuffling and the head.
    input_shape : tuple of int, default=None
        Shape of one sample; needed only for ``"conv"`` on non-square or multi-channel images,
        ``(C, H, W)`` or ``(H, W)`` (None: a square single-channel image). With ``"fc"`` any
        shape holding ``n_features`` values, or None.
    predict_batch_size : int, default=1024
        Inference (and validation) batch size (>= 1).
    verbose : bool or int, default=False
        Print the losses after each epoch.
    max_seconds : float, default=None
        Time budget of the whole fit in seconds (> 0), shared by its phases and checked after
        each epoch; None: none.
    patience : int, default=None
        Early stopping of each phase after this many epochs (>= 1) without a lower validation
        loss (reconstruction error, then cross-entropy), restoring the best epoch's weights;
        None: off.
    lr_schedule : {"cosine", "onecycle", "linear"} or None, default=None
        Learning-rate schedule of each phase, stepped per batch; None: a constant rate.
    validation_fraction : float, default=0.1
        Share of the labelled rows, in [0, 1), held out (seeded, stratified) for the validation
        curves (reconstruction error, then accuracy when fine-tuning) and early stopping; the
        autoencoder and a fine-tuned head train on the rest, while a classical head is fitted on
        all labelled rows. 0: none.
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
        The shape of one sample: ``(C, H, W)`` for ``"conv"``, ``input_shape`` or
        ``(n_features,)`` for ``"fc"``.
    device_ : torch.device
        The device the modules were trained on.
    autoencoder_ : torch.nn.Module
        The pretrained autoencoder (``FCAutoencoder`` or ``ConvAutoencoder``), in eval mode;
        ``reconstruct`` uses it.
    encoder_ : torch.nn.Module
        The encoder used for prediction: the autoencoder's own, frozen, or a fine-tuned copy.
    classifier_ : estimator or torch.nn.Linear
        The fitted classical head, or the ``nn.Linear`` head when fine-tuned.
    ae_loss_curve_ : list of float
        Training loss per epoch of the autoencoder (reconstruction + penalty).
    reconstruction_loss_curve_ : list of float or None
        Squared error per image of the held-out rows per epoch, clean inputs (None entries
        without held-out rows).
    head_loss_curve_ : list of float
        Fine-tuning only: training loss per epoch of the "head" phase.
    fine_tune_loss_curve_ : list of float
        Fine-tuning only: training loss per epoch of the "fine_tune" phase.
    n_epochs_run_ : int
        Epochs run, all phases.
    fit_samples_ : int
        Samples processed, all phases (unlabelled rows included).
    training_log_ : list of Phase
        The phases "autoencoder", then "head" and "fine_tune" when fine-tuning
        (:class:`~learnbench.learners.trainer.Phase`).

    See Also
    --------
    learnbench.learners.make_learner : Builds this class as ``"ae_logreg"`` (the defaults),
        ``"dae_logreg"`` (``kind="denoising"``), ``"sae_logreg"`` (``kind="sparse"``),
        ``"cae_logreg"`` (``kind="contractive"``), ``"conv_ae_logreg"``
        (``architecture="conv"``) and ``"ae_finetune"`` (``fine_tune=True``).
    RotationPretextClassifier : Self-supervised CNN features with a classical probe.

    Examples
    --------
    >>> import numpy as np
    >>> from learnbench.learners import make_learner
    >>> rng = np.random.default_rng(0)
    >>> X = rng.random((40, 64), dtype=np.float32); y = np.arange(40) % 2
    >>> clf = make_learner("dae_logreg", code_size=8, ae_epochs=1, device="cpu",
    ...                    random_state=0).fit(X, y)
    >>> clf.kind, clf.transform(X[:3]).shape
    ('denoising', (3, 8))
    >>> clf.predict(X[:3]).shape
    (3,)
    >>> clf.reconstruct(X[:3]).shape
    (3, 64)
    >>> [phase.name for phase in clf.training_log_]
    ['autoencoder']
    """

    _parameter_constraints = {
        "kind": [StrOptions(set(KINDS))],
        "architecture": [StrOptions(set(ARCHITECTURES))],
        "code_size": [POSITIVE_INT],
        "tied_weights": ["boolean"],
        "noise": [NON_NEGATIVE_REAL],
        "corruption": [StrOptions(set(CORRUPTIONS))],
        "sparsity_weight": [NON_NEGATIVE_REAL],
        "contractive_weight": [NON_NEGATIVE_REAL],
        "conv_widths": [POSITIVE_INTS],
        "ae_epochs": [NON_NEGATIVE_INT],
        "classifier": [str],
        "classifier_params": [None, dict],
        "fine_tune": ["boolean"],
        "head_epochs": [NON_NEGATIVE_INT],
        "fine_tune_epochs": [NON_NEGATIVE_INT],
        "fine_tune_lr": [None, POSITIVE_REAL],
    }

    def __init__(
        self,
        kind: str = "undercomplete",
        architecture: str = "fc",
        code_size: int = 128,
        tied_weights: bool = False,
        noise: float = 0.25,
        corruption: str = "masking",
        sparsity_weight: float = 0.05,
        contractive_weight: float = 0.1,
        conv_widths: tuple[int, ...] = (16, 32),
        ae_epochs: int = 10,
        batch_size: int = 128,
        lr: float = 5e-3,
        classifier: str = "logreg",
        classifier_params: dict[str, Any] | None = None,
        fine_tune: bool = False,
        head_epochs: int = 5,
        fine_tune_epochs: int = 5,
        fine_tune_lr: float | None = None,
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
        self.kind = kind
        self.architecture = architecture
        self.code_size = code_size
        self.tied_weights = tied_weights
        self.noise = noise
        self.corruption = corruption
        self.sparsity_weight = sparsity_weight
        self.contractive_weight = contractive_weight
        self.conv_widths = conv_widths
        self.ae_epochs = ae_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.classifier = classifier
        self.classifier_params = classifier_params
        self.fine_tune = fine_tune
        self.head_epochs = head_epochs
        self.fine_tune_epochs = fine_tune_epochs
        self.fine_tune_lr = fine_tune_lr
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

    # -- fitting --------------------------------------------------------------------------

    def fit(self, X: Any, y: Any, X_unlabelled: Any = None) -> AutoencoderClassifier:
        """Train the autoencoder on ``X`` (and ``X_unlabelled``), then the head on ``X, y``."""
        self._check_params()
        X, y = self._validate_data(X, y, dtype=np.float32)
        check_classification_targets(y)
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        extra = self._unlabelled(X_unlabelled, X.shape[1])
        self.input_shape_ = self._resolve_input_shape(X.shape[1])
        seed = self._begin_fit()
        # Held-out labelled rows draw the validation curves (reconstruction, then accuracy
        # when fine-tuning); the autoencoder and a fine-tuned head train on the rest. A
        # classical head (not iterative) is fitted on all labelled rows.
        tr, va = self._split(y_idx, seed)
        X_ae = X[tr] if extra is None else np.concatenate([X[tr], extra])
        with self._seeded(seed) as shuffle:  # weights and corruption noise (seeds CUDA too)
            ae = self._build_autoencoder().to(self.device_)
            self._train_autoencoder(ae, self._to_tensor(X_ae), self._to_tensor(X[va]), shuffle)
            self.autoencoder_ = ae.eval()
            if self.fine_tune:
                self._fine_tune(ae, X, y_idx, tr, va, shuffle)
            else:
                self.encoder_ = ae.encoder.requires_grad_(False)
                self.classifier_ = fit_head(
                    self.classifier, self.classifier_params, seed, self.transform(X), y
                )
        self.n_epochs_run_ = sum(p.epochs_run for p in self.training_log_)
        self.fit_samples_ = sum(p.samples for p in self.training_log_)
        return self

    def _check_param_relations(self) -> None:
        if self.corruption == "masking" and not self.noise < 1:
            raise LearnbenchError(f"{type(self).__name__}: masking noise must be a probability "
                                  f"< 1; got {self.noise!r}")

    def _resolve_input_shape(self, n_features: int) -> tuple[int, ...]:
        if self.architecture == "conv":
            return image_shape(self.input_shape, n_features, type(self).__name__)
        if self.input_shape is not None and math.prod(self.input_shape) != n_features:
            raise LearnbenchError(
                f"{type(self).__name__}: input_shape {tuple(self.input_shape)} does not hold "
                f"{n_features} values"
            )
        return tuple(int(s) for s in self.input_shape) if self.input_shape else (n_features,)

    def _build_autoencoder(self) -> nn.Module:
        if self.architecture == "conv":
            widths = tuple(int(w) for w in self.conv_widths)
            return ConvAutoencoder(self.input_shape_, self.code_size, widths, self.tied_weights)  # type: ignore[arg-type]
        return FCAutoencoder(self.input_shape_, self.code_size, self.tied_weights)

    def _ae_losses(self, ae: nn.Module, x: Tensor) -> tuple[Tensor, Tensor]:
        """(reconstruction loss, weighted penalty) of one batch of clean inputs ``x``."""
        inputs = corrupt(x, self.corruption, self.noise) if self.kind == "denoising" else x
        penalty = torch.zeros((), device=x.device)
        if self.kind == "contractive" and self.architecture == "conv":
            h, jac_norm = contractive_penalty_autograd(ae.encoder, inputs)
            penalty = self.contractive_weight * jac_norm
        else:
            h = ae.encoder(inputs)
            if self.kind == "contractive":
                penalty = self.contractive_weight * contractive_penalty_sigmoid(
                    h, ae.encoder.linear.weight
                )
            elif self.kind == "sparse":
                penalty = self.sparsity_weight * l1_code_penalty(h)
        reconstruction = (ae.decode(h) - x).pow(2).flatten(1).sum(1).mean()
        return reconstruction, penalty

    def _train_autoencoder(self, ae: nn.Module, Xt: Tensor, Xv: Tensor,
                           shuffle: torch.Generator) -> None:
        """The "autoencoder" phase: reconstruction + penalty; validation: clean reconstruction
        error per image of the held-out rows (early stopping monitors it)."""
        step_loss = _ae_step_loss(self)

        def batch_loss(forward: Any, idx: Tensor) -> tuple[Tensor, int]:
            return step_loss(forward, Xt[idx])

        def validate(forward: Any) -> dict[str, float | None]:
            total = sum(float((ae(Xv[i : i + self.predict_batch_size]) - Xv[i : i + self.predict_batch_size])
                              .pow(2).flatten(1).sum()) for i in range(0, len(Xv), self.predict_batch_size))
            return {"loss": total / len(Xv), "accuracy": None}

        phase = self._log(self._trainer("autoencoder", self.ae_epochs, self.lr).fit(
            ae, lambda: trainer_mod.shuffled_batches(len(Xt), self.batch_size, shuffle, self.device_),
            batch_loss, validate if len(Xv) else None, val_size=len(Xv),
        ))
        self.ae_loss_curve_ = list(phase.curves["train_loss"])
        self.reconstruction_loss_curve_ = list(phase.curves["val_loss"])

    def _fine_tune(self, ae: nn.Module, X: np.ndarray, y_idx: np.ndarray, tr: np.ndarray,
                   va: np.ndarray, shuffle: torch.Generator) -> None:
        """Head on the frozen encoder, then everything end to end at a smaller learning rate."""
        encoder = copy.deepcopy(ae.encoder)  # autoencoder_ keeps the pretrained weights
        head = nn.Linear(self.code_size, len(self.classes_)).to(self.device_)
        net = nn.Sequential(encoder, head)
        Xt, Xv = self._to_tensor(X[tr]), self._to_tensor(X[va])
        yt, yv = (torch.from_numpy(y_idx[i].astype(np.int64)).to(self.device_) for i in (tr, va))
        encoder.requires_grad_(False)
        self.head_loss_curve_ = self._train_classifier("head", net, head, Xt, yt, Xv, yv,
                                                       self.head_epochs, self.lr, shuffle)
        encoder.requires_grad_(True)
        lr = self.fine_tune_lr if self.fine_tune_lr is not None else self.lr / 10
        self.fine_tune_loss_curve_ = self._train_classifier("fine_tune", net, net, Xt, yt, Xv, yv,
                                                            self.fine_tune_epochs, lr, shuffle)
        net.eval()
        self.encoder_, self.classifier_ = encoder, head

    def _train_classifier(self, name: str, net: nn.Module, trained: nn.Module, Xt: Tensor,
                          yt: Tensor, Xv: Tensor, yv: Tensor, epochs: int, lr: float,
                          shuffle: torch.Generator) -> list[float]:
        """Softmax cross-entropy training of ``net``, updating only ``trained``'s parameters."""
        validate = (trainer_mod.classification_validator(Xv, yv, self.predict_batch_size)
                    if len(Xv) else None)
        phase = self._log(self._trainer(name, epochs, lr).fit(
            net, lambda: trainer_mod.shuffled_batches(len(Xt), self.batch_size, shuffle, self.device_),
            lambda forward, idx: (F.cross_entropy(forward(Xt[idx]), yt[idx]), len(idx)),
            validate, params=trained.parameters(), val_size=len(Xv),
        ))
        return list(phase.curves["train_loss"])

    # -- cost and profiling ---------------------------------------------------------------

    def _cost_modules(self) -> list[nn.Module]:
        return [self.encoder_, self.classifier_] if self.fine_tune else [self.encoder_]

    def parameter_count(self) -> int:
        """Parameters of the encoder used for prediction plus its (linear) head's."""
        check_is_fitted(self, "encoder_")
        encoder = sum(p.numel() for p in self.encoder_.parameters())
        return encoder + self._head_cost(self.classifier_)[0]

    def flops_per_sample(self) -> int:
        """Encoder FLOPs per image plus the linear head's (2 per multiply-add)."""
        from learnbench.learners.flops import count_flops

        check_is_fitted(self, "encoder_")
        return int(count_flops(self.encoder_, self.input_shape_)) + self._head_cost(self.classifier_)[1]

    def _profile_parts(self, X: Any, y: Any, n_train: int, n_infer: int) -> ProfileParts:
        """The autoencoder's training step (the bulk of the fit) and the encoder's inference."""
        X = self._validate_data(X, dtype=np.float32, reset=False)
        Xb, Xi = self._to_tensor(X[:n_train]), self._to_tensor(X[:n_infer])
        return ProfileParts(
            train_module=self.autoencoder_, batch_loss=_ae_step_loss(self), batch=Xb,
            train_input=Xb, infer_module=self.encoder_, infer=lambda forward: forward(Xi),
            infer_input=Xi,
        )

    # -- inference ------------------------------------------------------------------------

    def transform(self, X: Any) -> np.ndarray:
        """Codes of ``X``: float32, shape (n_samples, code_size). Clean inputs, no corruption."""
        check_is_fitted(self, "encoder_")
        with torch.inference_mode():
            return torch.cat([self.encoder_(xb).float().cpu() for xb in self._batches(X)]).numpy()

    def _head_logits(self, X: Any) -> Tensor:
        """Fine-tuned net's logits of ``X``, on CPU."""
        check_is_fitted(self, "encoder_")
        with torch.inference_mode():
            parts = [self.classifier_(self.encoder_(xb)).cpu() for xb in self._batches(X)]
        return torch.cat(parts)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, columns in ``classes_`` order."""
        if self.fine_tune:
            return torch.softmax(self._head_logits(X).double(), dim=1).numpy()
        return self.classifier_.predict_proba(self.transform(X))

    def predict(self, X: Any) -> np.ndarray:
        """Predicted class label of each row of ``X``."""
        if self.fine_tune:
            return self.classes_[self._head_logits(X).argmax(dim=1).numpy()]
        return self.classifier_.predict(self.transform(X))

    def reconstruct(self, X: Any) -> np.ndarray:
        """``X`` passed through the pretrained autoencoder, flattened like ``X``."""
        check_is_fitted(self, "autoencoder_")
        with torch.inference_mode():
            parts = [self.autoencoder_(xb).flatten(1).float().cpu() for xb in self._batches(X)]
        return torch.cat(parts).numpy()

    def evaluation_extras(self, X: Any, y: Any) -> dict[str, float]:
        """Figures the harness records next to accuracy (``y`` unused).

        ``reconstruction_sse``: squared error per image of the pretrained autoencoder on
        ``X``; ``encoder_flops_per_sample`` (FlopCounterMode: 2 per multiply-add) and
        ``encoder_parameters`` of the encoder used for prediction; ``head_flops_per_sample``
        when the head is linear (fine-tuned head, or a head with ``coef_``).
        """
        from learnbench.learners.flops import count_flops

        X = check_array(X, dtype=np.float32)
        sse = float(((self.reconstruct(X) - X) ** 2).sum(1).mean()) if len(X) else math.nan
        extras = {
            "reconstruction_sse": sse,
            "encoder_flops_per_sample": float(count_flops(self.encoder_, self.input_shape_)),
            "encoder_parameters": float(sum(p.numel() for p in self.encoder_.parameters())),
        }
        weight = self.classifier_.weight if self.fine_tune else getattr(self.classifier_, "coef_", None)
        if weight is not None:  # one multiply-add per weight
            extras["head_flops_per_sample"] = float(2 * np.prod(tuple(weight.shape)))
        return extras


def _ae_step_loss(learner: AutoencoderClassifier) -> Any:
    """The autoencoder's batch loss on a batch of images (reconstruction + penalty).

    ``forward`` is the autoencoder (or its ``torch.compile`` wrapper, which forwards
    ``encoder``/``decode`` to the module); the loss calls its encoder and decoder directly.
    """
    def batch_loss(forward: Any, xb: Tensor) -> tuple[Tensor, int]:
        reconstruction, penalty = learner._ae_losses(forward, xb)
        return reconstruction + penalty, len(xb)

    return batch_loss
