"""Tests for the metric-learning losses, miners and learners (Siamese contrastive, triplet)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from learnbench.errors import LearnbenchError
from learnbench.learners import (
    SiameseContrastiveClassifier,
    TripletClassifier,
    count_parameters,
    is_torch_learner,
    learner_info,
    make_learner,
)
from learnbench.learners.flops import estimator_flops_per_sample
from learnbench.learners.losses import contrastive_loss, triplet_loss
from learnbench.learners.metric_learning import PairSampler, class_balanced_batches
from learnbench.learners.mining import batch_hard_triplets, random_triplets, semi_hard_negatives

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def t(rows: list) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32)


# -- losses -----------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["hadsell", "squared_hinge"])
def test_contrastive_similar_pair_costs_half_squared_distance(variant):
    loss = contrastive_loss(t([[0.0, 0.0]]), t([[3.0, 4.0]]), t([0]), margin=2.0, variant=variant)
    assert loss.item() == pytest.approx(12.5)  # 1/2 * 5^2


@pytest.mark.parametrize("variant", ["hadsell", "squared_hinge"])
def test_contrastive_dissimilar_pair_beyond_margin_costs_nothing(variant):
    loss = contrastive_loss(t([[0.0, 0.0]]), t([[3.0, 4.0]]), t([1]), margin=2.0, variant=variant)
    assert loss.item() == 0.0


def test_contrastive_dissimilar_pair_inside_margin_is_positive_and_variants_differ():
    a, p, y = t([[0.0, 0.0]]), t([[0.3, 0.4]]), t([1])  # D = 0.5, D^2 = 0.25
    hadsell = contrastive_loss(a, p, y, margin=2.0, variant="hadsell")
    squared = contrastive_loss(a, p, y, margin=2.0, variant="squared_hinge")
    assert hadsell.item() == pytest.approx(0.5 * 1.5**2)  # 1.125
    assert squared.item() == pytest.approx(0.5 * (2.0 - 0.25))  # 0.875


def test_contrastive_variants_agree_on_similar_pairs_and_differ_on_dissimilar_ones():
    # margin 4: Hadsell is zero from D = 4 on, the squared hinge from D = 2 on
    a = t([[0.0], [0.0], [0.0], [0.0]])
    p = t([[3.0], [3.0], [5.0], [1.0]])
    y = t([0, 1, 1, 1])
    per_pair = {
        v: [contrastive_loss(a[i : i + 1], p[i : i + 1], y[i : i + 1], 4.0, v).item() for i in range(4)]
        for v in ("hadsell", "squared_hinge")
    }
    assert per_pair["hadsell"] == pytest.approx([4.5, 0.5, 0.0, 4.5])
    assert per_pair["squared_hinge"] == pytest.approx([4.5, 0.0, 0.0, 1.5])
    mean = contrastive_loss(a, p, y, 4.0, "hadsell").item()
    assert mean == pytest.approx(sum(per_pair["hadsell"]) / 4)


def test_contrastive_gradient_is_finite_for_coincident_dissimilar_pair():
    a = t([[1.0, 2.0]]).requires_grad_()
    contrastive_loss(a, t([[1.0, 2.0]]), t([1]), margin=1.0, variant="hadsell").backward()
    assert torch.isfinite(a.grad).all()


def test_contrastive_unknown_variant_raises():
    with pytest.raises(ValueError, match="variant must be one of hadsell, squared_hinge"):
        contrastive_loss(t([[0.0]]), t([[1.0]]), t([0]), 1.0, variant="cosine")


def test_triplet_loss_hand_values():
    a, p = t([[0.0, 0.0]]), t([[1.0, 0.0]])  # d_ap^2 = 1
    assert triplet_loss(a, p, t([[2.0, 0.0]]), margin=1.0).item() == 0.0  # 1 + 1 - 4 < 0
    assert triplet_loss(a, p, t([[1.0, 1.0]]), margin=2.0).item() == pytest.approx(1.0)  # 2+1-2
    both = triplet_loss(t([[0.0, 0.0]] * 2), t([[1.0, 0.0]] * 2), t([[2.0, 0.0], [0.5, 0.0]]), 1.0)
    assert both.item() == pytest.approx((0.0 + 1.75) / 2)  # second: 1 + 1 - 0.25


def test_triplet_loss_of_no_triplets_is_zero_and_differentiable():
    e = torch.zeros(0, 3, requires_grad=True)
    loss = triplet_loss(e, e, e, 0.2)
    loss.backward()
    assert loss.item() == 0.0


# -- mining -----------------------------------------------------------------------------------


def test_batch_hard_picks_farthest_positive_and_closest_negative():
    emb = t([[0.0], [1.0], [3.0], [4.0], [10.0], [7.0]])
    labels = torch.tensor([0, 0, 0, 1, 1, 2])  # label 2 has no positive: not an anchor
    a, p, n = batch_hard_triplets(emb, labels)
    assert a.tolist() == [0, 1, 2, 3, 4]
    assert p.tolist() == [2, 2, 0, 4, 3]
    assert n.tolist() == [3, 3, 3, 2, 5]


def semi_hard_case(margin: float) -> int:
    """The negative chosen for anchor 0 and positive 1 (d_ap^2 = 1)."""
    emb = t([[0.0], [1.0], [0.5], [1.2], [1.1], [3.0]])  # negatives' d^2: 0.25, 1.44, 1.21, 9
    labels = torch.tensor([0, 0, 1, 1, 1, 1])
    a, p, n = semi_hard_negatives(emb, labels, margin)
    (row,) = ((a == 0) & (p == 1)).nonzero().squeeze(1).tolist()
    assert set(zip(a.tolist(), p.tolist(), strict=True)) == {
        (i, j) for i in range(6) for j in range(6) if i != j and labels[i] == labels[j]
    }
    return int(n[row])


def test_semi_hard_picks_the_closest_negative_in_the_band():
    assert semi_hard_case(margin=1.0) == 4  # band (1, 2): 1.21 and 1.44; the closer one


def test_semi_hard_falls_back_to_the_hardest_negative_when_the_band_is_empty():
    assert semi_hard_case(margin=0.1) == 2  # band (1, 1.1) is empty: closest negative, 0.25


def test_random_triplets_are_valid_and_seeded():
    labels = torch.tensor([0, 0, 1, 1, 1, 2, 2, 3])
    draws = [random_triplets(labels, torch.Generator().manual_seed(s)) for s in (0, 0, 1)]
    a, p, n = draws[0]
    assert a.tolist() == [0, 1, 2, 3, 4, 5, 6]
    assert (labels[p] == labels[a]).all() and (p != a).all() and (labels[n] != labels[a]).all()
    assert all(torch.equal(x, y) for x, y in zip(draws[0], draws[1], strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(draws[0], draws[2], strict=True))


# -- batch construction -----------------------------------------------------------------------


def test_pair_sampler_is_balanced_and_respects_labels():
    y = np.array([0] * 5 + [1] * 3 + [2] + [3] * 7)
    sampler = PairSampler(y)
    anchors = torch.arange(len(y)).repeat(50)
    partners, dissimilar = sampler.partners(anchors, torch.Generator().manual_seed(0))
    yt = torch.from_numpy(y)
    same = yt[partners] == yt[anchors]
    assert torch.equal(same, ~dissimilar)
    assert (partners[~dissimilar] != anchors[~dissimilar]).all()
    assert dissimilar[anchors == 8].all()  # the only sample of class 2
    # alternate similar / dissimilar by batch position; the lone sample is always dissimilar
    assert torch.equal(dissimilar, (torch.arange(len(anchors)) % 2 == 1) | (anchors == 8))
    assert len(torch.unique(partners[anchors == 10])) > 3  # class 3 has 6 other samples: draws vary


def test_class_balanced_batches_cover_each_sample_once_in_class_groups():
    y = np.repeat(np.arange(10), 5)
    gen = torch.Generator().manual_seed(0)
    batches = class_balanced_batches(y, batch_size=16, samples_per_class=4, generator=gen)
    flat = torch.cat(batches)
    assert sorted(flat.tolist()) == list(range(50))
    assert all(len(b) <= 16 for b in batches)
    for b in batches:
        counts = np.bincount(y[b.numpy()])
        assert not np.any(counts == 1)  # 5 samples split 3 + 2: no lone sample of a class


# -- learners ---------------------------------------------------------------------------------


def blobs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Three well-separated Gaussian clusters in 10-D."""
    rng = np.random.default_rng(seed)
    centers = np.random.default_rng(123).normal(0, 3, size=(3, 10))
    y = np.arange(n) % 3
    return (centers[y] + rng.normal(0, 0.5, size=(n, 10))).astype(np.float32), y


