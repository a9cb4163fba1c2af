"""Compare two stored runs cell by cell: which metrics changed significantly, which regressed.

Cells are matched by their configuration without the seed (the seeds are the repeats). For
each metric, the change is the ratio new/base of the means over the repeats (accuracy: the
difference new - base), with a bootstrap confidence interval over the repeats.

The rule (see :func:`compare_runs`):

* significant: the CI of the ratio excludes 1 (accuracy: the CI of the difference excludes 0);
  with fewer than two repeats on a side there is no CI and nothing is called significant;
* regression: significant AND worse beyond the threshold: by the point estimate, more than
  ``threshold`` relative (ratio > 1 + threshold for seconds/latency/memory, ratio < 1 -
  threshold for throughputs) or, for accuracy, a drop of more than ``accuracy_tolerance``
  (absolute, e.g. 0.01 = one percentage point);
* gating: a regression counts for the exit code unless it is a timing metric and the two
  runs ran on different hardware (cpu, cpu_count or gpu differ), where a timing change is
  machine-to-machine noise; accuracy always gates.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import bootstrap

from learnbench.errors import LearnbenchError
from learnbench.records import is_missing, load_runs

# A cell's configuration without the seed (see learnbench.harness.suite.Cell.config).
KEY = ["dataset_label", "label", "params", "device", "dataset_params"]
HIGHER_IS_BETTER = {"accuracy", "train_throughput", "infer_b1_throughput",
                    "infer_bulk_throughput"}
LOWER_IS_BETTER = {"fit_seconds", "predict_seconds", "infer_b1_p50_ms", "infer_bulk_p50_ms",
                   "peak_rss_mb"}
DEFAULT_METRICS = ["accuracy", "fit_seconds", "predict_seconds", "train_throughput",
                   "infer_b1_throughput", "infer_bulk_throughput", "infer_b1_p50_ms",
                   "infer_bulk_p50_ms", "peak_rss_mb"]
HARDWARE_COLUMNS = ["cpu", "cpu_count", "gpu"]
VERDICT_ORDER = ["regression", "improvement", "minor", "untested", "unchanged"]


class CompareError(LearnbenchError):
    """Two runs that cannot be compared (missing, empty, or no cells in common)."""


@dataclass
class ComparisonResult:
    """Per (cell, metric) comparisons plus what could not be compared.

    ``table`` has the KEY columns, ``metric``, ``n_base``, ``n_new``, ``base_mean``,
    ``new_mean``, ``kind`` ("ratio" or "diff"), ``change``, ``ci_low``, ``ci_high``,
    ``significant``, ``beyond_threshold``, ``verdict`` (one of ``VERDICT_ORDER``) and ``gating``.
    """

    base_dir: Path
    new_dir: Path
    table: pd.DataFrame
    only_base: list[tuple[str, ...]] = field(default_factory=list)
    only_new: list[tuple[str, ...]] = field(default_factory=list)
    hardware_note: str | None = None
    threshold: float = 0.10
    confidence: float = 0.95

    @property
    def regressions(self) -> pd.DataFrame:
        """Every regression, gating or not (see ``gating``)."""
        return self.table[self.table["verdict"] == "regression"]

    @property
    def exit_code(self) -> int:
        """1 when any gating regression, else 0."""
        return int(bool(self.regressions["gating"].any()))


def compare_runs(
    base_dir: str | os.PathLike[str],
    new_dir: str | os.PathLike[str],
    threshold: float = 0.10,
    metrics: list[str] | None = None,
    confidence: float = 0.95,
    accuracy_tolerance: float = 0.01,
    n_resamples: int = 2000,
    seed: int = 0,
) -> ComparisonResult:
    """Compare every cell in both runs on ``metrics`` (default: accuracy and the timings)."""
    metrics = list(metrics or DEFAULT_METRICS)
    unknown = [m for m in metrics if m not in HIGHER_IS_BETTER | LOWER_IS_BETTER]
    if unknown:
        raise CompareError(f"unknown metric {unknown[0]!r}; valid metrics: "
                           f"{', '.join(DEFAULT_METRICS)}")
    if not 0 < confidence < 1:
        raise CompareError(f"--confidence must be between 0 and 1, got {confidence}")
    if threshold < 0:
        raise CompareError(f"--threshold must be >= 0, got {threshold}")
    base, new = _load(base_dir), _load(new_dir)
    base_keys, new_keys = _keys(base), _keys(new)
    common = sorted(base_keys & new_keys)
    if not common:
        raise CompareError(f"no matching cells between {base_dir} ({len(base_keys)} cells) and "
                           f"{new_dir} ({len(new_keys)} cells)")
    hw_note = hardware_note(base, new)
    rows = []
    b_groups = dict(list(base.groupby(KEY, sort=True, dropna=False)))
    n_groups = dict(list(new.groupby(KEY, sort=True, dropna=False)))
    for key in common:
        b, n = _ok(b_groups[key]), _ok(n_groups[key])
        for metric in metrics:
            bv = b[metric].dropna().to_numpy(dtype=float)
            nv = n[metric].dropna().to_numpy(dtype=float)
            if len(bv) == 0 or len(nv) == 0:
                continue
            row = dict(zip(KEY, key, strict=True))
            row.update(_compare_metric(metric, bv, nv, threshold, confidence,
                                       accuracy_tolerance, n_resamples, seed))
            row["gating"] = row["verdict"] == "regression" and (
                metric == "accuracy" or hw_note is None)
            rows.append(row)
    columns = [*KEY, "metric", "n_base", "n_new", "base_mean", "new_mean", "kind", "change",
               "ci_low", "ci_high", "significant", "beyond_threshold", "verdict", "gating"]
    table = pd.DataFrame(rows, columns=columns)
    return ComparisonResult(
        base_dir=Path(base_dir), new_dir=Path(new_dir), table=table,
        only_base=sorted(base_keys - new_keys), only_new=sorted(new_keys - base_keys),
        hardware_note=hw_note, threshold=threshold, confidence=confidence)


def hardware_note(base: pd.DataFrame, new: pd.DataFrame) -> str | None:
    """A note when the runs' cpu/cpu_count/gpu differ; None when they ran on the same hardware."""
    def describe(df: pd.DataFrame) -> str:
        combos = sorted({_hw_str(r) for r in df[HARDWARE_COLUMNS].itertuples(index=False)})
        return " / ".join(combos) or "unknown"

    b, n = describe(base), describe(new)
    if b == n:
        return None
    return (f"hardware differs: {b} vs {n}; timing changes are machine-to-machine noise, "
            "not gating")


