"""Tests for the MobileNet v1 and plain CNN learners (learnbench.learners.mobilenet / .cnn)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from torch import nn

from learnbench.errors import LearnbenchError
from learnbench.learners import (
    MobileNetClassifier,
    PlainCNNClassifier,
    count_parameters,
    is_torch_learner,
    learner_info,
    make_learner,
)
from learnbench.learners.cnn import PlainCNN
from learnbench.learners.flops import count_mult_adds, estimator_flops_per_sample
from learnbench.learners.mobilenet import COMPACT_PLAN, MobileNetV1

NEW = ["cnn", "mobilenet", "mobilenet_standard"]
# Small budgets: each fit of 60 28x28 images takes well under a second on one CPU core.
TINY = {"max_epochs": 2, "batch_size": 32, "device": "cpu"}


def tiny_images(n: int = 60, n_classes: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random flattened 1x28x28 images in [0, 1] and labels cycling through the classes."""
    rng = np.random.default_rng(seed)
    return rng.random((n, 784), dtype=np.float32), np.arange(n) % n_classes


def conv_cost(c_in: int, c_out: int, side: int, k: int = 3, groups: int = 1) -> int:
    """Mult-adds of a conv producing a side x side map: D_K^2 (M/groups) N D_F^2."""
    return k * k * (c_in // groups) * c_out * side * side


def mobilenet_mult_adds(side: int, c_in: int, n_classes: int, separable: bool, alpha: float = 1) -> int:
    """The per-layer formula: stem conv, then dw D_K^2 M D_F^2 + pw M N D_F^2 (or std D_K^2 M N D_F^2)."""
    m = round(32 * alpha)
    total = conv_cost(c_in, m, side)
    for channels, stride in COMPACT_PLAN:
        n, side = round(channels * alpha), (side - 1) // stride + 1
        if separable:
            total += conv_cost(m, m, side, groups=m) + conv_cost(m, n, side, k=1)
        else:
            total += conv_cost(m, n, side)
        m = n
    return total + m * n_classes  # linear head; BN, ReLU, pooling are not counted


# -- modules --------------------------------------------------------------------------------


@pytest.mark.parametrize("separable", [True, False])
@pytest.mark.parametrize(("side", "c_in", "n_classes"), [(28, 1, 10), (32, 3, 10), (20, 1, 40)])
def test_mobilenet_mult_adds_match_the_layer_formula(separable, side, c_in, n_classes):
    net = MobileNetV1(c_in, n_classes, separable=separable)
    expected = mobilenet_mult_adds(side, c_in, n_classes, separable)
    assert count_mult_adds(net, (c_in, side, side)) == expected


def test_mobilenet_28x28_figures():
    sep, std = MobileNetV1(1, 10), MobileNetV1(1, 10, separable=False)
    assert count_mult_adds(sep, (1, 28, 28)) == 14_338_176
    assert count_mult_adds(std, (1, 28, 28)) == 120_260_096
    assert sum(p.numel() for p in sep.parameters()) == 273_674
    assert sum(p.numel() for p in std.parameters()) == 2_312_170


def test_separable_blocks_are_depthwise_then_pointwise_and_control_has_none():
    sep, std = MobileNetV1(1, 10), MobileNetV1(1, 10, separable=False)
    convs = [m for m in sep.blocks.modules() if isinstance(m, nn.Conv2d)]
    assert [c.groups for c in convs[::2]] == [c.in_channels for c in convs[::2]]  # depthwise
    assert all(c.kernel_size == (1, 1) and c.groups == 1 for c in convs[1::2])  # pointwise
    std_convs = [m for m in std.blocks.modules() if isinstance(m, nn.Conv2d)]
    assert len(std_convs) == len(COMPACT_PLAN)
    assert all(c.kernel_size == (3, 3) and c.groups == 1 for c in std_convs)
    assert [c.stride[0] for c in std_convs] == [s for _, s in COMPACT_PLAN]


@pytest.mark.parametrize("alpha", [0.75, 0.5, 0.25])
def test_width_mult_scales_parameters_and_mult_adds_by_about_alpha_squared(alpha):
    """Eq. 6: the pointwise/standard terms scale by alpha^2; depthwise, BN and head by alpha."""
    full, thin = MobileNetV1(1, 10), MobileNetV1(1, 10, width_mult=alpha)
    params = lambda net: sum(p.numel() for p in net.parameters())  # noqa: E731
    assert alpha**2 <= params(thin) / params(full) < 1.25 * alpha**2
    ratio = count_mult_adds(thin, (1, 28, 28)) / count_mult_adds(full, (1, 28, 28))
    assert alpha**2 <= ratio < 1.25 * alpha**2
    assert count_mult_adds(thin, (1, 28, 28)) == mobilenet_mult_adds(28, 1, 10, True, alpha)
    assert thin.classifier.in_features == round(512 * alpha)


@pytest.mark.parametrize("rho", [0.5, 0.75])
def test_resolution_mult_scales_mult_adds_by_about_rho_squared(rho):
    full, low = MobileNetV1(1, 10), MobileNetV1(1, 10, resolution_mult=rho)
    ratio = count_mult_adds(low, (1, 32, 32)) / count_mult_adds(full, (1, 32, 32))
    assert ratio == pytest.approx(rho**2, rel=0.1)
    assert sum(p.numel() for p in low.parameters()) == sum(p.numel() for p in full.parameters())
    side = round(32 * rho)
    assert count_mult_adds(low, (1, 32, 32)) == mobilenet_mult_adds(side, 1, 10, separable=True)


def test_resolution_mult_resizes_inside_the_module():
    net = MobileNetV1(1, 4, resolution_mult=0.75)
    assert net.resize(torch.zeros(2, 1, 28, 28)).shape == (2, 1, 21, 21)
    assert net(torch.zeros(2, 1, 28, 28)).shape == (2, 4)
    same = MobileNetV1(1, 4)
    x = torch.rand(1, 1, 28, 28)
    assert same.resize(x) is x


@pytest.mark.parametrize("net_cls", [MobileNetV1, PlainCNN])
@pytest.mark.parametrize("shape", [(1, 112, 92), (1, 56, 46), (1, 28, 28), (3, 32, 32), (1, 8, 8)])
def test_modules_take_orl_fashion_and_small_images(net_cls, shape):
    net = net_cls(shape[0], 40).eval()
    with torch.no_grad():
        assert net(torch.zeros(2, *shape)).shape == (2, 40)


def test_plain_cnn_parameter_count_and_widths():
    block = lambda c_in, c: 9 * c_in * c + 2 * c + 9 * c * c + 2 * c  # noqa: E731
    expected = block(1, 32) + block(32, 64) + block(64, 128) + 128 * 10 + 10
    assert sum(p.numel() for p in PlainCNN(1, 10).parameters()) == expected == 288_170
    wide = PlainCNN(1, 10, widths=(8, 16))
    assert len([m for m in wide.modules() if isinstance(m, nn.MaxPool2d)]) == 2
    assert wide.classifier.in_features == 16
    with pytest.raises(LearnbenchError, match="widths must be positive"):
        PlainCNN(1, 10, widths=())


# -- learners -------------------------------------------------------------------------------


def test_registry_entries():
    for name in NEW:
        info = learner_info(name)
        assert info["family"] == "deep"
        assert info["description"] and info["citation"]
        assert is_torch_learner(make_learner(name))
    assert learner_info("mobilenet")["estimator"] == "learnbench.learners.mobilenet.MobileNetClassifier"
    assert learner_info("cnn")["estimator"] == "learnbench.learners.cnn.PlainCNNClassifier"
    assert make_learner("mobilenet").separable is True
    assert make_learner("mobilenet_standard").separable is False
    assert make_learner("mobilenet_standard", width_mult=0.5).get_params()["width_mult"] == 0.5


@pytest.mark.parametrize(
    ("name", "defaults"),
    [
        ("cnn", {"widths": (32, 64, 128), "max_epochs": 3, "batch_size": 128, "lr": 1e-3}),
        ("mobilenet", {"width_mult": 1.0, "resolution_mult": 1.0, "separable": True, "max_epochs": 3}),
        ("mobilenet_standard", {"width_mult": 1.0, "separable": False, "optimizer": "adam"}),
    ],
)
def test_defaults_and_clone(name, defaults):
    est = make_learner(name)
    params = est.get_params()
    assert {k: params[k] for k in defaults} == defaults
    assert clone(est).get_params() == params
    assert type(clone(est)) is type(est)


@pytest.fixture(scope="module")
def fitted():
    X, y = tiny_images()
    return {name: make_learner(name, **TINY, random_state=0).fit(X, y) for name in NEW}


@pytest.mark.parametrize("name", NEW)
def test_fit_predict_shapes(name, fitted):
    est, (X, _) = fitted[name], tiny_images(seed=1)
    pred = est.predict(X[:25])
    assert pred.shape == (25,)
    assert set(pred) <= {0, 1, 2}
    assert est.predict_proba(X[:25]).shape == (25, 3)
    assert est.input_shape_ == (1, 28, 28)
    assert est.n_epochs_run_ == 2 and len(est.loss_curve_) == 2
    assert count_parameters(est) == sum(p.numel() for p in est.module_.parameters())
    assert estimator_flops_per_sample(est) == 2 * count_mult_adds(est.module_, (1, 28, 28))


@pytest.mark.parametrize("name", NEW)
def test_same_seed_identical_different_seed_differs(name, fitted):
    X, y = tiny_images()
    again = make_learner(name, **TINY, random_state=0).fit(X, y)
    other = make_learner(name, **TINY, random_state=1).fit(X, y)
    np.testing.assert_array_equal(again.predict_proba(X), fitted[name].predict_proba(X))
    assert again.loss_curve_ == fitted[name].loss_curve_
    assert other.loss_curve_ != fitted[name].loss_curve_


@pytest.mark.parametrize("name", NEW)
def test_pickle_round_trip_predicts_identically(name, fitted):
    X, _ = tiny_images(seed=2)
    est = fitted[name]
    loaded = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))


