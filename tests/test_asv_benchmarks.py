"""The asv suite in ``benchmarks/`` is runnable, without running asv.

Every benchmark module is imported, every class instantiated for every parameter combination,
``setup`` run and each ``time_``/``peakmem_``/``track_`` method called once, on tiny inputs
(module constants such as ``N_TRAIN`` and ``TREES`` are shrunk). ``track_`` methods must
return finite numbers. No timing is asserted: speed is what asv itself measures. Benchmarks
that need the dataset mirror or take more than a few seconds are marked ``slow``; a ``setup``
raising ``NotImplementedError`` (asv's "skip") skips the case.
"""

from __future__ import annotations

import importlib
import inspect
import itertools
import math
import numbers
import sys
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = REPO_ROOT / "benchmarks"
PREFIXES = ("time_", "peakmem_", "mem_", "track_")

# module constant -> tiny value, applied to every benchmark module that defines it
TINY = {"N_TRAIN": 60, "TREES": 2, "INFER_BATCH": 16, "TRAIN_BATCH": 20, "EPOCHS": 1}
# (module, class, first param or None): slow cases (real data or long runs)
SLOW = {("harness_overhead", "HarnessOverhead")}
FAST_DATASETS = {"digits"}  # bundled with scikit-learn; the others need the mirror


def _modules() -> list[str]:
    return sorted(p.stem for p in BENCH_DIR.glob("*.py") if p.stem != "__init__")


def _import(name: str) -> Any:
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    return importlib.import_module(f"benchmarks.{name}")


def _benchmark_classes(module: Any) -> list[type]:
    return [
        cls
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if cls.__module__ == module.__name__ and any(m.startswith(PREFIXES) for m in dir(cls))
    ]


def _methods(cls: type) -> list[str]:
    return sorted(m for m in dir(cls) if m.startswith(PREFIXES) and callable(getattr(cls, m)))


def _combinations(cls: type) -> list[tuple[Any, ...]]:
    params = getattr(cls, "params", None)
    if params is None or params == []:
        return [()]
    if not isinstance(params, tuple):  # asv: a bare list is a single parameter
        params = (params,)
    return list(itertools.product(*params))


def _cases() -> list[Any]:
    cases = []
    for mod_name in _modules():
        module = _import(mod_name)
        for cls in _benchmark_classes(module):
            for combo in _combinations(cls):
                slow = (mod_name, cls.__name__) in SLOW or (
                    cls.__name__ == "DatasetLoad" and combo[0] not in FAST_DATASETS
                )
                case_id = "-".join([mod_name, cls.__name__, *map(str, combo)])
                marks = [pytest.mark.slow] if slow else []
                cases.append(pytest.param(mod_name, cls.__name__, combo, id=case_id, marks=marks))
    return cases


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch) -> None:
    for mod_name in _modules():
        module = _import(mod_name)
        for key, value in TINY.items():
            if hasattr(module, key):
                monkeypatch.setattr(module, key, value)


def test_every_module_has_benchmarks() -> None:
    names = _modules()
    assert {"bench_torch", "bench_datasets", "bench_learners", "bench_gcforest"} <= set(names)
    for name in names:
        assert _benchmark_classes(_import(name)), f"benchmarks/{name}.py defines no asv benchmark"


@pytest.mark.parametrize("mod_name", _modules())
def test_params_match_param_names(mod_name: str) -> None:
    for cls in _benchmark_classes(_import(mod_name)):
        params = getattr(cls, "params", None)
        if params is None:
            continue
        params = params if isinstance(params, tuple) else (params,)
        assert len(params) == len(getattr(cls, "param_names", [])), cls.__name__
        assert all(len(p) > 0 for p in params), cls.__name__


def test_torch_steps_cover_the_image_torch_learners() -> None:
    from learnbench.learners import learner_names

    module = _import("bench_torch")
    names = set(learner_names())
    assert {"lenet5", "cnn", "mobilenet", "mobilenet_standard"} <= set(module.MODELS)
    assert set(module.MODELS) <= names
    with pytest.raises(ValueError, match="no training step"):
        module.make_step("logreg")


@pytest.mark.usefixtures("tiny")
@pytest.mark.parametrize(("mod_name", "cls_name", "combo"), _cases())
def test_benchmark_runs_once(mod_name: str, cls_name: str, combo: tuple[Any, ...]) -> None:
    cls = getattr(_import(mod_name), cls_name)
    bench = cls()
    if hasattr(bench, "setup"):
        try:
            bench.setup(*combo)
        except NotImplementedError as exc:  # asv's way to skip a combination
            pytest.skip(str(exc))
    for name in _methods(cls):
        result = getattr(bench, name)(*combo)
        if name.startswith("track_"):
            assert isinstance(result, numbers.Real) and not isinstance(result, bool), (name, result)
            assert math.isfinite(result), (name, result)
    if hasattr(bench, "teardown"):
        bench.teardown(*combo)


@pytest.mark.usefixtures("tiny")
def test_torch_train_step_lowers_the_loss() -> None:
    """Repeated steps on one fixed batch fit it: the step really trains (LeNet-5)."""
    bench = _import("bench_torch").TorchSteps()
    bench.setup("lenet5")
    first = bench.train_step()
    for _ in range(30):
        last = bench.train_step()
    assert last < first
