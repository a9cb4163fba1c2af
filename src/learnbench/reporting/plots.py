"""Deterministic PNG plots: accuracy vs. bulk inference throughput, and accuracy bars per dataset.

Figures are built with the object API on the Agg canvas (no pyplot global state), under
matplotlib's default style (a user's matplotlibrc cannot change the bytes), and saved without
the "Software" metadata, so the same records give byte-identical PNGs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib as mpl
import matplotlib.colors
import matplotlib.style
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import NullFormatter

from learnbench.reporting.tables import metric_summary, timing_table

if TYPE_CHECKING:
    from learnbench.reporting.profiles import RooflineDevice

DPI = 100
_MARKERS = "osD^vP*Xph<>"
_PNG_METADATA = {"Software": None}


def slug(text: str, default: str = "dataset") -> str:
    """``text`` with each run of characters other than ``[A-Za-z0-9_.-]`` replaced by ``_``
    (``default`` when nothing is left): a safe part of a file name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or default


def unique_name(name: str, used: set[str]) -> str:
    """``name`` (``x.png``), or ``x-2.png``, ``x-3.png``... when taken; added to ``used``.

    Two labels can slug to the same file name; each plot still gets its own file.
    """
    stem, n, out = name[:-4], 2, name
    while out in used:
        out, n = f"{stem}-{n}.png", n + 1
    used.add(out)
    return out


def plot_filename(dataset: str) -> str:
    """``accuracy_<dataset>.png`` with anything but ``[A-Za-z0-9_.-]`` replaced by ``_``."""
    return f"accuracy_{slug(dataset)}.png"


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

    def draw(ax: Axes, ds: str) -> None:
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
            decade_log_axis(ax, xs)
        else:
            ax.text(0.5, 0.5, "no successful runs", ha="center", va="center",
                    transform=ax.transAxes)

    return panel_figure(path, datasets, draw, "bulk inference throughput [samples/s]",
                        "test accuracy [%]", lambda: learner_handles(styles, list(styles)),
                        ncols=min(len(styles), 5), title="learner")


def plot_accuracy_bars(df: pd.DataFrame, dataset: str, path: Path) -> Path:
    """Bar per learner (mean accuracy %), error bars = sample std over seeds; failures labelled."""
    acc = metric_summary(df, "accuracy")
    sub = acc.xs(dataset, level="dataset")
    learners = [str(x) for x in sub.index]
    styles = learner_styles(list(acc.index.get_level_values("learner").unique()))
    means = sub["mean"].to_numpy(dtype=float)
    stds = np.nan_to_num(sub["std"].to_numpy(dtype=float))
    with mpl.style.context("default"):
        fig, ax = single_axes((max(4.0, 0.9 * len(learners) + 1.5), 3.6))
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
        return save_png(fig, path)


def plot_all(df: pd.DataFrame, out_dir: Path) -> dict[str, Path]:
    """All plots; keys: ``"accuracy_vs_throughput"`` and each dataset (display) name."""
    out_dir = Path(out_dir)
    paths = {"accuracy_vs_throughput": plot_accuracy_vs_throughput(
        df, out_dir / "accuracy_vs_throughput.png")}
    acc = metric_summary(df, "accuracy")
    used: set[str] = set()
    for ds in sorted(acc.index.get_level_values("dataset").unique()):
        name = unique_name(plot_filename(ds), used)
        paths[ds] = plot_accuracy_bars(df, ds, out_dir / name)
    return paths


# ---------------------------------------------------------------------------------------------
# Building blocks (the training and history plots use them too)
# ---------------------------------------------------------------------------------------------


