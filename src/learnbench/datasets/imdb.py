"""IMDB Large Movie Review Dataset v1.0 (Maas et al. 2011): 50,000 labelled reviews.

The reviews are read straight from the ``.tar.gz`` in one streaming pass instead of being
extracted: extraction would write 100,000 small files (some 400 MB of 4 KiB blocks for
130 MB of text) that are read exactly once, because the parsed text then lives in the
parsed-data cache. Nothing from the archive is written to disk, so no member path needs
sanitising either (:mod:`.tar_stream`).
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from learnbench.datasets.artifacts import Artifact, fetch
from learnbench.datasets.base import DatasetSpec, ParamSpec, Parsed, register
from learnbench.datasets.parsed_cache import pack_csr, pack_strings, unpack_csr, unpack_strings
from learnbench.datasets.tar_stream import read_members
from learnbench.errors import CorruptArtifactError
from learnbench.validation import Integral, Interval, StrOptions

LABELS = ("neg", "pos")
PER_LABEL = 12_500  # reviews per (split, label)
N_UNSUP = 50_000
RATINGS = {"neg": range(1, 5), "pos": range(7, 11), "unsup": range(0, 1)}
MAX_FEATURES = 50_000
NGRAM_RANGE = (1, 2)
REPRESENTATIONS = ("tfidf", "text")

_REVIEW_DIR = re.compile(r"aclImdb/(train|test)/(pos|neg|unsup)/([^/]+)")
_REVIEW_FILE = re.compile(r"(\d+)_(\d+)\.txt")


@register
class IMDB(DatasetSpec):
    """IMDB sentiment: the official 25,000/25,000 split, as TF-IDF features or raw text."""

    name = "imdb"
    modality = "text"
    description = (
        "Large Movie Review Dataset v1.0: 50,000 polar IMDB reviews (at most 30 per film; "
        "negative <= 4/10, positive >= 7/10), 25,000 train / 25,000 test, balanced, plus "
        "50,000 unlabelled reviews for unsupervised learning."
    )
    citation = (
        "Maas, A. L., Daly, R. E., Pham, P. T., Huang, D., Ng, A. Y. & Potts, C. (2011). "
        "Learning Word Vectors for Sentiment Analysis. Proceedings of ACL-HLT 2011, 142-150."
    )
    license = "Research use; cite Maas et al. (ACL 2011)"
    protocol = (
        "official split, 25,000 train / 25,000 test, labels 0=neg 1=pos. representation="
        "'tfidf' (default, as in the gcForest paper): scikit-learn TfidfVectorizer on word "
        "uni- and bi-grams (lower-cased, default token pattern, '<br />' removed), "
        "max_features=50,000 most frequent, sublinear_tf, l2 rows, fitted on the 25,000 "
        "training reviews only; X is a scipy.sparse CSR float32 matrix. representation="
        "'text': X holds the raw review strings"
    )
    sizes = "25,000 train / 25,000 test (12,500 per label each) + 50,000 unlabelled"
    classes = LABELS
    parameters = {
        "representation": ParamSpec(
            default="tfidf",
            constraints=[StrOptions(set(REPRESENTATIONS))],
            help="'tfidf' (sparse CSR float32) or 'text' (raw strings)",
        ),
        "max_features": ParamSpec(
            default=MAX_FEATURES,
            constraints=[Interval(Integral, 1, None, closed="left")],
            help="TF-IDF vocabulary size (most frequent train n-grams)",
        ),
        "include_unsup": ParamSpec(
            default=False,
            constraints=["boolean"],
            help="also return the 50,000 unlabelled reviews in meta['unsup_text']",
        ),
    }
    artifacts = (
        Artifact(
            filename="imdb/aclImdb_v1_text.tar.gz",
            url="https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",
            # The mirror's copy leaves out the precomputed .feat files (text only); the
            # official tarball has the same text members, so its hash is accepted too.
            sha256="31bb4d57d1a132342c72efa0431d1098be2815a163297b881783e7fff3c1cdc9",
            alt_sha256=("c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe",),
        ),
    )

    def _parse(
        self, seed: int, *, representation: str, max_features: int, include_unsup: bool
    ) -> Parsed:
        """The official split (``seed`` unused) as TF-IDF features or raw text."""
        meta: dict[str, Any] = {}
        raw: dict[str, np.ndarray] | None = None
        if representation == "tfidf":
            arrays, hit = self._tfidf(max_features)
            X_train, X_test = unpack_csr(arrays, "X_train"), unpack_csr(arrays, "X_test")
            meta["vocabulary"] = unpack_strings(arrays["vocab_data"], arrays["vocab_offsets"])
            meta["idf"] = arrays["idf"]
            protocol = (
                f"official split; TF-IDF of word 1-2-grams, max_features={max_features}, "
                "sublinear_tf, fitted on train only"
            )
        else:
            raw, hit = self._raw()
            arrays = raw
            X_train = unpack_strings(raw["train_data"], raw["train_offsets"])
            X_test = unpack_strings(raw["test_data"], raw["test_offsets"])
            protocol = "official split; raw review text"
        if include_unsup:
            if raw is None:
                raw, _ = self._raw()
            meta["unsup_text"] = unpack_strings(raw["unsup_data"], raw["unsup_offsets"])
            meta["unsup_ids"] = raw["unsup_ids"]
        meta.update(
            {
                "representation": representation,
                "ratings_train": arrays["train_ratings"],
                "ratings_test": arrays["test_ratings"],
                "review_ids_train": arrays["train_ids"],
                "review_ids_test": arrays["test_ids"],
            }
        )
        return Parsed(
            X_train=X_train,
            y_train=arrays["train_labels"],
            X_test=X_test,
            y_test=arrays["test_labels"],
            cache_hit=hit,
            protocol=protocol,
            meta=meta,
        )

    def _raw(self) -> tuple[dict[str, np.ndarray], bool]:
        """The parsed reviews (train, test, unsup), from the cache or the archive."""
        return self.cached_arrays(lambda: read_reviews(fetch(self.artifacts[0])), stage="text")

    def _tfidf(self, max_features: int) -> tuple[dict[str, np.ndarray], bool]:
        """TF-IDF features fitted on the training reviews, from the cache or built."""
        return self.cached_arrays(
            lambda: tfidf_features(self._raw()[0], max_features),
            stage="tfidf",
            max_features=max_features,
            ngram_range=list(NGRAM_RANGE),
            sublinear_tf=True,
        )


def tfidf_features(raw: dict[str, np.ndarray], max_features: int) -> dict[str, np.ndarray]:
    """Fit TfidfVectorizer on the training reviews only; transform train and test."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    def cleaned(split: str) -> list[str]:
        texts = unpack_strings(raw[f"{split}_data"], raw[f"{split}_offsets"])
        return [t.replace("<br />", " ") for t in texts]

    vectorizer = TfidfVectorizer(
        ngram_range=NGRAM_RANGE, max_features=max_features, sublinear_tf=True, dtype=np.float32
    )
    X_train = vectorizer.fit_transform(cleaned("train"))
    X_test = vectorizer.transform(cleaned("test"))
    vocab_data, vocab_offsets = pack_strings(list(vectorizer.get_feature_names_out()))
    keep = ("labels", "ratings", "ids")
    return {
        **pack_csr("X_train", X_train),
        **pack_csr("X_test", X_test),
        "vocab_data": vocab_data,
        "vocab_offsets": vocab_offsets,
        "idf": vectorizer.idf_.astype(np.float64),
        **{f"{s}_{k}": raw[f"{s}_{k}"] for s in ("train", "test") for k in keep},
    }


