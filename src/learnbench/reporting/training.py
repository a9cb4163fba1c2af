"""Training budgets and learning curves of the deep learners (``details["training"]``).

The torch Trainer records, per training phase (``train``, ``autoencoder``, ``head``,
``fine_tune``, ``pretext``, ``mlm``), how many epochs ran, why it stopped (``converged``,
``patience``, ``epoch_budget``, ``time_budget``), the best epoch and per-epoch curves
(train/val loss, val accuracy, cumulative seconds, samples and FLOPs). The last phase is the
main one. From that this module says whether a phase was still improving when its budget ended
(:func:`still_improving`: the under-trained flag and the † of the accuracy tables), and gives
the "Training: budgets and learning curves" section (:mod:`.sections.training`) its numbers:
a table per (dataset, learner) and three PNGs (learning curves, accuracy vs training time,
and the anytime Pareto front of validation accuracy against training seconds).

Old records have no training dict: every function here is then empty or neutral, so their
reports do not change. Everything is a pure function of the records.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.lines import Line2D

from learnbench.reporting.plots import (
    decade_log_axis,
    learner_handles,
    learner_styles,
    panel_figure,
)
from learnbench.reporting.tables import (
    DASH,
    Display,
    Fmt,
    format_number,
    mark_cells,
    metric_summary,
    prepare,
    timing_table,
)

BUDGET_STOPS = ("epoch_budget", "time_budget")
EARLY_STOPS = ("patience", "converged")
#: Fraction of the epochs at the end of a phase that :func:`still_improving` looks at.
WINDOW = 0.2
#: Validation-accuracy gain (fraction, 0.005 = 0.5 points) that counts as still improving.
MIN_GAIN = 0.005
#: Relative decrease of the best validation loss that counts as still improving (no accuracy).
MIN_LOSS_GAIN = 0.01
PLOT_FILES = ("learning_curves.png", "accuracy_vs_time.png", "pareto_front.png")

_DAGGER = {"md": "†", "html": "†", "tex": r"$^\dagger$"}
UNDERTRAINED_NOTE = (
    "† still improving when its training budget ended (validation accuracy gained more than "
    "0.5 points over the last 20 % of epochs in at least one seed)"
)
UNDERTRAINED_NOTE_TEX = (
    r"$^\dagger$ still improving when its training budget ended (validation accuracy gained "
    r"more than 0.5 points over the last 20\,\% of epochs in at least one seed)."
)
TRAINING_NOTE = (
    "Deep learners' training as recorded by the Trainer, over the ok seeds that have it (column "
    "seeds). Phases in order; the last is the main phase, which the epoch, stop-reason, "
    "best-epoch and validation columns describe (ranges over seeds). Stop reasons: converged / "
    "patience (early stopping), epoch_budget / time_budget (the budget ran out). val acc: "
    "validation accuracy of the main phase at its last and its best epoch, mean over seeds. "
    "train [s]: training seconds of all phases, median over seeds. Under-trained: seeds whose "
    "main phase ended on its budget while still improving (validation accuracy up more than "
    "0.5 points over the last 20 % of epochs; without accuracy, best validation loss down more "
    "than 1 %); ?: too few epochs to tell. Plots: validation accuracy of the main phase per "
    "epoch, mean over the seeds that reached the epoch; time = cumulative training seconds, "
    "earlier phases included. Pareto front: the best validation accuracy reached within each "
    "training time over all learners' epochs (step line); large markers: each learner's test "
    "accuracy against its fit time (medians), classical learners included."
)


# ---------------------------------------------------------------------------------------------
# The under-trained flag
# ---------------------------------------------------------------------------------------------


def main_phase(training: dict[str, Any] | None) -> dict[str, Any] | None:
    """The last (main) phase of a training dict; None when there is none."""
    phases = (training or {}).get("phases") or []
    phases = [p for p in phases if isinstance(p, dict)]
    return phases[-1] if phases else None


def still_improving(
    phase: dict[str, Any] | None, window: float = WINDOW, min_gain: float = MIN_GAIN,
    min_loss_gain: float = MIN_LOSS_GAIN,
) -> bool | None:
    """Was ``phase`` still improving when its epoch or time budget ended?

    False when it stopped early (patience, converged); None when the stop reason is unknown or
    there are too few validated epochs to tell. Otherwise, with k = max(1, ceil(window * n))
    of the n validated epochs (at most n - 1): True when the best validation accuracy of the
    last k epochs beats the best before them by more than ``min_gain`` (a fraction); without
    accuracy, when the best validation loss of the last k epochs is more than
    ``min_loss_gain`` (relative) below the best before them.
    """
    reason = (phase or {}).get("stop_reason")
    if reason in EARLY_STOPS:
        return False
    if reason not in BUDGET_STOPS:
        return None
    curves = phase.get("curves") or {}  # type: ignore[union-attr]
    acc = _finite(curves.get("val_accuracy"))
    if len(acc) > 1:
        before, last = _split(acc, window)
        return bool(max(last) - max(before) > min_gain)
    loss = _finite(curves.get("val_loss"))
    if len(loss) > 1:
        before, last = _split(loss, window)
        best = min(before)
        return bool(best != 0 and (best - min(last)) / abs(best) > min_loss_gain)
    return None


def undertrained(training: dict[str, Any] | None) -> bool | None:
    """:func:`still_improving` of the main phase (None without training data)."""
    main = main_phase(training)
    return None if main is None else still_improving(main)


def has_training(df: pd.DataFrame) -> bool:
    """True when some record carries a training dict (records of the new Trainer)."""
    return "training" in df.columns and bool(df["training"].map(_is_training).any())


def undertrained_cells(df: pd.DataFrame) -> set[tuple[str, str]]:
    """(dataset, learner) display keys with an ok seed whose main phase was still improving."""
    if "undertrained" not in df.columns:
        return set()
    d = prepare(df)
    d = d[(d["status"] == "ok") & d["undertrained"].map(lambda v: v is True)]
    return {(str(c), str(r)) for c, r in zip(d["col"], d["row"], strict=True)}


def mark_undertrained(display: Display, df: pd.DataFrame, fmt: Fmt) -> Display:
    """The accuracy :class:`Display` with † after the means of under-trained cells."""
    return mark_cells(display, undertrained_cells(df), _DAGGER[fmt])


def undertrained_note(df: pd.DataFrame, fmt: Fmt = "md") -> str:
    """The note under the accuracy tables; empty when no cell is marked."""
    if not undertrained_cells(df):
        return ""
    return UNDERTRAINED_NOTE_TEX if fmt == "tex" else UNDERTRAINED_NOTE


# ---------------------------------------------------------------------------------------------
# Numbers
# ---------------------------------------------------------------------------------------------


def trained(df: pd.DataFrame) -> pd.DataFrame:
    """The ok records that have a training dict (prepared: ``col``/``row`` keys), by seed."""
    if "training" not in df.columns:
        return prepare(df).iloc[0:0]
    d = prepare(df)
    d = d[(d["status"] == "ok") & d["training"].map(_is_training)]
    return d.sort_values(["col", "row", "seed"]).reset_index(drop=True)


def training_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, learner) with training data: budgets, stops and validation.

    Columns: ``n_trained``/``n_ok`` (seeds with training data / ok seeds), ``phases`` (names
    of the first seed's phases, in order), per seed lists ``epochs``, ``max_epochs``,
    ``best_epoch``, ``val_size`` (main phase; None where unknown), ``stop_reasons`` (a
    Counter of the main phase's reasons), ``val_acc_last`` / ``val_acc_best`` (mean over
    seeds, %), ``train_seconds`` (all phases, median over seeds), ``n_undertrained`` and
    ``n_flag_known`` (seeds where :func:`still_improving` could tell).
    """
    d = trained(df)
    n_ok = prepare(df).query("status == 'ok'").groupby(["col", "row"]).size()
    rows = []
    for (col, row), g in d.groupby(["col", "row"], sort=True):
        trainings = list(g["training"])
        mains = [main_phase(t) or {} for t in trainings]
        flags = [undertrained(t) for t in trainings]
        accs = [_finite((m.get("curves") or {}).get("val_accuracy")) for m in mains]
        rows.append({
            "dataset": col,
            "learner": row,
            "n_trained": len(g),
            "n_ok": int(n_ok.get((col, row), len(g))),
            "phases": [str(p.get("name", "?")) for p in trainings[0].get("phases") or []
                       if isinstance(p, dict)],
            "epochs": [m.get("epochs_run") for m in mains],
            "max_epochs": [m.get("max_epochs") for m in mains],
            "stop_reasons": Counter(str(m.get("stop_reason") or "?") for m in mains),
            "best_epoch": [m.get("best_epoch") for m in mains],
            "val_size": [t.get("val_size") for t in trainings],
            "val_acc_last": 100 * _mean([a[-1] if a else math.nan for a in accs]),
            "val_acc_best": 100 * _mean([max(a) if a else math.nan for a in accs]),
            "train_seconds": _median([_phase_seconds(t) for t in trainings]),
            "n_undertrained": sum(f is True for f in flags),
            "n_flag_known": sum(f is not None for f in flags),
        })
    cols = ["dataset", "learner", "n_trained", "n_ok", "phases", "epochs", "max_epochs",
            "stop_reasons", "best_epoch", "val_size", "val_acc_last", "val_acc_best",
            "train_seconds", "n_undertrained", "n_flag_known"]
    return pd.DataFrame(rows, columns=cols)


