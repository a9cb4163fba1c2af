"""A metric over commits: one line per (dataset, learner) across stored runs, PNG + Markdown.

Runs are ordered by the earliest ``started_at`` of their records (when the run began) and
labelled with their short commit, so a user sees at which commit something got slower. Each
point is the mean over the run's ok seeds with the standard error as its error bar. Output is
deterministic like the other reports (Agg canvas, default style, no "Software" metadata).
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import matplotlib as mpl
import matplotlib.style
import numpy as np
import pandas as pd

from learnbench.errors import LearnbenchError
from learnbench.records import METRIC_COLUMNS, load_runs
from learnbench.reporting.plots import learner_styles, save_png, single_axes, slug, unique_name
from learnbench.reporting.tables import disambiguate, format_sig, params_suffix

_LOWER_IS_BETTER = re.compile(r"(seconds|_ms|_mb)$")


class HistoryError(LearnbenchError):
    """Nothing to plot: no runs, an unknown metric, or no ok value of the metric."""


def load_history(run_dirs: list[str | os.PathLike[str]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(records with ``run``, ``dataset_key``, ``learner_key`` columns; one row per run).

    The runs table is ordered by first ``started_at`` (ties by directory name) and has
    ``run`` (directory name), ``commit``, ``dirty``, ``started_at`` and ``x_label``.
    """
    if not run_dirs:
        raise HistoryError("no run directories given")
    frames = []
    for run_dir in run_dirs:
        df = load_runs(run_dir)
        if df.empty:
            raise HistoryError(f"no result records in {run_dir}")
        frames.append(df.assign(run=str(run_dir)))
    df = pd.concat(frames, ignore_index=True)
    df["started"] = pd.to_datetime(df["started_at"], utc=True, errors="coerce", format="ISO8601")
    runs = (df.groupby("run", sort=False)
              .agg(started=("started", "min"), commit=("git_commit", "first"),
                   dirty=("git_dirty", "first"))
              .reset_index())
    runs["name"] = [Path(r).name for r in runs["run"]]
    runs = runs.sort_values(["started", "name"], na_position="last", kind="stable")
    runs = runs.reset_index(drop=True)
    runs["x_label"] = _x_labels(runs)
    # The same display keys as the other reports: device / dataset params only when needed.
    df["dataset_label"] = df["dataset_label"].fillna(df["dataset"])
    df["dataset_key"] = disambiguate(df, "dataset_label", "dataset_params", params_suffix)
    df["learner_key"] = disambiguate(df, "label", "device", lambda v: f" ({v})")
    df = df.sort_values(["run", "dataset_key", "learner_key", "seed", "started_at"],
                        na_position="first", kind="stable")
    df = df.drop_duplicates(["run", "dataset_key", "learner_key", "seed"], keep="last")
    return df.reset_index(drop=True), runs


