"""Tests for learnbench.learners: registry, classical defaults, TorchClassifier, LeNet-5."""

from __future__ import annotations

import math
import pickle
import re

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import check_estimator
from torch import nn

from learnbench.errors import LearnbenchError, UnknownNameError
from learnbench.learners import (
    LeNet5Classifier,
    TorchClassifier,
    count_parameters,
    is_torch_learner,
    learner_info,
    learner_names,
    make_learner,
)
from learnbench.learners.lenet import LeNet5

ALL = ["knn", "lenet5", "logreg", "random_forest", "svm_rbf", "xgboost"]
# Small budgets so every learner fits the tiny data below in well under a second.
FAST = {
    "lenet5": {"max_epochs": 15, "batch_size": 16, "device": "cpu"},
    "random_forest": {"n_estimators": 20},
    "xgboost": {"n_estimators": 20},
}
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def bars(n: int, side: int = 8, n_classes: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Flattened side x side images in [0, 1]: class k lights up horizontal band k, plus noise."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    images = rng.uniform(0, 0.3, size=(n, side, side)).astype(np.float32)
    band = side // n_classes
    for k in range(n_classes):
        images[y == k, k * band : (k + 1) * band, :] += 0.7
    return images.reshape(n, -1), y.astype(np.int64)


def fast_learner(name: str, **params) -> object:
    est = make_learner(name, **{**FAST.get(name, {}), **params})
    if "random_state" in est.get_params():
        est.set_params(random_state=0)
    return est


class LinearTorch(TorchClassifier):
    """The smallest TorchClassifier: one linear layer on the flat features."""

    def _build_module(self, input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
        return nn.Linear(input_shape[0], n_classes)


def params_equal(a: dict, b: dict) -> bool:
    """Parameter dicts equal, with NaN == NaN (XGBoost's ``missing`` is NaN)."""
    same = lambda u, v: u == v or (isinstance(u, float) and math.isnan(u) and math.isnan(v))  # noqa: E731
    return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)


# -- registry -------------------------------------------------------------------------------


def test_learner_names_lists_the_registry_sorted():
    # learners with their own test files (test_mobilenet.py, ...) are registered too
    names = learner_names()
    assert names == sorted(names) and set(ALL) <= set(names)
    assert len(names) == len(set(names))


def test_classical_learners_do_not_import_torch():
    import subprocess
    import sys

    code = ("import sys; from learnbench.learners import make_learner; "
            "make_learner('logreg'); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("name", ALL)
def test_learner_info_has_family_description_citation(name):
    info = learner_info(name)
    assert info["name"] == name
    assert info["family"] == ("deep" if name == "lenet5" else "classical")
    assert info["description"] and info["citation"]
    assert info["estimator"].endswith(type(make_learner(name)).__name__)


def test_unknown_learner_lists_valid_names():
    with pytest.raises(UnknownNameError) as err:
        make_learner("perceptron")
    assert str(err.value) == f"unknown learner 'perceptron'; valid learners: {', '.join(learner_names())}"
    with pytest.raises(UnknownNameError):
        learner_info("perceptron")


@pytest.mark.parametrize(
    ("name", "valid_example"),
    [("knn", "n_neighbors"), ("xgboost", "max_depth"), ("lenet5", "max_epochs")],
)
def test_unknown_parameter_is_a_one_line_error(name, valid_example):
    with pytest.raises(LearnbenchError) as err:
        make_learner(name, n_layers=3)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"learner {name!r} has no parameter 'n_layers'; valid parameters: ")
    assert valid_example in message.split("valid parameters: ")[1].split(", ")


@pytest.mark.parametrize(
    ("name", "param", "default"),
    [
        ("logreg", "max_iter", 1000),
        ("knn", "n_neighbors", 3),
        ("svm_rbf", "C", 5.0),
        ("svm_rbf", "gamma", "scale"),
        ("random_forest", "n_estimators", 100),
        ("xgboost", "tree_method", "hist"),
        ("xgboost", "device", "cpu"),
        ("lenet5", "max_epochs", 3),
        ("lenet5", "batch_size", 128),
        ("lenet5", "lr", 1e-3),
        ("lenet5", "optimizer", "adam"),
    ],
)
def test_defaults_and_overrides(name, param, default):
    assert make_learner(name).get_params()[param] == default
    assert make_learner(name, **{param: 7}).get_params()[param] == 7


@pytest.mark.parametrize("name", ALL)
def test_clone_and_get_params_round_trip(name):
    est = make_learner(name, **FAST.get(name, {}))
    params = est.get_params()
    assert params_equal(clone(est).get_params(), params)
    assert params_equal(make_learner(name).set_params(**params).get_params(), params)
    assert type(clone(est)) is type(est)


@pytest.mark.parametrize("name", ALL)
def test_every_randomised_learner_takes_random_state(name):
    if name == "knn":
        assert "random_state" not in make_learner(name).get_params()  # deterministic
    else:
        assert make_learner(name, random_state=3).get_params()["random_state"] == 3


def test_is_torch_learner():
    assert [n for n in ALL if is_torch_learner(make_learner(n))] == ["lenet5"]


# -- every learner on easy data -------------------------------------------------------------


@pytest.fixture(scope="module")
def easy():
    X, y = bars(150)
    return X[:90], y[:90], X[90:], y[90:]


@pytest.fixture(scope="module")
def fitted(easy):
    X, y, _, _ = easy
    return {name: fast_learner(name).fit(X, y) for name in ALL}


@pytest.mark.parametrize("name", ALL)
def test_fits_predicts_and_beats_chance(name, fitted, easy):
    est, (_, _, X_test, y_test) = fitted[name], easy
    pred = est.predict(X_test)
    assert pred.shape == (len(X_test),)
    assert set(np.unique(pred)) <= {0, 1, 2}
    assert list(est.classes_) == [0, 1, 2]
    assert est.n_features_in_ == 64
    assert np.mean(pred == y_test) >= 0.9  # chance is 1/3
    if hasattr(est, "predict_proba"):
        proba = est.predict_proba(X_test)
        assert proba.shape == (len(X_test), 3)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
        np.testing.assert_array_equal(est.classes_[proba.argmax(axis=1)], pred)


@pytest.mark.parametrize("name", ALL)
def test_pickle_round_trip_predicts_identically(name, fitted, easy):
    est, X_test = fitted[name], easy[2]
    loaded = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(loaded.predict(X_test), est.predict(X_test))


def test_joblib_round_trip_of_lenet(fitted, easy, tmp_path):
    est, X_test = fitted["lenet5"], easy[2]
    joblib.dump(est, tmp_path / "lenet.joblib")
    loaded = joblib.load(tmp_path / "lenet.joblib")
    np.testing.assert_array_equal(loaded.predict_proba(X_test), est.predict_proba(X_test))
    assert loaded.loss_curve_ == est.loss_curve_


# -- count_parameters -----------------------------------------------------------------------


def mnist_like(n_per_class: int = 2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    y = np.repeat(np.arange(10), n_per_class)
    return rng.random((len(y), 784), dtype=np.float32), y


def test_lenet5_parameter_count_matches_the_paper_geometry():
    X, y = mnist_like()
    est = make_learner("lenet5", max_epochs=1, device="cpu", random_state=0).fit(X, y)
    conv1 = 6 * (1 * 5 * 5) + 6
    conv2 = 16 * (6 * 5 * 5) + 16
    fc1 = 16 * 5 * 5 * 120 + 120
    fc2 = 120 * 84 + 84
    fc3 = 84 * 10 + 10
    assert conv1 + conv2 + fc1 + fc2 + fc3 == 61_706
    assert count_parameters(est) == 61_706
    assert est.input_shape_ == (1, 28, 28)


def test_logreg_parameter_count_is_weights_plus_biases():
    X, y = mnist_like()
    assert count_parameters(make_learner("logreg", max_iter=50).fit(X, y)) == 784 * 10 + 10


def test_svm_parameter_count_is_support_vectors_dual_coefs_and_intercepts(fitted):
    svm = fitted["svm_rbf"]
    n_sv, k = int(svm.n_support_.sum()), 3
    assert count_parameters(svm) == n_sv * 64 + (k - 1) * n_sv + k * (k - 1) // 2


@pytest.mark.parametrize("name", ["knn", "random_forest", "xgboost"])
def test_parameter_count_is_none_for_non_parametric_and_tree_learners(name, fitted):
    assert count_parameters(fitted[name]) is None


def test_count_parameters_needs_a_fitted_estimator():
    with pytest.raises(NotFittedError):
        count_parameters(make_learner("lenet5"))


# -- LeNet-5 geometry -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("in_channels", "size", "fc1_in"),
    [
        (1, (28, 28), 16 * 5 * 5),
        (1, (8, 8), 16 * 2 * 2),
        (1, (112, 92), 16 * 25 * 20),
        (3, (32, 32), 16 * 5 * 5),
    ],
)
def test_lenet5_module_geometry(in_channels, size, fc1_in):
    net = LeNet5(in_channels, size, n_classes=7)
    assert net.classifier[1].in_features == fc1_in
    assert net(torch.zeros(2, in_channels, *size)).shape == (2, 7)


def test_lenet5_rejects_tiny_images():
    with pytest.raises(LearnbenchError, match="at least 4x4"):
        LeNet5(1, (3, 3))


def test_lenet5_input_shape_forms():
    X, y = bars(12, side=8)
    X3 = np.tile(X, 3)  # 3 x 64 = 192 features, not a square
    assert LeNet5Classifier(max_epochs=1, input_shape=(8, 8)).fit(X, y).input_shape_ == (1, 8, 8)
    est = LeNet5Classifier(max_epochs=1, input_shape=(3, 8, 8)).fit(X3, y)
    assert est.module_.features[0].in_channels == 3
    with pytest.raises(LearnbenchError, match=r"needs input_shape=\(C, H, W\).*\(192\)"):
        LeNet5Classifier(max_epochs=1).fit(X3, y)
    with pytest.raises(LearnbenchError, match="holds 49 values but X has 64 features"):
        LeNet5Classifier(max_epochs=1, input_shape=(1, 7, 7)).fit(X, y)
    with pytest.raises(LearnbenchError, match=r"must be \(C, H, W\) or \(H, W\)"):
        LeNet5Classifier(max_epochs=1, input_shape=(64,)).fit(X, y)


# -- TorchClassifier behaviour --------------------------------------------------------------


def small_lenet(**params) -> LeNet5Classifier:
    return LeNet5Classifier(**{"max_epochs": 2, "batch_size": 16, "device": "cpu", **params})


def test_same_seed_gives_identical_fits_and_different_seed_differs():
    X, y = bars(60)
    a, b = small_lenet(random_state=7).fit(X, y), small_lenet(random_state=7).fit(X, y)
    c = small_lenet(random_state=8).fit(X, y)
    assert a.loss_curve_ == b.loss_curve_
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    weight = lambda est: est.module_.features[0].weight  # noqa: E731
    assert torch.equal(weight(a), weight(b))
    assert not torch.equal(weight(a), weight(c))
    assert a.loss_curve_ != c.loss_curve_


def test_random_state_instance_is_accepted_and_reproducible():
    X, y = bars(30)
    a = small_lenet(random_state=np.random.RandomState(3)).fit(X, y)
    b = small_lenet(random_state=np.random.RandomState(3)).fit(X, y)
    assert a.loss_curve_ == b.loss_curve_


def test_fit_matches_a_plain_pytorch_loop():
    """The training loop is exactly: seed, build, per-epoch randperm, slice, step."""
    X, y = bars(50)
    est = LinearTorch(max_epochs=3, batch_size=16, lr=0.01, device="cpu", random_state=5,
                      validation_fraction=0.0).fit(X, y)

    torch.manual_seed(5)
    shuffle = torch.Generator().manual_seed(5)
    net = nn.Linear(64, 3)
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    for _ in range(3):
        perm = torch.randperm(50, generator=shuffle)
        for start in range(0, 50, 16):
            idx = perm[start : start + 16]
            opt.zero_grad()
            nn.functional.cross_entropy(net(Xt[idx]), yt[idx]).backward()
            opt.step()
    assert torch.equal(est.module_.weight, net.weight)
    assert torch.equal(est.module_.bias, net.bias)


def test_fit_records_training_facts_and_loss_falls(capsys):
    X, y = bars(40)
    est = small_lenet(max_epochs=6, random_state=0, verbose=True).fit(X, y)
    assert est.n_epochs_run_ == 6
    assert est.fit_samples_ == 6 * 36  # 4 of the 40 rows held out for validation
    assert len(est.loss_curve_) == 6
    assert est.loss_curve_[-1] < est.loss_curve_[0]
    assert est.device_ == torch.device("cpu")
    assert not est.module_.training
    assert capsys.readouterr().out.count("epoch ") == 6


def test_string_labels_round_trip():
    X, y = bars(60)
    names = np.array(["cat", "dog", "eel"])[y]
    est = small_lenet(max_epochs=10, random_state=0).fit(X, names)
    assert list(est.classes_) == ["cat", "dog", "eel"]
    pred = est.predict(X)
    assert pred.dtype == names.dtype
    assert np.mean(pred == names) >= 0.9


def test_sgd_optimizer_trains():
    X, y = bars(60)
    est = small_lenet(optimizer="sgd", lr=0.05, max_epochs=10, random_state=0).fit(X, y)
    assert isinstance(est, LeNet5Classifier)
    assert np.mean(est.predict(X) == y) >= 0.9


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"optimizer": "rmsprop"}, "The 'optimizer' parameter of LeNet5Classifier must be a str "
                                   "among {'adam', 'adamw', 'sgd'}. Got 'rmsprop' instead."),
        ({"max_epochs": 0}, "The 'max_epochs' parameter of LeNet5Classifier must be an int in "
                            "the range [1, inf). Got 0 instead."),
        ({"max_epochs": True}, "The 'max_epochs' parameter of LeNet5Classifier must be an int "
                               "in the range [1, inf). Got True instead."),
        ({"batch_size": 2.5}, "The 'batch_size' parameter of LeNet5Classifier must be an int"),
        ({"lr": 0.0}, "The 'lr' parameter of LeNet5Classifier must be a float in the range "
                      "(0.0, inf). Got 0.0 instead."),
        ({"device": "tpu"}, "The 'device' parameter of LeNet5Classifier must be a str among "
                            "'cpu', 'cuda', 'cuda:N' or 'auto'. Got 'tpu' instead."),
    ],
)
def test_invalid_parameters_raise_at_fit(params, match):
    X, y = bars(12)
    with pytest.raises(LearnbenchError, match=re.escape(match)):
        small_lenet(**params).fit(X, y)


