"""Learners: scikit-learn estimators by name, classical and deep.

``make_learner("lenet5", max_epochs=5)`` returns an unfitted scikit-learn estimator. Every
learner is one :class:`~learnbench.learners.registry.LearnerEntry` in
:mod:`learnbench.learners.registry` (or a plug-in's, see :mod:`learnbench.plugins`); the
estimator classes exported here, ``__all__`` and the listings are derived from the entries.
"""

from __future__ import annotations

import importlib
import math
import sys
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from learnbench.errors import LearnbenchError
from learnbench.learners.registry import (
    BUILTIN_LEARNERS,
    Family,
    entries,
    learner_entry,
)
from learnbench.learners.registry import (
    LearnerEntry as LearnerEntry,
)
from learnbench.learners.registry import (
    register_learner as register_learner,
)

# What learner authors subclass; not learners themselves, so not in the registry.
_AUTHOR_API = {
    "ImageTorchClassifier": "learnbench.learners.torch_base",
    "TorchClassifier": "learnbench.learners.torch_base",
    "TorchLearner": "learnbench.learners.torch_base",
    "Trainer": "learnbench.learners.trainer",
}
# The estimator classes, imported on first use (PEP 562), not here: a classical cell's worker
# process would otherwise pay ~1.5 s to import torch for nothing.
_LAZY_EXPORTS = {**{e.class_name: e.module for e in BUILTIN_LEARNERS
                    if e.module.startswith(__name__)}, **_AUTHOR_API}


def __getattr__(name: str) -> Any:
    """PEP 562: import a learner module when one of its names is first used."""
    if name in _LAZY_EXPORTS:
        return getattr(importlib.import_module(_LAZY_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted([
    *_LAZY_EXPORTS,
    "LearnerEntry",
    "count_parameters",
    "is_torch_learner",
    "learner_entry",
    "learner_family",
    "learner_info",
    "learner_names",
    "make_learner",
    "register_learner",
])


def learner_names() -> list[str]:
    """Registered learner names (plug-ins included), sorted."""
    return list(entries())


def make_learner(name: str, **params: Any) -> BaseEstimator:
    """A new, unfitted estimator for ``name`` with the suite's defaults overridden by ``params``.

    An unknown parameter raises a ``LearnbenchError`` naming it and the valid ones (XGBoost
    would otherwise accept and ignore any keyword). Values are checked at ``fit`` against the
    learner's declared constraints (:mod:`learnbench.validation`).
    """
    estimator = learner_entry(name).build()
    valid = estimator.get_params()
    for key in params:
        if key not in valid:
            raise LearnbenchError(
                f"learner {name!r} has no parameter {key!r}; valid parameters: "
                f"{', '.join(sorted(valid))}"
            )
    return estimator.set_params(**params)


def learner_family(name: str) -> Family:
    """``"deep"`` or ``"classical"``, without importing the learner's module."""
    return learner_entry(name).family


def learner_info(name: str) -> dict[str, Any]:
    """Facts for listings and reports: name, family, description, citation, estimator class."""
    entry = learner_entry(name)
    cls = entry.estimator_class()
    return {
        "name": name,
        "family": entry.family,
        "description": entry.description(),
        "citation": entry.citation,
        "estimator": f"{_public_module(cls)}.{cls.__qualname__}",
        "modalities": list(entry.modalities),
        "tasks": list(entry.tasks),
        "deterministic": entry.deterministic,
    }


def _public_module(cls: type) -> str:
    """``sklearn.svm._classes`` -> ``sklearn.svm``: the import path users write."""
    parts = cls.__module__.split(".")
    private = [i for i, part in enumerate(parts) if part.startswith("_")]
    return ".".join(parts[: private[0]] if private else parts)


def is_torch_learner(estimator: Any) -> bool:
    """True for learners built on ``TorchLearner`` (every learner trained by the Trainer)."""
    base = sys.modules.get(f"{__name__}.torch_base")  # not imported: no torch learner exists
    return base is not None and isinstance(estimator, base.TorchLearner)


def count_parameters(estimator: BaseEstimator) -> int | None:
    """Number of learned numeric parameters of a fitted estimator, or None where undefined.

    - learners with a ``parameter_count()`` method (the BERT learners): its answer;
    - torch learners: the sum of ``numel`` of the module's parameters;
    - linear models (``coef_`` and ``intercept_``): their sizes summed;
    - SVC and other libsvm models: support vectors + dual coefficients + intercepts;
    - anything else (k-NN, forests, boosted trees): None, since stored training data or tree
      nodes are not comparable with weights.

    Raises ``sklearn.exceptions.NotFittedError`` for an unfitted estimator.
    """
    check_is_fitted(estimator)
    own = getattr(estimator, "parameter_count", None)  # BERT learners: encoder + head
    if callable(own):
        return int(own())
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
