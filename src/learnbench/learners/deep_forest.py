"""DF21 comparator: ``deepforest.CascadeForestClassifier`` behind the learnbench estimator contract.

DF21 (Zhou, Feng et al., LAMDA-NJU, https://github.com/LAMDA-NJU/Deep-Forest) is the authors'
later cascade-forest implementation: no multi-grained scanning, features binned to at most
255 values, 2 x ``n_estimators`` forests (random forests + extremely randomised trees) of
``n_trees`` trees per layer, early stopping after ``n_tolerant_rounds`` layers without gain.
It comes from the PyPI package ``deep-forest-py310`` (import name ``deepforest``), installed
with ``pip install 'learnbench[deepforest]'``; it is imported only when a model is fitted.
"""

from __future__ import annotations

import inspect
import time
import types
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from learnbench.errors import LearnbenchError
from learnbench.learners.constraints import (
    NON_NEGATIVE_INT,
    NON_NEGATIVE_REAL,
    POSITIVE_INT,
    DeclaredParams,
)
from learnbench.validation import Integral, Interval, StrOptions

INSTALL_HINT = "pip install 'learnbench[deepforest]'"


def _deepforest() -> Any:
    try:
        import deepforest
        import deepforest._binner
    except ImportError:
        raise LearnbenchError(
            f"learner 'deep_forest' needs the DF21 package (deep-forest-py310): {INSTALL_HINT}"
        ) from None
    if "interpolation" not in inspect.signature(np.percentile).parameters:
        deepforest._binner.np = _NumpyPercentileShim("numpy")
    return deepforest