def curve_table(df: pd.DataFrame) -> pd.DataFrame:
    """Main-phase validation curves, mean over seeds per (dataset, learner, epoch).

    Columns ``dataset``, ``learner``, ``epoch``, ``seconds`` (cumulative training seconds,
    the earlier phases' seconds included), ``val_accuracy`` (%) and ``n_seeds`` (seeds with a
    validation accuracy at that epoch). Epochs without a validation accuracy are left out.
    """
    rows = []
    for _, r in trained(df).iterrows():
        phases = [p for p in r["training"].get("phases") or [] if isinstance(p, dict)]
        offset = sum(_num(p.get("seconds"), 0.0) for p in phases[:-1])
        curves = phases[-1].get("curves") or {}
        epochs, secs = curves.get("epoch") or [], curves.get("seconds") or []
        for i, acc in enumerate(curves.get("val_accuracy") or []):
            acc = _num(acc)
            if math.isnan(acc):
                continue
            epoch = _num(epochs[i]) if i < len(epochs) else float(i + 1)
            sec = _num(secs[i]) + offset if i < len(secs) else math.nan
            rows.append({"dataset": r["col"], "learner": r["row"], "epoch": epoch,
                         "seconds": sec, "val_accuracy": 100 * acc})
    cols = ["dataset", "learner", "epoch", "seconds", "val_accuracy", "n_seeds"]
    if not rows:
        return pd.DataFrame(columns=cols)
    long = pd.DataFrame(rows)
    out = long.groupby(["dataset", "learner", "epoch"], sort=True).agg(
        seconds=("seconds", "mean"), val_accuracy=("val_accuracy", "mean"),
        n_seeds=("val_accuracy", "size"))
    return out.reset_index()[cols]


