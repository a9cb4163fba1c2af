"""Tests for gcForest (learnbench.learners.gcforest) and the DF21 comparator (deep_forest)."""

from __future__ import annotations

import pickle
import sys

import numpy as np
import pytest
from sklearn.utils.estimator_checks import check_estimator

from learnbench.errors import LearnbenchError
from learnbench.learners import learner_info, make_learner
from learnbench.learners.deep_forest import DeepForestClassifier
from learnbench.learners.gcforest import (
    CascadeForestClassifier,
    GCForestClassifier,
    MultiGrainedScanner,
    default_window_sizes,
    extract_windows,
)
from learnbench.learners.gcforest.cascade import CascadeCore
from learnbench.learners.gcforest.forests import xgboost_cuda_works
from learnbench.learners.gcforest.scanning import avg_pool

# -- windows --------------------------------------------------------------------------------


def test_windows_of_a_4x4_image_match_a_hand_computed_list():
    image = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    expected = [
        [0, 1, 4, 5], [1, 2, 5, 6], [2, 3, 6, 7],
        [4, 5, 8, 9], [5, 6, 9, 10], [6, 7, 10, 11],
        [8, 9, 12, 13], [9, 10, 13, 14], [10, 11, 14, 15],
    ]
    np.testing.assert_array_equal(extract_windows(image, (2, 2), stride=1), expected)
    strided = [[0, 1, 4, 5], [2, 3, 6, 7], [8, 9, 12, 13], [10, 11, 14, 15]]
    np.testing.assert_array_equal(extract_windows(image, (2, 2), stride=2), strided)


def test_windows_span_channels_and_sequences_get_1d_windows():
    two_channels = np.stack([np.arange(9), 100 + np.arange(9)]).reshape(1, 2, 3, 3)
    first = extract_windows(two_channels, (2, 2))[0]
    np.testing.assert_array_equal(first, [0, 1, 3, 4, 100, 101, 103, 104])
    sequence = np.arange(5).reshape(1, 1, 1, 5)
    np.testing.assert_array_equal(extract_windows(sequence, (1, 3)), [[0, 1, 2], [1, 2, 3], [2, 3, 4]])


def test_default_window_sizes_follow_the_floor_d_over_16_8_4_rule():
    assert default_window_sizes((1, 28, 28)) == [(7, 7), (10, 10), (14, 14)]  # areas 49, 98, 196
    assert default_window_sizes((1, 8, 8)) == [(2, 2), (3, 3), (4, 4)]
    assert default_window_sizes((400,)) == [(1, 25), (1, 50), (1, 100)]


def test_average_pooling_keeps_partial_edge_cells():
    maps = np.arange(9, dtype=np.float32).reshape(1, 3, 3, 1)
    pooled = avg_pool(maps, (2, 2))[0, :, :, 0]
    np.testing.assert_allclose(pooled, [[(0 + 1 + 3 + 4) / 4, (2 + 5) / 2], [(6 + 7) / 2, 8]])


# -- no sample is predicted by a forest that saw it -------------------------------------------


