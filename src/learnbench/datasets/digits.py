"""scikit-learn's bundled 8x8 digits: a small image set that needs no download."""

from __future__ import annotations

import numpy as np

from learnbench.datasets.base import DatasetSpec, Parsed, register

TEST_SIZE = 0.25


@register
class Digits(DatasetSpec):
    """1,797 8x8 handwritten digits (``sklearn.datasets.load_digits``), seeded stratified split."""

    name = "digits"
    seeded_split = True
    modality = "image"
    description = (
        "1,797 8x8 images of handwritten digits 0-9 (pixel counts 0-16), the test part of "
        "the UCI Optical Recognition of Handwritten Digits data as bundled with scikit-learn."
    )
    citation = (
        "Alpaydin, E. & Kaynak, C. (1998). Optical Recognition of Handwritten Digits. "
        "UCI Machine Learning Repository."
    )
    license = "CC BY 4.0 (UCI Machine Learning Repository); ships with scikit-learn"
    protocol = (
        "seeded stratified 75/25 train/test split (train_test_split(test_size=0.25, "
        "stratify=y, random_state=seed))"
    )

    def _parse(self, seed: int) -> Parsed:
        """A stratified 75/25 split drawn with ``seed``; X scaled to [0, 1] by dividing by 16.

        Not cached: the data ships with scikit-learn and is small (1,797 rows).
        """
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        X, y = load_digits(return_X_y=True)
        X = (X / 16.0).astype(np.float32)
        y = y.astype(np.int64)
        idx_train, idx_test = train_test_split(
            np.arange(len(y)), test_size=TEST_SIZE, stratify=y, random_state=seed
        )
        return Parsed.take(
            X, y, idx_train, idx_test,
            classes=[str(d) for d in range(10)],
            protocol=f"{self.protocol}, seed={seed}",
            image_shape=(1, 8, 8),
            meta={"seed": seed, "train_index": idx_train, "test_index": idx_test},
        )
