"""Model size and cost, and learner-specific extra metrics.

Numbers first (``*_table`` return frames), then cell strings (``display_*``) for the Markdown,
HTML and LaTeX renderers of :mod:`.tables`. FLOPs are those of the records
(``torch.utils.flop_counter``: 2 FLOPs per multiply-add, convolutions and matrix products
only). The MobileNet comparison, which also reads FLOPs, is :mod:`.mobilenet`.
"""

from __future__ import annotations

import math

import pandas as pd

from learnbench.reporting.tables import (
    PM,
    Display,
    Fmt,
    display_plain,
    fixed,
    format_number,
    format_sig,
    metric_summary,
    prepare,
    timing_table,
)

MODEL_COST_NOTE = (
    "Per learner and dataset: parameters and forward FLOPs per sample (torch models; "
    "torch.utils.flop_counter counts 2 FLOPs per multiply-add, convolutions and matrix "
    "products only), medians over ok seeds; throughputs in samples/s (medians); accuracy: "
    "mean over ok seeds. –: not recorded (e.g. no parameter count for kNN or trees)."
)
EXTRAS_NOTE = (
    "Figures a learner reports next to accuracy (evaluation_extras, records column extra_*): "
    "mean ± sample std (ddof=1) over ok seeds."
)


# ---------------------------------------------------------------------------------------------
# Model size and cost
# ---------------------------------------------------------------------------------------------


def has_model_cost(df: pd.DataFrame) -> bool:
    """True when some ok record counted FLOPs per sample (a torch model)."""
    ok = df[df["status"] == "ok"]
    return "flops_per_sample" in ok and bool(ok["flops_per_sample"].notna().any())


def model_cost_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, learner) with a parameter or FLOP count: size, cost, throughput, accuracy.

    Columns ``n_parameters``, ``flops_per_sample``, ``train_throughput``,
    ``infer_bulk_throughput`` (medians over ok seeds, as in :func:`timing_table`),
    ``accuracy`` (mean % over ok seeds), ``n_ok`` and ``n_seeds``.
    """
    timing = timing_table(df)
    acc = metric_summary(df, "accuracy")["mean"].rename("accuracy")
    cols = ["n_parameters", "flops_per_sample", "train_throughput", "infer_bulk_throughput",
            "n_ok", "n_seeds"]
    out = timing[cols].join(acc, how="left")
    keep = out["n_parameters"].notna() | out["flops_per_sample"].notna()
    return out.loc[keep, [*cols[:4], "accuracy", "n_ok", "n_seeds"]].sort_index()


def display_model_cost(df: pd.DataFrame, fmt: Fmt) -> Display:
    """Cells of :func:`model_cost_table`."""
    table = model_cost_table(df)
    cells = pd.DataFrame(
        {
            "Dataset": table.index.get_level_values("dataset").astype(str),
            "Learner": table.index.get_level_values("learner").astype(str),
            "params": [format_number(v, "int", fmt) for v in table["n_parameters"]],
            "FLOPs/sample": [format_number(v, "int", fmt) for v in table["flops_per_sample"]],
            "train [samples/s]": [format_number(v, "float", fmt)
                                  for v in table["train_throughput"]],
            "bulk infer [samples/s]": [format_number(v, "float", fmt)
                                       for v in table["infer_bulk_throughput"]],
            "accuracy [%]": [fixed(v, 2, fmt) for v in table["accuracy"]],
            "ok seeds": [f"{int(a)}/{int(b)}" for a, b in zip(table["n_ok"], table["n_seeds"],
                                                              strict=True)],
        }
    )
    return display_plain(cells, ["Dataset", "Learner"])


# ---------------------------------------------------------------------------------------------
# Extra metrics
# ---------------------------------------------------------------------------------------------


def extra_columns(df: pd.DataFrame) -> list[str]:
    """The ``extra_*`` columns that hold a number in some ok record, sorted."""
    ok = df[df["status"] == "ok"]
    cols = []
    for c in sorted(c for c in df.columns if str(c).startswith("extra_")):
        if pd.to_numeric(ok[c], errors="coerce").notna().any():
            cols.append(c)
    return cols


def extras_table(df: pd.DataFrame) -> pd.DataFrame:
    """Long table: one row per (dataset, learner, metric) with mean, std (ddof=1) and n_ok."""
    d = prepare(df)
    ok = d[d["status"] == "ok"]
    rows = []
    for col in extra_columns(d):
        values = pd.to_numeric(ok[col], errors="coerce")
        for (ds, learner), v in values.groupby([ok["col"], ok["row"]], sort=True):
            v = v.dropna().to_numpy(dtype=float)
            if len(v) == 0:
                continue
            rows.append({"dataset": ds, "learner": learner, "metric": col[len("extra_"):],
                         "mean": float(v.mean()),
                         "std": float(v.std(ddof=1)) if len(v) > 1 else math.nan,
                         "n_ok": len(v)})
    out = pd.DataFrame(rows, columns=["dataset", "learner", "metric", "mean", "std", "n_ok"])
    return out.sort_values(["dataset", "learner", "metric"]).reset_index(drop=True)


def display_extras(df: pd.DataFrame, fmt: Fmt) -> Display:
    """Cells of :func:`extras_table`: ``mean ± std`` to 4 significant digits."""
    table = extras_table(df)
    values = []
    for _, r in table.iterrows():
        text = format_sig(r["mean"])
        if not math.isnan(r["std"]):
            text += f" {PM[fmt]} {format_sig(r['std'])}"
        values.append(text)
    cells = pd.DataFrame(
        {
            "Dataset": table["dataset"].astype(str),
            "Learner": table["learner"].astype(str),
            "Metric": table["metric"].astype(str),
            "mean ± std": values,
            "ok seeds": table["n_ok"].astype(int).astype(str),
        }
    )
    return display_plain(cells, ["Dataset", "Learner", "Metric"])
