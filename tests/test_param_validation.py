"""Declarative parameter validation: every learner's every declared parameter, one message format.

Like scikit-learn's ``check_param_validation``: for each parameter, a value of a type no
constraint accepts, then for each constraint a value of the right type outside it
(``generate_invalid_param_val``), each must stop ``fit`` with the one-line message naming the
learner class, the parameter, what is allowed and the value received.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from learnbench.learners import make_learner
from learnbench.learners.constraints import DeclaredParams
from learnbench.learners.registry import BUILTIN_LEARNERS
from learnbench.validation import (
    Integral,
    Interval,
    InvalidParamError,
    StrOptions,
    check_params,
    invalid_values,
)

OURS = [e.name for e in BUILTIN_LEARNERS if issubclass(e.estimator_class(), DeclaredParams)]
X = np.random.default_rng(0).random((8, 16), dtype=np.float32)
Y = np.arange(8) % 2


def test_every_learnbench_learner_declares_constraints() -> None:
    assert len(OURS) == len(BUILTIN_LEARNERS) - 5  # all but the scikit-learn and XGBoost classes
    for name in OURS:
        est = make_learner(name)
        undeclared = set(est.get_params(deep=False)) - set(type(est)._parameter_constraints)
        assert not undeclared, f"{name}: no constraints for {sorted(undeclared)}"


@pytest.mark.parametrize("name", OURS)
def test_a_bad_value_of_any_parameter_stops_fit_with_one_line(name: str) -> None:
    est = make_learner(name)
    constraints = type(est)._parameter_constraints
    checked = 0
    for param, allowed in sorted(constraints.items()):
        for bad in invalid_values(allowed):
            est = make_learner(name, **{param: bad})
            with pytest.raises(InvalidParamError) as err:
                est.fit(X, Y)
            message = str(err.value)
            assert "\n" not in message
            assert message.startswith(f"The {param!r} parameter of {type(est).__name__} must be ")
            assert message.endswith(f"Got {bad!r} instead.")
            checked += 1
    assert checked >= 2 * len(constraints)  # at least a wrong type and a bool per parameter


def test_bool_is_not_a_number_and_messages_are_stable() -> None:
    constraints = {"n": [Interval(Integral, 1, None, closed="left")],
                   "mode": [StrOptions({"b", "c", "a"})], "flag": ["boolean"]}
    with pytest.raises(InvalidParamError, match=re.escape(
            "The 'n' parameter of Toy must be an int in the range [1, inf). Got True instead.")):
        check_params(constraints, {"n": True}, "Toy")
    with pytest.raises(InvalidParamError, match=re.escape(
            "The 'mode' parameter of Toy must be a str among {'a', 'b', 'c'}. Got 'd' instead.")):
        check_params(constraints, {"mode": "d"}, "Toy")
    check_params(constraints, {"n": 3, "mode": "a", "flag": True}, "Toy")  # valid: no error


def test_shared_parameters_get_the_same_answer_from_every_learner() -> None:
    """``max_epochs=True`` used to pass in one learner and fail in another."""
    messages = set()
    for name in OURS:
        est = make_learner(name)
        if "lr" in est.get_params():
            with pytest.raises(InvalidParamError) as err:
                est.set_params(lr=0).fit(X, Y)
            messages.add(str(err.value).replace(type(est).__name__, "L"))
    assert messages == {"The 'lr' parameter of L must be a float in the range (0.0, inf). "
                        "Got 0 instead."}