def test_cuda_without_cuda_is_a_one_line_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    X, y = bars(12)
    with pytest.raises(LearnbenchError) as err:
        small_lenet(device="cuda").fit(X, y)
    assert str(err.value) == "device 'cuda' requested but torch.cuda.is_available() is False"


def test_cuda_index_without_cuda_names_the_device(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    X, y = bars(12)
    with pytest.raises(LearnbenchError, match="^device 'cuda:1' requested but"):
        small_lenet(device="cuda:1").fit(X, y)


def test_auto_device_falls_back_to_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    X, y = bars(12)
    assert small_lenet(device="auto").fit(X, y).device_ == torch.device("cpu")


def test_predict_checks_fitted_and_feature_count():
    X, y = bars(12)
    with pytest.raises(NotFittedError):
        small_lenet().predict(X)
    est = small_lenet(max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        est.predict(X[:, :49])


def test_predict_batches_give_the_same_answer():
    X, y = bars(50)
    est = small_lenet(random_state=0).fit(X, y)
    whole = est.predict_proba(X)
    est.set_params(predict_batch_size=7)
    np.testing.assert_allclose(est.predict_proba(X), whole, rtol=1e-6, atol=1e-9)


# -- scikit-learn estimator checks ----------------------------------------------------------


def _check_name(check) -> str:
    return getattr(check, "func", check).__name__


def sklearn_checks(estimator) -> pytest.MarkDecorator:
    """Parametrize over scikit-learn's estimator checks for ``estimator``, named by check."""
    checks = list(check_estimator(estimator, generate_only=True))
    return pytest.mark.parametrize(
        ("estimator", "check"), checks, ids=[_check_name(c) for _, c in checks]
    )


@sklearn_checks(LinearTorch(max_epochs=20, lr=0.05, batch_size=32, device="cpu"))
def test_torch_classifier_passes_sklearn_estimator_checks(estimator, check):
    """The wrapper itself honours the whole scikit-learn contract."""
    check(estimator)


# LeNet needs an image: with input_shape=None these checks' non-square (or 1-feature) inputs
# must be refused with the documented error rather than reshaped by guesswork.
LENET_REFUSES = {
    "check_classifier_data_not_an_array",
    "check_classifiers_classes",
    "check_classifiers_one_label",
    "check_classifiers_train",
    "check_dict_unchanged",
    "check_dont_overwrite_parameters",
    "check_dtype_object",
    "check_estimators_dtypes",
    "check_estimators_fit_returns_self",
    "check_estimators_nan_inf",
    "check_estimators_overwrite_params",
    "check_estimators_pickle",
    "check_fit2d_1feature",
    "check_fit2d_1sample",
    "check_fit2d_predict1d",
    "check_fit_check_is_fitted",
    "check_fit_idempotent",
    "check_fit_score_takes_y",
    "check_methods_sample_order_invariance",
    "check_methods_subset_invariance",
    "check_n_features_in",
    "check_pipeline_consistency",
    "check_supervised_y_2d",
}


def _chain(exc: BaseException | None):
    while exc is not None:
        yield exc
        exc = exc.__cause__ or exc.__context__


@sklearn_checks(LeNet5Classifier(max_epochs=1, device="cpu"))
def test_lenet5_sklearn_checks_pass_or_refuse_non_images(estimator, check):
    if _check_name(check) not in LENET_REFUSES:
        check(estimator)
        return
    with pytest.raises(Exception) as err:
        check(estimator)
    messages = [str(e) for e in _chain(err.value) if isinstance(e, LearnbenchError)]
    assert messages, f"expected a LearnbenchError, got {err.value!r}"
    assert any("needs input_shape" in m or "at least 4x4" in m for m in messages)


# -- CUDA -----------------------------------------------------------------------------------


@pytest.mark.cuda
@needs_cuda
def test_lenet5_on_cuda_is_seeded_and_pickles_to_the_same_predictions():
    X, y = bars(90)
    a = small_lenet(device="cuda", random_state=0, max_epochs=10).fit(X, y)
    b = small_lenet(device="cuda", random_state=0, max_epochs=10).fit(X, y)
    assert a.device_.type == "cuda"
    assert next(a.module_.parameters()).is_cuda
    assert a.loss_curve_ == b.loss_curve_
    assert np.mean(a.predict(X) == y) >= 0.9
    loaded = pickle.loads(pickle.dumps(a))
    assert next(a.module_.parameters()).is_cuda  # pickling left the original on the GPU
    np.testing.assert_array_equal(loaded.predict(X), a.predict(X))


@pytest.mark.cuda
@needs_cuda
def test_auto_device_picks_cuda_and_xgboost_runs_on_cuda():
    X, y = bars(90)
    assert small_lenet(device="auto").fit(X, y).device_.type == "cuda"
    xgb = make_learner("xgboost", device="cuda", n_estimators=10).fit(X, y)
    assert np.mean(xgb.predict(X) == y) >= 0.9
