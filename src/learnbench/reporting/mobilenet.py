"""MobileNet v1: the depthwise-separable net against its standard-convolution control.

Pairs the records of the two MobileNet learners (:data:`SEPARABLE`, :data:`STANDARD`) per
dataset, device and multipliers, and checks the recorded mult-add ratio against the analytic
one of Howard et al. (Eq. 2, 4, 5) for the same plan. Numbers first
(:func:`mobilenet_comparison` returns a frame), then cell strings (``display_*``) for the
renderers of :mod:`.tables`; the report section is :mod:`.sections.mobilenet`. FLOPs are those
of the records (2 per multiply-add), so mult-adds = FLOPs / 2.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache

import pandas as pd

from learnbench.records import is_missing
from learnbench.reporting.tables import (
    DASH,
    PM,
    Display,
    Fmt,
    display_plain,
    fixed,
    format_number,
    prepare,
)

#: Largest |counted - analytic| ratio difference the MobileNet check calls agreement.
RATIO_TOLERANCE = 1e-6
#: The learners compared: the separable net and its standard-convolution control.
SEPARABLE, STANDARD = "mobilenet", "mobilenet_standard"

MOBILENET_NOTE = (
    "Depthwise-separable MobileNet v1 (mobilenet) against the same net with standard 3x3 "
    "convolutions in place of each separable block (mobilenet_standard), paired per dataset, "
    "device, width multiplier alpha and resolution multiplier rho. Mult-adds per sample = "
    "recorded FLOPs / 2; params, mult-adds and throughputs are medians over ok seeds, accuracy "
    "mean ± std."
)
MOBILENET_RATIO_NOTE = (
    "Ratios are separable / standard. The counted ratio is of the whole nets as recorded, so "
    "it includes the stem conv and the linear head that both nets share; it is checked against "
    "the analytic whole-net ratio (Howard et al. Eq. 4 and Eq. 2 per block, plus the shared "
    "layers) from the net's plan. The blocks-only analytic ratio and the per-block "
    "1/N + 1/D_K² (Eq. 5, D_K = 3; min–max over blocks) are what the paper's formula "
    "predicts for the separable blocks alone, and are lower because the shared layers dilute "
    "the saving. Throughput ratios > 1: the separable net is faster."
)


def mobilenet_comparison(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, device, alpha, rho) where both MobileNet variants finished ok.

    ``sep_*`` / ``std_*``: label, params, mult-adds per sample (FLOPs / 2), train and bulk
    inference throughput (medians over ok seeds), accuracy mean/std (%). Ratios (separable /
    standard): ``counted_ratio`` of the recorded mult-adds, ``analytic_ratio`` (whole net) and
    ``analytic_blocks_ratio`` from :func:`learnbench.learners.flops.mobilenet_cost_comparison`
    for the recorded input shape and classes, ``block_ratio_min``/``max`` (Eq. 5 per block),
    ``params_ratio``, ``train_speedup`` and ``infer_speedup`` (throughput ratios), and
    ``agrees`` (|counted - analytic| <= :data:`RATIO_TOLERANCE`; None when the analytic
    figure is unknown).
    """
    d = prepare(df)
    d = d[d["learner"].isin([SEPARABLE, STANDARD]) & (d["status"] == "ok")]
    d = d[d["flops_per_sample"].notna()]
    if d.empty:
        return pd.DataFrame()
    variants: dict[tuple, dict[bool, list[dict]]] = {}
    for row, g in d.groupby("row", sort=True):
        for col, gc in g.groupby("col", sort=True):
            first = gc.sort_values("seed").iloc[0]
            params = _mobilenet_params(first)
            key = (col, str(first["device"]), params["width_mult"], params["resolution_mult"])
            summary = _variant_summary(str(row), gc, params, first)
            variants.setdefault(key, {True: [], False: []})[params["separable"]].append(summary)
    rows = []
    for key in sorted(variants, key=str):
        both = variants[key]
        for sep in both[True]:
            for std in both[False]:
                rows.append(_pair_row(key, sep, std))
    return pd.DataFrame(rows)