class _NumpyPercentileShim(types.ModuleType):
    """numpy for ``deepforest._binner``, whose ``np.percentile(..., interpolation="midpoint")``
    (deep-forest-py310 0.1.9) fails on NumPy versions that removed ``interpolation`` (renamed
    ``method`` in 1.22). Only that keyword is translated; the binning is unchanged. Without it
    DF21 fails on any feature with more than ``n_bins`` distinct values (e.g. MNIST pixels)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(np, name)

    @staticmethod
    def percentile(a: Any, q: Any, *args: Any, interpolation: str | None = None, **kwargs: Any) -> Any:
        if interpolation is not None:
            kwargs["method"] = interpolation
        return np.percentile(a, q, *args, **kwargs)


class DeepForestClassifier(DeclaredParams, ClassifierMixin, BaseEstimator):
    """DF21's cascade forest classifier; parameters and defaults are DF21's own.

    Zhou & Feng, Deep forest, National Science Review 6(1), 2019; DF21,
    https://github.com/LAMDA-NJU/Deep-Forest.

    DF21 is the authors' later cascade-forest implementation: no multi-grained scanning,
    features binned to at most 255 values, 2 x ``n_estimators`` forests (random forests +
    extremely randomised trees) of ``n_trees`` trees per layer, early stopping after
    ``n_tolerant_rounds`` layers without gain. It comes from the PyPI package
    ``deep-forest-py310`` (import name ``deepforest``), installed with
    ``pip install 'learnbench[deepforest]'``, and is imported only when a model is fitted (on
    NumPy versions without ``np.percentile``'s ``interpolation`` keyword its binner gets a
    shim). ``fit`` passes every parameter to ``deepforest.CascadeForestClassifier``.

    Parameters
    ----------
    n_bins : int, default=255
        Bins for non-missing feature values, in [2, 255] (one more is reserved for missing
        values).
    bin_subsample : int, default=200_000
        Training samples used to build the bins (>= 1); all when the training set is smaller.
    max_layers : int, default=20
        Most cascade layers (>= 1); early stopping may keep fewer.
    n_estimators : int, default=2
        Estimators per layer (>= 1), each one random forest + one extra-trees forest.
    n_trees : int, default=100
        Trees per forest (>= 1).
    max_depth : int, default=None
        Tree depth limit (>= 1); None: none.
    min_samples_leaf : int, default=1
        Smallest leaf (>= 1).
    use_predictor : bool, default=False
        Fit a predictor on top of the last layer.
    predictor : {"forest", "xgboost", "lightgbm"}, default="forest"
        The predictor's kind, when ``use_predictor``.
    n_tolerant_rounds : int, default=2
        Stop after this many layers (>= 1) without an improvement of the best validation
        performance so far.
    delta : float, default=1e-5
        Smallest improvement (>= 0) that counts as one for ``n_tolerant_rounds``.
    n_jobs : int, default=None
        Parallel jobs for fit and predict (None: 1, -1: all cores).
    random_state : int, default=None
        Seed of DF21's generator; None: NumPy's global one.
    verbose : int, default=0
        DF21's logging (>= 0); 0 here, where DF21's default 1 prints every layer.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels seen in ``fit``, sorted.
    n_features_in_ : int
        Number of features of the rows seen in ``fit``.
    model_ : deepforest.CascadeForestClassifier
        The fitted DF21 model (trained on label indices).
    n_levels_ : int
        Layers kept.
    fit_seconds_ : float
        Seconds of DF21's ``fit``.

    See Also
    --------
    learnbench.learners.make_learner : ``make_learner("deep_forest")`` builds this class.
    CascadeForestClassifier : gcForest's cascade as the 2017 paper describes it.

    Examples
    --------
    >>> import numpy as np
    >>> from learnbench.learners import make_learner
    >>> rng = np.random.default_rng(0)
    >>> X = rng.random((40, 64), dtype=np.float32); y = np.arange(40) % 2
    >>> clf = make_learner("deep_forest", n_trees=10, max_layers=2, random_state=0).fit(X, y)
    >>> clf.predict(X[:3]).shape
    (3,)
    >>> 1 <= clf.n_levels_ <= 2
    True
    """

    _parameter_constraints = {
        "n_bins": [Interval(Integral, 2, 255, closed="both")],
        "bin_subsample": [POSITIVE_INT],
        "max_layers": [POSITIVE_INT],
        "n_estimators": [POSITIVE_INT],
        "n_trees": [POSITIVE_INT],
        "max_depth": [None, POSITIVE_INT],
        "min_samples_leaf": [POSITIVE_INT],
        "use_predictor": ["boolean"],
        "predictor": [StrOptions({"forest", "xgboost", "lightgbm"})],
        "n_tolerant_rounds": [POSITIVE_INT],
        "delta": [NON_NEGATIVE_REAL],
        "random_state": [None, Integral],
        "verbose": [NON_NEGATIVE_INT],
    }

    def __init__(
        self,
        n_bins: int = 255,
        bin_subsample: int = 200_000,
        max_layers: int = 20,
        n_estimators: int = 2,
        n_trees: int = 100,
        max_depth: int | None = None,
        min_samples_leaf: int = 1,
        use_predictor: bool = False,
        predictor: str = "forest",
        n_tolerant_rounds: int = 2,
        delta: float = 1e-5,
        n_jobs: int | None = None,
        random_state: int | None = None,
        verbose: int = 0,
    ) -> None:
        self.n_bins = n_bins
        self.bin_subsample = bin_subsample
        self.max_layers = max_layers
        self.n_estimators = n_estimators
        self.n_trees = n_trees
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.use_predictor = use_predictor
        self.predictor = predictor
        self.n_tolerant_rounds = n_tolerant_rounds
        self.delta = delta
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def fit(self, X: Any, y: Any) -> DeepForestClassifier:
        self._check_params()
        deepforest = _deepforest()
        X, y = self._validate_data(X, y, dtype=np.float64, ensure_min_samples=2)
        check_classification_targets(y)
        self.classes_, y_enc = np.unique(y, return_inverse=True)
        self.model_ = deepforest.CascadeForestClassifier(**self.get_params())
        t0 = time.perf_counter()
        self.model_.fit(X, y_enc)
        self.fit_seconds_ = time.perf_counter() - t0
        self.n_levels_ = int(self.model_.n_layers_)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "model_")
        X = self._validate_data(X, dtype=np.float64, reset=False)
        proba = np.asarray(self.model_.predict_proba(X))
        if proba.shape[1] == len(self.classes_):
            return proba
        # DF21 returns one column per class it was trained on, which is all of ours
        n_cols, n_classes = proba.shape[1], len(self.classes_)
        raise LearnbenchError(f"DF21 returned {n_cols} class columns for {n_classes} classes")

    def predict(self, X: Any) -> np.ndarray:
        proba = self.predict_proba(X)  # checks fitted first
        return self.classes_[proba.argmax(axis=1)]
