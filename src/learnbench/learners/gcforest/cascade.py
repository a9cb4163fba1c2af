"""Cascade forest (Zhou & Feng, *Deep Forest*, arXiv:1702.08835, Sections 3.1, 3.3 and 4.1).

Each level is ``n_forests`` forests, half completely-random tree forests and half random forests
(Section 4.1: 4 + 4 of 500 trees; Table 1: "No. Forests: {8}"). A level's class vectors for its
own training data come from k-fold cross-validation (Section 4.1: three-fold) and are
concatenated to the next level's input (Figure 2). The depth is chosen by growing on 80 % of the
training data and estimating accuracy on the other 20 %: growth stops at the first level that does
not improve the estimate; the cascade is then retrained on all training data with that depth.
The prediction averages the class vectors of the last level's forests (Section 3.3).

With multi-grained scanning the input comes in *blocks*, one per grain, and level ``i`` takes
block ``i mod n_grains`` plus the previous level's class vectors (the "cascade of cascades" of
Figure 5: levels 1A, 1B, 1C, 2A, ...; each grade counts as one level here, and the growth test
is made after every grade, as in the authors' released code, ``look_indexs_cycle``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import cross_val_predict, train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from learnbench.learners.constraints import DeclaredParams
from learnbench.learners.gcforest.forests import (
    FOREST_CONSTRAINTS,
    StagePeak,
    check_device,
    check_input,
    fold_splitter,
    forest_kinds,
    joblib_backend,
    make_forest,
    proba_in_columns,
)

_MAX_SEED = 2**31 - 1


@dataclass
class CascadeCore:
    """The cascade itself, on feature blocks; shared by both scikit-learn classifiers."""

    n_classes: int
    n_forests: int = 8
    n_estimators: int = 500
    max_depth: int | None = None
    min_samples_leaf: int = 1
    n_folds: int = 3
    validation_fraction: float = 0.2
    max_levels: int = 20
    tolerance: float = 0.0
    device: str = "cpu"
    n_jobs: int | None = None
    verbose: int = 0
    levels: list[list[Any]] = field(default_factory=list)
    level_scores: list[float] = field(default_factory=list)
    n_levels: int = 0
    timings: dict[str, list[float]] = field(default_factory=lambda: {"grow": [], "refit": []})
    peak_memory_mb: dict[str, list[float]] = field(default_factory=lambda: {"grow": [], "refit": []})

    def fit(self, blocks: list[np.ndarray], y: np.ndarray, rng: np.random.RandomState) -> CascadeCore:
        """Choose the depth on a growing/estimating split, then retrain on all data (Section 4.1)."""
        self.n_levels = self._grow(blocks, y, rng)
        prev = None
        self.levels = []
        for i in range(self.n_levels):
            forests, prev = self._timed_level("refit", _stack(blocks[i % len(blocks)], prev), y, rng)
            self.levels.append(forests)
        return self

    def predict_proba(self, blocks: list[Any]) -> np.ndarray:
        """Mean class vector of the last level's forests (Section 3.3)."""
        prev = None
        for i, forests in enumerate(self.levels):
            prev = self._vectors(forests, _stack(blocks[i % len(blocks)], prev))
        return prev.reshape(len(prev), -1, self.n_classes).mean(axis=1)

    # -- internals --------------------------------------------------------------------------

    def _grow(self, blocks: list[np.ndarray], y: np.ndarray, rng: np.random.RandomState) -> int:
        """Number of levels: grow until the estimate stops improving by more than ``tolerance``."""
        n = len(y)
        n_est = int(round(n * self.validation_fraction))
        self.level_scores = []
        if self.max_levels < 1:
            raise ValueError(f"max_levels must be >= 1; got {self.max_levels}")
        if self.validation_fraction == 0:
            return self.max_levels  # no estimating set: a fixed depth
        if n_est < 1 or n - n_est < 2:
            return 1  # too few samples to estimate anything: one level
        counts = np.bincount(y)
        k = int(np.count_nonzero(counts))
        stratify = y if counts[counts > 0].min() >= 2 and min(n_est, n - n_est) >= k else None
        grow, est = train_test_split(
            np.arange(n), test_size=n_est, stratify=stratify, random_state=rng.randint(_MAX_SEED)
        )
        best, best_n, prev_g, prev_e = -np.inf, 0, None, None
        for i in range(self.max_levels):
            block = blocks[i % len(blocks)]
            forests, oof = self._timed_level("grow", _stack(block[grow], prev_g), y[grow], rng)
            vec_e = self._vectors(forests, _stack(block[est], prev_e))
            pred = vec_e.reshape(len(est), -1, self.n_classes).mean(axis=1).argmax(axis=1)
            score = float(np.mean(pred == y[est]))
            self.level_scores.append(score)
            if self.verbose:
                print(f"[gcforest] level {i + 1}: estimate {score:.4f}", flush=True)
            if score <= best + self.tolerance:
                break
            best, best_n, prev_g, prev_e = score, i + 1, oof, vec_e
        return max(1, best_n)  # tolerance=inf would keep none: the first level is always kept

    def _timed_level(
        self, stage: str, X: np.ndarray, y: np.ndarray, rng: np.random.RandomState
    ) -> tuple[list[Any], np.ndarray]:
        t0 = time.perf_counter()
        with StagePeak() as peak:
            result = self._fit_level(X, y, rng)
        self.timings[stage].append(time.perf_counter() - t0)
        self.peak_memory_mb[stage].append(peak.mb)
        return result

    def _fit_level(
        self, X: np.ndarray, y: np.ndarray, rng: np.random.RandomState
    ) -> tuple[list[Any], np.ndarray]:
        """Fit one level; return its forests (refitted on all of X) and out-of-fold class vectors."""
        cv = fold_splitter(y, self.n_folds, rng.randint(_MAX_SEED))
        labels = np.unique(y)  # cross_val_predict's columns: the classes present in y
        forests, oof = [], np.zeros((len(y), self.n_forests * self.n_classes), dtype=np.float32)
        for j, kind in enumerate(forest_kinds(self.n_forests)):
            forest = make_forest(
                kind, self.n_estimators, rng.randint(_MAX_SEED), n_jobs=self.n_jobs,
                device=self.device, max_depth=self.max_depth, min_samples_leaf=self.min_samples_leaf,
            )
            # Section 3.1: class vectors of training samples by k-fold cross-validation, never
            # from a forest that saw the sample.
            proba = cross_val_predict(forest, X, y, cv=cv, method="predict_proba")
            oof[:, j * self.n_classes + labels] = proba
            forests.append(forest.fit(X, y))
        return forests, oof

    def _vectors(self, forests: list[Any], X: np.ndarray) -> np.ndarray:
        return np.hstack([proba_in_columns(f, X, self.n_classes) for f in forests])


