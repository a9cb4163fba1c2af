"""LeNet-5 (LeCun, Bottou, Bengio & Haffner, 1998) and its scikit-learn classifier."""

from __future__ import annotations

from torch import Tensor, nn

from learnbench.errors import LearnbenchError
from learnbench.learners.torch_base import ImageTorchClassifier


def _axis_geometry(size: int) -> tuple[int, int, int]:
    """Padding of the two convs along an image axis of length ``size``, and the final length.

    The paper feeds 32x32 images to valid 5x5 convs. Shorter axes get padding 2 in the first
    conv, so 28x28 MNIST sees the 32x32 geometry (28 -> 14 -> 10 -> 5). The second, valid
    conv needs a map of at least 6 to leave 2 pixels for the last pool; smaller maps (4 from
    8x8 digits) get padding 2 there too.
    """
    pad1 = 2 if size < 32 else 0
    pooled = (size + 2 * pad1 - 4) // 2
    pad2 = 0 if pooled >= 6 else 2
    return pad1, pad2, (pooled + 2 * pad2 - 4) // 2


class LeNet5(nn.Module):
    """LeNet-5: conv6(5x5) - pool - conv16(5x5) - pool - fc120 - fc84 - fc(n_classes).

    Axes shorter than 32 get padding 2 in the first conv, so a 28x28 MNIST digit sees the
    paper's 32x32 geometry (28 -> 14 -> 10 -> 5; 16 x 5 x 5 = 400 features for fc120), and
    32x32 inputs are used as in the paper. Axes shorter than 12 also get padding 2 in the
    second conv, so 8x8 digits work; the fc120 input size follows from the image size
    (61,706 parameters for 28x28 or 32x32 and 10 classes).

    Deviations from the paper, as in today's standard re-implementations: ReLU instead of
    scaled tanh, max-pool instead of trainable sub-sampling, a fully connected C3 instead of
    its connection table, and a linear output with softmax cross-entropy instead of RBF
    units.
    """

    def __init__(
        self, in_channels: int = 1, image_size: tuple[int, int] = (28, 28), n_classes: int = 10
    ) -> None:
        super().__init__()
        if min(image_size) < 4:
            raise LearnbenchError(f"LeNet5 needs images of at least 4x4; got {image_size}")
        (pad1_h, pad2_h, final_h), (pad1_w, pad2_w, final_w) = map(_axis_geometry, image_size)
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, kernel_size=5, padding=(pad1_h, pad1_w)),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, kernel_size=5, padding=(pad2_h, pad2_w)),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * final_h * final_w, 120),
            nn.ReLU(),
            nn.Linear(120, 84),
            nn.ReLU(),
            nn.Linear(84, n_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))


class LeNet5Classifier(ImageTorchClassifier):
    """LeNet-5 (LeCun et al., 1998) trained with softmax cross-entropy by the Trainer.

    The net is :class:`LeNet5`: conv6(5x5) - pool - conv16(5x5) - pool - fc120 - fc84 -
    fc(n_classes), with ReLU and max-pooling as in today's standard re-implementations (see
    :class:`LeNet5` for every deviation from the paper, and for the padding that gives a 28x28
    digit the paper's 32x32 geometry and lets 8x8 digits through; images must be at least 4x4).
    By default it trains with Adam (lr 1e-3), batch 128, for at most 3 epochs.

    LeCun, Bottou, Bengio & Haffner, Gradient-based learning applied to document recognition,
    Proc. IEEE 86(11), 1998.

    The parameters are those of :class:`TorchClassifier` (described there in full);
    ``input_shape`` as in :class:`ImageTorchClassifier`.

    Parameters
    ----------
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
    learnbench.learners.make_learner : ``make_learner("lenet5")`` builds this class.
    PlainCNNClassifier : A deeper VGG-style CNN on the same base.
    TorchClassifier : The base class, with the full parameter descriptions.

    Examples
    --------
    >>> import numpy as np
    >>> from learnbench.learners import make_learner
    >>> rng = np.random.default_rng(0)
    >>> X = rng.random((40, 64), dtype=np.float32); y = np.arange(40) % 2
    >>> clf = make_learner("lenet5", max_epochs=1, device="cpu", input_shape=(1, 8, 8),
    ...                    random_state=0).fit(X, y)
    >>> clf.predict(X[:3]).shape
    (3,)
    >>> clf.predict_proba(X[:3]).shape
    (3, 2)
    >>> clf.classes_, clf.input_shape_
    (array([0, 1]), (1, 8, 8))
    """

    def _build_module(self, input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
        channels, height, width = input_shape
        return LeNet5(channels, (height, width), n_classes)