def pareto_front(points: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """The non-dominated (cost, accuracy) points: cheapest first, each more accurate than all
    cheaper ones (ties in cost keep the most accurate)."""
    front: list[tuple[float, float]] = []
    for cost, acc in sorted(points, key=lambda p: (p[0], -p[1])):
        if not (math.isfinite(cost) and math.isfinite(acc)):
            continue
        if not front or acc > front[-1][1]:
            front.append((cost, acc))
    return front


# ---------------------------------------------------------------------------------------------
# Cell strings
# ---------------------------------------------------------------------------------------------


def display_training(df: pd.DataFrame, fmt: Fmt) -> Display:
    """Cells of :func:`training_table` (Markdown or HTML)."""
    t = training_table(df)
    dash = DASH[fmt]
    cells = pd.DataFrame({
        "Dataset": t["dataset"].astype(str),
        "Learner": t["learner"].astype(str),
        "seeds": [f"{a}/{b}" for a, b in zip(t["n_trained"], t["n_ok"], strict=True)],
        "phases": [" → ".join(p) for p in t["phases"]],
        "epochs": [_int_span(v, dash) for v in t["epochs"]],
        "max epochs": [_int_span(v, dash) for v in t["max_epochs"]],
        "stop": [", ".join(f"{k} {n}" for k, n in sorted(c.items())) for c in t["stop_reasons"]],
        "best epoch": [_int_span(v, dash) for v in t["best_epoch"]],
        "val size": [_int_span(v, dash) for v in t["val_size"]],
        "val acc last / best [%]": [
            dash if math.isnan(a) else f"{a:.2f} / {b:.2f}"
            for a, b in zip(t["val_acc_last"], t["val_acc_best"], strict=True)],
        "train [s]": [format_number(v, "float", fmt) for v in t["train_seconds"]],
        "under-trained": [_flag_cell(r) for _, r in t.iterrows()],
    })
    bold = pd.DataFrame(False, index=cells.index, columns=cells.columns)
    return Display(cells, bold, ["Dataset", "Learner", "phases", "stop", "under-trained"])


# ---------------------------------------------------------------------------------------------
# Plots
# ---------------------------------------------------------------------------------------------


def plot_learning_curves(df: pd.DataFrame, path: Path) -> Path:
    """One panel per dataset: validation accuracy (%) of the main phase against epoch."""
    return _plot_curves(df, path, "epoch", "epoch", log_x=False)


def plot_accuracy_vs_time(df: pd.DataFrame, path: Path) -> Path:
    """One panel per dataset: validation accuracy (%) against cumulative training seconds."""
    return _plot_curves(df, path, "seconds", "cumulative training time [s]", log_x=True)


def plot_pareto_front(df: pd.DataFrame, path: Path) -> Path:
    """Per dataset: every (learner, epoch) as (training seconds, val accuracy), their Pareto
    front as a step line, and each learner's (fit seconds, test accuracy) as a large marker."""
    curves = curve_table(df)
    curves = curves[curves["seconds"] > 0]
    finals = _final_points(df)
    styles = _styles(df)

    def draw(ax: Axes, ds: str) -> None:
        sub = curves[curves["dataset"] == ds]
        fin = finals[finals["dataset"] == ds]
        for learner, g in sub.groupby("learner", sort=True):
            colour, marker = styles[str(learner)]
            ax.plot(g["seconds"], g["val_accuracy"], ls="", marker=marker, ms=4,
                    color=colour, alpha=0.45)
        front = pareto_front(zip(sub["seconds"], sub["val_accuracy"], strict=True))
        xs, ys = [p[0] for p in front], [p[1] for p in front]
        if front:  # the best accuracy reached holds for any longer training time
            xs.append(float(sub["seconds"].max()))
            ys.append(ys[-1])
        ax.step(xs, ys, where="post", color="black", lw=1.5)
        for _, r in fin.iterrows():
            colour, marker = styles[str(r["learner"])]
            ax.plot([r["fit_seconds"]], [r["accuracy"]], ls="", marker=marker, ms=10,
                    color=colour, mec="black", mew=1.0)
        decade_log_axis(ax, [*sub["seconds"], *fin["fit_seconds"]])

    def handles() -> list[Line2D]:
        learners = sorted(set(curves["learner"]) | set(finals["learner"]))
        return [*learner_handles(styles, learners),
                Line2D([], [], color="black", lw=1.5, label="Pareto front (validation, per epoch)"),
                Line2D([], [], ls="", marker="o", ms=10, color="grey", mec="black",
                       label="final: test accuracy vs fit time")]

    return panel_figure(path, sorted(set(curves["dataset"])), draw, "training time [s]",
                        "accuracy [%]", handles, fontsize=8)


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def _plot_curves(df: pd.DataFrame, path: Path, x: str, xlabel: str, log_x: bool) -> Path:
    curves = curve_table(df)
    if log_x:
        curves = curves[curves["seconds"] > 0]
    styles = _styles(df)

    def draw(ax: Axes, ds: str) -> None:
        sub = curves[curves["dataset"] == ds]
        for learner, g in sub.groupby("learner", sort=True):
            colour, marker = styles[str(learner)]
            ax.plot(g[x], g["val_accuracy"], color=colour, marker=marker, ms=4, lw=1.5)
        if log_x:
            decade_log_axis(ax, list(sub[x]))

    return panel_figure(path, sorted(set(curves["dataset"])), draw, xlabel,
                        "validation accuracy [%]",
                        lambda: learner_handles(styles, sorted(set(curves["learner"]))),
                        title="learner")


def _styles(df: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """The learner styles of the report's other plots (all learners of the records)."""
    return learner_styles(list(metric_summary(df, "accuracy").index.get_level_values(
        "learner").unique()))


def _final_points(df: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, learner) with ok seeds: mean test accuracy (%) and median fit seconds."""
    acc = metric_summary(df, "accuracy")["mean"].rename("accuracy")
    out = timing_table(df)[["fit_seconds"]].join(acc, how="inner").reset_index()
    keep = (out["fit_seconds"] > 0) & out["accuracy"].notna()
    return out.loc[keep, ["dataset", "learner", "fit_seconds", "accuracy"]]


def _split(values: list[float], window: float) -> tuple[list[float], list[float]]:
    """(values before the last k, the last k): k = max(1, ceil(window * n)), at most n - 1."""
    n = len(values)
    k = min(max(1, math.ceil(window * n)), n - 1)
    return values[:-k], values[-k:]


def _finite(values: object) -> list[float]:
    """The finite numbers of a curve, in order (null entries and NaNs dropped)."""
    if not isinstance(values, list | tuple):
        return []
    out = [_num(v) for v in values]
    return [v for v in out if math.isfinite(v)]


def _num(value: object, missing: float = math.nan) -> float:
    if isinstance(value, bool):
        return missing
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return missing
    return missing if math.isnan(out) else out


def _mean(values: list[float]) -> float:
    v = [x for x in values if not math.isnan(x)]
    return float(np.mean(v)) if v else math.nan


def _median(values: list[float]) -> float:
    v = [x for x in values if not math.isnan(x)]
    return float(np.median(v)) if v else math.nan


def _phase_seconds(training: dict[str, Any]) -> float:
    phases = [p for p in training.get("phases") or [] if isinstance(p, dict)]
    secs = [_num(p.get("seconds")) for p in phases]
    return math.nan if not secs or any(math.isnan(s) for s in secs) else float(sum(secs))


def _int_span(values: list[object], dash: str) -> str:
    """``20`` when all seeds agree, ``12–20`` otherwise; a dash when none is known."""
    v = sorted({round(x) for x in (_num(y) for y in values) if not math.isnan(x)})
    if not v:
        return dash
    return f"{v[0]:,}" if len(v) == 1 else f"{v[0]:,}–{v[-1]:,}"


def _flag_cell(r: pd.Series) -> str:
    if r["n_undertrained"]:
        return f"yes ({r['n_undertrained']}/{r['n_trained']})"
    return "no" if r["n_flag_known"] else "?"


def _is_training(value: object) -> bool:
    return isinstance(value, dict) and bool(value.get("phases"))
