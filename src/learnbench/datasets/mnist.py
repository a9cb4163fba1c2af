"""MNIST (and the base for other IDX-format image sets such as Fashion-MNIST).

The verified ``.gz`` files are decompressed into ``<cache>/<TorchvisionClass>/raw/`` and
read with torchvision's dataset class, so the IDX parsing is the library's, not ours. The
parsed uint8 arrays are kept in the parsed-data cache (:mod:`.parsed_cache`), so a second
load neither decompresses nor parses.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np

from learnbench import config
from learnbench.datasets.artifacts import Artifact, gunzip_to
from learnbench.datasets.base import DatasetSpec, Parsed, register
from learnbench.errors import CorruptArtifactError

# The four IDX files every MNIST-layout dataset ships, in (split, kind) order.
IDX_STEMS = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def idx_artifacts(
    mirror_subdir: str, url_base: str, hashes: dict[str, tuple[str, str, tuple[str, ...]]]
) -> tuple[Artifact, ...]:
    """The four ``<stem>.gz`` artifacts; ``hashes[stem]`` = (sha256, content_sha256, alt_sha256)."""
    return tuple(
        Artifact(
            filename=f"{mirror_subdir}/{stem}.gz",
            url=f"{url_base}{stem}.gz",
            sha256=hashes[stem][0],
            content_sha256=hashes[stem][1],
            alt_sha256=hashes[stem][2],
        )
        for stem in IDX_STEMS
    )


class IdxImageSpec(DatasetSpec):
    """A 28x28 grey-level IDX dataset read by a ``torchvision.datasets.MNIST``-style class.

    A subclass sets ``name``, the card facts, ``artifacts`` (via :func:`idx_artifacts`),
    ``classes`` and ``torchvision_class`` (the name in ``torchvision.datasets``, which is
    also the cache folder torchvision reads from).
    """

    modality: ClassVar = "image"
    torchvision_class: ClassVar[str] = "MNIST"
    classes: ClassVar[tuple[str, ...]] = tuple(str(d) for d in range(10))
    n_train: ClassVar[int] = 60_000
    n_test: ClassVar[int] = 10_000
    image_shape: ClassVar[tuple[int, int, int]] = (1, 28, 28)

    def _parse(self, seed: int) -> Parsed:
        """The official split (``seed`` unused); X float32 in [0, 1]."""
        arrays, hit = self.cached_arrays(self._build)
        return Parsed.from_pixels(arrays, cache_hit=hit)

    def _build(self) -> dict[str, np.ndarray]:
        """Decompress the verified artifacts and read both splits (uint8, flattened)."""
        root = config.cache_dir()
        raw = root / self.torchvision_class / "raw"
        for artifact in self.artifacts:
            gunzip_to(artifact, raw)
        X_train, y_train = self._read_split(root, train=True)
        X_test, y_test = self._read_split(root, train=False)
        return {"X_train": X_train, "y_train": y_train, "X_test": X_test, "y_test": y_test}

    def _read_split(self, root: Path, train: bool) -> tuple[np.ndarray, np.ndarray]:
        """Read one split with torchvision; flatten to ``(n, C*H*W)`` uint8 and check shapes."""
        import torchvision.datasets  # heavy import: only when a dataset is actually loaded

        prefix = "train" if train else "t10k"
        raw = root / self.torchvision_class / "raw"
        images_file = raw / f"{prefix}-images-idx3-ubyte"
        labels_file = raw / f"{prefix}-labels-idx1-ubyte"
        cls = getattr(torchvision.datasets, self.torchvision_class)
        try:
            ds = cls(str(root), train=train, download=False)
        except (RuntimeError, AssertionError, ValueError, TypeError, IndexError, KeyError) as exc:
            bad = _first_unreadable(images_file, labels_file) or f"{images_file} or {labels_file}"
            raise CorruptArtifactError(
                f"cannot read {bad} ({self.name}): {type(exc).__name__}: {exc}"
            ) from None
        images = ds.data.numpy()
        labels = ds.targets.numpy().astype(np.int64)
        n = self.n_train if train else self.n_test
        c, h, w = self.image_shape
        if images.shape != (n, h, w):
            raise CorruptArtifactError(
                f"{images_file}: expected {n} images of {h}x{w}, got an array of shape "
                f"{tuple(images.shape)}"
            )
        if labels.shape != (n,):
            raise CorruptArtifactError(
                f"{labels_file}: expected {n} labels, got an array of shape {tuple(labels.shape)}"
            )
        if labels.min() < 0 or labels.max() >= len(self.classes):
            raise CorruptArtifactError(
                f"{labels_file}: labels must lie in 0..{len(self.classes) - 1}, "
                f"got {labels.min()}..{labels.max()}"
            )
        return np.ascontiguousarray(images.reshape(n, c * h * w), dtype=np.uint8), labels


def _first_unreadable(images_file: Path, labels_file: Path) -> Path | None:
    """Which of a split's two IDX files torchvision's readers reject (to name it in errors)."""
    from torchvision.datasets.mnist import read_image_file, read_label_file

    for path, reader in ((images_file, read_image_file), (labels_file, read_label_file)):
        try:
            reader(str(path))
        except Exception:  # any failure of the library reader marks this file as the bad one
            return path
    return None


_MNIST_HASHES = {
    # stem: (sha256 of the mirrored .gz, sha256 of its decompressed IDX bytes, other .gz hashes)
    "train-images-idx3-ubyte": (
        "0b367032e93c5d0cea0925647cfdb18614af8ee15f83e6f2fc2ad904a6835971",  # re-compressed copy
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        ("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",),  # official .gz
    ),
    "train-labels-idx1-ubyte": (
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        (),
    ),
    "t10k-images-idx3-ubyte": (
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        (),
    ),
    "t10k-labels-idx1-ubyte": (
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        (),
    ),
}


@register
class MNIST(IdxImageSpec):
    """The MNIST handwritten digits, official 60,000/10,000 split."""

    name = "mnist"
    description = (
        "MNIST handwritten digits: 70,000 28x28 grey-level images of the digits 0-9 "
        "(60,000 train / 10,000 test), size-normalised and centred."
    )
    citation = (
        "LeCun, Y., Bottou, L., Bengio, Y. & Haffner, P. (1998). Gradient-based learning "
        "applied to document recognition. Proceedings of the IEEE, 86(11), 2278-2324. "
        "MNIST database by Y. LeCun, C. Cortes and C. J. C. Burges."
    )
    license = (
        "No licence stated by the authors; credit Yann LeCun, Corinna Cortes and "
        "Christopher J. C. Burges."
    )
    protocol = "official 60,000/10,000 split"
    sizes = "60,000 train / 10,000 test"
    torchvision_class = "MNIST"
    artifacts = idx_artifacts(
        "mnist", "https://ossci-datasets.s3.amazonaws.com/mnist/", _MNIST_HASHES
    )
