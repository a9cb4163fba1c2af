"""UCI ADULT (census income): predict whether income exceeds $50K/yr from 14 attributes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from learnbench.datasets.artifacts import fetch
from learnbench.datasets.base import DatasetSpec, Parsed, register
from learnbench.datasets.delimited import convert, expect_rows, read_rows, uci_artifact
from learnbench.errors import CorruptArtifactError

if TYPE_CHECKING:  # pandas and scikit-learn are imported when a load needs them
    import pandas as pd
    from sklearn.compose import ColumnTransformer

COLUMNS = (
    "age", "workclass", "fnlwgt", "education", "education-num", "marital-status",
    "occupation", "relationship", "race", "sex", "capital-gain", "capital-loss",
    "hours-per-week", "native-country",
)
NUMERIC = ("age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week")
CATEGORICAL = tuple(c for c in COLUMNS if c not in NUMERIC)
LABELS = ("<=50K", ">50K")
N_TRAIN, N_TEST = 32_561, 16_281


@register
class Adult(DatasetSpec):
    """ADULT with its official split: ``adult.data`` train, ``adult.test`` test."""

    name = "adult"
    modality = "tabular"
    description = (
        "UCI Adult (Census Income): 48,842 records of the 1994 US Census with 6 numeric and "
        "8 categorical attributes; task: income <=50K or >50K per year."
    )
    citation = (
        "Becker, B. & Kohavi, R. (1996). Adult [Dataset]. UCI Machine Learning Repository. "
        "Kohavi, R. (1996). Scaling up the accuracy of naive-Bayes classifiers: a decision-"
        "tree hybrid. Proceedings of KDD-96."
    )
    license = "CC BY 4.0 (UCI Machine Learning Repository)"
    protocol = (
        "official split: adult.data (32,561) train, adult.test (16,281) test, as in the "
        "gcForest paper; '?' is a missing value, imputed as its own category 'missing' "
        "(categorical) or the median (numeric); categorical attributes one-hot encoded "
        "(OneHotEncoder, handle_unknown='ignore'), numeric ones standardised (StandardScaler), "
        "by one ColumnTransformer fitted on the training rows only"
    )
    sizes = "32,561 train / 16,281 test"
    classes = LABELS
    artifacts = (
        uci_artifact(
            "adult", "adult.data", "5b00264637dbfec36bdeaab5676b0b309ff9eb788d63554ca0a249491c86603d"
        ),
        uci_artifact(
            "adult", "adult.test", "a2a9044bc167a35b2361efbabec64e89d69ce82d9790d2980119aac5fd7e9c05"
        ),
        uci_artifact(  # documentation only: verified by `learnbench datasets verify`, not parsed
            "adult", "adult.names",
            "c248284c0b5de30c9e1958d6cdd168a34a654758b620e68f46aefa83fc0a576a", parsed=False,
        ),
    )

    def _parse(self, seed: int) -> Parsed:
        """The official split (``seed`` unused); X dense float32 (one-hot + standardised)."""
        arrays, hit = self.cached_arrays(self._build)
        return Parsed.from_arrays(
            arrays,
            cache_hit=hit,
            meta={
                "feature_names": arrays["feature_names"].tolist(),
                "numeric_mean": arrays["numeric_mean"],
                "numeric_scale": arrays["numeric_scale"],
            },
        )

    def _build(self) -> dict[str, np.ndarray]:
        """Parse both files, fit the ColumnTransformer on train, transform both."""
        train_df, y_train = read_adult(fetch(self.artifacts[0]), N_TRAIN)
        test_df, y_test = read_adult(fetch(self.artifacts[1]), N_TEST)
        encoder = make_encoder().fit(train_df)
        num_scaler = encoder.named_transformers_["num"].named_steps["scale"]
        return {
            "X_train": encoder.transform(train_df).astype(np.float32),
            "y_train": y_train,
            "X_test": encoder.transform(test_df).astype(np.float32),
            "y_test": y_test,
            "feature_names": np.asarray(encoder.get_feature_names_out(), dtype=str),
            "numeric_mean": num_scaler.mean_,
            "numeric_scale": num_scaler.scale_,
        }


def make_encoder() -> ColumnTransformer:
    """Standardise the numeric columns, one-hot the categorical ones ('?' -> 'missing')."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = Pipeline(
        [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]
    )
    categorical = Pipeline(
        [
            ("impute", SimpleImputer(strategy="constant", fill_value="missing")),
            ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
        ]
    )
    return ColumnTransformer(
        [("num", numeric, list(NUMERIC)), ("cat", categorical, list(CATEGORICAL))]
    )


def read_adult(path: Path, n_rows: int) -> tuple[pd.DataFrame, np.ndarray]:
    """One ADULT file as a DataFrame ('?' -> NaN) and int64 labels (0 '<=50K', 1 '>50K').

    Handles ``adult.test``'s junk first line and the '.' after its labels.
    """
    import pandas as pd

    rows = read_rows(path, len(COLUMNS) + 1, sep=",")
    records, labels = [], np.empty(len(rows), dtype=np.int64)
    for i, (line, fields) in enumerate(rows):
        label = fields[-1].rstrip(".")
        if label not in LABELS:
            raise CorruptArtifactError(
                f"{path} line {line}: label {fields[-1]!r} is not one of {', '.join(LABELS)}"
            )
        labels[i] = LABELS.index(label)
        record: dict[str, object] = {}
        for column, value in zip(COLUMNS, fields[:-1], strict=True):
            if value == "?":
                record[column] = np.nan
            elif column in NUMERIC:
                record[column] = convert(path, line, column, value, float)
            else:
                record[column] = value
        records.append(record)
    expect_rows(path, rows, n_rows)
    frame = pd.DataFrame.from_records(records, columns=list(COLUMNS))
    frame[list(NUMERIC)] = frame[list(NUMERIC)].astype(np.float64)
    return frame, labels
