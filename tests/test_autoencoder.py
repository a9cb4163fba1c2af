"""Tests for the autoencoder feature learners (learnbench.learners.autoencoder)."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression

from learnbench.errors import LearnbenchError
from learnbench.learners import autoencoder as ae_mod
from learnbench.learners import learner_info, make_learner
from learnbench.learners.autoencoder import (
    AutoencoderClassifier,
    ConvAutoencoder,
    FCAutoencoder,
    FCEncoder,
    contractive_penalty_autograd,
    contractive_penalty_sigmoid,
    corrupt,
    l1_code_penalty,
)

NAMES = ["ae_logreg", "dae_logreg", "sae_logreg", "cae_logreg", "conv_ae_logreg", "ae_finetune"]
# Tiny budgets: each fit of 80 8x8 images takes a fraction of a second on one CPU core.
TINY = {"ae_epochs": 3, "head_epochs": 2, "fine_tune_epochs": 2, "code_size": 8,
        "batch_size": 16, "device": "cpu", "random_state": 0, "input_shape": (1, 8, 8)}
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def bars(n: int = 80, side: int = 8, n_classes: int = 2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Flattened side x side images in [0, 1]: class k lights up horizontal band k, plus noise."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    images = rng.uniform(0, 0.3, size=(n, side, side)).astype(np.float32)
    band = side // n_classes
    for k in range(n_classes):
        images[y == k, k * band : (k + 1) * band, :] += 0.7
    return images.reshape(n, -1), y


def tiny(name: str, **params) -> AutoencoderClassifier:
    return make_learner(name, **{**TINY, **params})


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# -- registry and shapes --------------------------------------------------------------------


@pytest.mark.parametrize(("name", "kind", "architecture", "fine_tune"), [
    ("ae_logreg", "undercomplete", "fc", False),
    ("dae_logreg", "denoising", "fc", False),
    ("sae_logreg", "sparse", "fc", False),
    ("cae_logreg", "contractive", "fc", False),
    ("conv_ae_logreg", "undercomplete", "conv", False),
    ("ae_finetune", "undercomplete", "fc", True),
])
def test_registry_defaults(name, kind, architecture, fine_tune):
    est = make_learner(name)
    assert (est.kind, est.architecture, est.fine_tune) == (kind, architecture, fine_tune)
    info = learner_info(name)
    assert info["family"] == "deep" and info["citation"]
    assert info["estimator"] == "learnbench.learners.autoencoder.AutoencoderClassifier"


@pytest.mark.parametrize("name", NAMES)
def test_fits_and_predicts_with_the_right_shapes(name):
    X, y = bars()
    est = tiny(name).fit(X, y)
    assert est.predict(X).shape == (80,) and set(est.predict(X)) <= {0, 1}
    proba = est.predict_proba(X)
    assert proba.shape == (80, 2) and np.allclose(proba.sum(1), 1)
    codes = est.transform(X)
    assert codes.shape == (80, 8) and codes.dtype == np.float32
    if est.architecture == "fc":
        assert codes.min() > 0 and codes.max() < 1  # sigmoid codes
    assert est.reconstruct(X).shape == X.shape
    assert len(est.reconstruction_loss_curve_) == 3 and len(est.ae_loss_curve_) == 3
    assert isinstance(est.encoder_, torch.nn.Module)
    extra = 4 if est.fine_tune else 0
    assert est.n_epochs_run_ == 3 + extra and est.fit_samples_ == 72 * (3 + extra)  # 8 held out
    if est.fine_tune:
        assert isinstance(est.classifier_, torch.nn.Linear)
    else:
        assert isinstance(est.classifier_, LogisticRegression)


def test_codes_separate_easy_classes_and_reconstruction_improves():
    X, y = bars()
    est = tiny("ae_logreg", ae_epochs=30, lr=1e-2).fit(X, y)
    assert est.score(X, y) >= 0.95
    curve = est.reconstruction_loss_curve_
    assert curve[-1] < 0.5 * curve[0]


def test_conv_autoencoder_restores_odd_and_even_sides():
    for shape in [(1, 8, 8), (1, 7, 9), (3, 5, 6)]:
        for tied in (False, True):
            net = ConvAutoencoder(shape, 4, (3, 5), tied=tied)
            assert net(torch.rand(2, *shape)).shape == (2, *shape)


def test_classifier_head_and_its_params_come_from_the_registry():
    X, y = bars()
    est = tiny("ae_logreg", classifier="knn", classifier_params={"n_neighbors": 1}).fit(X, y)
    assert est.classifier_.n_neighbors == 1
    assert est.score(X, y) == 1.0  # 1-NN on its own training codes


# -- penalties and corruption ---------------------------------------------------------------


def test_contractive_closed_form_matches_a_hand_computed_value():
    W = torch.tensor([[1.0, -2.0], [0.5, 0.0]])
    x = torch.tensor([[1.0, 1.0]])
    h = torch.sigmoid(x @ W.t())  # pre-activations -1 and 0.5
    sig = lambda z: 1 / (1 + math.exp(-z))  # noqa: E731
    expected = (sig(-1) * (1 - sig(-1))) ** 2 * (1 + 4) + (sig(0.5) * (1 - sig(0.5))) ** 2 * 0.25
    assert contractive_penalty_sigmoid(h, W).item() == pytest.approx(expected, rel=1e-6)
    assert expected == pytest.approx(0.2070879, abs=1e-6)  # 0.19661^2 * 5 + 0.23500^2 * 0.25


def test_contractive_closed_form_equals_the_autograd_jacobian():
    torch.manual_seed(0)
    enc = FCEncoder(6, 3)
    x = torch.rand(4, 6)
    closed = contractive_penalty_sigmoid(enc(x), enc.linear.weight)
    per_sample = [torch.autograd.functional.jacobian(enc, x[i : i + 1]).pow(2).sum() for i in range(4)]
    assert closed.item() == pytest.approx(torch.stack(per_sample).mean().item(), rel=1e-5)
    h, by_autograd = contractive_penalty_autograd(enc, x)
    assert by_autograd.item() == pytest.approx(closed.item(), rel=1e-5)
    assert torch.allclose(h, enc(x))


def test_conv_contractive_penalty_is_the_mean_squared_jacobian_and_trainable():
    torch.manual_seed(0)
    net = ConvAutoencoder((1, 6, 6), 3, (4,))
    x = torch.rand(3, 1, 6, 6)
    _, penalty = contractive_penalty_autograd(net.encoder, x)
    assert penalty.item() > 0  # some ReLUs are active
    per_sample = [torch.autograd.functional.jacobian(net.encoder, x[i : i + 1]).pow(2).sum()
                  for i in range(3)]
    assert penalty.item() == pytest.approx(torch.stack(per_sample).mean().item(), rel=1e-5)
    penalty.backward()  # the penalty is differentiable w.r.t. the encoder weights
    assert net.encoder.convs[0].weight.grad.abs().sum() > 0


def test_l1_code_penalty_on_a_known_code():
    h = torch.tensor([[0.5, -0.25, 0.0], [1.0, 0.0, 0.0]])
    assert l1_code_penalty(h).item() == pytest.approx((0.75 + 1.0) / 2)


def test_penalties_enter_the_loss_only_for_their_kind():
    X, _ = bars(16)
    x = torch.from_numpy(X)
    torch.manual_seed(0)
    net = FCAutoencoder((64,), 5)
    h = net.encoder(x)
    reconstruction = (net(x) - x).pow(2).sum(1).mean()
    cases = {
        "undercomplete": 0.0,
        "sparse": 0.3 * l1_code_penalty(h).item(),
        "contractive": 0.7 * contractive_penalty_sigmoid(h, net.encoder.linear.weight).item(),
    }
    for kind, expected in cases.items():
        est = AutoencoderClassifier(kind=kind, sparsity_weight=0.3, contractive_weight=0.7)
        rec, penalty = est._ae_losses(net, x)
        assert rec.item() == pytest.approx(reconstruction.item(), rel=1e-6)
        assert penalty.item() == pytest.approx(expected, rel=1e-6)
    assert cases["sparse"] > 0 and cases["contractive"] > 0


def test_masking_and_gaussian_corruption():
    torch.manual_seed(0)
    x = torch.full((200, 50), 0.5)
    masked = corrupt(x, "masking", 0.25)
    assert (masked == 0).float().mean().item() == pytest.approx(0.25, abs=0.02)
    assert torch.all((masked == 0) | (masked == 0.5))
    noisy = corrupt(x, "gaussian", 0.1)
    assert (noisy - x).std().item() == pytest.approx(0.1, rel=0.05)
    with pytest.raises(LearnbenchError):
        corrupt(x, "salt", 0.1)


def test_denoising_corrupts_training_inputs_only_and_reconstructs_the_clean_target(monkeypatch):
    calls = []

    def spy(x, corruption, noise):
        calls.append((corruption, noise))
        return torch.zeros_like(x)  # everything masked: the code cannot depend on x

    monkeypatch.setattr(ae_mod, "corrupt", spy)
    X, y = bars()
    est = tiny("dae_logreg").fit(X, y)
    assert calls and set(calls) == {("masking", 0.25)}
    assert len(calls) == 3 * math.ceil(80 / 16)  # once per training batch
    n = len(calls)
    codes = est.transform(X)
    est.predict(X)
    est.predict_proba(X)
    assert len(calls) == n  # inference sees clean inputs
    with torch.no_grad():
        clean = est.encoder_(torch.from_numpy(X)).numpy()
    assert np.array_equal(codes, clean)
    # the loss compares the reconstruction of the corrupted input with the clean input
    x = torch.from_numpy(X).reshape(80, 1, 8, 8)  # the shape fit() trains on
    rec, _ = est._ae_losses(est.autoencoder_, x)
    with torch.no_grad():
        target_clean = (est.autoencoder_(torch.zeros_like(x)) - x).pow(2).flatten(1).sum(1).mean()
    assert rec.item() == pytest.approx(target_clean.item(), rel=1e-6)

    calls.clear()
    tiny("ae_logreg").fit(X, y)
    assert calls == []


# -- tied weights ---------------------------------------------------------------------------


def test_fc_tied_weights_share_the_encoder_matrix():
    n, code = 64, 8
    tied, untied = FCAutoencoder((n,), code, tied=True), FCAutoencoder((n,), code, tied=False)
    assert n_params(tied) == n * code + code + n
    assert n_params(untied) == 2 * n * code + code + n
    W = tied.encoder.linear.weight
    assert tied.decoder_matrix().shape == (n, code)
    assert torch.equal(tied.decoder_matrix(), W.t())
    assert tied.decoder_matrix().data_ptr() == W.data_ptr()  # a view, not a copy
    x = torch.rand(4, n)
    before = tied(x)
    with torch.no_grad():
        W.add_(0.5)  # changing the encoder changes the decoder too
    assert not torch.allclose(tied(x), before)


def test_conv_tied_weights_share_the_encoder_kernels():
    shape, code, widths = (1, 8, 8), 6, (3, 5)
    tied, untied = (ConvAutoencoder(shape, code, widths, tied=t) for t in (True, False))
    enc = n_params(tied.encoder)
    flat = 5 * 2 * 2
    assert n_params(tied) == enc + flat + (1 + 3)  # decoder biases only
    own = flat * code + sum(c.weight.numel() for c in untied.encoder.convs)
    assert n_params(untied) == enc + own + flat + (1 + 3)
    x = torch.rand(2, *shape)
    h = tied.encoder(x).detach()
    before = tied.decode(h)
    with torch.no_grad():
        tied.encoder.convs[0].weight.mul_(2)  # the first conv's kernel is the last deconv's
    assert not torch.allclose(tied.decode(h), before)


def test_tied_classifier_fits_with_one_shared_matrix():
    X, y = bars()
    est = tiny("ae_logreg", tied_weights=True, ae_epochs=1).fit(X, y)
    assert est.autoencoder_.decoder_weight is None
    assert n_params(est.autoencoder_) == 64 * 8 + 8 + 64


# -- transfer learning ----------------------------------------------------------------------


def test_head_only_training_leaves_the_encoder_and_fine_tuning_changes_it():
    X, y = bars()
    head_only = tiny("ae_finetune", head_epochs=3, fine_tune_epochs=0).fit(X, y)
    no_head = tiny("ae_finetune", head_epochs=0, fine_tune_epochs=0).fit(X, y)
    tuned = tiny("ae_finetune", head_epochs=3, fine_tune_epochs=3).fit(X, y)
    pretrained = head_only.autoencoder_.encoder.state_dict()
    assert head_only.encoder_ is not head_only.autoencoder_.encoder  # a copy is fine-tuned
    for key, value in head_only.encoder_.state_dict().items():
        assert torch.equal(value, pretrained[key])  # frozen during head-only training
    assert not torch.equal(head_only.classifier_.weight, no_head.classifier_.weight)  # head moved
    for key, value in tuned.autoencoder_.encoder.state_dict().items():
        assert torch.equal(value, pretrained[key])  # same seed: same pretrained autoencoder
    assert not torch.equal(tuned.encoder_.linear.weight, pretrained["linear.weight"])
    assert len(tuned.head_loss_curve_) == 3 and len(tuned.fine_tune_loss_curve_) == 3


# -- reproducibility, pickling, unlabelled rows, errors, harness ----------------------------


@pytest.mark.parametrize("name", ["dae_logreg", "conv_ae_logreg", "ae_finetune"])
def test_same_seed_same_predictions(name):
    X, y = bars()
    a, b = tiny(name).fit(X, y), clone(tiny(name)).fit(X, y)
    assert np.array_equal(a.predict_proba(X), b.predict_proba(X))
    assert a.reconstruction_loss_curve_ == b.reconstruction_loss_curve_
    c = tiny(name, random_state=1).fit(X, y)
    assert not np.array_equal(a.transform(X), c.transform(X))


@pytest.mark.parametrize("name", ["cae_logreg", "conv_ae_logreg", "ae_finetune"])
def test_pickle_round_trip_gives_identical_predictions(name):
    X, y = bars()
    est = tiny(name, tied_weights=True).fit(X, y)
    back = pickle.loads(pickle.dumps(est))
    assert np.array_equal(back.predict_proba(X), est.predict_proba(X))
    assert np.array_equal(back.transform(X), est.transform(X))


def test_unlabelled_rows_train_the_autoencoder_only():
    X, y = bars()
    extra, _ = bars(40, seed=1)
    with_extra = tiny("ae_logreg").fit(X, y, X_unlabelled=extra)
    plain = tiny("ae_logreg").fit(X, y)
    # 8 of the 80 labelled rows are held out for the validation curve
    assert with_extra.fit_samples_ == 3 * (72 + 40) and plain.fit_samples_ == 3 * 72
    assert not np.array_equal(with_extra.transform(X), plain.transform(X))
    assert with_extra.classifier_.coef_.shape == (1, 8)
    with pytest.raises(LearnbenchError, match="X_unlabelled has 63 features but X has 64"):
        tiny("ae_logreg").fit(X, y, X_unlabelled=extra[:, :63])


@pytest.mark.parametrize(("params", "message"), [
    ({"kind": "variational"}, "The 'kind' parameter of AutoencoderClassifier must be a str among"),
    ({"architecture": "rnn"}, "The 'architecture' parameter of AutoencoderClassifier must be"),
    ({"code_size": 0}, r"The 'code_size' parameter of AutoencoderClassifier must be an int in "
                       r"the range \[1, inf\)"),
    ({"ae_epochs": -1}, r"'ae_epochs' parameter of AutoencoderClassifier must be an int in the "
                        r"range \[0, inf\). Got -1 instead."),
    ({"lr": 0.0}, r"The 'lr' parameter of AutoencoderClassifier must be a float in the range "
                  r"\(0.0, inf\)"),
    ({"kind": "denoising", "noise": 1.0}, "masking noise must be a probability < 1"),
    ({"architecture": "conv", "input_shape": None},
     "needs input_shape=\\(C, H, W\\) when n_features \\(60\\)"),
])
def test_bad_parameters_raise_one_clear_error(params, message):
    X, y = bars()
    with pytest.raises(LearnbenchError, match=message):
        tiny("ae_logreg", **params).fit(X[:, :60] if "input_shape" in params else X, y)


def test_encoder_flops_and_extras():
    X, y = bars()
    fc = tiny("ae_logreg").fit(X, y)
    extras = fc.evaluation_extras(X, y)
    assert extras["encoder_flops_per_sample"] == 2 * 64 * 8  # one matrix product
    assert extras["encoder_parameters"] == 64 * 8 + 8
    assert extras["head_flops_per_sample"] == 2 * 8  # binary logreg: one row of coef_
    sse = ((fc.reconstruct(X) - X) ** 2).sum(1).mean()
    assert extras["reconstruction_sse"] == pytest.approx(sse)
    conv = tiny("conv_ae_logreg").fit(X, y)
    macs = 16 * 1 * 9 * 4 * 4 + 32 * 16 * 9 * 2 * 2 + 32 * 2 * 2 * 8
    assert conv.evaluation_extras(X, y)["encoder_flops_per_sample"] == 2 * macs


@pytest.mark.parametrize("name", ["ae_logreg", "conv_ae_logreg"])
def test_harness_cell_on_digits(name):
    from learnbench.harness.worker import run_cell

    config = {"dataset": "digits", "dataset_params": {"subsample_train": 200, "subsample_test": 100},
              "learner": name, "params": {"ae_epochs": 2, "code_size": 16}, "seed": 0,
              "device": "cpu", "latency": {"batch1_samples": 2, "bulk_batch_size": 50,
                                           "bulk_batches": 1}}
    metrics = run_cell(config)["metrics"]
    assert 0 <= metrics["accuracy"] <= 1 and metrics["n_train"] == 200
    extras = metrics["extras"]  # every torch learner's record counts its prediction FLOPs
    assert metrics["flops_per_sample"] == extras["encoder_flops_per_sample"] + extras["head_flops_per_sample"]
    assert extras["encoder_flops_per_sample"] > 0
    assert metrics["train_throughput"] > 0


@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize("name", ["dae_logreg", "conv_ae_logreg", "ae_finetune"])
def test_cuda_fit_is_seeded_and_pickles_to_cpu_identically(name):
    X, y = bars()
    a = tiny(name, device="cuda").fit(X, y)
    b = tiny(name, device="cuda").fit(X, y)
    assert a.device_.type == "cuda" and next(a.encoder_.parameters()).is_cuda
    assert np.array_equal(a.predict(X), b.predict(X))
    back = pickle.loads(pickle.dumps(a))
    assert np.allclose(back.predict_proba(X), a.predict_proba(X))
    assert next(a.encoder_.parameters()).is_cuda  # pickling left the original on the GPU
