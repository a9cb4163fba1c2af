"""Training budgets and learning curves (``details["training"]`` of the torch Trainer): the
under-trained flag, the load_runs columns, the report section with its PNGs and the † of the
accuracy tables; all absent for records without training data, and rebuilt byte-identically.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from learnbench.records import TRAINING_COLUMNS, load_runs, write_record
from learnbench.reporting import build_report
from learnbench.reporting.training import (
    PLOT_FILES,
    curve_table,
    pareto_front,
    still_improving,
    training_table,
    undertrained_cells,
)

SEEDS = (0, 1, 2)
RISING = [0.50 + 0.04 * i for i in range(10)]  # +4 points per epoch to the end
FLAT = [0.80, 0.90, 0.93, 0.94, 0.945, 0.947, 0.948, 0.948, 0.949, 0.949]
ACC = {"cnn": 0.95, "mlp": 0.93, "ae_finetune": 0.91, "logreg": 0.90}


def _phase(name: str, acc: list | None, stop: str, *, loss: list | None = None,
           max_epochs: int | None = 10, best: int | None = None, sec: float = 2.0) -> dict:
    n = len(acc if acc is not None else loss)
    curves = {
        "epoch": list(range(1, n + 1)),
        "train_loss": [1.0 / (i + 1) for i in range(n)],
        "val_loss": loss if loss is not None else [None] * n,
        "val_accuracy": acc if acc is not None else [None] * n,
        "seconds": [sec * (i + 1) for i in range(n)],
        "samples": [1000 * (i + 1) for i in range(n)],
    }
    return {"name": name, "epochs_run": n, "max_epochs": max_epochs, "stop_reason": stop,
            "best_epoch": best if best is not None else n, "seconds": sec * n,
            "samples": 1000 * n, "curves": curves}


def _training(*phases: dict, val_size: int = 500) -> dict:
    return {"val_size": val_size, "val_fraction": 0.1, "phases": list(phases),
            "stop_reason": phases[-1]["stop_reason"],
            "epochs_run": sum(p["epochs_run"] for p in phases)}


def _trainings(learner: str, seed: int) -> dict | None:
    """cnn: still rising at its epoch budget (under-trained); mlp: stopped by patience;
    ae_finetune: an autoencoder phase (val loss only), then a flat fine_tune to its budget."""
    if learner == "cnn":
        return _training(_phase("train", [a + 0.001 * seed for a in RISING], "epoch_budget"))
    if learner == "mlp":
        return _training(_phase("train", FLAT[:7], "patience", best=5, sec=1.0))
    if learner == "ae_finetune":
        ae = _phase("autoencoder", None, "epoch_budget", loss=[1 / (i + 1) for i in range(5)],
                    max_epochs=5, sec=3.0)
        return _training(ae, _phase("fine_tune", FLAT, "epoch_budget", sec=0.5))
    return None


def _record(dataset: str, learner: str, seed: int, *, with_training: bool = True) -> dict:
    acc = ACC[learner] - (0.02 if dataset == "digits" else 0.0) + 0.001 * seed
    details: dict = {"n_classes": 10, "learner_params": {"random_state": seed}}
    training = _trainings(learner, seed) if with_training else None
    if training is not None:
        details["training"] = training
    return {
        "run_id": "r1", "suite": "ci", "cell_id": f"{dataset}-{learner}-s{seed}-cpu",
        "config_hash": "0" * 64,
        "config": {"dataset": dataset, "dataset_params": {}, "learner": learner,
                   "label": learner, "params": {}, "seed": seed, "device": "cpu"},
        "status": "ok", "error": None,
        "metrics": {"accuracy": acc, "f1_macro": acc, "fit_seconds": 5.0 + seed + len(learner),
                    "n_train": 1000, "n_test": 200},
        "details": details,
        "environment": {"git_commit": "a" * 40, "git_dirty": False, "cpu": "Test CPU",
                        "cpu_count": 2, "os": "Linux", "torch": "2.14.1"},
        "started_at": f"2026-11-25T20:0{seed}:00+00:00", "wall_seconds": 1.0,
    }


def _write(run: Path, *, with_training: bool = True, datasets=("digits", "mnist")) -> Path:
    for ds in datasets:
        for learner in ACC:
            for seed in SEEDS:
                write_record(run, _record(ds, learner, seed, with_training=with_training))
    return run


def _md_section(md: str, title: str) -> str:
    return md.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def _rows(section: str) -> list[dict[str, str]]:
    lines = [ln for ln in section.splitlines() if ln.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    return [dict(zip(header, [c.strip() for c in ln.strip("|").split("|")], strict=True))
            for ln in lines[2:]]


# ---------------------------------------------------------------------------------------------
# The flag
# ---------------------------------------------------------------------------------------------


def test_flag_fires_on_rising_curve_not_on_flat_or_early_stopped() -> None:
    assert still_improving(_phase("train", RISING, "epoch_budget")) is True
    assert still_improving(_phase("train", RISING, "time_budget")) is True
    assert still_improving(_phase("train", FLAT, "epoch_budget")) is False
    assert still_improving(_phase("train", RISING, "patience")) is False
    assert still_improving(_phase("train", RISING, "converged")) is False
    assert still_improving(_phase("train", RISING, "mystery")) is None


def test_flag_window_and_threshold() -> None:
    plateau = [0.90] * 8
    # the best-so-far of the last 2 of 10 epochs (20 %) must beat the earlier best by > 0.005
    assert still_improving(_phase("t", [*plateau, 0.90, 0.904], "epoch_budget")) is False
    assert still_improving(_phase("t", [*plateau, 0.90, 0.906], "epoch_budget")) is True
    assert still_improving(_phase("t", [*plateau, 0.906, 0.90], "epoch_budget")) is True
    # a gain before the window does not count; a recovery to below the earlier best neither
    assert still_improving(_phase("t", [0.5, *plateau, 0.90], "epoch_budget")) is False
    assert still_improving(_phase("t", [0.95, 0.8, 0.8, 0.8, 0.8, 0.94], "epoch_budget")) is False
    assert still_improving(_phase("t", [0.9, 0.92], "epoch_budget")) is True  # k = n - 1 = 1
    assert still_improving(_phase("t", [0.9], "epoch_budget")) is None  # too few epochs
    assert still_improving(_phase("t", [0.9] * 10, "epoch_budget"), min_gain=-1) is True
    # null entries (epochs not validated) are skipped
    assert still_improving(_phase("t", [0.5, None, 0.6, None, 0.7], "epoch_budget")) is True


def test_flag_falls_back_to_val_loss() -> None:
    falling = [1.0 / (i + 1) for i in range(10)]
    assert still_improving(_phase("autoencoder", None, "epoch_budget", loss=falling)) is True
    flat = [0.5] * 9 + [0.499]  # 0.2 % lower: below the 1 % threshold
    assert still_improving(_phase("autoencoder", None, "epoch_budget", loss=flat)) is False
    assert still_improving(_phase("autoencoder", None, "epoch_budget", loss=[None] * 5)) is None


def test_pareto_front() -> None:
    points = [(1.0, 50.0), (2.0, 40.0), (2.0, 60.0), (3.0, 60.0), (4.0, 70.0), (math.nan, 99.0)]
    assert pareto_front(points) == [(1.0, 50.0), (2.0, 60.0), (4.0, 70.0)]
    assert pareto_front([]) == []


# ---------------------------------------------------------------------------------------------
# load_runs
# ---------------------------------------------------------------------------------------------


def test_load_runs_training_columns(tmp_path: Path) -> None:
    run = tmp_path / "run"
    for learner in ACC:
        write_record(run, _record("mnist", learner, 0))
    frame = load_runs(run).set_index("label")
    for col in [*TRAINING_COLUMNS, "training"]:
        assert col in frame.columns, col
    cnn, mlp, ae, logreg = (frame.loc[x] for x in ("cnn", "mlp", "ae_finetune", "logreg"))
    assert (cnn["stop_reason"], cnn["epochs_run"], cnn["best_epoch"], cnn["val_size"]) == (
        "epoch_budget", 10, 10, 500)
    assert cnn["undertrained"] is True
    assert (mlp["stop_reason"], mlp["best_epoch"], mlp["undertrained"]) == ("patience", 5, False)
    assert (ae["epochs_run"], ae["undertrained"]) == (15, False)  # main phase: fine_tune
    assert cnn["training"] == _trainings("cnn", 0)
    assert logreg["training"] is None and pd.isna(logreg["stop_reason"])
    assert logreg["undertrained"] is None
    for col in ("epochs_run", "best_epoch", "val_size"):
        assert pd.isna(logreg[col]) and frame[col].dtype.kind == "f", col


def test_load_runs_without_training(tmp_path: Path) -> None:
    run = _write(tmp_path / "run", with_training=False, datasets=("mnist",))
    frame = load_runs(run)
    assert frame["training"].isna().all() and frame["undertrained"].isna().all()
    assert frame["epochs_run"].isna().all()
    assert undertrained_cells(frame) == set()
    assert training_table(frame).empty and curve_table(frame).empty


# ---------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------


def test_report_section_dagger_and_pngs(tmp_path: Path) -> None:
    run = _write(tmp_path / "run")
    out = tmp_path / "out"
    names = {p.name for p in build_report([run], out)}
    assert set(PLOT_FILES) <= names
    for name in PLOT_FILES:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (out / "report.md").read_text()
    html = (out / "report.html").read_text()
    tex = (out / "accuracy.tex").read_text()

    section = _md_section(md, "Training: budgets and learning curves")
    rows = {(r["Dataset"], r["Learner"]): r for r in _rows(section)}
    assert set(rows) == {(ds, x) for ds in ("digits", "mnist")
                         for x in ("ae_finetune", "cnn", "mlp")}
    cnn, mlp, ae = rows[("mnist", "cnn")], rows[("mnist", "mlp")], rows[("mnist", "ae_finetune")]
    assert (cnn["seeds"], cnn["epochs"], cnn["max epochs"], cnn["stop"]) == (
        "3/3", "10", "10", "epoch_budget 3")
    assert (cnn["best epoch"], cnn["val size"], cnn["under-trained"]) == ("10", "500", "yes (3/3)")
    last = 100 * (RISING[-1] + 0.001)  # mean over seeds 0, 1, 2
    assert cnn["val acc last / best [%]"] == f"{last:.2f} / {last:.2f}"
    assert cnn["train [s]"] == "20.0"
    assert (mlp["epochs"], mlp["stop"], mlp["best epoch"], mlp["under-trained"]) == (
        "7", "patience 3", "5", "no")
    assert (ae["phases"], ae["epochs"], ae["train [s]"]) == ("autoencoder → fine_tune", "10",
                                                             "20.0")
    for name in PLOT_FILES:
        assert f"({name})" in section
        assert f'src="{name}"' in html
    assert "<h2>Training: budgets and learning curves</h2>" in html

    # the dagger: on cnn's means only, in md, html and tex, with its note under the table
    acc_section = _md_section(md, "Test accuracy (%)")
    acc_rows = {r["Learner"].strip("*"): r for r in _rows(acc_section)}
    assert acc_rows["cnn"]["mnist"].endswith("†**")  # cnn is best: bold, dagger inside
    assert acc_rows["cnn"]["digits"].endswith("†**")
    assert not any("†" in acc_rows[x]["mnist"] for x in ("mlp", "ae_finetune", "logreg"))
    note = "† still improving when its training budget ended"
    assert acc_section.index(note) > acc_section.index("| cnn")
    assert "†" not in _md_section(md, "Macro-F1 (%)")
    assert html.count(note) == 1 and html.count("†") == 3
    assert tex.count(r"$^\dagger$") == 3 and "still improving" in tex


def test_report_rebuild_is_byte_identical(tmp_path: Path) -> None:
    run = _write(tmp_path / "run")
    first = build_report([run], tmp_path / "one")
    second = build_report([run], tmp_path / "two")
    assert [p.name for p in first] == [p.name for p in second]
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_report_without_training_unchanged(tmp_path: Path) -> None:
    out = tmp_path / "out"
    build_report([_write(tmp_path / "new")], out)  # leaves the three PNGs behind
    run = _write(tmp_path / "old", with_training=False)
    names = {p.name for p in build_report([run], out)}
    assert not set(PLOT_FILES) & names
    assert not any((out / name).exists() for name in PLOT_FILES)  # stale ones removed
    for name in ("report.md", "report.html", "accuracy.tex"):
        text = (out / name).read_text()
        assert "†" not in text and "dagger" not in text and "Training:" not in text, name
    # and the same as a build into a fresh directory
    fresh = tmp_path / "fresh"
    build_report([run], fresh)
    for name in ("report.md", "report.html", "accuracy.tex"):
        assert (out / name).read_bytes() == (fresh / name).read_bytes(), name


@pytest.mark.parametrize("stop", ["patience", "epoch_budget"])
def test_no_dagger_without_undertrained_cell(tmp_path: Path, stop: str) -> None:
    """Training data, but nothing still improving: the section, no dagger, no note."""
    run = tmp_path / "run"
    for seed in SEEDS:
        rec = _record("mnist", "mlp", seed)
        rec["details"]["training"] = _training(_phase("train", FLAT, stop))
        write_record(run, rec)
    out = tmp_path / "out"
    build_report([run], out)
    md = (out / "report.md").read_text()
    assert "## Training: budgets and learning curves" in md
    assert "†" not in md and r"\dagger" not in (out / "accuracy.tex").read_text()
