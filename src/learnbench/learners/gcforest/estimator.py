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
    joblib_backend,
)
from learnbench.learners.gcforest.scanning import MultiGrainedScanner

_MAX_SEED = 2**31 - 1


class GCForestClassifier(DeclaredParams, ClassifierMixin, BaseEstimator):
    """gcForest: multi-grained scanning (Section 3.2) feeding a cascade forest (Section 3.1).

    Zhou & Feng, Deep Forest: Towards an alternative to deep neural networks, IJCAI 2017;
    section, figure and table numbers refer to the extended version, arXiv:1702.08835.

    With ``input_shape`` the rows of ``X`` are scanned (:class:`MultiGrainedScanner`: per window
    size, a completely-random tree forest and a random forest give class vectors of every
    window), and cascade level ``i`` takes the class vectors of grain ``i mod n_grains`` plus
    the previous level's class vectors (Figure 5). ``input_shape=None``: no scanning, the
    cascade on raw features (the paper's IMDB and UCI experiments, Tables 6-7). The cascade's
    depth is chosen on a held-out split (see :class:`CascadeForestClassifier`). Defaults are the
    paper's (Table 1, Section 4.1).

    Parameters
    ----------
    input_shape : tuple of int, default=None
        ``(C, H, W)``, ``(C, L)`` or ``(L,)`` of one sample; None: cascade only (``X`` may then
        be sparse CSR, e.g. the IMDB TF-IDF).
    window_sizes : int, tuple or list, default=None
        Window sides (images) or lengths (sequences), or ``(h, w)`` pairs. None:
        ``floor(d/16), floor(d/8), floor(d/4)`` (see ``scanning.default_window_sizes``: MNIST 7,
        10, 14); the authors' released MNIST configuration is ``(7, 10, 13)`` with
        ``stride=2, pool=2, scan_min_samples_leaf=10``.
    stride : int, default=1
        Window step (>= 1).
    pool : int, default=None
        Average pooling of the class-vector maps over p x p positions (>= 1); None: none.
    scan_estimators : int, default=500
        Trees per scanning forest (>= 1; 2 forests per grain).
    scan_min_samples_leaf : int, default=1
        Smallest leaf of the scanning trees (>= 1; 1 = pure leaves; depth capped at 100 per
        Table 1).
    max_train_windows : int, default=None
        Train each scanning forest on at most this many window instances, sampled uniformly
        (>= 1); None: all.
    batch_size : int, default=256
        Images per scanning prediction batch (>= 1).
    cascade_estimators : int, default=500
        Trees per cascade forest (>= 1).
    n_forests : int, default=8
        Forests per cascade level (>= 1), half completely-random, half random (Section 4.1: 8 =
        4 + 4).
    n_folds : int, default=3
        k (>= 2) of the cross-validation giving class vectors, in scanning and in the cascade
        (Section 4.1: 3).
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
    scanner_ : MultiGrainedScanner or None
        The fitted scanner; None without scanning.
    cascade_ : CascadeCore
        The fitted cascade (its ``levels`` of forests).
    n_levels_ : int
        Cascade levels kept.
    level_scores_ : list of float
        Estimated accuracy of each level grown, the rejected last one included.
    timings_ : dict
        ``scan`` seconds, ``grow`` and ``refit`` seconds per level, ``total``.
    peak_memory_mb_ : dict
        Peak RSS of the process in MiB during ``scan`` and each level (``forests.StagePeak``).

    See Also
    --------
    learnbench.learners.make_learner : ``make_learner("gcforest")`` builds this class.
    CascadeForestClassifier : The cascade alone (``make_learner("gcforest_cascade")``).
    MultiGrainedScanner : The scanning transformer, usable alone.
    DeepForestClassifier : DF21, the authors' later implementation.

    Examples
    --------
    >>> import numpy as np
    >>> from learnbench.learners import make_learner
    >>> rng = np.random.default_rng(0)
    >>> X = rng.random((40, 64), dtype=np.float32); y = np.arange(40) % 2
    >>> clf = make_learner("gcforest", input_shape=(1, 8, 8), window_sizes=(4,),
    ...                    scan_estimators=5, cascade_estimators=5, n_forests=2, max_levels=2,
    ...                    random_state=0).fit(X, y)
    >>> clf.predict(X[:3]).shape
    (3,)
    >>> clf.scanner_.windows_
    [(4, 4)]
    >>> 1 <= clf.n_levels_ <= 2
    True
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
        backend: str | None = None,
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
        self.backend = backend
        self.random_state = random_state
        self.verbose = verbose

    def fit(self, X: Any, y: Any) -> GCForestClassifier:
        """Fit on ``X, y`` (the forests' jobs on ``backend``, see the class docstring)."""
        self._check_params()
        with joblib_backend(self.backend):
            return self._fit(X, y)

    def _fit(self, X: Any, y: Any) -> GCForestClassifier:
        t0 = time.perf_counter()
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
