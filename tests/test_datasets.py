"""The registry, MNIST from the real mirror, and the bundled digits split."""

from __future__ import annotations

import gzip
import hashlib
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from learnbench.datasets import (
    Dataset,
    dataset_names,
    get_dataset_spec,
    load_dataset,
    verify_all,
)
from learnbench.datasets.artifacts import check
from learnbench.datasets.mnist import MNIST
from learnbench.errors import ArtifactNotFoundError, CorruptArtifactError, UnknownNameError

# Per-class counts of the official MNIST sets (LeCun et al.), digits 0..9.
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


# --------------------------------------------------------------------------- registry


def test_builtins_are_registered():
    assert {"mnist", "digits"} <= set(dataset_names())
    card = get_dataset_spec("mnist").card()
    assert card["modality"] == "image" and len(card["artifacts"]) == 4
    assert "LeCun" in card["citation"] and "Bottou" in card["citation"]


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(UnknownNameError) as err:
        load_dataset("mnits")
    msg = str(err.value)
    assert "'mnits'" in msg and "digits" in msg and "mnist" in msg
    assert isinstance(err.value, KeyError)


# --------------------------------------------------------------------------- MNIST, real mirror


@pytest.fixture(scope="module")
def mnist(mirror_dir: Path, session_cache: Path) -> Iterator[Dataset]:
    """MNIST loaded once per module from the real mirror (offline, session cache)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LEARNBENCH_MIRROR", str(mirror_dir))
        mp.setenv("LEARNBENCH_CACHE", str(session_cache))
        mp.setenv("LEARNBENCH_OFFLINE", "1")
        yield load_dataset("mnist")


def test_mnist_arrays(mnist):
    assert mnist.X_train.shape == (60_000, 784) and mnist.X_test.shape == (10_000, 784)
    assert mnist.X_train.dtype == np.float32 and mnist.X_test.dtype == np.float32
    assert mnist.y_train.dtype == np.int64 and mnist.y_test.dtype == np.int64
    assert mnist.X_train.min() == 0.0 and mnist.X_train.max() == 1.0
    assert mnist.X_test.min() >= 0.0 and mnist.X_test.max() <= 1.0
    # 255 * x is an integer pixel value: the scaling is exactly /255
    assert np.array_equal(np.round(mnist.X_test[:100] * 255), mnist.X_test[:100] * 255)
    assert mnist.image_shape == (1, 28, 28) and mnist.classes == [str(d) for d in range(10)]
    assert mnist.protocol == "official 60,000/10,000 split" and mnist.modality == "image"


def test_mnist_label_counts_are_the_official_ones(mnist):
    assert np.bincount(mnist.y_train, minlength=10).tolist() == MNIST_TRAIN_COUNTS
    assert np.bincount(mnist.y_test, minlength=10).tolist() == MNIST_TEST_COUNTS


def test_mnist_images_look_like_digits(mnist):
    # Centred digits: the border rows/columns are (almost) blank, the middle is inked.
    img = mnist.X_train.reshape(-1, 28, 28)
    assert img[:, 0, :].mean() < 1e-4 and img[:, :, 0].mean() < 1e-4
    assert img[:, 10:18, 10:18].mean() > 0.3
    assert img[:, 4:24, 4:24].sum() / img.sum() > 0.95  # digits fit a centred 20x20 box
    assert mnist.y_train[:5].tolist() == [5, 0, 4, 1, 9]  # the well-known first five labels


def test_mnist_checksums_against_the_mirror(real_data):
    spec = get_dataset_spec("mnist")
    for art in spec.artifacts:
        path = real_data / art.filename
        assert hashlib.sha256(path.read_bytes()).hexdigest() == art.sha256
        with gzip.open(path) as f:
            assert hashlib.sha256(f.read()).hexdigest() == art.content_sha256
        assert check(art, path) is None
    assert all(r["status"] == "ok" for r in verify_all(["mnist"]))


def test_mnist_md5s_match_the_readme_and_torchvision(real_data):
    import torchvision.datasets

    official_md5 = dict(torchvision.datasets.MNIST.resources)
    md5 = {
        a.filename.split("/")[1]: hashlib.md5((real_data / a.filename).read_bytes()).hexdigest()
        for a in get_dataset_spec("mnist").artifacts
    }
    # Three .gz files are the official bytes...
    for name in (
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
    ):
        assert md5[name] == official_md5[name]
    # ...train-images was re-compressed: its archive differs, its content is official.
    assert md5["train-images-idx3-ubyte.gz"] != official_md5["train-images-idx3-ubyte.gz"]
    assert official_md5["train-images-idx3-ubyte.gz"] == "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    with gzip.open(real_data / "mnist" / "train-images-idx3-ubyte.gz") as f:
        assert hashlib.md5(f.read()).hexdigest() == "6bbc9ace898e44ae57da46a324031adb"


def test_mnist_missing_everywhere_is_one_clear_line(empty_env):
    with pytest.raises(ArtifactNotFoundError) as err:
        load_dataset("mnist")
    msg = str(err.value)
    assert "\n" not in msg and "mnist/train-images-idx3-ubyte.gz" in msg
    assert "LEARNBENCH_MIRROR" in msg and "ossci-datasets.s3.amazonaws.com" in msg


def _idx(magic: int, dims: tuple[int, ...]) -> bytes:
    return struct.pack(">I", magic) + struct.pack(f">{len(dims)}I", *dims) + bytes(np.prod(dims))


def _raw_dir(root: Path, n_train: int, n_test: int) -> Path:
    """A torchvision-readable ``root/MNIST/raw`` with blank IDX files of the given sizes."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(_idx(0x803, (n, 28, 28)))
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(_idx(0x801, (n,)))
    return raw