def test_learners_take_an_orl_like_input_shape_and_multipliers():
    rng = np.random.default_rng(0)
    X, y = rng.random((8, 56 * 46), dtype=np.float32), np.arange(8) % 4
    common = {"max_epochs": 1, "batch_size": 8, "device": "cpu", "input_shape": (56, 46)}
    est = MobileNetClassifier(width_mult=0.25, resolution_mult=0.5, **common).fit(X, y)
    assert est.input_shape_ == (1, 56, 46)
    assert est.module_.classifier.in_features == 128
    assert est.predict(X).shape == (8,)
    cnn = PlainCNNClassifier(widths=(4, 8), **common).fit(X, y)
    assert cnn.module_.classifier.in_features == 8


def test_input_shape_errors():
    X, y = tiny_images(n=6)
    with pytest.raises(LearnbenchError, match=r"must be \(C, H, W\) or \(H, W\)"):
        MobileNetClassifier(max_epochs=1, input_shape=(784,)).fit(X, y)
    with pytest.raises(LearnbenchError, match=r"needs input_shape=\(C, H, W\)"):
        PlainCNNClassifier(max_epochs=1).fit(X[:, :700], y)
    with pytest.raises(LearnbenchError, match="The 'width_mult' parameter of MobileNetClassifier"):
        MobileNetClassifier(max_epochs=1, width_mult=0, device="cpu").fit(X, y)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("name", NEW)
