"""The mirror's datasets beyond MNIST, and CIFAR-10 on a synthetic archive.

Protocols and splits, features fitted on the training part only, the parsed-data cache,
and one-line errors for damaged input (built in tmp_path: a temp mirror plus test-only
artifact hashes). Real-data loads share the session cache, so each dataset is parsed
once per session (IMDB's cold TF-IDF build, ~20 s, dominates this file).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import logging
import os
import pickle
import re
import tarfile
import threading
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from learnbench.cli import main
from learnbench.datasets import (
    Dataset,
    dataset_names,
    get_dataset_spec,
    load_dataset,
    parsed_cache,
    verify_all,
)
from learnbench.datasets import adult as adult_module
from learnbench.datasets import imdb as imdb_module
from learnbench.datasets.adult import Adult
from learnbench.datasets.artifacts import Artifact
from learnbench.datasets.cifar10 import CIFAR10
from learnbench.datasets.imdb import IMDB
from learnbench.datasets.letter import Letter
from learnbench.datasets.mnist import IdxImageSpec
from learnbench.datasets.orl import ORL
from learnbench.datasets.yeast import Yeast
from learnbench.errors import ArtifactNotFoundError, CorruptArtifactError

MIRRORED = ("mnist", "fashion_mnist", "orl", "imdb", "letter", "adult", "yeast")
# From the mirror's README: train ratings per label, and the yeast class counts.
IMDB_TRAIN_POS_RATINGS = {7: 2496, 8: 3009, 9: 2263, 10: 4732}
IMDB_TRAIN_NEG_RATINGS = {1: 5100, 2: 2284, 3: 2420, 4: 2696}
YEAST_COUNTS = {
    "CYT": 463, "NUC": 429, "MIT": 244, "ME3": 163, "ME2": 51,
    "ME1": 44, "EXC": 35, "VAC": 30, "POX": 20, "ERL": 5,
}
# UCI's documented class balance of ADULT (adult.names: 76.07% / 23.93% over both files).
ADULT_TRAIN_COUNTS, ADULT_TEST_COUNTS = [24_720, 7_841], [12_435, 3_846]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def parsed_files(cache: Path) -> list[Path]:
    """Everything under ``<cache>/parsed`` (entries and any leftover temp files)."""
    root = cache / "parsed"
    return sorted(root.iterdir()) if root.exists() else []


@contextmanager
def real_env(mirror: Path, cache: Path) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LEARNBENCH_MIRROR", str(mirror))
        mp.setenv("LEARNBENCH_CACHE", str(cache))
        mp.setenv("LEARNBENCH_OFFLINE", "1")
        yield


@pytest.fixture(scope="module")
def load_real(mirror_dir: Path, session_cache: Path) -> Callable[..., Dataset]:
    """``load_dataset`` against the real mirror and the session-wide cache."""

    def load(name: str, **params: object) -> Dataset:
        with real_env(mirror_dir, session_cache):
            return load_dataset(name, **params)

    return load


@pytest.fixture(scope="module")
def imdb(load_real) -> Dataset:
    """IMDB TF-IDF, built once per session (the parsed cache serves every later load)."""
    return load_real("imdb")


@pytest.fixture
def temp_mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty mirror in tmp_path/mirror with an empty cache in tmp_path/cache, offline."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    monkeypatch.setenv("LEARNBENCH_MIRROR", str(mirror))
    monkeypatch.setenv("LEARNBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("LEARNBENCH_OFFLINE", "1")
    return mirror


def place(monkeypatch: pytest.MonkeyPatch, mirror: Path, spec: type, index: int,
          data: bytes) -> Path:
    """Put ``data`` in the temp mirror as ``spec.artifacts[index]`` and accept it by its hash."""
    old = spec.artifacts[index]
    path = mirror / old.filename
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    new = Artifact(old.filename, "http://127.0.0.1:9/unused", sha(data))
    arts = list(spec.artifacts)
    arts[index] = new
    monkeypatch.setattr(spec, "artifacts", tuple(arts))
    return path


def assert_one_line(err: pytest.ExceptionInfo, *parts: str) -> str:
    msg = str(err.value)
    assert "\n" not in msg, msg
    for part in parts:
        assert part in msg, (part, msg)
    return msg


# --------------------------------------------------------------------------- registry, cards


def test_every_dataset_is_registered():
    assert {*MIRRORED, "cifar10", "digits"} <= set(dataset_names())


@pytest.mark.parametrize(
    "name, credit",
    [
        ("mnist", "LeCun"),
        ("fashion_mnist", "Zalando"),
        ("orl", "Samaria"),
        ("imdb", "Maas"),
        ("letter", "UCI Machine Learning Repository"),
        ("adult", "UCI Machine Learning Repository"),
        ("yeast", "UCI Machine Learning Repository"),
        ("cifar10", "Krizhevsky"),
    ],
)
def test_cards_are_complete(name, credit):
    card = get_dataset_spec(name).card()
    for key in ("description", "protocol", "license", "citation", "sizes"):
        assert card[key], (name, key)
    assert credit in card["citation"]
    assert card["n_classes"] == len(card["classes"]) >= 2
    assert card["artifacts"] and len(card["urls"]) == len(card["artifacts"])
    if name in ("orl", "imdb", "letter", "adult", "yeast"):
        assert "gcForest" in card["protocol"]


def test_cli_info_shows_protocol_and_params(capsys):
    assert main(["datasets", "info", "orl"]) == 0
    out = capsys.readouterr().out
    assert "train_per_subject" in out and "downscale" in out and "Olivetti" in out
    assert "(1, 112, 92)" in out


def test_artifact_hashes_are_the_readmes(real_data):
    """Every artifact of a mirrored dataset is pinned to the README's SHA-256, and verifies."""
    readme = (real_data / "README.md").read_text()
    listed = dict((f, h) for h, f in re.findall(r"^([0-9a-f]{64})  (\S+)$", readme, re.M))
    for name in MIRRORED:
        for art in get_dataset_spec(name).artifacts:
            assert listed[art.filename] == art.sha256, art.filename
    rows = verify_all([*MIRRORED, "cifar10"])
    status = {r["filename"]: r["status"] for r in rows}
    assert status.pop("cifar10/cifar-10-python.tar.gz") == "missing"  # download only
    assert set(status.values()) == {"ok"} and len(status) == len(listed)