def test_mnist_corrupt_raw_file_is_named(tmp_path):
    raw = _raw_dir(tmp_path, 3, 3)
    (raw / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03garbage")
    with pytest.raises(CorruptArtifactError) as err:
        MNIST()._read_split(tmp_path, train=True)
    assert str(raw / "train-images-idx3-ubyte") in str(err.value)


def test_mnist_wrong_count_is_rejected(tmp_path):
    raw = _raw_dir(tmp_path, 5, 5)
    with pytest.raises(CorruptArtifactError, match="expected 60000 images"):
        MNIST()._read_split(tmp_path, train=True)
    (raw / "t10k-labels-idx1-ubyte").write_bytes(_idx(0x801, (10_000,)))
    with pytest.raises(CorruptArtifactError, match="expected 10000 images"):
        MNIST()._read_split(tmp_path, train=False)


# --------------------------------------------------------------------------- digits


def test_digits_shapes_and_scaling():
    d = load_dataset("digits", seed=0)
    assert d.X_train.shape == (1347, 64) and d.X_test.shape == (450, 64)
    assert d.X_train.dtype == np.float32 and d.y_train.dtype == np.int64
    assert d.X_train.min() == 0.0 and d.X_train.max() == 1.0
    assert d.image_shape == (1, 8, 8) and d.n_classes == 10
    assert "stratified" in d.protocol and "seed=0" in d.protocol
    assert "Alpaydin" in d.citation


def test_digits_split_is_disjoint_complete_and_stratified():
    d = load_dataset("digits", seed=3)
    tr, te = d.meta["train_index"], d.meta["test_index"]
    assert set(tr).isdisjoint(te) and sorted([*tr, *te]) == list(range(1797))
    y = np.concatenate([d.y_train, d.y_test])
    for k in range(10):
        expected = 0.25 * np.sum(y == k)
        assert abs(np.sum(d.y_test == k) - expected) <= 1


def test_digits_deterministic_per_seed_and_varies_across_seeds():
    a, b, c = (load_dataset("digits", seed=s) for s in (7, 7, 8))
    assert np.array_equal(a.meta["test_index"], b.meta["test_index"])
    assert np.array_equal(a.X_train, b.X_train) and np.array_equal(a.y_test, b.y_test)
    assert not np.array_equal(np.sort(a.meta["test_index"]), np.sort(c.meta["test_index"]))
