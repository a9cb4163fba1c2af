"""Parameter constraints of the learners, declared once, and the mixin that checks them.

A learner class subclasses :class:`DeclaredParams` and declares in ``_parameter_constraints``
only the parameters that are its own; parameters every learner of a kind shares (``lr``,
``batch_size``, ``max_seconds``, ``device``, ...) take their constraints from :data:`SHARED`,
so ``max_epochs=True`` or ``lr=0`` get the same answer from every learner. ``fit`` calls
``self._check_params()``: the declared constraints first (:mod:`learnbench.validation`, one
message format), then ``_check_param_relations()`` for rules between parameters.

Nothing here imports torch: gcForest uses the same mixin.
"""

from __future__ import annotations

import inspect
import re
from numbers import Integral as _Integral
from typing import Any, ClassVar

from learnbench.validation import (
    Integral,
    Interval,
    Real,
    Satisfies,
    StrOptions,
    validate_params,
)

# Values the Trainer and the torch learners accept (the Trainer imports these).
OPTIMIZERS = ("adam", "adamw", "sgd")
LR_SCHEDULES = ("cosine", "onecycle", "linear")
AMP_NAMES = ("bf16",)
AUGMENTATIONS = ("flip", "shift", "flip+shift")

POSITIVE_INT = Interval(Integral, 1, None, closed="left")
NON_NEGATIVE_INT = Interval(Integral, 0, None, closed="left")
POSITIVE_REAL = Interval(Real, 0, None, closed="neither")
NON_NEGATIVE_REAL = Interval(Real, 0, None, closed="left")
FRACTION = Interval(Real, 0, 1, closed="left")  # [0, 1): a share held out
OPEN_UNIT = Interval(Real, 0, 1, closed="neither")  # (0, 1): a probability that must act


def _positive_ints(value: Any) -> bool:
    return (isinstance(value, (tuple, list)) and len(value) > 0
            and all(isinstance(v, _Integral) and not isinstance(v, bool) and v >= 1
                    for v in value))


POSITIVE_INTS = Satisfies(_positive_ints, "a non-empty tuple of positive ints", invalid=(0,))
SHAPE = Satisfies(_positive_ints, "a shape: a tuple of positive ints", invalid=(0, 28))
TORCH_DEVICE = Satisfies(lambda v: isinstance(v, str) and re.fullmatch(r"cpu|cuda(:\d+)?|auto", v),
                         "a str among 'cpu', 'cuda', 'cuda:N' or 'auto'", invalid="gpu")

#: Constraints of the parameters shared by learners, by name.
SHARED: dict[str, list[Any]] = {
    "max_epochs": [POSITIVE_INT],
    "batch_size": [POSITIVE_INT],
    "predict_batch_size": [POSITIVE_INT],
    "lr": [POSITIVE_REAL],
    "optimizer": [StrOptions(set(OPTIMIZERS))],
    "weight_decay": [NON_NEGATIVE_REAL],
    "momentum": [Interval(Real, 0, 1, closed="both")],
    "device": [TORCH_DEVICE],
    "random_state": ["random_state"],
    "input_shape": [None, SHAPE],
    "verbose": ["verbose"],
    "cudnn_benchmark": ["boolean"],
    "compile": ["boolean"],
    "amp": [None, StrOptions(set(AMP_NAMES))],
    "max_seconds": [None, POSITIVE_REAL],
    "patience": [None, POSITIVE_INT],
    "lr_schedule": [None, StrOptions(set(LR_SCHEDULES))],
    "validation_fraction": [FRACTION],
    "warmup_ratio": [FRACTION],
    "augment": [None, StrOptions(set(AUGMENTATIONS))],
    "n_jobs": [None, Integral],
}


class DeclaredParams:
    """Mixin: ``_parameter_constraints`` completed from :data:`SHARED` and the base classes.

    When a subclass is created, its constraints become, for each ``__init__`` parameter, its
    own declaration, else its nearest base class's, else :data:`SHARED`'s. A parameter left
    undeclared is not checked (a test fails on it).
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {}
    _declared_constraints: ClassVar[dict[str, list[Any]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # each class's own declaration, kept whole: a base class without the parameter in
        # its own signature (TextTransformerClassifier's max_length) still declares it
        cls._declared_constraints = dict(cls.__dict__.get("_parameter_constraints", {}))
        declared: dict[str, list[Any]] = {}
        for klass in reversed(cls.__mro__):
            declared.update(klass.__dict__.get("_declared_constraints", {}))
        names = [p.name for p in inspect.signature(cls.__init__).parameters.values()
                 if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        cls._parameter_constraints = {
            n: declared[n] if n in declared else SHARED[n]
            for n in names if n in declared or n in SHARED
        }

    def _check_params(self) -> None:
        """Check every parameter against its constraints, then the relations between them."""
        validate_params(self)
        self._check_param_relations()

    def _check_param_relations(self) -> None:
        """Rules between parameters (e.g. ``samples_per_class <= batch_size``); none here."""
