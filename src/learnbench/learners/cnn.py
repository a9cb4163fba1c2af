"""A deeper plain CNN (VGG-style blocks with batch norm and global average pooling).

Image input handling, (C, H, W), is :class:`~learnbench.learners.torch_base.ImageTorchClassifier`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from torch import Tensor, nn

from learnbench.errors import LearnbenchError
from learnbench.learners.constraints import POSITIVE_INTS
from learnbench.learners.torch_base import ImageTorchClassifier


def conv_bn_relu(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    """3x3 conv (padding 1, no bias: BN has one) + BatchNorm + ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class PlainCNN(nn.Module):
    """Blocks of (conv3x3-BN-ReLU) x2 + 2x2 max-pool, then global average pool + linear.

    One block per entry of ``widths`` (default 32, 64, 128: 3 blocks, 288,170 parameters
    for one input channel and 10 classes). 3x3 conv stacks as in VGG (Simonyan & Zisserman,
    ICLR 2015), batch norm after each conv (Ioffe & Szegedy, ICML 2015), global average
    pooling instead of a large fully connected head (Lin, Chen & Yan, Network in Network,
    ICLR 2014), so the parameter count does not depend on the image size: the same net fits
    28x28 Fashion-MNIST, 56x46 or 112x92 ORL. Pools use ``ceil_mode`` so odd sides (7, 23)
    keep their border row and any image of at least 1x1 works.
    """

    def __init__(
        self, in_channels: int = 1, n_classes: int = 10, widths: Sequence[int] = (32, 64, 128)
    ) -> None:
        super().__init__()
        widths = [int(w) for w in widths]
        if not widths or min(widths) < 1:
            raise LearnbenchError(f"PlainCNN: widths must be positive integers; got {widths}")
        layers: list[nn.Module] = []
        prev = in_channels
        for width in widths:
            layers += [
                conv_bn_relu(prev, width),
                conv_bn_relu(width, width),
                nn.MaxPool2d(2, ceil_mode=True),
            ]
            prev = width
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(prev, n_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.pool(self.features(x)).flatten(1))


class PlainCNNClassifier(ImageTorchClassifier):
    """A plain VGG-style CNN with batch norm and global average pooling, trained by Adam.

    The net is :class:`PlainCNN`: one block of (conv3x3-BN-ReLU) x2 + 2x2 max-pool per entry of
    ``widths``, then global average pooling and a linear layer. 3x3 conv stacks as in VGG
    (Simonyan & Zisserman, ICLR 2015), batch norm after each conv (Ioffe & Szegedy, ICML 2015),
    global average pooling instead of a large fully connected head (Lin, Chen & Yan, Network in
    Network, ICLR 2014), so the parameter count does not depend on the image size (288,170 for
    the default widths, one input channel and 10 classes): the same net fits 28x28
    Fashion-MNIST, 56x46 or 112x92 ORL. Pools use ``ceil_mode``, so any image of at least 1x1
    works. By default it trains with Adam (lr 1e-3), batch 128, for at most 3 epochs.

    The other parameters are those of :class:`TorchClassifier` (described there in full);
    ``input_shape`` as in :class:`ImageTorchClassifier`.

    Parameters
    ----------
    widths : tuple of int, default=(32, 64, 128)
        Output channels of each conv block (a non-empty tuple of positive ints); the number of
        blocks is its length.
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
    learnbench.learners.make_learner : ``make_learner("cnn")`` builds this class.
    RotationPretextClassifier : The same net pretrained on image rotations, with a probe
        (``make_learner("rotation_probe")``): compare the two at equal ``widths``.
    MobileNetClassifier : MobileNet v1 on the same base.
    TorchClassifier : The base class, with the full parameter descriptions.

    Examples
    --------
    >>> import numpy as np
    >>> from learnbench.learners import make_learner
    >>> rng = np.random.default_rng(0)
    >>> X = rng.random((40, 64), dtype=np.float32); y = np.arange(40) % 2
    >>> clf = make_learner("cnn", widths=(4,), max_epochs=1, device="cpu",
    ...                    input_shape=(1, 8, 8), random_state=0).fit(X, y)
    >>> clf.predict(X[:3]).shape
    (3,)
    >>> clf.predict_proba(X[:3]).shape
    (3, 2)
    >>> clf.n_epochs_run_, len(clf.loss_curve_)
    (1, 1)
    """

    _parameter_constraints = {"widths": [POSITIVE_INTS]}

    def __init__(
        self,
        widths: tuple[int, ...] = (32, 64, 128),
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
        self.widths = widths

    def _build_module(self, input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
        return PlainCNN(input_shape[0], n_classes, self.widths)