# --------------------------------------------------------------------------- Fashion-MNIST


def test_fashion_mnist_has_exactly_6000_and_1000_per_class(load_real):
    d = load_real("fashion_mnist")
    assert d.X_train.shape == (60_000, 784) and d.X_test.shape == (10_000, 784)
    assert d.X_train.dtype == np.float32 and d.X_train.min() == 0.0 and d.X_train.max() == 1.0
    assert np.bincount(d.y_train).tolist() == [6000] * 10
    assert np.bincount(d.y_test).tolist() == [1000] * 10
    assert d.classes[0] == "T-shirt/top" and d.classes[9] == "Ankle boot"
    assert d.image_shape == (1, 28, 28)
    mnist = load_real("mnist")
    assert not np.array_equal(mnist.X_test[:10], d.X_test[:10])  # not MNIST by mistake


def test_mnist_second_load_comes_from_the_parsed_cache(load_real, monkeypatch):
    first = load_real("mnist")

    def no_parsing(*args, **kwargs):
        raise AssertionError("parsed again instead of read from the cache")

    monkeypatch.setattr(IdxImageSpec, "_read_split", no_parsing)
    again = load_real("mnist")
    assert again.meta["cache_hit"] is True
    assert np.array_equal(first.X_train, again.X_train)
    assert np.array_equal(first.y_test, again.y_test)


# --------------------------------------------------------------------------- ORL