def mobilenet_verdicts(comparison: pd.DataFrame) -> list[str]:
    """One line per pair: does the counted mult-add ratio equal the analytic one?"""
    lines = []
    for _, r in comparison.iterrows():
        where = f"{r['dataset']} ({_config(r)}, {r['device']})"
        if r["agrees"] is None:
            lines.append(f"{where}: counted ratio {r['counted_ratio']:.6f}; analytic ratio "
                         f"unknown ({r['analytic_missing']}), not checked.")
        elif r["agrees"]:
            lines.append(f"{where}: counted ratio {r['counted_ratio']:.6f} = analytic "
                         f"{r['analytic_ratio']:.6f} (within {RATIO_TOLERANCE:g}): the "
                         f"recorded counts match Eq. 2/4 for this plan.")
        else:
            lines.append(f"{where}: counted ratio {r['counted_ratio']:.6f} differs from the "
                         f"analytic {r['analytic_ratio']:.6f} by "
                         f"{abs(r['counted_ratio'] - r['analytic_ratio']):.2g} (more than "
                         f"{RATIO_TOLERANCE:g}): MISMATCH, the recorded nets are not the plan.")
    return lines


def display_mobilenet_variants(comparison: pd.DataFrame, fmt: Fmt) -> Display:
    """Two rows per pair (separable, standard): params, mult-adds, throughputs, accuracy."""
    rows = []
    for _, r in comparison.iterrows():
        for prefix, variant in (("sep", "depthwise-separable"), ("std", "standard conv")):
            acc = fixed(r[f"{prefix}_accuracy"], 2, fmt)
            if not math.isnan(r[f"{prefix}_accuracy_std"]):
                acc += f" {PM[fmt]} {r[f'{prefix}_accuracy_std']:.2f}"
            rows.append(
                {
                    "Dataset": str(r["dataset"]),
                    "Config": _config(r),
                    "Variant": variant,
                    "Learner": str(r[f"{prefix}_label"]),
                    "params": format_number(r[f"{prefix}_params"], "int", fmt),
                    "mult-adds/sample": format_number(r[f"{prefix}_mult_adds"], "int", fmt),
                    "train [samples/s]": format_number(r[f"{prefix}_train"], "float", fmt),
                    "bulk infer [samples/s]": format_number(r[f"{prefix}_infer"], "float",
                                                            fmt),
                    "accuracy [%]": acc,
                }
            )
    return display_plain(pd.DataFrame(rows), ["Dataset", "Config", "Variant", "Learner"])


def display_mobilenet_ratios(comparison: pd.DataFrame, fmt: Fmt) -> Display:
    """One row per pair: counted vs analytic mult-add ratios, params and throughput ratios."""
    rows = []
    for _, r in comparison.iterrows():
        check = ("n/a" if r["agrees"] is None else "agree" if r["agrees"] else "MISMATCH")
        blocks = DASH[fmt]
        if not math.isnan(r["block_ratio_min"]):
            blocks = f"{r['block_ratio_min']:.4f}–{r['block_ratio_max']:.4f}"
            blocks = blocks.replace("–", "--") if fmt == "tex" else blocks
        rows.append(
            {
                "Dataset": str(r["dataset"]),
                "Config": _config(r),
                "counted mult-adds": fixed(r["counted_ratio"], 4, fmt),
                "analytic (whole net)": fixed(r["analytic_ratio"], 4, fmt),
                "check": check,
                "analytic (blocks)": fixed(r["analytic_blocks_ratio"], 4, fmt),
                "per block 1/N + 1/9": blocks,
                "params": fixed(r["params_ratio"], 4, fmt),
                "train speed-up": fixed(r["train_speedup"], 2, fmt),
                "infer speed-up": fixed(r["infer_speedup"], 2, fmt),
            }
        )
    return display_plain(pd.DataFrame(rows), ["Dataset", "Config", "check"])


