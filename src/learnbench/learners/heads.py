"""Classical heads on learned features: the autoencoders', the rotation probe's and MiniLM's."""

from __future__ import annotations

from typing import Any

import numpy as np


def fit_head(name: str, params: dict[str, Any] | None, seed: int, X: np.ndarray, y: Any) -> Any:
    """A learnbench learner ``name`` (with ``params``) fitted on features ``X``.

    It gets the fit's seed as ``random_state`` when it has one and ``params`` does not set it.
    """
    from learnbench.learners import make_learner  # the registry imports the learners lazily

    params = dict(params or {})
    head = make_learner(name, **params)
    if "random_state" in head.get_params() and "random_state" not in params:
        head.set_params(random_state=seed)
    return head.fit(X, y)