def bars(n: int, seed: int, side: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Flattened 8x8 images: class k lights up horizontal band k, plus noise."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    images = rng.uniform(0, 0.3, size=(n, side, side)).astype(np.float32)
    for k in range(3):
        images[y == k, 2 * k : 2 * k + 2, :] += 0.7
    return images.reshape(n, -1), y


SMALL = {"embedding_dim": 8, "hidden_sizes": (32,), "widths": (4, 8), "batch_size": 20,
         "max_epochs": 15, "device": "cpu", "random_state": 0}
LEARNERS = {
    "siamese": lambda **kw: SiameseContrastiveClassifier(**{**SMALL, **kw}),
    "triplet": lambda **kw: TripletClassifier(**{**SMALL, "samples_per_class": 4, **kw}),
}
DATA = {"flat": (blobs, {}), "image": (bars, {"input_shape": (1, 8, 8)})}


@pytest.fixture(scope="module")
def fitted() -> dict:
    out = {}
    for lname, make in LEARNERS.items():
        for dname, (gen, extra) in DATA.items():
            X, y = gen(60, seed=0)
            out[lname, dname] = make(**extra).fit(X, y)
    return out


CASES = [(lname, dname) for lname in LEARNERS for dname in DATA]


@pytest.mark.parametrize("case", CASES)
def test_learner_beats_chance_and_separates_pairs(fitted, case):
    est = fitted[case]
    X, y = DATA[case[1]][0](60, seed=1)
    assert (est.predict(X) == y).mean() >= 0.9  # chance is 1/3
    proba = est.predict_proba(X)
    assert proba.shape == (60, 3) and np.allclose(proba.sum(axis=1), 1.0)
    extras = est.evaluation_extras(X, y)
    assert set(extras) == {"verification_roc_auc", "verification_eer", "verification_pairs"}
    # an untrained net already scores AUC 0.84-0.95 on these toy sets: 0.99 needs training
    assert 0.99 <= extras["verification_roc_auc"] <= 1.0
    assert 0.0 <= extras["verification_eer"] <= 0.05
    assert est.loss_curve_[-1] < 0.5 * est.loss_curve_[0]
    assert extras["verification_pairs"] == 60 * 59 / 2


@pytest.mark.parametrize("case", CASES)
def test_learner_embeds_with_the_right_net_and_shape(fitted, case):
    est = fitted[case]
    X, _ = DATA[case[1]][0](7, seed=1)
    emb = est.transform(X)
    assert emb.shape == (7, 8) and emb.dtype == np.float32
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)  # normalize=True
    has_conv = any(isinstance(m, torch.nn.Conv2d) for m in est.module_.modules())
    assert has_conv == (case[1] == "image")


