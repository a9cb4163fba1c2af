"""The two forest types of gcForest, out-of-fold class vectors, and cheap resource probes.

Zhou & Feng, *Deep Forest*, arXiv:1702.08835 (extended version), Section 3.1: a
*completely-random tree forest* picks one feature at random for each split and grows trees
until every leaf is pure; a *random forest* picks the best Gini split among sqrt(d) random
features. On ``device="cpu"`` they are scikit-learn's ``ExtraTreesClassifier(max_features=1)``
(random feature *and* random threshold: the completely-random tree of the paper's ref. [37])
and ``RandomForestClassifier(max_features="sqrt")``. On ``device="cuda"`` both are XGBoost's
random-forest mode (``XGBRFClassifier``), see :class:`XGBoostForest`.
"""

from __future__ import annotations

import contextlib
import re
import resource
import threading
import warnings
from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
from sklearn.model_selection import KFold, StratifiedKFold

from learnbench.errors import LearnbenchError
from learnbench.learners.constraints import NON_NEGATIVE_INT, POSITIVE_INT, SHAPE
from learnbench.validation import Integral, Interval, Real, Satisfies, StrOptions

ForestKind = Literal["completely_random", "random"]
FOREST_KINDS: tuple[ForestKind, ...] = ("completely_random", "random")


#: Constraints of the gcForest parameters (each class keeps those it has; the rest: SHARED).
FOREST_CONSTRAINTS: dict[str, list[Any]] = {
    "input_shape": [None, SHAPE],
    "window_sizes": [None, Integral, tuple, list],
    "stride": [POSITIVE_INT],
    "pool": [None, POSITIVE_INT],
    "n_estimators": [POSITIVE_INT],
    "scan_estimators": [POSITIVE_INT],
    "cascade_estimators": [POSITIVE_INT],
    "max_depth": [None, POSITIVE_INT],
    "min_samples_leaf": [POSITIVE_INT],
    "scan_min_samples_leaf": [POSITIVE_INT],
    "max_train_windows": [None, POSITIVE_INT],
    "n_forests": [POSITIVE_INT],
    "n_folds": [Interval(Integral, 2, None, closed="left")],
    "max_levels": [POSITIVE_INT],
    "tolerance": [Interval(Real, None, None, closed="neither")],
    "device": [Satisfies(lambda v: isinstance(v, str) and re.fullmatch(r"cpu|cuda(:\d+)?", v),
                         "a str among 'cpu', 'cuda' or 'cuda:N'", invalid="gpu")],
    "verbose": [NON_NEGATIVE_INT, "boolean"],
    "backend": [None, StrOptions({"loky", "threading", "dask"})],
}


@contextlib.contextmanager
def joblib_backend(backend: str | None) -> Iterator[None]:
    """joblib's backend for the forests' ``n_jobs`` during a fit.

    None: joblib's default (processes on this machine). ``"dask"``: the trees of each forest
    spread over the Dask cluster at ``$DASK_SCHEDULER_ADDRESS`` (a cell run by a Dask executor
    gets its scheduler's address), so one paper-size cell can use many machines.
    """
    if backend is None:
        yield
        return
    import joblib

    if backend != "dask":
        with joblib.parallel_config(backend=backend):
            yield
        return
    import dask
    from distributed import Client

    address = dask.config.get("scheduler-address", None)
    if not address:
        raise LearnbenchError("backend='dask' needs a Dask scheduler: set "
                              "DASK_SCHEDULER_ADDRESS (cells run with --executor local, dask, "
                              "slurm or pbs get their scheduler's)")
    with Client(address) as client, joblib.parallel_config(backend="dask"):
        del client  # the backend finds it as the default client
        yield


def check_device(device: str) -> str:
    """``"cpu"`` or ``"cuda"``/``"cuda:N"``; CUDA must really run XGBoost, else a one-line error."""
    if not isinstance(device, str) or not re.fullmatch(r"cpu|cuda(:\d+)?", device):
        raise LearnbenchError(f"device must be 'cpu', 'cuda' or 'cuda:N'; got {device!r}")
    if device != "cpu" and not xgboost_cuda_works(device):
        raise LearnbenchError(
            f"device {device!r} requested but XGBoost cannot train on it here "
            "(no CUDA build or no visible GPU); use device='cpu'"
        )
    return device


