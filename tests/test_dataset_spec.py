"""The DatasetSpec template: one load() flow, a declared parameter schema, one-line errors.

A throwaway dataset defined in one place (the ``toy`` fixture) is all it takes to add a
dataset; every built-in one shares the same ``load`` signature and checks its parameters
before touching any data.
"""

from __future__ import annotations

import inspect
import re

import numpy as np
import pytest

from learnbench.cli import main
from learnbench.datasets import (
    DatasetSpec,
    ParamSpec,
    Parsed,
    UnknownParamError,
    base,
    dataset_names,
    get_dataset_spec,
    load_dataset,
    register,
)
from learnbench.errors import LearnbenchError
from learnbench.validation import Integral, Interval, InvalidParamError, StrOptions, invalid_values


def one_line(err: pytest.ExceptionInfo, *parts: str) -> str:
    msg = str(err.value)
    assert "\n" not in msg, msg
    for part in parts:
        assert part in msg, (part, msg)
    return msg


def make_toy() -> type[DatasetSpec]:
    """A whole new dataset, in one place: class attributes, a parameter schema and ``_parse``.

    Registers it (``@register``), so call it with the registry patched (:func:`isolated`).
    """

    @register
    class Toy(DatasetSpec):
        name = "toy"
        modality = "tabular"
        description = "Random points in 3-D with a label from the sign of their sum."
        citation = "Nobody (2024). A throwaway dataset."
        protocol = "seeded random draw"
        classes = ("neg", "pos")
        parameters = {
            "n_train": ParamSpec(20, [Interval(Integral, 1, None, closed="left")], "training rows"),
            "n_test": ParamSpec(10, [Interval(Integral, 1, None, closed="left")], "test rows"),
            "noise": ParamSpec("none", [StrOptions({"none", "flip"})], "label noise"),
        }

        def _parse(self, seed: int, *, n_train: int, n_test: int, noise: str) -> Parsed:
            def build() -> dict[str, np.ndarray]:
                X = np.random.default_rng(0).normal(size=(200, 3)).astype(np.float32)
                return {"X": X, "y": (X.sum(axis=1) > 0).astype(np.int64)}

            arrays, hit = self.cached_arrays(build)
            order = np.random.default_rng(seed).permutation(200)
            train, test = order[:n_train], order[n_train : n_train + n_test]
            y = arrays["y"] if noise == "none" else 1 - arrays["y"]
            return Parsed.take(arrays["X"], y, train, test, cache_hit=hit,
                               meta={"seed": seed, "train_index": train})

    return Toy


def isolated(mp: pytest.MonkeyPatch) -> None:
    """Give this test a copy of the registry, so a throwaway dataset does not leak."""
    mp.setattr(base, "_REGISTRY", dict(base._REGISTRY))


@pytest.fixture
def isolated_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    isolated(monkeypatch)


@pytest.fixture
def toy(isolated_registry: None, tmp_path, monkeypatch: pytest.MonkeyPatch) -> type[DatasetSpec]:
    """The throwaway dataset, registered for one test, with an empty cache."""
    monkeypatch.setenv("LEARNBENCH_CACHE", str(tmp_path / "cache"))
    return make_toy()


# --------------------------------------------------------------------------- a new dataset


def test_a_new_dataset_is_one_class(toy):
    assert "toy" in dataset_names()
    d = load_dataset("toy", seed=3, n_train=30)
    assert d.X_train.shape == (30, 3) and d.X_test.shape == (10, 3)
    assert d.classes == ["neg", "pos"] and d.modality == "tabular" and d.name == "toy"
    assert d.protocol == "seeded random draw" and d.image_shape is None
    assert d.meta["seed"] == 3 and d.meta["cache_hit"] is False
    assert "source_files" not in d.meta  # no artifacts
    again = load_dataset("toy", seed=3, n_train=30)
    assert again.meta["cache_hit"] is True and np.array_equal(again.X_train, d.X_train)
    other = load_dataset("toy", seed=4, n_train=30)
    assert not np.array_equal(other.meta["train_index"], d.meta["train_index"])
    flipped = load_dataset("toy", seed=3, n_train=30, noise="flip")
    assert np.array_equal(flipped.y_train, 1 - d.y_train)


def test_a_new_dataset_does_not_leak_into_the_registry():
    with pytest.MonkeyPatch.context() as mp:
        isolated(mp)
        make_toy()
        assert "toy" in dataset_names()
    assert "toy" not in dataset_names()


def test_new_dataset_card_lists_its_params(toy, capsys):
    card = get_dataset_spec("toy").card()
    assert card["load_params"] == {
        "n_train": "20; training rows",
        "n_test": "10; test rows",
        "noise": "'none'; label noise",
    }
    assert card["n_classes"] == 2 and card["artifacts"] == []
    assert main(["datasets", "info", "toy"]) == 0
    out = capsys.readouterr().out
    assert "load_params: {'n_train': '20; training rows'" in out