def read_reviews(path: Path) -> dict[str, np.ndarray]:
    """Every review of the archive in one streaming pass, checked and in a fixed order.

    Per split: neg then pos, each by review id (label 0 = neg, 1 = pos); the text as packed
    UTF-8 (:func:`pack_strings`), the ratings and ids from the ``ID_RATING.txt`` names.
    """
    found: dict[tuple[str, str], list[tuple[int, int, str]]] = defaultdict(list)
    for name, data in read_members(path, lambda name: _REVIEW_DIR.fullmatch(name) is not None):
        split, group, filename = _REVIEW_DIR.fullmatch(name).groups()  # type: ignore[union-attr]
        review_id, rating = _parse_name(path, name, filename, group)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CorruptArtifactError(f"{path}: member {name} is not UTF-8 text ({exc})") from None
        found[(split, group)].append((review_id, rating, text))
    return _arrange(path, found)


def _parse_name(path: Path, member: str, filename: str, group: str) -> tuple[int, int]:
    """(review id, rating) from ``ID_RATING.txt``; a rating outside its group's range is an error."""
    match = _REVIEW_FILE.fullmatch(filename)
    if match is None:
        raise CorruptArtifactError(f"{path}: member {member} is not named ID_RATING.txt")
    review_id, rating = int(match[1]), int(match[2])
    if rating not in RATINGS[group]:
        raise CorruptArtifactError(
            f"{path}: member {member} has rating {rating}, outside {group}'s "
            f"{RATINGS[group].start}..{RATINGS[group].stop - 1}"
        )
    return review_id, rating


def _arrange(
    path: Path, found: dict[tuple[str, str], list[tuple[int, int, str]]]
) -> dict[str, np.ndarray]:
    """Check the counts and pack each split as arrays (sorted by label, then id)."""
    expected = {(split, label): PER_LABEL for split in ("train", "test") for label in LABELS}
    expected[("train", "unsup")], expected[("test", "unsup")] = N_UNSUP, 0
    for (split, group), n in expected.items():
        if len(found.get((split, group), ())) != n:
            raise CorruptArtifactError(
                f"{path}: expected {n} reviews in aclImdb/{split}/{group}, "
                f"got {len(found.get((split, group), ()))} (truncated or incomplete archive)"
            )
    out: dict[str, np.ndarray] = {}
    parts = {"train": LABELS, "test": LABELS, "unsup": ("unsup",)}
    for name, groups in parts.items():
        split = "train" if name == "unsup" else name
        rows = [
            (label, *review)
            for label, group in enumerate(groups)
            for review in sorted(found[(split, group)])
        ]
        out[f"{name}_data"], out[f"{name}_offsets"] = pack_strings([r[3] for r in rows])
        out[f"{name}_ids"] = np.asarray([r[1] for r in rows], dtype=np.int64)
        if name != "unsup":
            out[f"{name}_labels"] = np.asarray([r[0] for r in rows], dtype=np.int64)
            out[f"{name}_ratings"] = np.asarray([r[2] for r in rows], dtype=np.int64)
    return out