@pytest.mark.parametrize("k", [5, 7, 9])
def test_orl_k_images_per_subject(load_real, k):
    d = load_real("orl", train_per_subject=k, seed=1)
    assert d.X_train.shape == (40 * k, 112 * 92) and d.X_test.shape == (40 * (10 - k), 112 * 92)
    assert np.bincount(d.y_train).tolist() == [k] * 40
    assert np.bincount(d.y_test).tolist() == [10 - k] * 40
    assert d.image_shape == (1, 112, 92) and d.n_classes == 40
    assert f"{k} random images per subject" in d.protocol and "seed=1" in d.protocol
    assert d.X_train.dtype == np.float32 and 0.0 <= d.X_train.min() < d.X_train.max() <= 1.0
    assert np.array_equal(np.round(d.X_test * 255), d.X_test * 255)  # exactly pixel / 255


def test_orl_split_disjoint_complete_and_seeded(load_real):
    a, b, c = (load_real("orl", seed=s) for s in (3, 3, 4))
    tr, te = a.meta["train_index"], a.meta["test_index"]
    assert set(tr).isdisjoint(te) and sorted([*tr, *te]) == list(range(400))
    assert np.array_equal(a.y_train, tr // 10) and np.array_equal(a.y_test, te // 10)
    assert np.array_equal(tr, b.meta["train_index"]) and np.array_equal(a.X_train, b.X_train)
    assert not np.array_equal(tr, c.meta["train_index"])
    # the same image index gives the same pixels whatever the split
    shared = np.intersect1d(tr, c.meta["train_index"])[0]
    assert np.array_equal(a.X_train[np.searchsorted(tr, shared)],
                          c.X_train[np.searchsorted(c.meta["train_index"], shared)])


def test_orl_downscale_is_an_antialiased_half(load_real):
    full, half = load_real("orl"), load_real("orl", downscale=2)
    assert half.image_shape == (1, 56, 46) and half.X_train.shape == (200, 56 * 46)
    assert np.array_equal(full.meta["train_index"], half.meta["train_index"])
    pooled = full.X_train.reshape(-1, 56, 2, 46, 2).mean(axis=(2, 4)).ravel()
    assert np.corrcoef(pooled, half.X_train.ravel())[0, 1] > 0.99
    assert load_real("orl", downscale=4).image_shape == (1, 28, 23)
    with pytest.raises(ValueError, match="downscale"):
        load_real("orl", downscale=3)
    with pytest.raises(ValueError, match="train_per_subject"):
        load_real("orl", train_per_subject=10)


def _pgm(seed: int, header: bytes = b"P5\n92 112\n255\n") -> bytes:
    return header + np.random.default_rng(seed).integers(0, 256, 92 * 112, np.uint8).tobytes()


def _orl_zip(bad_member: str | None = None, bad_header: bytes = b"P9\n92 112\n255\n") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for s in range(1, 41):
            for m in range(1, 11):
                name = f"att_faces/s{s}/{m}.pgm"
                header = bad_header if name == bad_member else b"P5\n92 112\n255\n"
                zf.writestr(name, _pgm(s * 10 + m, header))
    return buf.getvalue()


def test_orl_bad_pgm_header_names_zip_and_member(temp_mirror, monkeypatch, tmp_path):
    path = place(monkeypatch, temp_mirror, ORL, 0, _orl_zip("att_faces/s3/7.pgm"))
    with pytest.raises(CorruptArtifactError) as err:
        load_dataset("orl")
    assert_one_line(err, str(path), "att_faces/s3/7.pgm", "magic 'P9'")
    assert parsed_files(tmp_path / "cache") == []


def test_orl_synthetic_zip_loads_in_subject_order(temp_mirror, monkeypatch):
    place(monkeypatch, temp_mirror, ORL, 0, _orl_zip())
    d = load_dataset("orl", seed=0)
    first = d.meta["train_index"][0]
    s, m = first // 10 + 1, first % 10 + 1
    expected = np.frombuffer(_pgm(s * 10 + m)[-92 * 112:], np.uint8) / np.float32(255)
    assert np.array_equal(d.X_train[0], expected.astype(np.float32))


def test_orl_truncated_zip_is_a_one_line_error(temp_mirror, monkeypatch, tmp_path):
    data = _orl_zip()
    path = place(monkeypatch, temp_mirror, ORL, 0, data[: len(data) // 2])
    with pytest.raises(CorruptArtifactError) as err:
        load_dataset("orl")
    assert_one_line(err, str(path), "truncated or corrupt")
    assert parsed_files(tmp_path / "cache") == []


# --------------------------------------------------------------------------- IMDB


def test_imdb_tfidf_shapes_and_labels(imdb):
    assert isinstance(imdb.X_train, sp.csr_matrix) and isinstance(imdb.X_test, sp.csr_matrix)
    assert imdb.X_train.shape == (25_000, 50_000) and imdb.X_test.shape == (25_000, 50_000)
    assert imdb.X_train.dtype == np.float32
    assert np.bincount(imdb.y_train).tolist() == [12_500, 12_500]
    assert np.bincount(imdb.y_test).tolist() == [12_500, 12_500]
    assert imdb.classes == ["neg", "pos"] and imdb.modality == "text"
    norms = np.sqrt(np.asarray(imdb.X_test.multiply(imdb.X_test).sum(axis=1))).ravel()
    assert np.allclose(norms[norms > 0], 1.0, atol=1e-4)
    vocab = set(imdb.meta["vocabulary"])
    assert len(vocab) == 50_000 and "not bad" in vocab and "br" not in vocab


def test_imdb_rating_histograms_match_the_readme(imdb):
    r, y = imdb.meta["ratings_train"], imdb.y_train
    assert dict(zip(*np.unique(r[y == 1], return_counts=True), strict=True)) == (
        IMDB_TRAIN_POS_RATINGS
    )
    assert dict(zip(*np.unique(r[y == 0], return_counts=True), strict=True)) == (
        IMDB_TRAIN_NEG_RATINGS
    )
    rt = imdb.meta["ratings_test"]
    assert set(rt[imdb.y_test == 1]) == {7, 8, 9, 10} and set(rt[imdb.y_test == 0]) == {1, 2, 3, 4}


def test_imdb_tfidf_is_fitted_on_train_only(imdb):
    """The idf is exactly the smooth idf of the training documents' frequencies.

    Fitting on train+test would give idf = ln((1 + 50,000) / (1 + df_all)) + 1 instead.
    """
    df_train = np.bincount(imdb.X_train.indices, minlength=imdb.X_train.shape[1])
    df_test = np.bincount(imdb.X_test.indices, minlength=imdb.X_test.shape[1])
    assert (df_train > 0).all()  # every vocabulary term occurs in some training review
    idf_train = np.log(25_001 / (1 + df_train)) + 1
    idf_all = np.log(50_001 / (1 + df_train + df_test)) + 1
    assert np.allclose(imdb.meta["idf"], idf_train, atol=1e-5)
    assert np.abs(imdb.meta["idf"] - idf_all).max() > 0.01


def test_imdb_text_representation_and_unsup(imdb, load_real):
    text = load_real("imdb", representation="text")
    assert text.X_train.dtype == object and text.X_train.shape == (25_000,)
    assert isinstance(text.X_test[0], str)
    assert np.array_equal(text.y_train, imdb.y_train)
    assert np.array_equal(text.meta["review_ids_test"], imdb.meta["review_ids_test"])
    lengths = [len(t) for t in (*text.X_train, *text.X_test)]
    assert round(np.mean(lengths)) == 1309  # the README's mean review length
    assert any("<br />" in t for t in text.X_train[:200])  # raw, untouched text
    assert "unsup_text" not in text.meta and "unsup_text" not in imdb.meta
    with_unsup = load_real("imdb", include_unsup=True)
    unsup = with_unsup.meta["unsup_text"]
    assert len(unsup) == 50_000 and isinstance(unsup[0], str)
    assert len(set(with_unsup.meta["unsup_ids"].tolist())) == 50_000
    with pytest.raises(ValueError, match="representation"):
        load_real("imdb", representation="bag-of-words")


def test_imdb_second_load_comes_from_the_parsed_cache(imdb, load_real, monkeypatch):
    def no_parsing(*args, **kwargs):
        raise AssertionError("parsed again instead of read from the cache")

    monkeypatch.setattr(imdb_module, "read_reviews", no_parsing)
    monkeypatch.setattr(imdb_module, "tfidf_features", no_parsing)
    again = load_real("imdb")
    assert again.meta["cache_hit"] is True
    assert (again.X_test != imdb.X_test).nnz == 0


def _imdb_tar(n: int = 40) -> bytes:
    """A small aclImdb-layout tar.gz with incompressible reviews (so a cut lands mid-stream)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for i in range(n):
            data = os.urandom(1500).hex().encode()
            info = tarfile.TarInfo(f"aclImdb/train/pos/{i}_9.txt")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.mark.parametrize("damage", ["truncated", "garbled"])
def test_imdb_damaged_archive_is_a_one_line_error(temp_mirror, monkeypatch, tmp_path, damage):
    data = bytearray(_imdb_tar())
    if damage == "truncated":
        data = data[: len(data) * 2 // 3]
    else:
        data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)
    path = place(monkeypatch, temp_mirror, IMDB, 0, bytes(data))
    with pytest.raises(CorruptArtifactError) as err:
        load_dataset("imdb", representation="text")
    assert_one_line(err, str(path), "truncated or corrupt tar.gz")
    assert parsed_files(tmp_path / "cache") == []


def test_imdb_incomplete_archive_is_named(temp_mirror, monkeypatch):
    path = place(monkeypatch, temp_mirror, IMDB, 0, _imdb_tar(3))
    with pytest.raises(CorruptArtifactError) as err:
        load_dataset("imdb", representation="text")
    assert_one_line(err, str(path), "expected 12500 reviews in aclImdb/train/neg, got 0")


# --------------------------------------------------------------------------- LETTER


def test_letter_standard_split(load_real, real_data):
    raw = load_real("letter", scale=False)
    assert raw.X_train.shape == (16_000, 16) and raw.X_test.shape == (4_000, 16)
    assert raw.n_classes == 26 and raw.classes[0] == "A" and raw.classes[25] == "Z"
    assert set(np.unique(raw.y_train)) == set(range(26))
    rows = (real_data / "uci" / "letter-recognition.data").read_text().splitlines()
    first, last = rows[0].split(","), rows[-1].split(",")
    assert raw.y_train[0] == ord(first[0]) - 65 and raw.X_train[0].tolist() == list(
        map(float, first[1:])
    )
    assert raw.y_test[-1] == ord(last[0]) - 65 and raw.X_test[-1].tolist() == list(
        map(float, last[1:])
    )


def test_letter_scaler_is_fitted_on_train_only(load_real):
    raw, scaled = load_real("letter", scale=False), load_real("letter")
    mean_train = raw.X_train.astype(np.float64).mean(axis=0)
    mean_all = np.vstack([raw.X_train, raw.X_test]).astype(np.float64).mean(axis=0)
    assert np.allclose(scaled.meta["scaler_mean"], mean_train)
    assert np.abs(scaled.meta["scaler_mean"] - mean_all).max() > 1e-3
    assert np.allclose(scaled.X_train.mean(axis=0), 0, atol=1e-5)
    assert np.allclose(scaled.X_train.std(axis=0), 1, atol=1e-4)
    std_train = raw.X_train.astype(np.float64).std(axis=0)
    assert np.allclose(scaled.X_test, (raw.X_test - mean_train) / std_train, atol=1e-5)


# --------------------------------------------------------------------------- ADULT


def test_adult_official_split_and_encoding(load_real):
    d = load_real("adult")
    assert d.X_train.shape[0] == 32_561 and d.X_test.shape[0] == 16_281
    assert d.X_train.shape[1] == d.X_test.shape[1] == len(d.meta["feature_names"])
    assert d.X_train.dtype == np.float32 and np.isfinite(d.X_train).all()
    assert d.classes == ["<=50K", ">50K"]
    assert np.bincount(d.y_train).tolist() == ADULT_TRAIN_COUNTS
    assert np.bincount(d.y_test).tolist() == ADULT_TEST_COUNTS  # labels' '.' stripped
    names = d.meta["feature_names"]
    assert "cat__workclass_missing" in names and "cat__sex_Female" in names  # '?' imputed
    assert not any("?" in n for n in names)
    onehot = [i for i, n in enumerate(names) if n.startswith("cat__workclass_")]
    assert np.array_equal(d.X_test[:, onehot].sum(axis=1), np.ones(16_281, np.float32))
    age = names.index("num__age")
    ages = d.X_train[:, age] * d.meta["numeric_scale"][0] + d.meta["numeric_mean"][0]
    assert round(float(ages[0])) == 39  # adult.data's first row


def test_adult_encoder_is_fitted_on_train_only(load_real, real_data):
    import pandas as pd

    d = load_real("adult")
    read = functools.partial(pd.read_csv, header=None, skipinitialspace=True)
    train = read(real_data / "uci" / "adult.data")
    test = read(real_data / "uci" / "adult.test", skiprows=1)
    cols = [0, 2, 4, 10, 11, 12]  # the numeric columns, in adult_module.NUMERIC order
    assert [adult_module.COLUMNS[c] for c in cols] == list(adult_module.NUMERIC)
    mean_train = train[cols].mean().to_numpy()
    mean_all = pd.concat([train[cols], test[cols]]).mean().to_numpy()
    assert np.allclose(d.meta["numeric_mean"], mean_train)
    assert not np.allclose(d.meta["numeric_mean"], mean_all)
    num = [d.meta["feature_names"].index(f"num__{c}") for c in adult_module.NUMERIC]
    assert np.allclose(d.X_train[:, num].mean(axis=0), 0, atol=1e-4)
    assert np.abs(d.X_test[:, num].mean(axis=0)).max() > 1e-3


# --------------------------------------------------------------------------- YEAST


def test_yeast_split_sizes_and_class_counts(load_real):
    d = load_real("yeast")
    assert d.X_train.shape == (1_038, 8) and d.X_test.shape == (446, 8)
    counts = np.bincount(np.concatenate([d.y_train, d.y_test]), minlength=10)
    assert dict(zip(d.classes, counts.tolist(), strict=True)) == YEAST_COUNTS
    for k, total in enumerate(counts):
        assert abs(np.sum(d.y_test == k) - 0.3 * total) <= 1  # stratified
    assert d.X_train.min() >= 0.0 and d.X_train.max() <= 1.0  # raw scores
    assert "test_size=0.3" in d.protocol and "seed=0" in d.protocol
    assert load_real("yeast", test_size=0.5).X_test.shape == (742, 8)


def test_yeast_split_disjoint_and_seeded(load_real):
    a, b, c = (load_real("yeast", seed=s) for s in (5, 5, 6))
    tr, te = a.meta["train_index"], a.meta["test_index"]
    assert set(tr).isdisjoint(te) and sorted([*tr, *te]) == list(range(1_484))
    assert np.array_equal(te, b.meta["test_index"]) and np.array_equal(a.X_test, b.X_test)
    assert not np.array_equal(te, c.meta["test_index"])


# --------------------------------------------------------------------------- bad rows


@pytest.mark.parametrize(
    "spec, index, text, where",
    [
        (Letter, 0, "T,2,8,3,5,1,8,13,0,6,6,10,8,0,8,0,8\nI,5,12\n", "line 2: expected 17"),
        (Yeast, 0, "A_YEAST 0.5 0.5 0.5 0.5 0.5 0.0 0.5 0.2 MIT\n\nB_YEAST 0.5 MIT\n",
         "line 3: expected 10"),
        (Adult, 0, "39, State-gov, 77516, Bachelors, 13, Never-married, Adm-clerical, "
                   "Not-in-family, White, Male, 2174, 0, 40, <=50K\n", "line 1: expected 15"),
    ],
)
def test_wrong_field_count_names_file_and_line(temp_mirror, monkeypatch, tmp_path, spec, index,
                                               text, where):
    path = place(monkeypatch, temp_mirror, spec, index, text.encode())
    with pytest.raises(CorruptArtifactError) as err:
        load_dataset(spec.name)
    assert_one_line(err, f"{path} {where}")
    assert parsed_files(tmp_path / "cache") == []


def test_adult_test_junk_line_counts_and_bad_row(mirror_dir, temp_mirror, monkeypatch):
    (temp_mirror / "uci").mkdir()
    (temp_mirror / "uci" / "adult.data").symlink_to(mirror_dir / "uci" / "adult.data")
    good = (
        "25, Private, 226802, 11th, 7, Never-married, Machine-op-inspct, Own-child, "
        "Black, Male, 0, 0, 40, United-States, <=50K."
    )
    path = place(monkeypatch, temp_mirror, Adult, 1,
                 f"|1x3 Cross validator\n{good}\n{good}, extra\n".encode())
    with pytest.raises(CorruptArtifactError) as err:
        load_dataset("adult")
    assert_one_line(err, f"{path} line 3: expected 15", "got 16")


def test_unreadable_value_names_line_and_column(temp_mirror, monkeypatch):
    path = place(monkeypatch, temp_mirror, Letter, 0,
                 b"T,2,8,3,5,1,8,13,0,6,6,10,8,0,8,0,8\n" * 3 + b"Q,2,8,3,x,1,8,13,0,6,6,10,8,0,8,0,8\n")
    with pytest.raises(CorruptArtifactError) as err:
        load_dataset("letter")
    assert_one_line(err, f"{path} line 4", "column 'high'", "'x'")


# --------------------------------------------------------------------------- parsed cache


def test_corrupt_cache_entry_is_discarded_and_rebuilt(real_data, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("LEARNBENCH_CACHE", str(tmp_path / "cache"))
    first = load_dataset("yeast")
    (entry,) = parsed_files(tmp_path / "cache")
    assert first.meta["cache_hit"] is False and load_dataset("yeast").meta["cache_hit"] is True
    entry.write_bytes(entry.read_bytes()[:1000])  # truncated entry
    with caplog.at_level(logging.WARNING):
        rebuilt = load_dataset("yeast")
    assert rebuilt.meta["cache_hit"] is False and "discarding unreadable" in caplog.text
    assert np.array_equal(rebuilt.X_train, first.X_train)
    assert parsed_files(tmp_path / "cache") == [entry]
    assert load_dataset("yeast").meta["cache_hit"] is True


def test_failed_cache_write_leaves_nothing(real_data, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("LEARNBENCH_CACHE", str(tmp_path / "cache"))

    def disk_full(file, **arrays):
        file.write(b"PK\x03\x04 half an entry")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(parsed_cache.np, "savez", disk_full)
    with caplog.at_level(logging.WARNING):
        d = load_dataset("letter")
    assert d.X_train.shape == (16_000, 16) and "could not write" in caplog.text
    assert parsed_files(tmp_path / "cache") == []


def test_cache_key_follows_params_and_artifact_hashes():
    arts = ORL.artifacts
    key = parsed_cache.cache_key("orl", arts, {"downscale": 1})
    assert key == parsed_cache.cache_key("orl", arts, {"downscale": 1})
    assert key != parsed_cache.cache_key("orl", arts, {"downscale": 2})
    other = (Artifact(arts[0].filename, arts[0].url, sha(b"other")),)
    assert key != parsed_cache.cache_key("orl", other, {"downscale": 1})
    assert key != parsed_cache.cache_key("orl", arts, {"downscale": 1}, version=2)


def test_packed_strings_and_csr_round_trip():
    texts = ["", "héllo <br /> wörld", "x" * 5000]
    assert parsed_cache.unpack_strings(*parsed_cache.pack_strings(texts)).tolist() == texts
    m = sp.random(7, 5, density=0.3, format="csr", dtype=np.float32, random_state=0)
    back = parsed_cache.unpack_csr(parsed_cache.pack_csr("X", m), "X")
    assert back.shape == m.shape and (back != m).nnz == 0


# --------------------------------------------------------------------------- CIFAR-10


def _cifar_tar(n_per_batch: int = 4, extra: dict | None = None) -> tuple[bytes, np.ndarray]:
    """A cifar-10-python.tar.gz of the real layout with ``n_per_batch`` images per batch.

    Returns the archive and every image (train batches 1-5, then test) as uint8 rows.
    """
    rng = np.random.default_rng(0)
    buf, images = io.BytesIO(), []
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:

        def add(name: str, obj: object) -> None:
            data = pickle.dumps(obj, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))

        add("batches.meta", {"label_names": list(CIFAR10.classes), "num_vis": 3072})
        for name in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]:
            data = rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8)
            images.append(data)
            labels = [(len(images) + j) % 10 for j in range(n_per_batch)]
            add(name, {"data": data, "labels": labels, "batch_label": name, **(extra or {})})
    return buf.getvalue(), np.concatenate(images)


@pytest.fixture
def cifar_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path]]:
    """A loopback HTTP server on tmp_path/served; downloads allowed, no mirror, empty cache."""
    served = tmp_path / "served"
    served.mkdir()

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=served))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    for var in ("LEARNBENCH_MIRROR", "LEARNBENCH_OFFLINE", "http_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LEARNBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(CIFAR10, "n_train", 20)
    monkeypatch.setattr(CIFAR10, "n_test", 4)
    yield f"http://127.0.0.1:{httpd.server_address[1]}", served
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def _serve_cifar(monkeypatch, url: str, served: Path, data: bytes) -> None:
    (served / "cifar-10-python.tar.gz").write_bytes(data)
    art = Artifact("cifar10/cifar-10-python.tar.gz", f"{url}/cifar-10-python.tar.gz", sha(data))
    monkeypatch.setattr(CIFAR10, "artifacts", (art,))


def test_cifar10_downloads_and_parses_a_synthetic_archive(cifar_server, monkeypatch, tmp_path):
    url, served = cifar_server
    data, images = _cifar_tar()
    _serve_cifar(monkeypatch, url, served, data)
    d = load_dataset("cifar10")
    assert d.X_train.shape == (20, 3072) and d.X_test.shape == (4, 3072)
    assert d.image_shape == (3, 32, 32) and d.classes[0] == "airplane"
    assert np.array_equal(d.X_train, images[:20] / np.float32(255))
    assert np.array_equal(d.X_test, images[20:] / np.float32(255))
    assert d.y_train[:4].tolist() == [1, 2, 3, 4] and d.y_test.tolist() == [6, 7, 8, 9]
    assert (tmp_path / "cache" / "artifacts" / "cifar10" / "cifar-10-python.tar.gz").is_file()
    (served / "cifar-10-python.tar.gz").unlink()  # a second load needs neither server nor tar
    again = load_dataset("cifar10")
    assert again.meta["cache_hit"] is True and np.array_equal(again.X_test, d.X_test)


def test_cifar10_truncated_archive_is_a_one_line_error(cifar_server, monkeypatch, tmp_path):
    url, served = cifar_server
    data, _ = _cifar_tar(n_per_batch=40)
    _serve_cifar(monkeypatch, url, served, data[: len(data) // 2])
    with pytest.raises(CorruptArtifactError) as err:
        load_dataset("cifar10")
    assert_one_line(err, "cifar-10-python.tar.gz", "truncated or corrupt tar.gz")
    assert parsed_files(tmp_path / "cache") == []


def test_cifar10_refuses_pickles_with_foreign_globals(cifar_server, monkeypatch):
    url, served = cifar_server
    data, _ = _cifar_tar(extra={"payload": gzip.compress})  # a pickled function reference
    _serve_cifar(monkeypatch, url, served, data)
    with pytest.raises(CorruptArtifactError) as err:
        load_dataset("cifar10")
    assert_one_line(err, "data_batch_1", "refusing to load global gzip.compress")


def test_cifar10_real_artifact_is_pinned_and_download_only(real_data):
    (art,) = get_dataset_spec("cifar10").artifacts
    assert art.url == "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    assert art.sha256 == "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
    with pytest.raises(ArtifactNotFoundError) as err:
        load_dataset("cifar10")  # offline, and the mirror has no CIFAR-10
    assert_one_line(err, "cifar10/cifar-10-python.tar.gz", "LEARNBENCH_OFFLINE")
