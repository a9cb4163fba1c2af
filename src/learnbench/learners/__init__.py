"""Learners: scikit-learn estimators by name, classical and deep.

``make_learner("lenet5", epochs=5)`` returns an unfitted scikit-learn estimator. Adding a
learner is one small module (a factory or a ``TorchClassifier`` subclass) plus one entry in
``_REGISTRY`` below.
"""

from __future__ import annotations

import importlib
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from learnbench.errors import LearnbenchError, UnknownNameError
from learnbench.learners import classical

# The torch learners are imported on first use, not here: a classical cell's worker process
# would otherwise pay ~1.5 s to import torch for nothing.
_LAZY_EXPORTS = {
    "PlainCNN": "cnn",
    "PlainCNNClassifier": "cnn",
    "count_flops": "flops",
    "count_mult_adds": "flops",
    "estimator_flops_per_sample": "flops",
    "LeNet5": "lenet",
    "LeNet5Classifier": "lenet",
    "MobileNetClassifier": "mobilenet",
    "MobileNetV1": "mobilenet",
    "mobilenet_standard": "mobilenet",
    "TorchClassifier": "torch_base",
}


def __getattr__(name: str) -> Any:
    """PEP 562: import a torch learner module when one of its names is first used."""
    if name in _LAZY_EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _lazy(name: str) -> Callable[..., BaseEstimator]:
    """A factory that imports ``name`` (one of ``_LAZY_EXPORTS``) only when called."""

    def factory(**params: Any) -> BaseEstimator:
        return __getattr__(name)(**params)

    factory.__name__ = name
    return factory

__all__ = [
    "LeNet5",
    "LeNet5Classifier",
    "MobileNetClassifier",
    "MobileNetV1",
    "PlainCNN",
    "PlainCNNClassifier",
    "TorchClassifier",
    "count_flops",
    "count_mult_adds",
    "count_parameters",
    "estimator_flops_per_sample",
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

_MOBILENET = (
    "Howard et al., MobileNets: Efficient convolutional neural networks for mobile vision "
    "applications, arXiv:1704.04861, 2017"
)

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
        _lazy("LeNet5Classifier"),
        "deep",
        "LeNet-5 CNN (ReLU, max-pool), Adam lr=1e-3, batch 128, 3 epochs",
        "LeCun, Bottou, Bengio & Haffner, Gradient-based learning applied to document "
        "recognition, Proc. IEEE 86(11), 1998",
    ),
    "cnn": LearnerEntry(
        _lazy("PlainCNNClassifier"),
        "deep",
        "Plain CNN, 3 blocks of (conv3x3-BN-ReLU)x2 + max-pool (32, 64, 128), global avg pool, "
        "Adam lr=1e-3, batch 128, 3 epochs",
        "Simonyan & Zisserman, Very deep convolutional networks for large-scale image "
        "recognition, ICLR 2015; Ioffe & Szegedy, Batch normalization, ICML 2015; "
        "Lin, Chen & Yan, Network in network, ICLR 2014",
    ),
    "mobilenet": LearnerEntry(
        _lazy("MobileNetClassifier"),
        "deep",
        "MobileNet v1, compact plan (stem 32, depthwise-separable 64..512, 3 stride-2), "
        "alpha=1, rho=1, Adam lr=1e-3, batch 128, 3 epochs",
        _MOBILENET,
    ),
    "mobilenet_standard": LearnerEntry(
        _lazy("mobilenet_standard"),
        "deep",
        "MobileNet v1 control: the same net with standard 3x3 convs in place of the "
        "depthwise-separable blocks, Adam lr=1e-3, batch 128, 3 epochs",
        _MOBILENET,
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
    base = sys.modules.get(f"{__name__}.torch_base")  # not imported: no torch learner exists
    return base is not None and isinstance(estimator, base.TorchClassifier)


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
    if is_torch_learner(estimator):
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
