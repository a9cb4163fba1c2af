"""MobileNet v1 (Howard et al., 2017, arXiv:1704.04861), compact plan for small images.

One module, :class:`MobileNetV1`, builds either the depthwise-separable net (``separable=True``)
or its control with a standard 3x3 convolution in place of each separable block
(``separable=False``): same stem, widths, strides, pooling and head, so any difference in cost,
speed or accuracy comes from the block type alone (the paper's Table 4 comparison).
"""

from __future__ import annotations

import numpy as np
import torch.nn.functional as F
from torch import Tensor, nn

from learnbench.errors import LearnbenchError
from learnbench.learners.cnn import conv_bn_relu
from learnbench.learners.constraints import POSITIVE_REAL
from learnbench.learners.torch_base import ImageTorchClassifier

#: Stem output channels (before the width multiplier).
STEM_CHANNELS = 32
#: (output channels, stride) of each depthwise-separable block after the stem.
COMPACT_PLAN: tuple[tuple[int, int], ...] = (
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
)


def scaled_channels(channels: int, width_mult: float) -> int:
    """``round(alpha * channels)``, at least 1 (Sec. 3.3: M -> alpha M, N -> alpha N)."""
    return max(1, int(round(channels * width_mult)))


class DepthwiseSeparable(nn.Sequential):
    """Depthwise 3x3 conv (groups = M, stride s) + BN + ReLU, then pointwise 1x1 conv + BN + ReLU.

    Howard et al. Sec. 3.1 and Fig. 3 (right). Cost in mult-adds, output side D_F:
    D_K^2 M D_F^2 + M N D_F^2 (Eq. 4), versus D_K^2 M N D_F^2 for a standard conv (Eq. 2).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__(
            nn.Conv2d(in_channels, in_channels, 3, stride=stride, padding=1, groups=in_channels, bias=False),
            nn.BatchNorm2d(in_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride


class StandardBlock(nn.Sequential):
    """The control for :class:`DepthwiseSeparable`: one standard 3x3 conv (stride s) + BN + ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__(*conv_bn_relu(in_channels, out_channels, stride))
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride


class MobileNetV1(nn.Module):
    """MobileNet v1 with a compact layer plan for 28x28 / 32x32 inputs.

    Layer plan (channels before the width multiplier alpha):

    - resize by rho (``resolution_mult``, bilinear ``F.interpolate``; skipped when rho = 1);
    - stem: conv 3x3, 32, stride 1 + BN + ReLU;
    - depthwise-separable blocks 64, 128 (s2), 128, 256 (s2), 256, 512 (s2) (``COMPACT_PLAN``);
    - global average pool + linear (n_classes).

    The paper's ImageNet net (Table 1) has a stride-2 stem and 13 blocks up to 1024 channels
    for 224x224 inputs; this plan keeps its pattern (double the width at each stride-2 block)
    but stops at 512 channels and three halvings, so a 28x28 input ends on a 4x4 map
    (28 -> 14 -> 7 -> 4) and 32x32 on 4x4. Blocks downsample with a stride-2 depthwise conv,
    as in the paper.

    ``width_mult`` (alpha, Sec. 3.3) scales every layer's channels, so mult-adds and
    parameters fall roughly by alpha^2 (Eq. 6). ``resolution_mult`` (rho, Sec. 3.4) scales the
    input side inside the module, so a flat dataset row still works and mult-adds fall
    roughly by rho^2 (Eq. 7); parameters do not change. ``separable=False`` gives the control
    net: each separable block becomes a standard 3x3 conv with the same channels and stride.
    """

    def __init__(
        self,
        in_channels: int = 1,
        n_classes: int = 10,
        width_mult: float = 1.0,
        resolution_mult: float = 1.0,
        separable: bool = True,
        plan: tuple[tuple[int, int], ...] = COMPACT_PLAN,
        stem_channels: int = STEM_CHANNELS,
    ) -> None:
        super().__init__()
        if not width_mult > 0 or not resolution_mult > 0:
            raise LearnbenchError(
                f"MobileNetV1: width_mult and resolution_mult must be positive; "
                f"got {width_mult!r}, {resolution_mult!r}"
            )
        self.resolution_mult = float(resolution_mult)
        block = DepthwiseSeparable if separable else StandardBlock
        prev = scaled_channels(stem_channels, width_mult)
        self.stem = conv_bn_relu(in_channels, prev)
        blocks = []
        for channels, stride in plan:
            out = scaled_channels(channels, width_mult)
            blocks.append(block(prev, out, stride))
            prev = out
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(prev, n_classes)

    def resize(self, x: Tensor) -> Tensor:
        """The input resized by rho: side ``round(rho * side)``, at least 1 (Sec. 3.4)."""
        if self.resolution_mult == 1.0:
            return x
        size = [max(1, int(round(s * self.resolution_mult))) for s in x.shape[-2:]]
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)

    def forward(self, x: Tensor) -> Tensor:
        x = self.blocks(self.stem(self.resize(x)))
        return self.classifier(self.pool(x).flatten(1))


