"""Learners: scikit-learn estimators by name, classical and deep.

``make_learner("lenet5", epochs=5)`` returns an unfitted scikit-learn estimator. Adding a
learner is one small module (a factory or a ``TorchClassifier`` subclass) plus one entry in
``_REGISTRY`` below.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from learnbench.errors import LearnbenchError, UnknownNameError
from learnbench.learners import classical
from learnbench.learners.lenet import LeNet5, LeNet5Classifier
from learnbench.learners.torch_base import TorchClassifier

__all__ = [
    "LeNet5",
    "LeNet5Classifier",
    "TorchClassifier",
    "count_parameters",
    "is_torch_learner",
    "learner_info",
    "learner_names",
    "make_learner",
]

Family = Literal["classical", "deep"]


@dataclass(frozen=True)
class LearnerEntry:
    """One registered learner: how to build it and what the reports say about it."""

    factory: Callable[..., BaseEstimator]
    family: Family
    description: str
    citation: str


_SKLEARN = "Pedregosa et al., Scikit-learn: Machine Learning in Python, JMLR 12, 2011"

_REGISTRY: dict[str, LearnerEntry] = {
    "logreg": LearnerEntry(
        classical.logreg,
        "classical",
        "Multinomial logistic regression (L2, C=1, lbfgs, max_iter=1000)",
        _SKLEARN,
    ),
    "knn": LearnerEntry(
        classical.knn,
        "classical",
        "k-nearest neighbours (k=3, Euclidean)",
        "Cover & Hart, Nearest neighbor pattern classification, IEEE Trans. Inf. Theory 13, 1967",
    ),
    "svm_rbf": LearnerEntry(
        classical.svm_rbf,
        "classical",
        "Kernel SVM, RBF kernel (C=5, gamma='scale'), libsvm",
        "Cortes & Vapnik, Support-vector networks, Machine Learning 20, 1995; "
        "Chang & Lin, LIBSVM, ACM TIST 2, 2011",
    ),
    "random_forest": LearnerEntry(
        classical.random_forest,
        "classical",
        "Random forest (100 trees, sqrt features)",
        "Breiman, Random forests, Machine Learning 45, 2001",
    ),
    "xgboost": LearnerEntry(
        classical.xgboost,
        "classical",
        "Gradient-boosted trees, XGBoost hist (100 rounds)",
        "Chen & Guestrin, XGBoost: A scalable tree boosting system, KDD 2016",
    ),
    "lenet5": LearnerEntry(
        LeNet5Classifier,
        "deep",
        "LeNet-5 CNN (ReLU, max-pool), Adam lr=1e-3, batch 128, 3 epochs",
        "LeCun, Bottou, Bengio & Haffner, Gradient-based learning applied to document "
        "recognition, Proc. IEEE 86(11), 1998",
    ),
}


def learner_names() -> list[str]:
    """Registered learner names, sorted."""
    return sorted(_REGISTRY)


def _entry(name: str) -> LearnerEntry:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownNameError("learner", name, learner_names()) from None


def make_learner(name: str, **params: Any) -> BaseEstimator:
    """A new, unfitted estimator for ``name`` with the suite's defaults overridden by ``params``.

    An unknown parameter raises a ``LearnbenchError`` naming it and the valid ones (XGBoost
    would otherwise accept and ignore any keyword).
    """
    estimator = _entry(name).factory()
    valid = estimator.get_params()
    for key in params:
        if key not in valid:
            raise LearnbenchError(
                f"learner {name!r} has no parameter {key!r}; valid parameters: "
                f"{', '.join(sorted(valid))}"
            )
    return estimator.set_params(**params)


def learner_info(name: str) -> dict[str, Any]:
    """Facts for listings and reports: name, family, description, citation, estimator class."""
    entry = _entry(name)
    cls = type(entry.factory())
    return {
        "name": name,
        "family": entry.family,
        "description": entry.description,
        "citation": entry.citation,
        "estimator": f"{_public_module(cls)}.{cls.__qualname__}",
    }


def _public_module(cls: type) -> str:
    """``sklearn.svm._classes`` -> ``sklearn.svm``: the import path users write."""
    parts = cls.__module__.split(".")
    private = [i for i, part in enumerate(parts) if part.startswith("_")]
    return ".".join(parts[: private[0]] if private else parts)


def is_torch_learner(estimator: Any) -> bool:
    """True for learners trained by ``TorchClassifier`` (they have a device and epochs)."""
    return isinstance(estimator, TorchClassifier)


def count_parameters(estimator: BaseEstimator) -> int | None:
    """Number of learned numeric parameters of a fitted estimator, or None where undefined.

    - torch learners: the sum of ``numel`` of the module's parameters;
    - linear models (``coef_`` and ``intercept_``): their sizes summed;
    - SVC and other libsvm models: support vectors + dual coefficients + intercepts;
    - anything else (k-NN, forests, boosted trees): None, since stored training data or tree
      nodes are not comparable with weights.

    Raises ``sklearn.exceptions.NotFittedError`` for an unfitted estimator.
    """
    check_is_fitted(estimator)
    if isinstance(estimator, TorchClassifier):
        return sum(p.numel() for p in estimator.module_.parameters())
    if hasattr(estimator, "support_vectors_") and hasattr(estimator, "dual_coef_"):
        parts = estimator.support_vectors_, estimator.dual_coef_, estimator.intercept_
        return sum(_size(a) for a in parts)
    if hasattr(estimator, "coef_") and hasattr(estimator, "intercept_"):
        return _size(estimator.coef_) + _size(estimator.intercept_)
    return None


def _size(array: Any) -> int:
    """Element count of a dense or sparse array (sparse: its full shape, not its non-zeros)."""
    return math.prod(np.shape(array))