def _hw_str(row: tuple) -> str:
    cpu, count, gpu = (None if is_missing(v) else v for v in row)
    text = f"{cpu or '?'} x{int(count) if count is not None else '?'}"
    return f"{text} + {gpu}" if gpu else text


def _compare_metric(metric: str, bv: np.ndarray, nv: np.ndarray, threshold: float,
                    confidence: float, accuracy_tolerance: float, n_resamples: int,
                    seed: int) -> dict:
    """One comparison: point change, CI, significance and verdict."""
    higher = metric in HIGHER_IS_BETTER
    diff = metric == "accuracy"
    bm, nm = float(bv.mean()), float(nv.mean())
    if diff:
        change, null = nm - bm, 0.0
        statistic = _diff_of_means
        worse = change < -accuracy_tolerance
        better = change > accuracy_tolerance
    else:
        change = nm / bm if bm != 0 else math.nan
        null = 1.0
        statistic = _ratio_of_means
        worse = change < 1 - threshold if higher else change > 1 + threshold
        better = change > 1 + threshold if higher else change < 1 - threshold
    lo = hi = math.nan
    if len(bv) >= 2 and len(nv) >= 2 and math.isfinite(change):
        # scipy's bootstrap resamples the two runs independently (paired=False); percentile
        # intervals because BCa is unstable (and warns) with the 3-5 repeats a suite has.
        res = bootstrap((bv, nv), statistic, n_resamples=n_resamples, vectorized=True,
                        paired=False, confidence_level=confidence, method="percentile",
                        rng=np.random.default_rng(seed))
        lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    tested = math.isfinite(lo) and math.isfinite(hi)
    significant = tested and not lo <= null <= hi
    if not tested:
        verdict = "untested"
    elif not significant:
        verdict = "unchanged"
    elif worse:
        verdict = "regression"
    elif better:
        verdict = "improvement"
    else:
        verdict = "minor"
    return {"metric": metric, "n_base": len(bv), "n_new": len(nv), "base_mean": bm,
            "new_mean": nm, "kind": "diff" if diff else "ratio", "change": change,
            "ci_low": lo, "ci_high": hi, "significant": significant, "verdict": verdict,
            "beyond_threshold": worse or better}