def single_axes(figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """A constrained-layout figure on the Agg canvas with one subplot.

    Call it inside ``mpl.style.context("default")``, as every plot here does, so a user's
    matplotlibrc cannot change the figure.
    """
    fig = Figure(figsize=figsize, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots()


def _panels(n: int) -> tuple[Figure, np.ndarray]:
    """A constrained-layout figure with one subplot per dataset (up to 3 per row), flat."""
    ncols = min(3, max(1, n))
    nrows = math.ceil(n / ncols) if n else 1
    fig = Figure(figsize=(4.2 * ncols, 3.4 * nrows + 0.8), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()


def panel_figure(
    path: Path,
    datasets: list[str],
    draw: Callable[[Axes, str], None],
    xlabel: str,
    ylabel: str,
    handles: Callable[[], list[Line2D]],
    ncols: int | None = None,
    **legend: object,
) -> Path:
    """Write a figure of one panel per dataset to ``path``: ``draw(ax, dataset)`` fills each,
    then it gets the dataset as title, the axis labels and a grid; unused panels are hidden.

    ``handles()``: the legend entries below the panels (no legend when empty; made, like the
    figure, under the default style), in ``ncols`` columns (default: as many as fit the
    figure's width, about 2.2 inches a column); ``legend``: more ``fig.legend`` keywords. The
    same frame for every per-dataset plot of a report.
    """
    with mpl.style.context("default"):
        fig, axes = _panels(len(datasets))
        for ax, ds in zip(axes, datasets, strict=False):
            draw(ax, ds)
            ax.set_title(ds)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            ax.grid(True, which="both", alpha=0.3)
        for ax in axes[len(datasets):]:
            ax.set_visible(False)
        entries = handles()
        if entries:
            if ncols is None:
                ncols = max(1, min(len(entries), int(fig.get_figwidth() // 2.2)))
            fig.legend(handles=entries, loc="outside lower center", ncols=ncols, **legend)
        return save_png(fig, path)


def learner_handles(styles: dict[str, tuple[str, str]], learners: Iterable[str]) -> list[Line2D]:
    """Legend entries (marker in the learner's colour) for ``learners``, in the given order."""
    return [Line2D([], [], color=styles[name][0], marker=styles[name][1], linestyle="", ms=7,
                   label=name) for name in learners]


def decade_log_axis(ax: Axes, xs: list[float]) -> None:
    """Log x axis spanning whole decades, labelled at decades only: readable for any range."""
    lo = math.floor(math.log10(min(xs)))
    hi = max(math.ceil(math.log10(max(xs))), lo + 1)
    ax.set_xscale("log")
    ax.set_xlim(10.0**lo, 10.0**hi)
    ax.xaxis.set_minor_formatter(NullFormatter())


def save_png(fig: Figure, path: Path) -> Path:
    """Save ``fig`` as a PNG without the "Software" metadata, so its bytes depend only on the
    figure (a rebuilt report diffs clean)."""
    path = Path(path)
    fig.savefig(path, format="png", dpi=DPI, metadata=_PNG_METADATA)
    return path


# ---------------------------------------------------------------------------------------------
# Where the time goes (profile records)
# ---------------------------------------------------------------------------------------------

_CLASS_COLOURS = {"convolution": "#1f77b4", "gemm": "#ff7f0e", "elementwise": "#2ca02c",
                  "memory": "#d62728", "other": "#7f7f7f"}


def device_filename(prefix: str, device: str) -> str:
    """``<prefix>_<device>.png`` with anything but ``[A-Za-z0-9_.-]`` replaced by ``_``."""
    return f"{prefix}_{slug(device, 'device')}.png"


def plot_time_by_class(bars: list[tuple[str, dict[str, float]]], path: Path) -> Path:
    """Stacked bars: time per profiled step [ms] by op class, one bar per model and phase."""
    classes = list(_CLASS_COLOURS)
    with mpl.style.context("default"):
        fig, ax = single_axes((max(5.0, 1.1 * len(bars) + 2.5), 4.4))
        xs = np.arange(len(bars))
        bottom = np.zeros(len(bars))
        for cls in classes:
            heights = np.array([b[1].get(cls, 0.0) for b in bars], dtype=float)
            ax.bar(xs, heights, bottom=bottom, color=_CLASS_COLOURS[cls], label=cls)
            bottom += heights
        ax.set_xticks(xs, [b[0] for b in bars], fontsize=8)
        ax.set_ylabel("time per profiled step [ms]")
        ax.set_title("Where the time goes: time per step by operator class")
        ax.grid(True, axis="y", alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()
        fig.legend(handles[::-1], labels[::-1], loc="outside right upper", fontsize=8,
                   title="op class")
        return save_png(fig, path)


def plot_roofline(dev: RooflineDevice, path: Path) -> Path:
    """Log-log roofline of one device (a :class:`~.profiles.RooflineDevice`).

    Roof = min(ceiling, intensity x bandwidth) (table peaks when known, else the measured
    ceilings; the measured ones dashed when the table is used). Filled circles / squares:
    whole models (train / infer) at their achieved FLOP/s; hollow triangles: layer kinds at
    their roof-bound attainable FLOP/s.
    """
    xs = [p["intensity"] for p in dev.models] + [k["intensity"] for k in dev.kinds]
    ridge = dev.ceiling_tflops * 1e3 / dev.bandwidth_gbs
    lo = 10.0 ** math.floor(math.log10(min([*xs, ridge]) / 2))
    hi = 10.0 ** math.ceil(math.log10(max([*xs, ridge]) * 2))
    grid = np.logspace(math.log10(lo), math.log10(hi), 200)
    labels = sorted({p["model"] for p in dev.models} | {k["model"] for k in dev.kinds})
    styles = learner_styles(labels)
    with mpl.style.context("default"):
        fig, ax = single_axes((9.0, 5.2))
        roof = np.minimum(dev.ceiling_tflops, grid * dev.bandwidth_gbs / 1e3) * 1e12
        ax.plot(grid, roof, color="black", lw=2, label="roof")
        if dev.peak_tflops or dev.peak_bandwidth_gbs:
            measured = np.minimum(dev.measured_tflops, grid * dev.measured_bandwidth_gbs / 1e3)
            ax.plot(grid, measured * 1e12, color="black", lw=1, ls="--",
                    label="measured ceilings")
        for p in dev.models:
            colour = styles[p["model"]][0]
            ax.plot([p["intensity"]], [p["tflops"] * 1e12], ls="",
                    marker="o" if p["phase"] == "train" else "s", color=colour, ms=8)
        for k in dev.kinds:
            colour = styles[k["model"]][0]
            y = dev.attainable_tflops(k["intensity"]) * 1e12
            ax.plot([k["intensity"]], [y], ls="", marker="^", mfc="none", color=colour, ms=8)
            ax.annotate(k["kind"], (k["intensity"], y), xytext=(4, -10),
                        textcoords="offset points", fontsize=7, color=colour)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(lo, hi)
        ax.set_xlabel("arithmetic intensity [FLOP/byte]")
        ax.set_ylabel("FLOP/s")
        ax.set_title(f"Roofline: {dev.device} ({dev.dtype})")
        ax.grid(True, which="both", alpha=0.3)
        handles = [Line2D([], [], color="black", lw=2, label="roof")]
        if dev.peak_tflops or dev.peak_bandwidth_gbs:
            handles.append(Line2D([], [], color="black", lw=1, ls="--",
                                  label="measured ceilings"))
        handles += [
            Line2D([], [], ls="", marker="o", color="grey", label="model, train (achieved)"),
            Line2D([], [], ls="", marker="s", color="grey", label="model, infer (achieved)"),
            Line2D([], [], ls="", marker="^", mfc="none", color="grey",
                   label="layer kind (roof-bound)"),
        ]
        handles += [Line2D([], [], ls="", marker="o", color=styles[m][0], label=m)
                    for m in labels]
        fig.legend(handles=handles, fontsize=7, loc="outside right upper")
        return save_png(fig, path)
