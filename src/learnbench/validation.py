"""One parameter validator for learners and datasets, in scikit-learn's constraint language.

A learner declares ``_parameter_constraints`` (a dict: parameter -> list of constraints, as
scikit-learn's own estimators do) and calls :func:`validate_params` at ``fit``; a dataset
declares its parameter schema the same way and :meth:`DatasetSpec.load` checks it. Every bad
value then gets the same one-line message naming the owner, the parameter, what is allowed and
the value received::

    The 'max_epochs' parameter of LeNet5Classifier must be an int in the range [1, inf).
    Got 0 instead.

scikit-learn's ``sklearn.utils._param_validation`` is private API; this module is the only
place that imports it, so a scikit-learn release that moves it breaks one file.

One rule is added to scikit-learn's: ``True``/``False`` are not numbers here. scikit-learn's
``Interval(Integral, ...)`` accepts ``True`` as 1 (``bool`` subclasses ``int``), so
``max_epochs=True`` would train one epoch; a parameter that takes a bool says so with
``"boolean"``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from numbers import Integral, Real
from typing import Any

from sklearn.utils import _param_validation
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    InvalidParameterError,
    Options,
    generate_invalid_param_val,
    make_constraint,
    validate_parameter_constraints,
)

from learnbench.errors import LearnbenchError

__all__ = [
    "HasMethods",
    "Integral",
    "Interval",
    "InvalidParamError",
    "Options",
    "Real",
    "StrOptions",
    "Satisfies",
    "check_params",
    "invalid_values",
    "validate_params",
]

Constraints = Mapping[str, Any]


class InvalidParamError(LearnbenchError, ValueError):
    """A parameter value outside its declared constraints; one line, scikit-learn's wording."""


class StrOptions(_param_validation.StrOptions):
    """scikit-learn's ``StrOptions``, its options listed sorted: the same message every run
    (a set's order changes with the hash seed)."""

    def __str__(self) -> str:
        return f"a str among {{{', '.join(repr(o) for o in sorted(self.options))}}}"


class Satisfies(Options):
    """A constraint given by a test and the words for it (shapes, device names, width lists).

    ``invalid`` is a value of the right type that fails the test, for :func:`invalid_values`.
    It subclasses ``Options`` only because scikit-learn accepts no other user constraint type.
    """

    def __init__(self, test: Callable[[Any], bool], words: str, invalid: Any = None) -> None:
        super().__init__(object, set())
        self.test, self.words, self.invalid = test, words, invalid

    def is_satisfied_by(self, val: Any) -> bool:
        try:
            return bool(self.test(val))
        except (TypeError, ValueError):
            return False

    def __str__(self) -> str:
        return self.words


def _accepts_bool(constraints: Any) -> bool:
    return any(isinstance(c, str) and c in ("boolean", "verbose") or c is bool for c in constraints)


def check_params(constraints: Constraints, params: Mapping[str, Any], owner: str) -> None:
    """Check ``params`` against ``constraints``; raise :class:`InvalidParamError` on the first bad one.

    Parameters absent from ``constraints`` and those declared ``"no_validation"`` are skipped
    (scikit-learn's rule).
    """
    for name, value in params.items():
        allowed = constraints.get(name)
        if (isinstance(value, bool) and isinstance(allowed, list) and allowed
                and not _accepts_bool(allowed)):
            shown = [str(make_constraint(c)) for c in allowed]
            shown_text = " or ".join([", ".join(shown[:-1]), shown[-1]] if shown[:-1] else shown)
            raise InvalidParamError(
                f"The {name!r} parameter of {owner} must be {shown_text}. Got {value!r} instead."
            )
    try:
        validate_parameter_constraints(dict(constraints), dict(params), caller_name=owner)
    except InvalidParameterError as exc:
        raise InvalidParamError(" ".join(str(exc).split())) from None


def validate_params(estimator: Any) -> None:
    """Check an estimator's ``get_params(deep=False)`` against its ``_parameter_constraints``."""
    check_params(getattr(estimator, "_parameter_constraints", {}),
                 estimator.get_params(deep=False), type(estimator).__name__)


def invalid_values(constraints: list[Any]) -> Iterator[Any]:
    """Values that break a parameter's constraints, for tests (scikit-learn's recipe).

    One value of a type no constraint accepts, then, for each constraint that is more than a
    type (an ``Interval``, ``StrOptions``), a value of the right type outside it that no other
    constraint of the parameter accepts either.
    """
    made = [make_constraint(c) for c in constraints]

    class _NotAnything:  # a type no declared constraint accepts
        pass

    yield _NotAnything()
    if not _accepts_bool(constraints) and any(
            isinstance(c, Interval) for c in made):
        yield True
    for constraint in made:
        if isinstance(constraint, Satisfies):
            if constraint.invalid is not None and not any(
                    other.is_satisfied_by(constraint.invalid) for other in made):
                yield constraint.invalid
            continue
        try:
            bad = generate_invalid_param_val(constraint)
        except NotImplementedError:
            continue
        if not any(other.is_satisfied_by(bad) for other in made):
            yield bad
