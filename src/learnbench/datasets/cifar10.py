"""CIFAR-10: 60,000 32x32 colour images in 10 classes (downloaded; not in the local mirror).

The python-version batches are read straight from the verified ``.tar.gz`` (one streaming
pass, nothing extracted) rather than through ``torchvision.datasets.CIFAR10``: that class
re-checks every batch against hard-coded MD5s, so it rejects any other archive of the same
layout, and the loader could then only be tested against the real 163 MB download.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from learnbench.datasets.artifacts import Artifact, fetch
from learnbench.datasets.base import DatasetSpec, Parsed, register
from learnbench.datasets.tar_stream import read_members
from learnbench.errors import CorruptArtifactError

BATCH_DIR = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
META = "batches.meta"
CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
PIXELS = 3 * 32 * 32
# numpy 2 moved numpy.core to numpy._core; old pickles name the former.
_NUMPY_CORE = "numpy._core" if hasattr(np, "_core") else "numpy.core"


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles dicts of lists, strings and numpy arrays, and refuses any other global.

    The archive's SHA-256 is checked before this runs, but a pickle can execute arbitrary
    code, so only numpy's array-reconstruction functions are let through.
    """

    _ALLOWED: ClassVar[set[tuple[str, str]]] = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how Python 3 writes bytes in protocol-2 pickles
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")
        if module.startswith(("numpy.core.", "numpy._core.")):
            module = f"{_NUMPY_CORE}.{module.split('.', 2)[2]}"
        return super().find_class(module, name)


def unpickle_batch(path: Path, member: str, data: bytes) -> dict[str, Any]:
    """One CIFAR batch pickle (Python 2 era, so ``latin1``) as a dict with str keys."""
    try:
        batch = _NumpyOnlyUnpickler(io.BytesIO(data), encoding="latin1").load()
    except Exception as exc:  # any unpickling failure means a damaged member
        raise CorruptArtifactError(
            f"{path}: member {member} is not a readable CIFAR batch ({type(exc).__name__}: {exc})"
        ) from None
    if not isinstance(batch, dict):
        raise CorruptArtifactError(f"{path}: member {member} holds {type(batch).__name__}, not dict")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in batch.items()}


@register
class CIFAR10(DatasetSpec):
    """CIFAR-10, official 50,000/10,000 split, from ``cifar-10-python.tar.gz``."""

    name = "cifar10"
    modality = "image"
    description = (
        "CIFAR-10: 60,000 32x32 RGB images in 10 classes, 6,000 per class (50,000 train in "
        "five batches / 10,000 test), a labelled subset of the 80 million tiny images."
    )
    citation = (
        "Krizhevsky, A. (2009). Learning Multiple Layers of Features from Tiny Images. "
        "Technical report, University of Toronto."
    )
    license = "No licence stated; cite Krizhevsky (2009)"
    protocol = "official 50,000/10,000 split (data_batch_1..5 / test_batch)"
    sizes = "50,000 train / 10,000 test (5,000 / 1,000 per class)"
    classes = CLASSES
    image_shape = (3, 32, 32)
    n_train: ClassVar[int] = 50_000
    n_test: ClassVar[int] = 10_000
    artifacts = (
        Artifact(
            filename="cifar10/cifar-10-python.tar.gz",
            url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
            # The SHA-256 Keras pins for this URL (keras.datasets.cifar10, file_hash); the
            # authors publish MD5 c58f30108f718f92721af3b95e74349a (torchvision's tgz_md5).
            sha256="6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
        ),
    )

    def _parse(self, seed: int) -> Parsed:
        """The official split (``seed`` unused); X ``(n, 3*32*32)`` float32 in [0, 1], CHW order."""
        arrays, hit = self.cached_arrays(self._build, n=[self.n_train, self.n_test])
        return Parsed.from_pixels(arrays, cache_hit=hit)

    def _build(self) -> dict[str, np.ndarray]:
        """Read the six batches and the meta file from the archive; check every shape."""
        path = fetch(self.artifacts[0])
        members = _read_members(path, [*TRAIN_BATCHES, TEST_BATCH, META])
        label_names = unpickle_batch(path, META, members[META]).get("label_names")
        if list(label_names or ()) != list(CLASSES):
            raise CorruptArtifactError(
                f"{path}: member {BATCH_DIR}/{META} lists classes {label_names}, "
                f"expected {list(CLASSES)}"
            )
        out: dict[str, np.ndarray] = {}
        for split, names, n in (
            ("train", TRAIN_BATCHES, self.n_train),
            ("test", (TEST_BATCH,), self.n_test),
        ):
            parts = [_batch_arrays(path, name, members[name]) for name in names]
            X = np.concatenate([p[0] for p in parts])
            y = np.concatenate([p[1] for p in parts])
            if len(y) != n:
                raise CorruptArtifactError(f"{path}: expected {n} {split} images, got {len(y)}")
            out[f"X_{split}"], out[f"y_{split}"] = X, y
        return out


def _read_members(path: Path, names: list[str]) -> dict[str, bytes]:
    """The bytes of ``cifar-10-batches-py/<name>`` for each name, in one pass over the tar."""
    wanted = {f"{BATCH_DIR}/{n}": n for n in names}
    found = {wanted[name]: data for name, data in read_members(path, wanted.__contains__)}
    missing = [f"{BATCH_DIR}/{n}" for n in names if n not in found]
    if missing:
        raise CorruptArtifactError(f"{path}: member {missing[0]} is missing")
    return found


def _batch_arrays(path: Path, name: str, data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(images ``(n, 3072)`` uint8 in CHW order, labels int64) of one batch, checked."""
    member = f"{BATCH_DIR}/{name}"
    batch = unpickle_batch(path, member, data)
    try:
        X = np.asarray(batch["data"])
        y = np.asarray(batch["labels"], dtype=np.int64)
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptArtifactError(
            f"{path}: member {member} lacks 'data'/'labels' ({type(exc).__name__}: {exc})"
        ) from None
    if X.dtype != np.uint8 or X.ndim != 2 or X.shape[1] != PIXELS or len(y) != len(X):
        raise CorruptArtifactError(
            f"{path}: member {member} has data {X.dtype} {X.shape} and {len(y)} labels, "
            f"expected uint8 (n, {PIXELS}) and n labels"
        )
    if len(y) and (y.min() < 0 or y.max() >= len(CLASSES)):
        raise CorruptArtifactError(
            f"{path}: member {member} has labels {y.min()}..{y.max()}, expected 0..9"
        )
    return X, y