def unique_label_images(n: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """4x4 images, one class per image: a forest that never saw image i cannot vote for class i."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 16)).astype(np.float32) / 255, np.arange(n)


def test_scanning_class_vectors_are_out_of_fold_by_image():
    X, y = unique_label_images()
    scanner = MultiGrainedScanner((1, 4, 4), window_sizes=[2], n_estimators=5, random_state=0)
    Z = scanner.fit_transform(X, y)
    n, k = len(y), len(y)
    maps = Z[:, scanner.grain_slices_[0]].reshape(n, 2, 9, k)  # (image, forest, window, class)
    own = maps[np.arange(n), :, :, np.arange(n)]
    assert np.all(own == 0)  # a window split (not by image) would leak 8 sibling windows
    assert scanner.pixel_scale_ == 255.0  # stored as exact uint8 codes
    # control: the forests refitted on all windows do vote for each image's own class
    refit = scanner.transform(X)[:, scanner.grain_slices_[0]].reshape(n, 2, 9, k)
    assert np.all(refit[np.arange(n), :, :, np.arange(n)].mean(axis=(1, 2)) > 0.5)


def test_cascade_class_vectors_are_out_of_fold():
    X, y = unique_label_images()
    core = CascadeCore(n_classes=len(y), n_forests=2, n_estimators=5)
    _, oof = core._fit_level(X, y, np.random.RandomState(0))
    per_forest = oof.reshape(len(y), 2, len(y))
    assert np.all(per_forest[np.arange(len(y)), :, np.arange(len(y))] == 0)


# -- cascade growth -------------------------------------------------------------------------


def separable(n: int = 120, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    return rng.normal(size=(n, 4)) + 10 * y[:, None], y


def test_cascade_stops_when_the_estimate_stops_improving():
    X, y = separable()
    est = CascadeForestClassifier(n_forests=2, n_estimators=5, max_levels=5, random_state=0).fit(X, y)
    # level 1 is already perfect on the estimating set; level 2 cannot improve on 1.0
    assert est.level_scores_ == [1.0, 1.0]
    assert est.n_levels_ == 1 and len(est.cascade_.levels) == 1
    assert len(est.timings_["grow"]) == 2 and len(est.timings_["refit"]) == 1
    assert all(m > 0 for m in est.peak_memory_mb_["grow"])


def test_cascade_depth_limits_and_fixed_depth():
    X, y = separable()
    kw = {"n_forests": 2, "n_estimators": 3, "random_state": 0}
    assert CascadeForestClassifier(max_levels=1, **kw).fit(X, y).n_levels_ == 1
    fixed = CascadeForestClassifier(max_levels=3, validation_fraction=0, **kw).fit(X, y)
    assert fixed.n_levels_ == 3 and fixed.level_scores_ == []
    # a tolerance no level can beat: the first level (vs -inf) is still kept
    assert CascadeForestClassifier(max_levels=4, tolerance=0.5, **kw).fit(X, y).n_levels_ == 1


# -- scikit-learn contract ------------------------------------------------------------------


@pytest.mark.parametrize(
    "estimator",
    [
        GCForestClassifier(cascade_estimators=3, n_forests=2, max_levels=2, random_state=0),
        CascadeForestClassifier(n_estimators=3, n_forests=2, max_levels=2, random_state=0),
    ],
    ids=["GCForestClassifier", "CascadeForestClassifier"],
)
def test_check_estimator_without_scanning(estimator):
    # The whole check suite applies: without scanning (input_shape=None) the input is any 2-D
    # feature matrix. With scanning it is not run: rows must match input_shape, which the
    # checks' random shapes do not.
    check_estimator(estimator)


def test_registry_names():
    assert isinstance(make_learner("gcforest"), GCForestClassifier)
    cascade = make_learner("gcforest_cascade")
    assert isinstance(cascade, CascadeForestClassifier)
    assert "input_shape" not in cascade.get_params()  # the harness cannot switch scanning on
    assert make_learner("gcforest").get_params()["cascade_estimators"] == 500
    assert learner_info("deep_forest")["estimator"].endswith("DeepForestClassifier")


# -- digits: scanning + cascade -------------------------------------------------------------


@pytest.fixture(scope="module")
def digits_fit():
    from learnbench.datasets import load_dataset

    data = load_dataset("digits")
    est = GCForestClassifier(
        input_shape=data.image_shape, scan_estimators=10, scan_min_samples_leaf=5,
        max_train_windows=20_000, cascade_estimators=20, n_forests=2, max_levels=3, random_state=0,
    ).fit(data.X_train, data.y_train)
    return est, data


def test_scanning_and_cascade_beat_90_percent_on_digits(digits_fit):
    est, data = digits_fit
    accuracy = np.mean(est.predict(data.X_test) == data.y_test)
    assert accuracy > 0.90, accuracy
    assert est.scanner_.windows_ == [(2, 2), (3, 3), (4, 4)]
    assert 1 <= est.n_levels_ <= 3
    assert set(est.timings_) == {"scan", "grow", "refit", "total"}
    assert est.peak_memory_mb_["scan"] > 0


def test_pickle_round_trip_predicts_identically(digits_fit):
    est, data = digits_fit
    loaded = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(loaded.predict_proba(data.X_test), est.predict_proba(data.X_test))


def test_max_train_windows_subsamples_and_pooling_shrinks_maps():
    X, y = unique_label_images(30)
    y = y % 3
    scanner = MultiGrainedScanner(
        (1, 4, 4), window_sizes=[2], pool=2, max_train_windows=50, n_estimators=3, random_state=0
    ).fit(X, y)
    assert scanner.n_train_windows_ == [50]
    assert scanner.map_shapes_ == [(2, 2)]
    assert scanner.transform(X).shape == (30, 2 * 2 * 2 * 3)


def test_bad_shapes_are_one_line_errors():
    X, y = unique_label_images()
    with pytest.raises(LearnbenchError, match="does not match 16 features"):
        MultiGrainedScanner((1, 5, 5)).fit(X, y)
    with pytest.raises(LearnbenchError, match="does not fit"):
        MultiGrainedScanner((1, 4, 4), window_sizes=[5]).fit(X, y)


# -- device ---------------------------------------------------------------------------------


def test_cuda_without_a_gpu_is_a_clean_error():
    if xgboost_cuda_works():
        pytest.skip("a CUDA device is present")
    X, y = separable()
    with pytest.raises(LearnbenchError, match="use device='cpu'"):
        CascadeForestClassifier(device="cuda").fit(X, y)


@pytest.mark.cuda
def test_cuda_forests_fit_through_xgboost():
    if not xgboost_cuda_works():
        pytest.skip("no CUDA device for XGBoost")
    X, y = separable()
    est = CascadeForestClassifier(n_forests=2, n_estimators=5, device="cuda", random_state=0).fit(X, y)
    assert np.mean(est.predict(X) == y) > 0.9


# -- DF21 comparator ------------------------------------------------------------------------


def test_deep_forest_without_the_package_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "deepforest", None)  # makes `import deepforest` fail
    X, y = separable()
    with pytest.raises(LearnbenchError, match=r"pip install 'learnbench\[deepforest\]'") as err:
        DeepForestClassifier().fit(X, y)
    assert "\n" not in str(err.value)


def test_deep_forest_fits_tiny_data_and_pickles():
    pytest.importorskip("deepforest")
    X, y = separable(400)  # > 255 distinct values per feature: DF21 bins by percentiles
    est = make_learner("deep_forest", n_trees=30, max_layers=2, random_state=0).fit(X, y)
    assert np.mean(est.predict(X) == y) > 0.9 and est.n_levels_ >= 1
    loaded = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))


def test_cascade_takes_sparse_tfidf_like_input():
    import scipy.sparse as sp

    X, y = separable()
    X = sp.csr_matrix(np.where(X > 5, X, 0))  # mostly zeros, like TF-IDF
    est = CascadeForestClassifier(n_forests=2, n_estimators=5, max_levels=2, random_state=0).fit(X, y)
    assert np.mean(est.predict(X) == y) > 0.9


def test_harness_records_scan_and_level_timings_and_memory():
    from learnbench.harness.worker import run_cell

    config = {"dataset": "digits", "dataset_params": {"subsample_train": 300, "subsample_test": 100},
              "learner": "gcforest",
              "params": {"scan_estimators": 5, "cascade_estimators": 5, "n_forests": 2, "max_levels": 2},
              "seed": 0, "device": "cpu",
              "latency": {"batch1_samples": 2, "bulk_batch_size": 50, "bulk_batches": 1}}
    report = run_cell(config)["details"]["fit_report"]
    assert report["timings"]["scan"] > 0 and len(report["timings"]["grow"]) == len(report["level_scores"])
    assert len(report["timings"]["refit"]) == report["n_levels"] >= 1
    assert report["peak_memory_mb"]["scan"] > 0
