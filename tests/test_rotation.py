"""Tests for the rotation pretext learner (learnbench.learners.rotation)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from learnbench.errors import LearnbenchError
from learnbench.learners import learner_info, make_learner
from learnbench.learners.cnn import PlainCNN
from learnbench.learners.flops import estimator_flops_per_sample
from learnbench.learners.rotation import RotationPretextClassifier, rotate_batch, rotation_groups

# Tiny budgets: a fit on 80 8x8 images takes a fraction of a second on one CPU core.
TINY = {"widths": (4, 8), "pretext_epochs": 2, "batch_size": 16, "device": "cpu",
        "random_state": 0, "input_shape": (1, 8, 8)}
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def corners(n: int = 80, side: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Flattened images with an L-shaped mark (asymmetric under rotation); the label is its size."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    images = rng.uniform(0, 0.2, size=(n, side, side)).astype(np.float32)
    for i, label in enumerate(y):
        length = 3 if label == 0 else 6
        images[i, 1 : 1 + length, 1] = 1.0  # vertical stroke on the left
        images[i, 1 + length - 1, 1 : 1 + length] = 1.0  # horizontal stroke at its bottom
    return images.reshape(n, -1), y


def tiny(**params) -> RotationPretextClassifier:
    return make_learner("rotation_probe", **{**TINY, **params})


# -- rotations ------------------------------------------------------------------------------


def test_rotate_batch_turns_counter_clockwise_with_balanced_labels():
    image = torch.arange(1.0, 10.0).reshape(1, 1, 3, 3)  # [[1,2,3],[4,5,6],[7,8,9]]
    x = torch.cat([image, 10 * image])  # two images
    rotated, labels = rotate_batch(x)
    assert rotated.shape == (8, 1, 3, 3)
    assert labels.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert np.bincount(labels.numpy()).tolist() == [2, 2, 2, 2]
    expected = {
        0: [[1, 2, 3], [4, 5, 6], [7, 8, 9]],
        1: [[3, 6, 9], [2, 5, 8], [1, 4, 7]],
        2: [[9, 8, 7], [6, 5, 4], [3, 2, 1]],
        3: [[7, 4, 1], [8, 5, 2], [9, 6, 3]],
    }
    for k, grid in expected.items():
        assert rotated[2 * k, 0].tolist() == grid
        assert rotated[2 * k + 1, 0].tolist() == (10 * np.array(grid)).tolist()
        assert np.array_equal(rotated[2 * k, 0].numpy(), np.rot90(image[0, 0].numpy(), k))


def test_rotation_groups_split_non_square_images_by_shape():
    image = torch.arange(1.0, 7.0).reshape(1, 1, 2, 3)  # [[1,2,3],[4,5,6]]
    (upright, up_labels), (turned, turned_labels) = rotation_groups(image.repeat(3, 1, 1, 1))
    assert upright.shape == (6, 1, 2, 3) and turned.shape == (6, 1, 3, 2)
    assert up_labels.tolist() == [0, 0, 0, 2, 2, 2]
    assert turned_labels.tolist() == [1, 1, 1, 3, 3, 3]
    assert turned[0, 0].tolist() == [[3, 6], [2, 5], [1, 4]]
    assert upright[3, 0].tolist() == [[6, 5, 4], [3, 2, 1]]
    assert turned[3, 0].tolist() == [[4, 1], [5, 2], [6, 3]]
    with pytest.raises(LearnbenchError, match="square"):
        rotate_batch(image)
    assert len(rotation_groups(torch.zeros(2, 1, 4, 4))) == 1


# -- the learner ----------------------------------------------------------------------------


def test_registry_entry():
    info = learner_info("rotation_probe")
    assert info["family"] == "deep" and "Gidaris" in info["citation"]
    assert info["estimator"] == "learnbench.learners.rotation.RotationPretextClassifier"
    assert make_learner("rotation_probe").widths == make_learner("cnn").widths  # same backbone


def test_fits_and_predicts_with_the_right_shapes():
    X, y = corners()
    est = tiny().fit(X, y)
    assert est.predict(X).shape == (80,) and set(est.predict(X)) <= {0, 1}
    proba = est.predict_proba(X)
    assert proba.shape == (80, 2) and np.allclose(proba.sum(1), 1)
    assert est.transform(X).shape == (80, 8)
    assert isinstance(est.network_, PlainCNN) and est.network_.classifier.out_features == 4
    assert len(est.pretext_loss_curve_) == 2
    assert est.n_epochs_run_ == 2 and est.fit_samples_ == 4 * 2 * 72  # 8 of 80 held out
    assert isinstance(est.probe_, Pipeline)
    backbone = {id(p) for p in est.backbone_.parameters()}
    assert backbone == {id(p) for p in est.network_.features.parameters()}  # shared, not copied
    assert not any(p.requires_grad for p in est.backbone_.parameters())


def test_pretext_task_is_learned():
    X, y = corners(seed=1)
    est = tiny(pretext_epochs=15, lr=1e-2).fit(X, y)
    assert est.pretext_accuracy(X) >= 0.9  # chance: 0.25
    assert est.pretext_loss_curve_[-1] < 0.5 * est.pretext_loss_curve_[0]


def test_non_square_images():
    X, y = corners(side=8)
    X = X.reshape(80, 8, 8)[:, :, :6].reshape(80, -1)  # 8x6
    est = tiny(input_shape=(1, 8, 6)).fit(X, y)
    assert est.predict(X).shape == (80,)
    assert 0 <= est.pretext_accuracy(X) <= 1


def test_backbone_is_the_cnn_learners_net_without_its_head():
    X, y = corners()
    est = tiny(pretext_epochs=1).fit(X, y)
    extras = est.evaluation_extras(X, y)
    cnn = make_learner("cnn", widths=(4, 8), max_epochs=1, device="cpu", random_state=0,
                       input_shape=(1, 8, 8)).fit(X, y)
    head_flops = 2 * 8 * 2  # the cnn's linear head: 8 features -> 2 classes
    assert extras["backbone_flops_per_sample"] == estimator_flops_per_sample(cnn) - head_flops
    cnn_backbone = sum(p.numel() for p in cnn.module_.features.parameters())
    assert extras["backbone_parameters"] == cnn_backbone
    assert extras["probe_flops_per_sample"] == 2 * 8
    assert 0 <= extras["pretext_accuracy"] <= 1


def test_same_seed_same_predictions_and_pickle_round_trip():
    X, y = corners()
    a, b = tiny().fit(X, y), clone(tiny()).fit(X, y)
    assert np.array_equal(a.predict_proba(X), b.predict_proba(X))
    assert a.pretext_loss_curve_ == b.pretext_loss_curve_
    assert not np.array_equal(a.transform(X), tiny(random_state=1).fit(X, y).transform(X))
    back = pickle.loads(pickle.dumps(a))
    assert np.array_equal(back.predict_proba(X), a.predict_proba(X))
    assert {id(p) for p in back.backbone_.parameters()} <= {id(p) for p in back.network_.parameters()}


def test_unlabelled_rows_join_the_pretext_task_only():
    X, y = corners()
    extra, _ = corners(40, seed=2)
    est = tiny().fit(X, y, X_unlabelled=extra)
    assert est.fit_samples_ == 4 * 2 * (72 + 40)  # 8 labelled rows held out for validation
    assert not np.array_equal(est.transform(X), tiny().fit(X, y).transform(X))
    with pytest.raises(LearnbenchError, match="X_unlabelled has 10 features but X has 64"):
        tiny().fit(X, y, X_unlabelled=extra[:, :10])


def test_without_standardisation_the_probe_is_the_learner_itself():
    X, y = corners()
    est = tiny(standardize=False, probe="knn", probe_params={"n_neighbors": 1}).fit(X, y)
    assert est.probe_.n_neighbors == 1 and est.score(X, y) == 1.0


@pytest.mark.parametrize(("params", "message"), [
    ({"pretext_epochs": -1}, r"The 'pretext_epochs' parameter of RotationPretextClassifier must "
                             r"be an int in the range \[0, inf\)"),
    ({"lr": 0}, "The 'lr' parameter of RotationPretextClassifier must be a float"),
    ({"input_shape": None}, "needs input_shape=\\(C, H, W\\) when n_features \\(60\\)"),
])
def test_bad_parameters_raise_one_clear_error(params, message):
    X, y = corners()
    with pytest.raises(LearnbenchError, match=message):
        tiny(**params).fit(X[:, :60] if "input_shape" in params else X, y)


def test_harness_cell_on_digits():
    from learnbench.harness.worker import run_cell

    config = {"dataset": "digits", "dataset_params": {"subsample_train": 200, "subsample_test": 100},
              "learner": "rotation_probe", "params": {"pretext_epochs": 1, "widths": [4, 8]},
              "seed": 0, "device": "cpu",
              "latency": {"batch1_samples": 2, "bulk_batch_size": 50, "bulk_batches": 1}}
    metrics = run_cell(config)["metrics"]
    assert 0 <= metrics["accuracy"] <= 1 and metrics["n_train"] == 200
    extras = metrics["extras"]
    assert metrics["flops_per_sample"] == (extras["backbone_flops_per_sample"]
                                           + extras["probe_flops_per_sample"])
    assert metrics["extras"]["backbone_flops_per_sample"] > 0


@pytest.mark.cuda
@needs_cuda
def test_cuda_fit_is_seeded_and_pickles_identically():
    X, y = corners()
    a, b = tiny(device="cuda").fit(X, y), tiny(device="cuda").fit(X, y)
    assert a.device_.type == "cuda" and next(a.backbone_.parameters()).is_cuda
    assert np.array_equal(a.predict(X), b.predict(X))
    back = pickle.loads(pickle.dumps(a))
    assert np.allclose(back.predict_proba(X), a.predict_proba(X))
    assert next(a.network_.parameters()).is_cuda