def test_new_dataset_unknown_param_is_one_line(toy):
    with pytest.raises(UnknownParamError) as err:
        load_dataset("toy", n_trian=5)
    one_line(err, "dataset 'toy' has no parameter 'n_trian'; valid parameters: n_train, n_test, noise")
    assert isinstance(err.value, LearnbenchError) and isinstance(err.value, TypeError)


def test_new_dataset_bad_values_are_one_line(toy):
    with pytest.raises(InvalidParamError) as err:
        load_dataset("toy", n_train=0)
    one_line(err, "The 'n_train' parameter of dataset 'toy' must be an int in the range [1, inf)",
             "Got 0 instead")
    with pytest.raises(InvalidParamError) as err:
        load_dataset("toy", noise="gauss")
    one_line(err, "'noise' parameter of dataset 'toy'", "'gauss'")
    with pytest.raises(InvalidParamError) as err:
        load_dataset("toy", n_test=True)  # a bool is not a number here
    one_line(err, "'n_test' parameter of dataset 'toy'", "Got True instead")


# --------------------------------------------------------------------------- the contract


def _bad_spec(**attrs: object) -> type:
    def _parse(self, seed: int, *, k: int) -> Parsed:
        raise AssertionError("not called")

    namespace = {
        "name": "bad",
        "modality": "tabular",
        "parameters": {"k": ParamSpec(1, [Interval(Integral, 1, None, closed="left")], "k")},
        "_parse": _parse,
        **attrs,
    }
    return type("Bad", (DatasetSpec,), namespace)


@pytest.mark.parametrize(
    "attrs, complaint",
    [
        ({"load": lambda self, seed=0, **p: None}, "overrides load()"),
        ({"load_params": {"k": "1; k"}}, "sets load_params"),
        ({"parameters": {}}, "_parse() takes ['k'] but `parameters` declares []"),
        ({"parameters": {"k": ParamSpec(0, [Interval(Integral, 1, None, closed="left")], "k")}},
         "'k' parameter"),
    ],
)
def test_register_rejects_a_spec_that_breaks_the_contract(isolated_registry, attrs, complaint):
    with pytest.raises((TypeError, InvalidParamError), match=re.escape(complaint)):
        register(_bad_spec(**attrs))
    assert "bad" not in dataset_names()


@pytest.mark.parametrize("name", dataset_names())
def test_every_dataset_has_the_one_load_signature(name):
    spec = get_dataset_spec(name)
    assert type(spec).load is DatasetSpec.load
    assert inspect.signature(spec.load) == inspect.signature(DatasetSpec().load)
    # _parse takes exactly the declared parameters (besides seed), with no defaults of its own
    parse = inspect.signature(type(spec)._parse).parameters
    assert list(parse)[:2] == ["self", "seed"]
    taken = {n: p for n, p in parse.items() if n not in ("self", "seed")}
    assert set(taken) == set(spec.parameters)
    assert all(p.default is inspect.Parameter.empty for p in taken.values())
    assert spec.card()["load_params"] == {k: p.describe() for k, p in spec.parameters.items()}


@pytest.mark.parametrize("name", dataset_names())
def test_every_dataset_rejects_an_unknown_param_in_one_line(name, empty_env):
    """Checked before any data is looked for: the empty environment has no mirror."""
    spec = get_dataset_spec(name)
    with pytest.raises(UnknownParamError) as err:
        load_dataset(name, no_such_param=1)
    valid = ", ".join(spec.parameters) or "(none)"
    one_line(err, f"dataset {name!r} has no parameter 'no_such_param'; valid parameters: {valid}")


@pytest.mark.parametrize("name", dataset_names())
def test_every_dataset_rejects_bad_values_and_seeds_in_one_line(name, empty_env):
    spec = get_dataset_spec(name)
    for param, declared in spec.parameters.items():
        for value in invalid_values(declared.constraints):
            with pytest.raises(InvalidParamError) as err:
                load_dataset(name, **{param: value})
            one_line(err, f"The {param!r} parameter of dataset {name!r} must be")
    for seed in (-1, 1.5, None, True):
        with pytest.raises(InvalidParamError) as err:
            load_dataset(name, seed=seed)
        one_line(err, f"The 'seed' parameter of dataset {name!r} must be an int in the range [0, inf)")


def test_two_unknown_params_are_both_named():
    with pytest.raises(UnknownParamError) as err:
        load_dataset("orl", k=5, size=2)
    one_line(err, "dataset 'orl' has no parameters 'k', 'size'; "
                  "valid parameters: train_per_subject, downscale")


def test_documentation_artifacts_are_not_sources():
    adult, yeast = get_dataset_spec("adult"), get_dataset_spec("yeast")
    assert [a.filename for a in adult.source_artifacts] == ["uci/adult.data", "uci/adult.test"]
    assert [a.filename for a in yeast.source_artifacts] == ["uci/yeast.data"]
    assert len(adult.artifacts) == 3 and len(yeast.artifacts) == 2  # .names still verified
