"""Classical learners: plain scikit-learn / XGBoost estimators with the suite's defaults.

Each factory returns the library class itself (no wrapper), so every scikit-learn tool
(``clone``, ``get_params``, pipelines, ``joblib``) works unchanged. Keyword arguments
override the defaults.

No feature scaling is applied: the learners assume features already share a comparable
scale (the ``Dataset`` contract gives images in [0, 1]; tabular loaders are expected to
standardise). ``knn`` and ``svm_rbf`` are the scale-sensitive ones.
"""

from __future__ import annotations

from typing import Any

from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import SVC
from xgboost import XGBClassifier

# lbfgs stops at the library's max_iter=100 well before convergence on MNIST-sized pixel
# data (ConvergenceWarning); 1000 iterations converge on [0, 1] pixels at C=1.
LOGREG_DEFAULTS: dict[str, Any] = {"solver": "lbfgs", "C": 1.0, "max_iter": 1000}
# k=3: the small odd k used in LeCun et al.'s MNIST comparison table (3-NN, Euclidean).
KNN_DEFAULTS: dict[str, Any] = {"n_neighbors": 3}
# gamma="scale" (scikit-learn's default, 1 / (n_features * X.var())) adapts to the data;
# C=5 is the common MNIST setting (scikit-learn's default C=1.0 under-fits pixel data).
SVM_RBF_DEFAULTS: dict[str, Any] = {"kernel": "rbf", "C": 5.0, "gamma": "scale"}
# 100 trees = scikit-learn's default, spelled out so records show it.
RANDOM_FOREST_DEFAULTS: dict[str, Any] = {"n_estimators": 100}
# XGBoost's own defaults (100 rounds, hist) made explicit; device "cpu" or "cuda".
XGBOOST_DEFAULTS: dict[str, Any] = {"n_estimators": 100, "tree_method": "hist", "device": "cpu"}


def logreg(**params: Any) -> LogisticRegression:
    """Multinomial logistic regression (lbfgs, L2, C=1)."""
    return LogisticRegression(**{**LOGREG_DEFAULTS, **params})


def knn(**params: Any) -> KNeighborsClassifier:
    """k-nearest neighbours, k=3, Euclidean, uniform weights."""
    return KNeighborsClassifier(**{**KNN_DEFAULTS, **params})


def svm_rbf(**params: Any) -> SVC:
    """Kernel SVM (libsvm), RBF kernel, one-vs-one, C=5, gamma='scale'."""
    return SVC(**{**SVM_RBF_DEFAULTS, **params})


def random_forest(**params: Any) -> RandomForestClassifier:
    """Random forest of 100 fully grown trees, sqrt(n_features) features per split."""
    return RandomForestClassifier(**{**RANDOM_FOREST_DEFAULTS, **params})


def xgboost(**params: Any) -> XGBClassifier:
    """Gradient-boosted trees (XGBoost, histogram method), 100 rounds.

    XGBoost requires labels ``0..K-1`` with every class present in the training set, which
    the ``Dataset`` contract guarantees for full training splits.
    """
    return XGBClassifier(**{**XGBOOST_DEFAULTS, **params})
