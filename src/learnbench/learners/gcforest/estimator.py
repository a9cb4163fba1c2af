"""``GCForestClassifier``: multi-grained scanning + cascade forest (Zhou & Feng, arXiv:1702.08835).

Section 3.3 and Figure 5 (overall procedure), Table 1 and Section 4.1 (default settings).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from learnbench.learners.constraints import DeclaredParams
from learnbench.learners.gcforest.cascade import cascade_core, publish_fit
from learnbench.learners.gcforest.forests import (
    FOREST_CONSTRAINTS,
    StagePeak,
    check_device,
    check_input,
)
from learnbench.learners.gcforest.scanning import MultiGrainedScanner

_MAX_SEED = 2**31 - 1


class GCForestClassifier(DeclaredParams, ClassifierMixin, BaseEstimator):
    """gcForest: multi-grained scanning (Section 3.2) feeding a cascade forest (Section 3.1).

    With ``input_shape`` the rows of ``X`` are scanned (:class:`MultiGrainedScanner`) and cascade
    level ``i`` takes the class vectors of grain ``i mod n_grains`` plus the previous level's
    class vectors (Figure 5). ``input_shape=None``: no scanning, the cascade on raw features
    (the paper's IMDB and UCI experiments, Tables 6-7).

    Parameters (paper defaults; Table 1, Section 4.1)
    ----------
    input_shape : ``(C, H, W)``, ``(C, L)`` or ``(L,)``; None = cascade only (X may then be
        sparse CSR, e.g. the IMDB TF-IDF).
    window_sizes : None = ``floor(d/16), floor(d/8), floor(d/4)`` (see
        ``scanning.default_window_sizes``: MNIST 7, 10, 14); the authors' released MNIST
        configuration is ``(7, 10, 13)`` with ``stride=2, pool=2, scan_min_samples_leaf=10``.
    stride : window step (1).
    pool : average pooling of class-vector maps, p x p (None: none).
    scan_estimators : trees per scanning forest (500; 2 forests per grain).
    scan_min_samples_leaf : scanning tree leaves (1 = pure; depth capped at 100 per Table 1).
    max_train_windows : subsample of window instances for the scanning forests (None: all).
    batch_size : images per scanning prediction batch.
    cascade_estimators : trees per cascade forest (500).
    n_forests : forests per cascade level, half completely random, half random (8).
    n_folds : cross-validation folds for class vectors, scanning and cascade (3).
    validation_fraction : estimating share of the training data (0.2).
    max_levels : most cascade levels (20; the paper sets no limit).
    tolerance : a level must raise the estimate by more than this.
    device : ``"cpu"`` or ``"cuda"`` (XGBoost random-forest mode; an error without CUDA).
    n_jobs, random_state, verbose : as in scikit-learn.

    Fitted attributes: ``classes_``, ``n_features_in_``, ``scanner_`` (None without scanning),
    ``cascade_``, ``n_levels_``, ``level_scores_`` (estimated accuracy per level grown),
    ``timings_`` (``scan`` s, ``grow``/``refit`` s per level, ``total``), ``peak_memory_mb_``
    (peak RSS in MiB of the process during ``scan`` and each level, ``forests.StagePeak``).
    """

    _parameter_constraints = FOREST_CONSTRAINTS

    def __init__(
        self,
        input_shape: tuple[int, ...] | None = None,
        window_sizes: Any = None,
        stride: int = 1,
        pool: int | None = None,
        scan_estimators: int = 500,
        scan_min_samples_leaf: int = 1,
        max_train_windows: int | None = None,
        batch_size: int = 256,
        cascade_estimators: int = 500,
        n_forests: int = 8,
        n_folds: int = 3,
        validation_fraction: float = 0.2,
        max_levels: int = 20,
        tolerance: float = 0.0,
        device: str = "cpu",
        n_jobs: int | None = None,
        random_state: Any = None,
        verbose: int = 0,
    ) -> None:
        self.input_shape = input_shape
        self.window_sizes = window_sizes
        self.stride = stride
        self.pool = pool
        self.scan_estimators = scan_estimators
        self.scan_min_samples_leaf = scan_min_samples_leaf
        self.max_train_windows = max_train_windows
        self.batch_size = batch_size
        self.cascade_estimators = cascade_estimators
        self.n_forests = n_forests
        self.n_folds = n_folds
        self.validation_fraction = validation_fraction
        self.max_levels = max_levels
        self.tolerance = tolerance
        self.device = device
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def fit(self, X: Any, y: Any) -> GCForestClassifier:
        t0 = time.perf_counter()
        self._check_params()
        X, y = check_input(self, X, y, reset=True, sparse=self.input_shape is None)
        check_classification_targets(y)
        check_device(self.device)
        self.classes_, y_enc = np.unique(y, return_inverse=True)
        rng = check_random_state(self.random_state)
        timings: dict[str, float] = {}
        memory: dict[str, float] = {}
        if self.input_shape is None:
            self.scanner_ = None
            blocks = [X]
        else:
            self.scanner_ = self._make_scanner(rng.randint(_MAX_SEED))
            t_scan = time.perf_counter()
            with StagePeak() as peak:
                Z = self.scanner_.fit_transform(X, y_enc)
            timings["scan"] = time.perf_counter() - t_scan
            memory["scan"] = peak.mb
            blocks = [Z[:, s] for s in self.scanner_.grain_slices_]
        core = cascade_core(self, len(self.classes_), self.cascade_estimators)
        self.cascade_ = core.fit(blocks, y_enc, rng)
        timings["total"] = time.perf_counter() - t0
        publish_fit(self, self.cascade_, timings, memory)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "cascade_")
        X = check_input(self, X, reset=False, sparse=self.scanner_ is None)
        if self.scanner_ is None:
            return self.cascade_.predict_proba([X])
        Z = self.scanner_.transform(X)
        return self.cascade_.predict_proba([Z[:, s] for s in self.scanner_.grain_slices_])

    def predict(self, X: Any) -> np.ndarray:
        proba = self.predict_proba(X)  # checks fitted first
        return self.classes_[proba.argmax(axis=1)]

    def _make_scanner(self, seed: int) -> MultiGrainedScanner:
        return MultiGrainedScanner(
            input_shape=self.input_shape, window_sizes=self.window_sizes, stride=self.stride,
            pool=self.pool, n_estimators=self.scan_estimators, max_depth=100,
            min_samples_leaf=self.scan_min_samples_leaf, n_folds=self.n_folds,
            max_train_windows=self.max_train_windows, batch_size=self.batch_size,
            device=self.device, n_jobs=self.n_jobs, random_state=seed, verbose=self.verbose,
        )
