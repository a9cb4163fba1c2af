"""Tests for learnbench.learners.flops: FlopCounterMode counts against the analytic formulas."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from torch import nn

from learnbench.learners import make_learner
from learnbench.learners.flops import (
    count_flops,
    count_mult_adds,
    estimator_flops_per_sample,
    mobilenet_cost_comparison,
    separable_cost_ratio,
)
from learnbench.learners.mobilenet import DepthwiseSeparable, StandardBlock


@pytest.mark.parametrize("bias", [True, False])
def test_conv_flops_are_two_per_multiply_add(bias):
    conv = nn.Conv2d(3, 8, 3, padding=1, bias=bias)  # bias additions are not counted
    assert count_flops(conv, (3, 8, 8)) == 2 * 8 * 8 * 8 * 3 * 9
    assert count_mult_adds(conv, (3, 8, 8)) == 8 * 8 * 8 * 3 * 9


def test_linear_flops_and_per_sample_over_a_batch():
    linear = nn.Linear(10, 5)
    assert count_flops(linear, (10,)) == 2 * 50
    assert count_flops(linear, (10,), batch_size=7) == 2 * 50


def test_depthwise_conv_counts_one_input_channel_per_output():
    conv = nn.Conv2d(16, 16, 3, stride=2, padding=1, groups=16, bias=False)
    assert count_mult_adds(conv, (16, 9, 9)) == 9 * 16 * 5 * 5


def test_bn_relu_pooling_and_interpolation_are_not_counted():
    body = nn.Sequential(nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2), nn.AdaptiveAvgPool2d(1))
    assert count_flops(body, (4, 8, 8)) == 0
    up = nn.Upsample(scale_factor=2, mode="bilinear")
    assert count_flops(up, (4, 8, 8)) == 0


def test_count_flops_restores_training_mode_and_leaves_bn_statistics():
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4))
    net.train()
    count_flops(net, (1, 6, 6))
    assert net.training
    assert int(net[1].num_batches_tracked) == 0


def test_estimator_flops_per_sample_of_lenet_matches_its_layers():
    rng = np.random.default_rng(0)
    X, y = rng.random((20, 784), dtype=np.float32), np.arange(20) % 10
    est = make_learner("lenet5", max_epochs=1, device="cpu", random_state=0).fit(X, y)
    mult_adds = (
        6 * 1 * 25 * 28 * 28  # conv1, padding 2: 28x28 out
        + 16 * 6 * 25 * 10 * 10  # conv2 on 14x14 -> 10x10
        + 400 * 120
        + 120 * 84
        + 84 * 10
    )
    assert estimator_flops_per_sample(est) == 2 * mult_adds == 833_040


def test_estimator_flops_per_sample_is_none_for_classical_and_needs_a_fit():
    X, y = np.eye(4, dtype=np.float32), np.array([0, 1, 0, 1])
    assert estimator_flops_per_sample(LogisticRegression().fit(X, y)) is None
    with pytest.raises(NotFittedError):
        estimator_flops_per_sample(make_learner("mobilenet"))


def test_separable_cost_ratio_is_eq5():
    assert separable_cost_ratio(64, 3) == pytest.approx(1 / 64 + 1 / 9)
    assert separable_cost_ratio(10, 5) == pytest.approx(1 / 10 + 1 / 25)


@pytest.mark.parametrize(
    ("m", "n", "stride", "side"), [(8, 16, 1, 8), (16, 32, 2, 9), (32, 64, 2, 7), (3, 5, 1, 4)]
)
def test_separable_block_counted_ratio_is_exactly_eq5(m, n, stride, side):
    sep = count_mult_adds(DepthwiseSeparable(m, n, stride), (m, side, side))
    std = count_mult_adds(StandardBlock(m, n, stride), (m, side, side))
    assert Fraction(sep, std) == Fraction(1, n) + Fraction(1, 9)


def test_mobilenet_cost_comparison_counted_equals_analytic_and_head_dilutes():
    r = mobilenet_cost_comparison((1, 28, 28), n_classes=10)
    assert r["separable_mult_adds"] == r["analytic_separable_mult_adds"] == 14_338_176
    assert r["standard_mult_adds"] == r["analytic_standard_mult_adds"] == 120_260_096
    assert r["counted_ratio"] == r["analytic_ratio"]
    assert [b["out_channels"] for b in r["blocks"]] == [64, 128, 128, 256, 256, 512]
    assert [b["out_size"] for b in r["blocks"]] == [(28, 28), (14, 14), (14, 14), (7, 7), (7, 7), (4, 4)]
    for b in r["blocks"]:
        assert b["separable_mult_adds"] == b["analytic_separable_mult_adds"]
        assert b["standard_mult_adds"] == b["analytic_standard_mult_adds"]
        assert b["counted_ratio"] == pytest.approx(b["analytic_ratio"], rel=1e-12)
    ratios = [b["counted_ratio"] for b in r["blocks"]]
    assert min(ratios) < r["blocks_counted_ratio"] < max(ratios)
    assert r["blocks_counted_ratio"] < r["counted_ratio"]  # the shared stem and head dilute
    total_blocks = sum(b["separable_mult_adds"] for b in r["blocks"])
    assert r["separable_mult_adds"] == total_blocks + r["shared_mult_adds"]


def test_mobilenet_cost_comparison_follows_the_multipliers():
    base = mobilenet_cost_comparison((1, 32, 32))
    half = mobilenet_cost_comparison((1, 32, 32), resolution_mult=0.5)
    assert half["separable_parameters"] == base["separable_parameters"]
    assert half["blocks"][0]["out_size"] == (16, 16)
    assert half["separable_mult_adds"] == half["analytic_separable_mult_adds"]
    thin = mobilenet_cost_comparison((1, 32, 32), width_mult=0.5)
    assert [b["out_channels"] for b in thin["blocks"]] == [32, 64, 64, 128, 128, 256]
    assert thin["standard_mult_adds"] == thin["analytic_standard_mult_adds"]


def test_count_flops_on_the_module_device():
    net = nn.Linear(4, 2).to(torch.float64)
    assert count_flops(net, (4,)) == 16
