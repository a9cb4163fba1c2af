"""Deterministic PNG plots: accuracy vs. bulk inference throughput, and accuracy bars per dataset.

Figures are built with the object API on the Agg canvas (no pyplot global state), under
matplotlib's default style (a user's matplotlibrc cannot change the bytes), and saved without
the "Software" metadata, so the same records give byte-identical PNGs.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import matplotlib as mpl
import matplotlib.colors
import matplotlib.style
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import NullFormatter

from learnbench.reporting.tables import metric_summary, timing_table

DPI = 100
_MARKERS = "osD^vP*Xph<>"
_PNG_METADATA = {"Software": None}


def plot_filename(dataset: str) -> str:
    """``accuracy_<dataset>.png`` with anything but ``[A-Za-z0-9_.-]`` replaced by ``_``."""
    return f"accuracy_{re.sub(r'[^A-Za-z0-9_.-]+', '_', dataset).strip('_') or 'dataset'}.png"


def learner_styles(learners: list[str]) -> dict[str, tuple[str, str]]:
    """One (colour, marker) per learner, stable across all plots of a report."""
    colours = mpl.color_sequences["tab10"]
    return {
        name: (mpl.colors.to_hex(colours[i % len(colours)]), _MARKERS[i % len(_MARKERS)])
        for i, name in enumerate(sorted(learners))
    }


def plot_accuracy_vs_throughput(df: pd.DataFrame, path: Path) -> Path:
    """One subplot per dataset: x = bulk inference throughput (log), y = accuracy % ± std."""
    acc = metric_summary(df, "accuracy")
    thr = timing_table(df)["infer_bulk_throughput"]
    data = acc.join(thr, how="left")
    datasets = sorted(data.index.get_level_values("dataset").unique())
    styles = learner_styles(list(data.index.get_level_values("learner").unique()))
    ncols = min(3, max(1, len(datasets)))
    nrows = math.ceil(len(datasets) / ncols) if datasets else 1
    with mpl.style.context("default"):
        fig = Figure(figsize=(4.2 * ncols, 3.4 * nrows + 0.8), dpi=DPI, layout="constrained")
        FigureCanvasAgg(fig)
        axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
        for ax, ds in zip(axes, datasets, strict=False):
            sub = data.xs(ds, level="dataset")
            xs: list[float] = []
            for learner, r in sub.iterrows():
                x, y = r["infer_bulk_throughput"], r["mean"]
                if not (np.isfinite(x) and x > 0 and np.isfinite(y)):
                    continue
                colour, marker = styles[str(learner)]
                yerr = r["std"] if np.isfinite(r["std"]) else None
                ax.errorbar([x], [y], yerr=yerr, fmt=marker, color=colour, capsize=3, ms=7)
                xs.append(float(x))
            if xs:
                _decade_log_axis(ax, xs)
            else:
                ax.text(0.5, 0.5, "no successful runs", ha="center", va="center",
                        transform=ax.transAxes)
            ax.set_title(ds)
            ax.set_xlabel("bulk inference throughput [samples/s]")
            ax.set_ylabel("test accuracy [%]")
            ax.grid(True, which="both", alpha=0.3)
        for ax in axes[len(datasets):]:
            ax.set_visible(False)
        handles = [
            Line2D([], [], color=c, marker=m, linestyle="", ms=7, label=name)
            for name, (c, m) in styles.items()
        ]
        if handles:
            fig.legend(handles=handles, loc="outside lower center",
                       ncols=min(len(handles), 5), title="learner")
        return _save(fig, path)


def plot_accuracy_bars(df: pd.DataFrame, dataset: str, path: Path) -> Path:
    """Bar per learner (mean accuracy %), error bars = sample std over seeds; failures labelled."""
    acc = metric_summary(df, "accuracy")
    sub = acc.xs(dataset, level="dataset")
    learners = [str(x) for x in sub.index]
    styles = learner_styles(list(acc.index.get_level_values("learner").unique()))
    means = sub["mean"].to_numpy(dtype=float)
    stds = np.nan_to_num(sub["std"].to_numpy(dtype=float))
    with mpl.style.context("default"):
        fig = Figure(figsize=(max(4.0, 0.9 * len(learners) + 1.5), 3.6), dpi=DPI,
                     layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.subplots()
        xs = np.arange(len(learners))
        heights = np.nan_to_num(means)
        ax.bar(xs, heights, yerr=np.where(np.isfinite(means), stds, 0), capsize=4,
               color=[styles[name][0] for name in learners])
        top = float(np.nanmax(means)) if np.isfinite(means).any() else 100.0
        for x, (_, r) in zip(xs, sub.iterrows(), strict=True):
            label = f"{r['mean']:.2f}" if r["n_ok"] else str(r["status"])
            if r["n_ok"] and r["n_ok"] < r["n_seeds"]:
                label += f"\nn={int(r['n_ok'])}/{int(r['n_seeds'])}"
            y = heights[x] + stds[x] if r["n_ok"] else 0.0
            ax.annotate(label, (x, y), xytext=(0, 3), textcoords="offset points",
                        ha="center", va="bottom", fontsize=8)
        ax.set_ylim(0, max(100.0, top) * 1.12)
        ax.set_xticks(xs, learners, rotation=30 if len(learners) > 4 else 0, ha="right"
                      if len(learners) > 4 else "center")
        ax.set_xlabel("learner")
        ax.set_ylabel("test accuracy [%]")
        ax.set_title(f"{dataset}: mean ± std over seeds")
        ax.grid(True, axis="y", alpha=0.3)
        return _save(fig, path)


def plot_all(df: pd.DataFrame, out_dir: Path) -> dict[str, Path]:
    """All plots; keys: ``"accuracy_vs_throughput"`` and each dataset (display) name."""
    out_dir = Path(out_dir)
    paths = {"accuracy_vs_throughput": plot_accuracy_vs_throughput(
        df, out_dir / "accuracy_vs_throughput.png")}
    acc = metric_summary(df, "accuracy")
    used: set[str] = set()
    for ds in sorted(acc.index.get_level_values("dataset").unique()):
        name = plot_filename(ds)
        stem, n = name[:-4], 2
        while name in used:
            name, n = f"{stem}-{n}.png", n + 1
        used.add(name)
        paths[ds] = plot_accuracy_bars(df, ds, out_dir / name)
    return paths


def _decade_log_axis(ax, xs: list[float]) -> None:
    """Log x axis spanning whole decades, labelled at decades only: readable for any range."""
    lo = math.floor(math.log10(min(xs)))
    hi = max(math.ceil(math.log10(max(xs))), lo + 1)
    ax.set_xscale("log")
    ax.set_xlim(10.0**lo, 10.0**hi)
    ax.xaxis.set_minor_formatter(NullFormatter())


def _save(fig: Figure, path: Path) -> Path:
    path = Path(path)
    fig.savefig(path, format="png", dpi=DPI, metadata=_PNG_METADATA)
    return path