class MobileNetClassifier(ImageTorchClassifier):
    """MobileNet v1 (Howard et al., 2017) for small images, trained by Adam.

    The net is :class:`MobileNetV1` with its compact plan for 28x28 / 32x32 inputs: a 3x3 stem
    of 32 channels, depthwise-separable blocks 64, 128 (s2), 128, 256 (s2), 256, 512 (s2),
    global average pooling and a linear head (the paper's ImageNet net, Table 1, keeps doubling
    to 1024 channels for 224x224 inputs). ``width_mult`` (alpha, Sec. 3.3) and
    ``resolution_mult`` (rho, Sec. 3.4) shrink it; ``separable=False`` gives the control net, a
    standard 3x3 conv in place of each separable block with the same stem, widths, strides,
    pooling and head, so any difference in cost, speed or accuracy comes from the block type
    alone (the paper's Table 4 comparison). By default it trains with Adam (lr 1e-3), batch 128,
    for at most 3 epochs.

    Howard et al., MobileNets: Efficient convolutional neural networks for mobile vision
    applications, arXiv:1704.04861, 2017.

    The other parameters are those of :class:`TorchClassifier` (described there in full);
    ``input_shape`` as in :class:`ImageTorchClassifier`.

    Parameters
    ----------
    width_mult : float, default=1.0
        Width multiplier alpha (> 0, Sec. 3.3): every layer's channels become
        ``round(alpha * channels)``, at least 1, so mult-adds and parameters fall roughly by
        alpha^2 (Eq. 6).
    resolution_mult : float, default=1.0
        Resolution multiplier rho (> 0, Sec. 3.4): the input is resized (bilinear) to side
        ``round(rho * side)`` inside the module, so a flat dataset row still works; mult-adds
        fall roughly by rho^2 (Eq. 7), parameters do not change.
    separable : bool, default=True
        True: depthwise-separable blocks (Sec. 3.1, Fig. 3). False: the control net, a standard
        3x3 conv with the same channels and stride in place of each block.
    {image_classifier_parameters}

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels seen in ``fit``, sorted; ``predict_proba``'s columns follow them.
    n_features_in_ : int
        Number of features of the rows seen in ``fit``.
    input_shape_ : tuple of int
        The shape each row was reshaped to, ``(C, H, W)``.
    device_ : torch.device
        The device the module was trained on (``device`` resolved).
    module_ : torch.nn.Module
        The trained network (plain, uncompiled).
    n_epochs_run_ : int
        Epochs run (fewer than ``max_epochs`` when ``patience`` or ``max_seconds`` stopped the
        fit).
    loss_curve_ : list of float
        Mean training loss per epoch.
    fit_samples_ : int
        Samples processed by all epochs.
    training_log_ : list of Phase
        The Trainer's :class:`~learnbench.learners.trainer.Phase` (one, ``"train"``): its
        budget, stop reason and per-epoch curves.

    See Also
    --------
    learnbench.learners.make_learner : ``make_learner("mobilenet")`` builds this class,
        ``make_learner("mobilenet_standard")`` its control (``separable=False``).
    PlainCNNClassifier : A plain VGG-style CNN on the same base.
    TorchClassifier : The base class, with the full parameter descriptions.

    Examples
    --------
    >>> import numpy as np
    >>> from learnbench.learners import make_learner
    >>> rng = np.random.default_rng(0)
    >>> X = rng.random((40, 64), dtype=np.float32); y = np.arange(40) % 2
    >>> clf = make_learner("mobilenet_standard", width_mult=0.25, max_epochs=1, device="cpu",
    ...                    input_shape=(1, 8, 8), random_state=0).fit(X, y)
    >>> clf.separable
    False
    >>> clf.predict(X[:3]).shape
    (3,)
    >>> clf.predict_proba(X[:3]).shape
    (3, 2)
    """

    _parameter_constraints = {
        "width_mult": [POSITIVE_REAL],
        "resolution_mult": [POSITIVE_REAL],
        "separable": ["boolean"],
    }

    def __init__(
        self,
        width_mult: float = 1.0,
        resolution_mult: float = 1.0,
        separable: bool = True,
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
            cudnn_benchmark=cudnn_benchmark,
            amp=amp,
            compile=compile,
            max_seconds=max_seconds,
            patience=patience,
            lr_schedule=lr_schedule,
            validation_fraction=validation_fraction,
            augment=augment,
        )
        self.width_mult = width_mult
        self.resolution_mult = resolution_mult
        self.separable = separable

    def _build_module(self, input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
        return MobileNetV1(
            input_shape[0],
            n_classes,
            width_mult=self.width_mult,
            resolution_mult=self.resolution_mult,
            separable=bool(self.separable),
        )
