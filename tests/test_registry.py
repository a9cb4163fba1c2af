"""The learner registry: one entry per learner, everything else derived; plug-ins in one file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import learnbench.learners as learners_pkg
from learnbench.errors import LearnbenchError
from learnbench.learners import is_torch_learner, learner_info, learner_names, make_learner
from learnbench.learners.registry import BUILTIN_LEARNERS, LearnerEntry, entries

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("entry", BUILTIN_LEARNERS, ids=lambda e: e.name)
def test_description_prints_the_live_defaults(entry: LearnerEntry) -> None:
    params = make_learner(entry.name).get_params()
    description = learner_info(entry.name)["description"]
    assert description.startswith(entry.summary)
    for key in entry.show:
        assert key in params, f"{entry.name}: show names {key!r}, not a parameter"
        assert f"{key}={params[key]!r}" in description


@pytest.mark.parametrize("entry", BUILTIN_LEARNERS, ids=lambda e: e.name)
def test_exports_and_family_come_from_the_entry(entry: LearnerEntry) -> None:
    est = make_learner(entry.name)
    if entry.module.startswith("learnbench."):
        assert getattr(learners_pkg, entry.class_name) is type(est)
        assert entry.class_name in learners_pkg.__all__
    assert is_torch_learner(est) == (entry.family == "deep")
    for key, value in entry.defaults.items():
        assert est.get_params()[key] == value


def test_deterministic_declarations_hold_for_two_seeds() -> None:
    """An entry that says ``deterministic`` fits the same model whatever the seed."""
    from learnbench.datasets import load_dataset

    data = load_dataset("digits")
    X, y = data.X_train[:400], data.y_train[:400]
    declared = [e.name for e in BUILTIN_LEARNERS if e.deterministic]
    assert set(declared) == {"logreg", "knn", "svm_rbf"}
    for name in declared:
        scores = []
        for seed in (0, 1):
            est = make_learner(name)
            if "random_state" in est.get_params():
                est.set_params(random_state=seed)
            est.fit(X, y)
            score = getattr(est, "decision_function", None) or est.predict_proba
            scores.append(score(data.X_test))
        np.testing.assert_array_equal(scores[0], scores[1], err_msg=name)


def test_a_target_without_a_colon_is_refused() -> None:
    with pytest.raises(LearnbenchError, match="target must be 'module:Class'"):
        LearnerEntry("bad", "sklearn.svm.SVC", "classical", "x", "y")


def test_a_name_taken_twice_is_refused() -> None:
    from learnbench.learners import register_learner

    with pytest.raises(LearnbenchError, match="learner 'knn' is registered twice"):
        register_learner(LearnerEntry("knn", "sklearn.svm:SVC", "classical", "x", "y"))


# -- a plug-in learner: one file, one entry -------------------------------------------------------

PLUGIN = '''
"""A throwaway learner in one file: nearest centroids (Tibshirani et al., PNAS 2002)."""
from sklearn.neighbors import NearestCentroid

from learnbench.learners import LearnerEntry, register_learner


class ToyCentroid(NearestCentroid):
    """Nearest-centroid classifier, registered from outside the package."""


register_learner(LearnerEntry(
    "toy_centroid", "toy_plugin:ToyCentroid", "classical", "Nearest class centroid (plug-in)",
    "Tibshirani, Hastie, Narasimhan & Chu, PNAS 99(10), 2002", show=("metric",),
    deterministic=True,
))
'''

SUITE = '''
[suite]
name = "toy"
seeds = [0]
device = "cpu"
timeout = 120

[[datasets]]
name = "digits"

[[learners]]
name = "toy_centroid"
'''


@pytest.fixture
def plugin_env(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "toy_plugin.py").write_text(textwrap.dedent(PLUGIN))
    path = os.pathsep.join([str(tmp_path), str(ROOT / "src"), str(ROOT / "benchmarks"),
                            os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "LEARNBENCH_PLUGINS": "toy_plugin", "PYTHONPATH": path}


def _run(env: dict[str, str], *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True,
                          timeout=600, cwd=cwd)


def test_plugin_learner_is_listed_run_in_a_suite_and_benchmarked(plugin_env: dict[str, str],
                                                                 tmp_path: Path) -> None:
    listed = _run(plugin_env, "-m", "learnbench", "list", "learners")
    assert listed.returncode == 0, listed.stderr
    line = next(ln for ln in listed.stdout.splitlines() if "toy_centroid" in ln)
    assert "classical" in line and "Nearest class centroid (plug-in); metric='euclidean'" in line

    (tmp_path / "toy.toml").write_text(SUITE)
    run = _run(plugin_env, "-m", "learnbench", "run", str(tmp_path / "toy.toml"),
               "--out", str(tmp_path / "run"))
    assert run.returncode == 0, run.stderr
    [record] = [json.loads(p.read_text()) for p in (tmp_path / "run").glob("*.json")]
    assert record["config"]["learner"] == "toy_centroid" and record["status"] == "ok"
    assert record["metrics"]["accuracy"] > 0.8

    bench = _run(plugin_env, "-c", textwrap.dedent("""
        import bench_learners as b
        assert "toy_centroid" in b.ClassicalFit.params[0], b.ClassicalFit.params
        fit = b.ClassicalFit()
        fit.setup("toy_centroid")
        fit.time_fit("toy_centroid")
        print(fit.track_test_accuracy("toy_centroid"))
    """))
    assert bench.returncode == 0, bench.stderr
    assert float(bench.stdout.strip()) > 0.8


def test_plugin_that_cannot_be_imported_is_one_line_error(tmp_path: Path) -> None:
    env = {**os.environ, "LEARNBENCH_PLUGINS": "no_such_plugin_module",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    out = _run(env, "-m", "learnbench", "list", "learners")
    assert out.returncode == 2
    err = out.stderr.strip()
    assert "\n" not in err
    assert err.startswith("learnbench: error: plug-in 'no_such_plugin_module' (named in "
                          "$LEARNBENCH_PLUGINS) cannot be imported: ModuleNotFoundError")


def test_builtin_names_are_listed_sorted() -> None:
    names = learner_names()
    assert {e.name for e in BUILTIN_LEARNERS} <= set(names) and names == sorted(names)
    assert list(entries()) == names