def test_cuda_fit_is_seeded_and_loads_on_cpu(name):
    X, y = tiny_images()
    a = make_learner(name, **{**TINY, "device": "cuda"}, random_state=0).fit(X, y)
    b = make_learner(name, **{**TINY, "device": "cuda"}, random_state=0).fit(X, y)
    assert a.device_.type == "cuda"
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert estimator_flops_per_sample(a) == 2 * count_mult_adds(a.module_.cpu(), (1, 28, 28))
    a.module_.cuda()
    state = pickle.dumps(a)
    loaded = pickle.loads(state)
    np.testing.assert_allclose(loaded.predict_proba(X), a.predict_proba(X), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["cnn", "mobilenet", "mobilenet_standard"])
def test_performance_options_reach_the_shared_trainer(name):
    from learnbench.learners import make_learner

    rng = np.random.default_rng(0)
    X, y = rng.random((32, 64), dtype=np.float32), np.arange(32) % 2
    params = {"max_epochs": 1, "input_shape": (1, 8, 8), "random_state": 0}
    if name != "cnn":
        params["width_mult"] = 0.25
    est = make_learner(name, amp="bf16", cudnn_benchmark=True, **params).fit(X, y)
    assert est.get_params()["amp"] == "bf16" and set(est.predict(X)) <= {0, 1}
    with pytest.raises(LearnbenchError, match="amp"):
        make_learner(name, amp="fp8", **params).fit(X, y)