def _mobilenet_params(rec: pd.Series) -> dict:
    """alpha, rho, separable and input shape of a MobileNet record (resolved params first)."""
    resolved = rec.get("learner_params")
    resolved = resolved if isinstance(resolved, dict) else {}
    try:
        given = json.loads(rec.get("params") or "{}")
    except (TypeError, ValueError):
        given = {}
    merged = {"width_mult": 1.0, "resolution_mult": 1.0,
              "separable": rec.get("learner") == SEPARABLE, **given, **resolved}
    shape = merged.get("input_shape")
    return {
        "width_mult": float(merged["width_mult"]),
        "resolution_mult": float(merged["resolution_mult"]),
        "separable": bool(merged["separable"]),
        "input_shape": tuple(int(s) for s in shape) if isinstance(shape, list | tuple) else None,
    }


def _variant_summary(label: str, g: pd.DataFrame, params: dict, first: pd.Series) -> dict:
    acc = g["accuracy"].dropna().to_numpy(dtype=float) * 100
    n_classes = first.get("n_classes")
    return {
        "label": label,
        "params": float(g["n_parameters"].median()),
        "mult_adds": float(g["flops_per_sample"].median()) / 2,
        "train": float(g["train_throughput"].median()),
        "infer": float(g["infer_bulk_throughput"].median()),
        "accuracy": float(acc.mean()) if len(acc) else math.nan,
        "accuracy_std": float(acc.std(ddof=1)) if len(acc) > 1 else math.nan,
        "input_shape": params["input_shape"],
        "n_classes": None if is_missing(n_classes) else int(n_classes),
    }


def _pair_row(key: tuple, sep: dict, std: dict) -> dict:
    dataset, device, alpha, rho = key
    row: dict = {"dataset": dataset, "device": device, "width_mult": alpha,
                 "resolution_mult": rho}
    for prefix, v in (("sep", sep), ("std", std)):
        for name in ("label", "params", "mult_adds", "train", "infer", "accuracy",
                     "accuracy_std"):
            row[f"{prefix}_{name}"] = v[name]
    row["counted_ratio"] = sep["mult_adds"] / std["mult_adds"]
    row["params_ratio"] = _ratio(sep["params"], std["params"])
    row["train_speedup"] = _ratio(sep["train"], std["train"])
    row["infer_speedup"] = _ratio(sep["infer"], std["infer"])
    shape, classes = sep["input_shape"] or std["input_shape"], sep["n_classes"] or std[
        "n_classes"]
    analytic = {"analytic_ratio": math.nan, "analytic_blocks_ratio": math.nan,
                "block_ratio_min": math.nan, "block_ratio_max": math.nan,
                "analytic_sep_mult_adds": math.nan, "analytic_std_mult_adds": math.nan}
    missing = ", ".join(n for n, v in (("input shape", shape), ("number of classes", classes))
                        if v is None)
    if not missing:
        analytic = _analytic(shape, classes, alpha, rho)
    row.update(analytic)
    row["analytic_missing"] = missing
    row["agrees"] = (None if missing else
                     bool(abs(row["counted_ratio"] - row["analytic_ratio"]) <= RATIO_TOLERANCE))
    return row


@lru_cache(maxsize=64)
def _analytic(shape: tuple[int, ...], n_classes: int, alpha: float, rho: float) -> dict:
    from learnbench.learners.flops import mobilenet_cost_comparison

    c = mobilenet_cost_comparison(shape, n_classes, alpha, rho)
    blocks = c["blocks"]
    sep_blocks = sum(b["analytic_separable_mult_adds"] for b in blocks)
    std_blocks = sum(b["analytic_standard_mult_adds"] for b in blocks)
    per_block = [b["analytic_ratio"] for b in blocks]
    return {
        "analytic_ratio": float(c["analytic_ratio"]),
        "analytic_blocks_ratio": sep_blocks / std_blocks,
        "block_ratio_min": float(min(per_block)),
        "block_ratio_max": float(max(per_block)),
        "analytic_sep_mult_adds": float(c["analytic_separable_mult_adds"]),
        "analytic_std_mult_adds": float(c["analytic_standard_mult_adds"]),
    }


def _config(r: pd.Series) -> str:
    return f"alpha={r['width_mult']:g}, rho={r['resolution_mult']:g}"


def _ratio(a: float, b: float) -> float:
    return a / b if b and not (math.isnan(a) or math.isnan(b)) else math.nan
