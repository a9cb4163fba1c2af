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
    """LeNet-5 trained with Adam (lr 1e-3), batch 128, at most 3 epochs by default.

    ``input_shape`` is ``(C, H, W)`` (pass ``Dataset.image_shape``) or ``(H, W)``. When it is
    None, the features must form a square single-channel image (784 -> 1x28x28); otherwise
    ``fit`` raises a ``LearnbenchError`` rather than guess a layout.
    """

    def _build_module(self, input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
        channels, height, width = input_shape
        return LeNet5(channels, (height, width), n_classes)
