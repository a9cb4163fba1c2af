"""UCI LETTER: 20,000 capital letters A-Z described by 16 integer features."""

from __future__ import annotations

import string

import numpy as np

from learnbench.datasets.artifacts import fetch
from learnbench.datasets.base import DatasetSpec, ParamSpec, Parsed, register
from learnbench.datasets.delimited import convert, expect_rows, read_rows, uci_artifact
from learnbench.errors import CorruptArtifactError

N_ROWS, N_TRAIN = 20_000, 16_000
FEATURES = (
    "x-box", "y-box", "width", "high", "onpix", "x-bar", "y-bar", "x2bar",
    "y2bar", "xybar", "x2ybr", "xy2br", "x-ege", "xegvy", "y-ege", "yegvx",
)
LETTERS = tuple(string.ascii_uppercase)


@register
class Letter(DatasetSpec):
    """LETTER with its standard split: the first 16,000 rows train, the last 4,000 test."""

    name = "letter"
    modality = "tabular"
    description = (
        "UCI Letter Recognition: 20,000 black-and-white images of the 26 capital letters in "
        "20 fonts, randomly distorted, each summarised by 16 integer attributes (0-15)."
    )
    citation = (
        "Slate, D. (1991). Letter Recognition [Dataset]. UCI Machine Learning Repository. "
        "Frey, P. W. & Slate, D. J. (1991). Letter recognition using Holland-style adaptive "
        "classifiers. Machine Learning, 6(2), 161-182."
    )
    license = "CC BY 4.0 (UCI Machine Learning Repository)"
    protocol = (
        "standard split: first 16,000 rows train, last 4,000 test (as in the gcForest paper); "
        "features standardised by a StandardScaler fitted on the training rows only "
        "(scale=False keeps the raw integers)"
    )
    sizes = "16,000 train / 4,000 test"
    classes = LETTERS
    parameters = {
        "scale": ParamSpec(
            default=True,
            constraints=["boolean"],
            help="standardise the 16 features (mean/std of the 16,000 training rows)",
        ),
    }
    artifacts = (
        uci_artifact(
            "letter-recognition", "letter-recognition.data",
            "2b89f3602cf768d3c8355267d2f13f2417809e101fc2b5ceee10db19a60de6e2",
        ),
    )

    def _parse(self, seed: int, *, scale: bool) -> Parsed:
        """The fixed split (``seed`` unused); X float32, standardised on train when ``scale``."""
        arrays, hit = self.cached_arrays(lambda: self._build(bool(scale)), scale=bool(scale))
        scaler = {k: arrays[k] for k in ("scaler_mean", "scaler_scale") if scale}
        return Parsed.from_arrays(
            arrays,
            cache_hit=hit,
            protocol=(
                "first 16,000 rows train, last 4,000 test; "
                + ("standardised on train" if scale else "raw integer features")
            ),
            meta={**scaler, "feature_names": list(FEATURES)},
        )

    def _build(self, scale: bool) -> dict[str, np.ndarray]:
        X, y = self._read()
        out = {
            "X_train": X[:N_TRAIN],
            "y_train": y[:N_TRAIN],
            "X_test": X[N_TRAIN:],
            "y_test": y[N_TRAIN:],
        }
        if scale:
            from sklearn.preprocessing import StandardScaler

            scaler = StandardScaler().fit(out["X_train"])
            out["X_train"] = scaler.transform(out["X_train"]).astype(np.float32)
            out["X_test"] = scaler.transform(out["X_test"]).astype(np.float32)
            out["scaler_mean"], out["scaler_scale"] = scaler.mean_, scaler.scale_
        return out

    def _read(self) -> tuple[np.ndarray, np.ndarray]:
        """All 20,000 rows: (X float32 raw integers, y int64 letter index)."""
        path = fetch(self.artifacts[0])
        rows = read_rows(path, 1 + len(FEATURES), sep=",")
        X = np.empty((len(rows), len(FEATURES)), dtype=np.float32)
        y = np.empty(len(rows), dtype=np.int64)
        for i, (line, fields) in enumerate(rows):
            if fields[0] not in LETTERS:
                raise CorruptArtifactError(
                    f"{path} line {line}: label {fields[0]!r} is not a capital letter A-Z"
                )
            y[i] = ord(fields[0]) - ord("A")
            X[i] = [convert(path, line, c, v, int) for c, v in zip(FEATURES, fields[1:], strict=True)]
        expect_rows(path, rows, N_ROWS)
        return X, y
