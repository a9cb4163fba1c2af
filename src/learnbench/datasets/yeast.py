"""UCI YEAST: cellular localisation sites of 1,484 yeast proteins from 8 sequence scores."""

from __future__ import annotations

import numpy as np

from learnbench.datasets.artifacts import fetch
from learnbench.datasets.base import DatasetSpec, ParamSpec, Parsed, register
from learnbench.datasets.delimited import convert, expect_rows, read_rows, uci_artifact
from learnbench.errors import CorruptArtifactError
from learnbench.validation import Interval, Real

N_ROWS = 1_484
FEATURES = ("mcg", "gvh", "alm", "mit", "erl", "pox", "vac", "nuc")
# Most to least frequent, as the UCI description lists them; the label is the index here.
CLASSES = ("CYT", "NUC", "MIT", "ME3", "ME2", "ME1", "EXC", "VAC", "POX", "ERL")
TEST_SIZE = 0.3


@register
class Yeast(DatasetSpec):
    """YEAST with a seeded stratified 70/30 split (it has no official one)."""

    name = "yeast"
    seeded_split = True
    modality = "tabular"
    description = (
        "UCI Yeast: 1,484 proteins, 8 numeric sequence-derived scores (already in [0, 1]), "
        "10 localisation-site classes from CYT (463) down to ERL (5)."
    )
    citation = (
        "Nakai, K. (1991). Yeast [Dataset]. UCI Machine Learning Repository. Horton, P. & "
        "Nakai, K. (1996). A probabilistic classification system for predicting the cellular "
        "localization sites of proteins. Proceedings of ISMB-96."
    )
    license = "CC BY 4.0 (UCI Machine Learning Repository)"
    protocol = (
        "no official split: seeded stratified split, test fraction 0.3 by default (1,038 train / "
        "446 test, the gcForest paper's 70%/30%), train_test_split(stratify=y, "
        "random_state=seed); the features are used raw (they are scores in [0, 1])"
    )
    sizes = "1,484 rows: 1,038 train / 446 test at test_size=0.3"
    classes = CLASSES
    parameters = {
        "test_size": ParamSpec(
            default=TEST_SIZE,
            constraints=[Interval(Real, 0, 1, closed="neither")],
            help="fraction of each class held out for testing",
        ),
    }
    artifacts = (
        uci_artifact(
            "yeast", "yeast.data", "ab3f26cae475985f6f1552beb179f6d926022d934b56d7707cda420f855f2062"
        ),
        uci_artifact(  # documentation only: verified by `learnbench datasets verify`, not parsed
            "yeast", "yeast.names",
            "c0b2d0e8708c1d2484e898749ab13f46fdc797ac49844c6294108db57bcad19e", parsed=False,
        ),
    )

    def _parse(self, seed: int, *, test_size: float) -> Parsed:
        """A stratified split drawn with ``seed``; X float32 raw scores."""
        from sklearn.model_selection import train_test_split

        arrays, hit = self.cached_arrays(self._read)
        y = arrays["y"]
        train, test = train_test_split(
            np.arange(len(y)), test_size=test_size, stratify=y, random_state=seed
        )
        train, test = np.sort(train), np.sort(test)
        return Parsed.take(
            arrays["X"], y, train, test,
            cache_hit=hit,
            protocol=f"seeded stratified split, test_size={test_size}, raw features, seed={seed}",
            meta={
                "seed": seed,
                "test_size": test_size,
                "train_index": train,
                "test_index": test,
                "protein_names": arrays["names"],
                "feature_names": list(FEATURES),
            },
        )

    def _read(self) -> dict[str, np.ndarray]:
        """All 1,484 rows in file order: X float32, y int64 (index into CLASSES), names."""
        path = fetch(self.artifacts[0])
        rows = read_rows(path, 2 + len(FEATURES), sep=None)
        X = np.empty((len(rows), len(FEATURES)), dtype=np.float32)
        y = np.empty(len(rows), dtype=np.int64)
        for i, (line, fields) in enumerate(rows):
            if fields[-1] not in CLASSES:
                raise CorruptArtifactError(
                    f"{path} line {line}: class {fields[-1]!r} is not one of {', '.join(CLASSES)}"
                )
            y[i] = CLASSES.index(fields[-1])
            X[i] = [
                convert(path, line, c, v, float)
                for c, v in zip(FEATURES, fields[1:-1], strict=True)
            ]
        expect_rows(path, rows, N_ROWS)
        return {"X": X, "y": y, "names": np.asarray([f[0] for _, f in rows], dtype=str)}
