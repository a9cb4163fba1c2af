"""Fashion-MNIST: Zalando's 28x28 clothing images, a drop-in replacement for MNIST."""

from __future__ import annotations

from learnbench.datasets.base import register
from learnbench.datasets.mnist import IdxImageSpec, idx_artifacts

# The mirror's .gz files were re-compressed by Debian's packaging, so their bytes (and the
# MD5s torchvision lists for the official ones) differ; the decompressed IDX content is the
# upstream one, so a copy is accepted by its .gz hash or by the hash of its content (which
# also accepts the official download).
_FASHION_HASHES = {
    # stem: (sha256 of the mirrored .gz, sha256 of its decompressed IDX bytes, other .gz hashes)
    "train-images-idx3-ubyte": (
        "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        (),
    ),
    "train-labels-idx1-ubyte": (
        "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        (),
    ),
    "t10k-images-idx3-ubyte": (
        "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        (),
    ),
    "t10k-labels-idx1-ubyte": (
        "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        (),
    ),
}


@register
class FashionMNIST(IdxImageSpec):
    """Fashion-MNIST, official 60,000/10,000 split, read by ``torchvision.datasets.FashionMNIST``."""

    name = "fashion_mnist"
    description = (
        "Fashion-MNIST: 70,000 28x28 grey-level images of Zalando clothing articles in 10 "
        "classes (60,000 train / 10,000 test; exactly 6,000 / 1,000 per class), IDX format."
    )
    citation = (
        "Xiao, H., Rasul, K. & Vollgraf, R. (2017). Fashion-MNIST: a Novel Image Dataset for "
        "Benchmarking Machine Learning Algorithms. arXiv:1708.07747. Zalando Research."
    )
    license = "MIT (Zalando Research)"
    protocol = "official 60,000/10,000 split"
    sizes = "60,000 train / 10,000 test"
    torchvision_class = "FashionMNIST"
    classes = (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    )
    artifacts = idx_artifacts(
        "fashion-mnist", "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        _FASHION_HASHES,
    )