def _ratio_of_means(base: np.ndarray, new: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(new, axis=axis) / np.mean(base, axis=axis)


def _diff_of_means(base: np.ndarray, new: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(new, axis=axis) - np.mean(base, axis=axis)


def _load(run_dir: str | os.PathLike[str]) -> pd.DataFrame:
    """A run's records (missing dir -> one-line error), latest record per (cell, seed)."""
    df = load_runs(run_dir)
    if df.empty:
        raise CompareError(f"no result records in {run_dir}")
    for col in KEY:
        df[col] = df[col].astype(object).where(df[col].notna(), "?").astype(str)
    df = df.sort_values([*KEY, "seed", "started_at"], na_position="first", kind="stable")
    return df.drop_duplicates([*KEY, "seed"], keep="last")


def _keys(df: pd.DataFrame) -> set[tuple[str, ...]]:
    return set(df[KEY].itertuples(index=False, name=None))


def _ok(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["status"] == "ok"]


# ---------------------------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------------------------


def shown_rows(result: ComparisonResult) -> pd.DataFrame:
    """Rows worth printing: significant changes, and untested ones beyond the threshold."""
    t = result.table
    show = t["significant"].astype(bool) | (
        (t["verdict"] == "untested") & t["beyond_threshold"].astype(bool))
    rows = t[show].copy()
    rows["_order"] = rows["verdict"].map(VERDICT_ORDER.index)
    return rows.sort_values(["_order", *KEY, "metric"], kind="stable")


def format_change(row: pd.Series) -> tuple[str, str]:
    """(change, CI) as text: ``x1.98`` / ``-2.10 pts`` and ``[1.90, 2.05]`` or ``n=1``."""
    if row["kind"] == "diff":
        change = f"{100 * row['change']:+.2f} pts"
        ci = f"[{100 * row['ci_low']:+.2f}, {100 * row['ci_high']:+.2f}]"
    else:
        change = f"x{row['change']:.3f}"
        ci = f"[{row['ci_low']:.3f}, {row['ci_high']:.3f}]"
    if row["verdict"] == "untested":
        ci = f"n={row['n_base']}/{row['n_new']}: no CI"
    return change, ci


def summary_line(result: ComparisonResult) -> str:
    t = result.table
    n_reg = len(result.regressions)
    gating = int(result.regressions["gating"].sum())
    counts = {v: int((t["verdict"] == v).sum()) for v in VERDICT_ORDER}
    cells = t[KEY].drop_duplicates().shape[0] if len(t) else 0
    text = (f"{cells} cells, {len(t)} comparisons: {n_reg} regressions ({gating} gating), "
            f"{counts['improvement']} improvements, {counts['minor']} minor significant changes, "
            f"{counts['untested']} untested (single repeat), {counts['unchanged']} unchanged; "
            f"{len(result.only_base)} cells only in base, {len(result.only_new)} only in new")
    return text


def _display(result: ComparisonResult) -> pd.DataFrame:
    rows = shown_rows(result)
    out = []
    for _, r in rows.iterrows():
        change, ci = format_change(r)
        verdict = r["verdict"] + ("" if r["gating"] or r["verdict"] != "regression"
                                  else " (not gating)")
        out.append({"dataset": r["dataset_label"], "learner": _learner(r), "metric": r["metric"],
                    "base": _num(r["base_mean"]), "new": _num(r["new_mean"]),
                    "change": change, f"{result.confidence:.0%} CI": ci, "verdict": verdict})
    cols = ["dataset", "learner", "metric", "base", "new", "change",
            f"{result.confidence:.0%} CI", "verdict"]
    return pd.DataFrame(out, columns=cols)


def render_text(result: ComparisonResult) -> str:
    """The plain-text report: notes, the table of significant changes, missing cells, summary."""
    lines = [f"compare {result.base_dir} -> {result.new_dir} (threshold {result.threshold:.0%}, "
             f"{result.confidence:.0%} bootstrap CI)"]
    if result.hardware_note:
        lines.append(f"NOTE: {result.hardware_note}")
    disp = _display(result)
    if len(disp):
        lines.append(disp.to_markdown(index=False, tablefmt="simple", disable_numparse=True))
    else:
        lines.append("no significant changes")
    lines += _missing_lines(result)
    lines.append(summary_line(result))
    return "\n".join(lines) + "\n"


def render_markdown(result: ComparisonResult) -> str:
    """The same report as Markdown (for ``--out FILE.md`` / a CI job summary)."""
    parts = [f"# Comparison: `{result.base_dir}` → `{result.new_dir}`", "",
             f"Threshold {result.threshold:.0%}, {result.confidence:.0%} bootstrap CI over "
             "the seeds.", ""]
    if result.hardware_note:
        parts += [f"**Note:** {result.hardware_note}", ""]
    disp = _display(result)
    if len(disp):
        disp = disp.map(lambda v: str(v).replace("|", "\\|"))
        parts += [disp.to_markdown(index=False, disable_numparse=True), ""]
    else:
        parts += ["No significant changes.", ""]
    missing = _missing_lines(result)
    if missing:
        parts += [f"- {line}" for line in missing] + [""]
    parts.append(summary_line(result))
    return "\n".join(parts) + "\n"


def _missing_lines(result: ComparisonResult) -> list[str]:
    lines = []
    for where, keys in (("only in base", result.only_base), ("only in new", result.only_new)):
        for key in keys:
            k = dict(zip(KEY, key, strict=True))
            lines.append(f"{where}: {k['dataset_label']} / {k['label']} ({k['device']}) "
                         f"params={k['params']} dataset_params={k['dataset_params']}")
    return lines


def _learner(r: pd.Series) -> str:
    text = f"{r['label']} ({r['device']})"
    return text if r["params"] in ("{}", "?") else f"{text} {r['params']}"


def _num(v: float) -> str:
    a = abs(v)
    return f"{v:,.0f}" if a >= 1000 else f"{v:.4g}"
