"""Per-image random augmentation: independent draws per image, seeded, shape-preserving."""

import numpy as np
import pytest
import torch

from learnbench.errors import LearnbenchError
from learnbench.learners import make_learner
from learnbench.learners.augment import augment_batch


def _batch() -> torch.Tensor:
    x = torch.zeros(64, 1, 8, 8)
    x[:, :, :, :2] = 1.0  # a bar on the left edge: a flip moves it to the right
    return x


def test_flip_flips_about_half_the_images_independently():
    x = _batch()
    out = augment_batch(x, "flip", torch.Generator().manual_seed(0))
    flipped = out[:, 0, 0, -1] == 1.0
    assert torch.equal(out[flipped], x[flipped].flip(-1))
    assert torch.equal(out[~flipped], x[~flipped])
    assert 16 < int(flipped.sum()) < 48  # per-image draws, not one draw for the batch


def test_shift_moves_images_and_is_seeded():
    x = torch.rand(16, 1, 10, 10)
    a = augment_batch(x, "shift", torch.Generator().manual_seed(1))
    b = augment_batch(x, "shift", torch.Generator().manual_seed(1))
    c = augment_batch(x, "shift", torch.Generator().manual_seed(2))
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.allclose(a, x)
    assert augment_batch(x, None, torch.Generator()) is x


def test_unknown_augment_is_refused_and_augmenting_changes_training():
    with pytest.raises(LearnbenchError, match="The 'augment' parameter of PlainCNNClassifier must be"):
        make_learner("cnn", augment="rotate").fit(np.zeros((4, 64), np.float32), [0, 1, 0, 1])
    X = np.random.default_rng(0).random((40, 64), dtype=np.float32)
    y = np.arange(40) % 2
    est = make_learner("lenet5", max_epochs=1, device="cpu", augment="flip", input_shape=(1, 8, 8))
    assert est.fit(X, y).n_epochs_run_ == 1
    a = make_learner("cnn", widths=(4,), max_epochs=2, device="cpu", random_state=0,
                     input_shape=(1, 8, 8), augment="flip+shift").fit(X, y)
    b = make_learner("cnn", widths=(4,), max_epochs=2, device="cpu", random_state=0,
                     input_shape=(1, 8, 8)).fit(X, y)
    assert a.loss_curve_ != b.loss_curve_  # augmentation changes what is trained on