@pytest.mark.parametrize("name", ["siamese", "triplet"])
def test_same_seed_same_predictions_other_seed_other_model(name):
    X, y = bars(60, seed=0)
    Xt, _ = bars(30, seed=1)
    a, b, c = (LEARNERS[name](input_shape=(1, 8, 8), max_epochs=3, random_state=s).fit(X, y)
               for s in (0, 0, 1))
    assert np.array_equal(a.transform(Xt), b.transform(Xt))
    assert np.array_equal(a.predict(Xt), b.predict(Xt))
    assert a.loss_curve_ == b.loss_curve_
    assert not np.array_equal(a.transform(Xt), c.transform(Xt))


@pytest.mark.parametrize("case", CASES)
def test_pickle_round_trip_keeps_predictions(fitted, case):
    est = fitted[case]
    X, _ = DATA[case[1]][0](30, seed=2)
    clone = pickle.loads(pickle.dumps(est))
    assert np.array_equal(clone.predict(X), est.predict(X))
    assert np.array_equal(clone.predict_proba(X), est.predict_proba(X))


@pytest.mark.parametrize(
    ("name", "params"),
    [("siamese", {"loss_variant": "squared_hinge"}), ("triplet", {"mining": "semi_hard"}),
     ("triplet", {"mining": "random"})],
)
def test_other_losses_and_miners_learn_too(name, params):
    X, y = blobs(60, seed=0)
    est = LEARNERS[name](**params).fit(X, y)
    Xt, yt = blobs(60, seed=1)
    assert (est.predict(Xt) == yt).mean() >= 0.9
    assert est.loss_curve_[-1] < est.loss_curve_[0]