_CUDA_PROBE: dict[str, bool] = {}


def xgboost_cuda_works(device: str = "cuda") -> bool:
    """Train a one-tree XGBoost model on ``device``; False when it fails or falls back to CPU.

    Probing is the only reliable test: XGBoost warns and silently runs on the CPU when a CUDA
    build finds no GPU, and importing torch just to ask would cost more than the probe.
    """
    if device not in _CUDA_PROBE:
        import xgboost

        ok = bool(xgboost.build_info().get("USE_CUDA", False))
        if ok:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    X = np.arange(8, dtype=np.float32).reshape(4, 2)
                    xgboost.XGBRFClassifier(n_estimators=1, device=device).fit(X, [0, 1, 0, 1])
                except Exception:  # noqa: BLE001 - any failure means "no usable GPU"
                    ok = False
            ok = ok and not any("cpu" in str(w.message).lower() for w in caught)
        _CUDA_PROBE[device] = ok
    return _CUDA_PROBE[device]


class XGBoostForest(ClassifierMixin, BaseEstimator):
    """A random forest trained by XGBoost (``XGBRFClassifier``), for ``device="cuda"``.

    ``kind="random"`` samples sqrt(d) features per node like Breiman's forest;
    ``kind="completely_random"`` samples one feature per node. XGBoost still picks the best
    threshold on that feature (histogram bins, ``max_bin=256``), so it approximates the
    paper's completely-random tree, and class vectors are the softmax of summed leaf values
    rather than averaged leaf class frequencies. Labels are re-encoded per fit because XGBoost
    rejects label sets that are not ``0..K-1`` (a cross-validation fold may lack a class).
    """

    def __init__(
        self,
        kind: ForestKind = "random",
        n_estimators: int = 100,
        max_depth: int | None = None,
        min_samples_leaf: int = 1,
        device: str = "cuda",
        n_jobs: int | None = None,
        random_state: int | None = None,
    ) -> None:
        self.kind = kind
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.device = device
        self.n_jobs = n_jobs
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: np.ndarray) -> XGBoostForest:
        import xgboost

        self.classes_, y_local = np.unique(y, return_inverse=True)
        d = X.shape[1]
        per_node = 1.0 / d if self.kind == "completely_random" else np.sqrt(d) / d
        params: dict[str, Any] = {
            "n_estimators": self.n_estimators,
            "device": self.device,
            "tree_method": "hist",
            "subsample": 1.0 if self.kind == "completely_random" else 0.632,
            "colsample_bynode": float(min(1.0, per_node)),
            # depth 0 = unlimited, allowed with loss-guided growth: "till pure leaf" (Sec. 3.1)
            "grow_policy": "lossguide",
            "max_depth": self.max_depth or 0,
            "max_leaves": 0,
            "min_child_weight": 0.0 if self.min_samples_leaf <= 1 else float(self.min_samples_leaf) / 4,
            "n_jobs": self.n_jobs,
            "random_state": self.random_state,
        }
        if len(self.classes_) == 1:  # XGBoost needs two classes; a constant vote is exact
            self.model_ = None
        else:
            self.model_ = xgboost.XGBRFClassifier(**params).fit(X, y_local)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        if self.model_ is None:
            return np.ones((len(X), 1), dtype=np.float32)
        return self.model_.predict_proba(X)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


def make_forest(
    kind: ForestKind,
    n_estimators: int,
    random_state: int,
    *,
    n_jobs: int | None = None,
    device: str = "cpu",
    max_depth: int | None = None,
    min_samples_leaf: int = 1,
) -> BaseEstimator:
    """One unfitted forest of ``kind`` (Section 3.1); ``max_depth`` None = until pure leaves."""
    if device != "cpu":
        return XGBoostForest(kind, n_estimators, max_depth, min_samples_leaf, device, n_jobs, random_state)
    common = {
        "n_estimators": n_estimators,
        "max_depth": max_depth,
        "min_samples_leaf": min_samples_leaf,
        "n_jobs": n_jobs,
        "random_state": random_state,
    }
    if kind == "completely_random":
        return ExtraTreesClassifier(max_features=1, **common)
    return RandomForestClassifier(max_features="sqrt", **common)