def history_table(df: pd.DataFrame, runs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per (dataset, learner, run): mean, std (ddof=1), standard error and n of ok seeds."""
    ok = df[df["status"] == "ok"].dropna(subset=[metric])
    stats = (ok.groupby(["dataset_key", "learner_key", "run"])[metric]
               .agg(mean="mean", std="std", n="count").reset_index())
    stats["sem"] = stats["std"] / np.sqrt(stats["n"])
    order = {r: i for i, r in enumerate(runs["run"])}
    stats["run_index"] = stats["run"].map(order)
    stats = stats.merge(runs[["run", "x_label"]], on="run", how="left")
    stats = stats.rename(columns={"dataset_key": "dataset", "learner_key": "learner"})
    stats = stats.sort_values(["dataset", "learner", "run_index"], kind="stable")
    return stats[["dataset", "learner", "run_index", "x_label", "run", "mean", "std", "sem", "n"]
                 ].reset_index(drop=True)


def build_history(run_dirs: list[str | os.PathLike[str]], out_dir: str | os.PathLike[str],
                  metric: str = "train_throughput") -> list[Path]:
    """Write ``history_<metric>_<dataset>.png`` per dataset and ``history_<metric>.md``."""
    if metric not in METRIC_COLUMNS:
        raise HistoryError(f"unknown metric {metric!r}; valid metrics: {', '.join(METRIC_COLUMNS)}")
    df, runs = load_history(run_dirs)
    stats = history_table(df, runs, metric)
    if stats.empty:
        raise HistoryError(f"no ok values of {metric} in {len(runs)} runs")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    used: set[str] = set()
    for dataset in sorted(stats["dataset"].unique()):
        name = unique_name(f"history_{metric}_{slug(dataset)}.png", used)
        written.append(plot_history(stats[stats["dataset"] == dataset], runs, metric,
                                    dataset, out_dir / name))
    md = out_dir / f"history_{metric}.md"
    md.write_text(history_markdown(stats, runs, metric), encoding="utf-8")
    written.append(md)
    return written


def plot_history(stats: pd.DataFrame, runs: pd.DataFrame, metric: str, dataset: str,
                 path: Path) -> Path:
    """One line per learner over the runs, error bars = standard error over seeds."""
    styles = learner_styles(list(stats["learner"].unique()))
    n_runs = len(runs)
    with mpl.style.context("default"):
        fig, ax = single_axes((max(5.0, 0.7 * n_runs + 3.0), 4.0))
        for learner, g in stats.groupby("learner", sort=True):
            colour, marker = styles[str(learner)]
            yerr = np.nan_to_num(g["sem"].to_numpy(dtype=float))
            ax.errorbar(g["run_index"], g["mean"], yerr=yerr, fmt=f"-{marker}", color=colour,
                        capsize=3, ms=6, label=str(learner))
        ax.set_xticks(range(n_runs), list(runs["x_label"]), rotation=30 if n_runs > 4 else 0,
                      ha="right" if n_runs > 4 else "center")
        ax.set_xlim(-0.5, n_runs - 0.5)
        ax.set_xlabel("run (short commit), oldest first")
        better = "lower" if _LOWER_IS_BETTER.search(metric) else "higher"
        ax.set_ylabel(f"{metric}\nmean ± std. error over seeds ({better} is better)",
                      fontsize=9)
        ax.set_title(f"{dataset}: {metric}")
        ax.grid(True, alpha=0.3)
        ax.legend(title="learner", fontsize=8)
        return save_png(fig, path)


def history_markdown(stats: pd.DataFrame, runs: pd.DataFrame, metric: str) -> str:
    """Runs in order, then per dataset a learner × run table of ``mean ± sem (n)``."""
    parts = [f"# History of `{metric}`", "",
             "Runs ordered by their first record's `started_at`; cells are mean ± standard "
             "error over ok seeds (n).", ""]
    run_rows = pd.DataFrame({
        "#": range(1, len(runs) + 1),
        "commit": runs["x_label"],
        "run": runs["name"],
        "started (UTC)": [_when(t) for t in runs["started"]],
    })
    parts += [_md(run_rows), ""]
    for dataset in sorted(stats["dataset"].unique()):
        sub = stats[stats["dataset"] == dataset]
        wide = pd.DataFrame({"learner": sorted(sub["learner"].unique())})
        for i, label in enumerate(runs["x_label"]):
            cells = {r["learner"]: _cell(r) for _, r in sub[sub["run_index"] == i].iterrows()}
            wide[label] = [cells.get(learner, "–") for learner in wide["learner"]]
        parts += [f"## {dataset}", "", _md(wide), ""]
    return "\n".join(parts)


def _x_labels(runs: pd.DataFrame) -> list[str]:
    """Short commit (+ ``*`` if dirty); the run name without a commit; repeats get ``#k``."""
    labels = []
    for commit, dirty, name in zip(runs["commit"], runs["dirty"], runs["name"], strict=True):
        text = str(commit)[:8] if isinstance(commit, str) and commit else name
        labels.append(text + ("*" if isinstance(dirty, bool | np.bool_) and dirty else ""))
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label}#{seen[label]}")
    return out


def _cell(r: pd.Series) -> str:
    text = format_sig(r["mean"])
    if not math.isnan(r["sem"]):
        text += f" ± {format_sig(r['sem'])}"
    return f"{text} ({int(r['n'])})"


def _when(t: pd.Timestamp) -> str:
    return "?" if pd.isna(t) else t.strftime("%Y-%m-%d %H:%M:%S")


def _md(df: pd.DataFrame) -> str:
    cells = df.astype(str).map(lambda v: v.replace("|", "\\|"))
    return cells.to_markdown(index=False, disable_numparse=True)