def _stack(block: Any, prev: np.ndarray | None) -> Any:
    """A level's input: its feature block, then the previous level's class vectors (Figure 2).

    A sparse block (TF-IDF, as in the paper's IMDB experiment) stays sparse (CSR).
    """
    if sp.issparse(block):
        return block if prev is None else sp.hstack([block, sp.csr_matrix(prev)], format="csr")
    block = np.asarray(block, dtype=np.float32)
    return block if prev is None else np.hstack([block, prev])


class CascadeForestClassifier(DeclaredParams, ClassifierMixin, BaseEstimator):
    """gcForest's cascade forest alone, without multi-grained scanning (Sections 3.1, 4.1).

    Zhou & Feng, Deep Forest, IJCAI 2017; extended version arXiv:1702.08835. The paper's
    configuration for data without spatial or sequential structure (IMDB, UCI
    LETTER/ADULT/YEAST: "cascade only", Tables 6-7) and its "CascadeForest" row of Table 9.

    Each level is ``n_forests`` forests, half completely-random tree forests and half random
    forests; a level's class vectors for its own training data come from k-fold cross-validation
    and are appended to the next level's input (Figure 2). The depth is chosen by growing on 80
    % of the training data and estimating accuracy on the other 20 %: growth stops at the first
    level that does not improve the estimate, then the cascade is retrained on all training data
    with that depth. The prediction averages the class vectors of the last level's forests
    (Section 3.3). ``X`` may be dense or sparse (CSR, e.g. TF-IDF); class vectors are appended
    to it.

    Parameters
    ----------
    n_forests : int, default=8
        Forests per level (>= 1), half completely-random tree forests, half random forests
        (Section 4.1: 8 = 4 + 4).
    n_estimators : int, default=500
        Trees per forest (>= 1).
    max_depth : int, default=None
        Tree depth limit (>= 1); None: "till pure leaf" (Table 1).
    min_samples_leaf : int, default=1
        Smallest leaf (>= 1; 1: pure leaves, Table 1).
    n_folds : int, default=3
        k (>= 2) of the k-fold cross-validation giving each level's class vectors for its own
        training data (Section 4.1: 3).
    validation_fraction : float, default=0.2
        Share of the training data, in [0, 1), held out to estimate each level's accuracy while
        growing (Section 4.1: 0.2); 0: no estimate, a fixed depth of ``max_levels``.
    max_levels : int, default=20
        Most levels grown (>= 1; the paper sets no limit, 20 as DF21's ``max_layers``).
    tolerance : float, default=0.0
        A level must raise the estimated accuracy by more than this to be kept.
    device : {"cpu", "cuda"} or str, default="cpu"
        ``"cpu"`` (scikit-learn forests) or ``"cuda"`` / ``"cuda:N"`` (XGBoost's random-forest
        mode, ``XGBRFClassifier``); CUDA that XGBoost cannot use is an error at ``fit``.
    n_jobs : int, default=None
        Parallel jobs of the scikit-learn forests (None: 1, -1: all cores).
    backend : {"loky", "threading", "dask"}, default=None
        joblib's backend for ``n_jobs`` (None: joblib's default). ``"dask"`` spreads the
        trees over the Dask cluster at ``$DASK_SCHEDULER_ADDRESS`` (set for cells run by a
        Dask executor), e.g. ``n_jobs=-1, backend="dask"`` for one paper-size cell.
    random_state : int, RandomState instance or None, default=None
        Seeds every forest, the fold splits and the growing/estimating split.
    verbose : int or bool, default=0
        Print the estimate of each level (and each scanning grain) while fitting (>= 0).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels seen in ``fit``, sorted.
    n_features_in_ : int
        Number of features of the rows seen in ``fit``.
    cascade_ : CascadeCore
        The fitted cascade (its ``levels`` of forests).
    n_levels_ : int
        Levels kept.
    level_scores_ : list of float
        Estimated accuracy of each level grown, the rejected last one included.
    timings_ : dict
        Seconds per level while growing (``grow``) and retraining (``refit``), and ``total``.
    peak_memory_mb_ : dict
        Peak RSS of the process in MiB while each level was fitted (``forests.StagePeak``).

    See Also
    --------
    learnbench.learners.make_learner : ``make_learner("gcforest_cascade")`` builds this class.
    GCForestClassifier : Multi-grained scanning feeding this cascade
        (``make_learner("gcforest")``).
    DeepForestClassifier : DF21, the authors' later cascade-forest implementation.

    Examples
    --------
    >>> import numpy as np
    >>> from learnbench.learners import make_learner
    >>> rng = np.random.default_rng(0)
    >>> X = rng.random((40, 64), dtype=np.float32); y = np.arange(40) % 2
    >>> clf = make_learner("gcforest_cascade", n_forests=2, n_estimators=5, max_levels=2,
    ...                    random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:3]).shape
    (3, 2)
    >>> 1 <= clf.n_levels_ <= 2, len(clf.cascade_.levels) == clf.n_levels_
    (True, True)

    Sparse input (CSR) works too:

    >>> import scipy.sparse as sp
    >>> clf.fit(sp.csr_matrix(X), y).predict(sp.csr_matrix(X[:3])).shape
    (3,)
    """

    _parameter_constraints = FOREST_CONSTRAINTS

    def __init__(
        self,
        n_forests: int = 8,
        n_estimators: int = 500,
        max_depth: int | None = None,
        min_samples_leaf: int = 1,
        n_folds: int = 3,
        validation_fraction: float = 0.2,
        max_levels: int = 20,
        tolerance: float = 0.0,
        device: str = "cpu",
        n_jobs: int | None = None,
        backend: str | None = None,
        random_state: Any = None,
        verbose: int = 0,
    ) -> None:
        self.n_forests = n_forests
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.n_folds = n_folds
        self.validation_fraction = validation_fraction
        self.max_levels = max_levels
        self.tolerance = tolerance
        self.device = device
        self.n_jobs = n_jobs
        self.backend = backend
        self.random_state = random_state
        self.verbose = verbose

    def fit(self, X: Any, y: Any) -> CascadeForestClassifier:
        """Fit on ``X, y`` (the forests' jobs on ``backend``, see the class docstring)."""
        self._check_params()
        with joblib_backend(self.backend):
            return self._fit(X, y)

    def _fit(self, X: Any, y: Any) -> CascadeForestClassifier:
        X, y = check_input(self, X, y, reset=True, sparse=True)
        check_classification_targets(y)
        check_device(self.device)
        self.classes_, y_enc = np.unique(y, return_inverse=True)
        t0 = time.perf_counter()
        self.cascade_ = cascade_core(self, len(self.classes_), self.n_estimators).fit(
            [X], y_enc, check_random_state(self.random_state)
        )
        publish_fit(self, self.cascade_, {"total": time.perf_counter() - t0})
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "cascade_")
        return self.cascade_.predict_proba([check_input(self, X, reset=False, sparse=True)])

    def predict(self, X: Any) -> np.ndarray:
        proba = self.predict_proba(X)  # checks fitted first
        return self.classes_[proba.argmax(axis=1)]


def cascade_core(est: Any, n_classes: int, n_estimators: int) -> CascadeCore:
    return CascadeCore(
        n_classes=n_classes, n_forests=est.n_forests, n_estimators=n_estimators,
        max_depth=getattr(est, "max_depth", None), min_samples_leaf=getattr(est, "min_samples_leaf", 1),
        n_folds=est.n_folds, validation_fraction=est.validation_fraction, max_levels=est.max_levels,
        tolerance=est.tolerance, device=est.device, n_jobs=est.n_jobs, verbose=est.verbose,
    )


def publish_fit(est: Any, core: CascadeCore, extra_timings: dict[str, float],
             extra_memory: dict[str, float] | None = None) -> None:
    """Copy the cascade's figures to the estimator's fitted attributes."""
    est.n_levels_ = core.n_levels
    est.level_scores_ = list(core.level_scores)
    est.timings_ = {**extra_timings, **{k: list(v) for k, v in core.timings.items()}}
    est.peak_memory_mb_ = {**(extra_memory or {}), **{k: list(v) for k, v in core.peak_memory_mb.items()}}