def forest_kinds(n_forests: int) -> list[ForestKind]:
    """``n_forests`` kinds: the first half (rounded up) completely random, the rest random."""
    n_random = n_forests // 2
    return ["completely_random"] * (n_forests - n_random) + ["random"] * n_random


def proba_in_columns(forest: Any, X: np.ndarray, n_classes: int) -> np.ndarray:
    """``predict_proba`` as float32 with one column per encoded class ``0..n_classes-1``.

    A forest trained on a fold that lacks a class has fewer columns; the missing class gets 0.
    """
    proba = forest.predict_proba(X)
    classes = np.asarray(forest.classes_)
    if len(classes) == n_classes:
        return proba.astype(np.float32, copy=False)
    out = np.zeros((len(X), n_classes), dtype=np.float32)
    out[:, classes.astype(np.intp)] = proba
    return out


def fold_splitter(y: np.ndarray, n_folds: int, random_state: int) -> StratifiedKFold | KFold:
    """Stratified ``n_folds``-fold split, or plain shuffled K-fold when a class is too rare.

    ``y`` holds one label per *sample* (per image for scanning: grouping windows by image).
    """
    n_folds = max(2, min(n_folds, len(y)))
    if np.unique(y, return_counts=True)[1].min(initial=len(y)) >= n_folds:
        return StratifiedKFold(n_folds, shuffle=True, random_state=random_state)
    return KFold(n_folds, shuffle=True, random_state=random_state)


# -- resources ------------------------------------------------------------------------------


def _status_kib(field: str) -> int | None:
    """A ``/proc/self/status`` field in KiB (Linux), or None."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class StagePeak:
    """Peak resident memory (MiB) of the code run inside ``with StagePeak() as p: ...``.

    The kernel's high-water mark (VmHWM) is not reset, since the harness reads it for the
    whole cell: if it rose during the stage, its new value is the stage's exact peak; if
    not, the peak is the largest VmRSS seen by a thread polling every ``interval`` s.
    Elsewhere (no /proc): ``ru_maxrss``, the process peak so far.
    """

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.mb = float("nan")

    def __enter__(self) -> StagePeak:
        self._hwm0 = _status_kib("VmHWM")
        self._max = _status_kib("VmRSS") or 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _poll(self) -> None:
        while not self._stop.wait(self.interval):
            self._max = max(self._max, _status_kib("VmRSS") or 0)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        hwm1 = _status_kib("VmHWM")
        if hwm1 is None or self._hwm0 is None:
            self.mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        else:
            self.mb = (hwm1 if hwm1 > self._hwm0 else max(self._max, _status_kib("VmRSS") or 0)) / 1024


_NO_Y = "no_validation"


def check_input(est: BaseEstimator, X: Any, y: Any = _NO_Y, *, reset: bool, sparse: bool = False) -> Any:
    """scikit-learn input validation, X alone or (X, y) (``validate_data`` from 1.6, the method before).

    ``y=None`` is passed on, so a classifier fitted without labels gets scikit-learn's message.
    ``sparse``: accept sparse X as CSR with 32-bit indices (what scikit-learn's trees take).
    """
    try:
        from sklearn.utils.validation import validate_data  # scikit-learn >= 1.6
    except ImportError:
        validate = est._validate_data
    else:

        def validate(*args: Any, **kwargs: Any) -> Any:
            return validate_data(est, *args, **kwargs)

    kwargs = {"dtype": np.float32, "reset": reset, "accept_sparse": ["csr"] if sparse else False,
              "accept_large_sparse": False}
    if isinstance(y, str) and y == _NO_Y:
        return validate(X, **kwargs)
    return validate(X, y, ensure_min_samples=2, **kwargs)