def test_string_labels_come_back_as_given():
    X, y = blobs(60, seed=0)
    names = np.array(["ant", "bee", "cat"])[y]
    est = LEARNERS["triplet"](max_epochs=5).fit(X, names)
    assert set(est.predict(X)) <= {"ant", "bee", "cat"}
    assert list(est.classes_) == ["ant", "bee", "cat"]


def test_evaluation_extras_hand_computed_auc_and_sampling():
    est = TripletClassifier(random_state=0)
    est.transform = lambda X: np.asarray(X, dtype=np.float32)  # embeddings = the inputs
    X = np.array([[0.0], [5.0], [0.1], [5.1]])
    y = np.array([0, 0, 1, 1])
    # same-class pairs are at distance 5; of the 4 other pairs only (0, 3) is farther: AUC 1/4
    assert est.evaluation_extras(X, y)["verification_roc_auc"] == pytest.approx(0.25)
    separable = est.evaluation_extras(np.array([[0.0], [0.1], [5.0], [5.1]]), y)
    assert separable["verification_roc_auc"] == 1.0 and separable["verification_eer"] == 0.0
    assert est.evaluation_extras(X, np.zeros(4)) == {}  # one class: AUC undefined
    est.verification_pairs = 100  # fewer than the 780 pairs of 40 samples: a seeded sample
    Xb, yb = blobs(40, seed=0)
    first, second = est.evaluation_extras(Xb, yb), est.evaluation_extras(Xb, yb)
    assert first["verification_pairs"] == 100 and first == second


def test_registry_builds_torch_learners_with_flops_and_parameters(fitted):
    assert type(make_learner("siamese_contrastive", margin=0.5)) is SiameseContrastiveClassifier
    assert type(make_learner("triplet", mining="random")) is TripletClassifier
    assert learner_info("triplet")["family"] == "deep"
    est = fitted["triplet", "image"]
    assert is_torch_learner(est)
    assert count_parameters(est) == sum(p.numel() for p in est.module_.parameters()) > 0
    assert estimator_flops_per_sample(est) > 0


@pytest.mark.parametrize(
    ("cls", "params", "message"),
    [
        (SiameseContrastiveClassifier, {"loss_variant": "cosine"},
         "The 'loss_variant' parameter of SiameseContrastiveClassifier must be a str among"),
        (SiameseContrastiveClassifier, {"margin": 0}, r"The 'margin' parameter of "
         r"SiameseContrastiveClassifier must be a float in the range \(0.0, inf\). Got 0"),
        (TripletClassifier, {"mining": "hardest"}, "The 'mining' parameter of TripletClassifier"),
        (TripletClassifier, {"samples_per_class": 1}, r"The 'samples_per_class' parameter of "
         r"TripletClassifier must be an int in the range \[2, inf\)"),
        (TripletClassifier, {"samples_per_class": 65},
         r"samples_per_class \(65\) must be at most batch_size \(64\)"),
        (TripletClassifier, {"n_neighbors": 0}, "The 'n_neighbors' parameter of TripletClassifier"),
        (TripletClassifier, {"input_shape": (2, 2, 5, 5)}, "input_shape must be"),
    ],
)
def test_invalid_parameters_raise_one_line_errors(cls, params, message):
    X, y = bars(12, seed=0)
    X = np.hstack([X, X])[:, :100] if "input_shape" in params else X
    with pytest.raises(LearnbenchError, match=message):
        cls(device="cpu", **params).fit(X, y)


@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize("name", ["siamese", "triplet"])
def test_cuda_fit_is_seeded_and_pickles(name):
    X, y = bars(60, seed=0)
    a, b = (LEARNERS[name](input_shape=(1, 8, 8), device="cuda").fit(X, y) for _ in range(2))
    assert a.device_.type == "cuda" and next(a.module_.parameters()).is_cuda
    Xt, yt = bars(30, seed=1)
    assert np.array_equal(a.predict(Xt), b.predict(Xt))
    assert (a.predict(Xt) == yt).mean() >= 0.9
    assert np.array_equal(pickle.loads(pickle.dumps(a)).predict(Xt), a.predict(Xt))
    assert 0.9 <= a.evaluation_extras(Xt, yt)["verification_roc_auc"] <= 1.0
