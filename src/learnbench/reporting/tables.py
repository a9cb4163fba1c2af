"""Report tables: numbers from ``load_runs`` frames, then cell strings and md/tex/html renderings.

The numeric functions (:func:`metric_summary`, :func:`accuracy_table`, :func:`timing_table`, ...)
are the source of truth; the ``display_*`` functions only turn those numbers into strings, so
what a paper prints is exactly what the tests check. Rows and columns are always sorted.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from learnbench.records import is_missing

Fmt = Literal["md", "tex", "html"]
FAILED = ("timeout", "error")
STATS = ("mean", "std", "n_ok", "n_seeds")
#: The plus-minus sign and the dash of a missing value, per output format (every table uses
#: these, so Markdown, HTML and LaTeX cells agree).
PM = {"md": "±", "html": "±", "tex": r"$\pm$"}
DASH = {"md": "–", "html": "–", "tex": "--"}
METRIC_NOTE = (
    "Mean ± sample standard deviation (ddof=1) over seeds; best mean per dataset in bold. "
    "(n=k/m): only k of the m seeds recorded for that dataset finished ok (see Failures); "
    "timeout/error: no seed finished; –: not run."
)

# (numeric columns, display header, kind) of the timing table, in order; two columns are shown
# as "p50 / p95" in one cell to keep the LaTeX table narrow enough for a page.
TIMING_COLUMNS: list[tuple[tuple[str, ...], str, str]] = [
    (("n_train",), "n train", "int"),
    (("fit_seconds",), "fit [s]", "float"),
    (("train_throughput",), "train [samples/s]", "float"),
    (("infer_b1_throughput",), "b1 [samples/s]", "float"),
    (("infer_b1_p50_ms", "infer_b1_p95_ms"), "b1 p50/p95 [ms]", "float"),
    (("infer_bulk_batch_size",), "bulk batch", "int"),
    (("infer_bulk_throughput",), "bulk [samples/s]", "float"),
    (("infer_bulk_p50_ms", "infer_bulk_p95_ms"), "bulk p50/p95 [ms]", "float"),
    (("peak_rss_mb",), "peak RSS [MB]", "float"),
    (("gpu_peak_mb",), "GPU peak [MB]", "float"),
    (("n_parameters",), "params", "int"),
    (("flops_per_sample",), "FLOPs/sample", "int"),
]
# columns left out of a table in which no record has them (e.g. GPU memory in a CPU run)
OPTIONAL_TIMING_COLUMNS = {("gpu_peak_mb",), ("flops_per_sample",)}


# ---------------------------------------------------------------------------------------------
# Numbers
# ---------------------------------------------------------------------------------------------


def prepare(df: pd.DataFrame) -> pd.DataFrame:
    """Add the display keys ``row`` (learner) and ``col`` (dataset) and drop superseded records.

    ``row`` is the learner label, suffixed with the device when one label ran on several
    devices; ``col`` is the suite's dataset label (e.g. ``orl-k5``; the dataset name by
    default), suffixed with its dataset params when one label ran with several. A
    (col, row, seed) recorded more than once (e.g. two run dirs) keeps only the latest record
    by ``started_at``, so no seed is counted twice. Idempotent.
    """
    d = df.copy()
    d["row"] = disambiguate(d, "label", "device", lambda v: f" ({v})")
    if "dataset_label" not in d:
        d["dataset_label"] = d["dataset"]
    d["dataset_label"] = d["dataset_label"].fillna(d["dataset"])
    d["col"] = disambiguate(d, "dataset_label", "dataset_params", params_suffix)
    order = ["col", "row", "seed", "started_at", "run_id", "cell_id"]
    d = d.sort_values(order, na_position="first")
    d = d.drop_duplicates(["col", "row", "seed"], keep="last")
    return d.reset_index(drop=True)


def metric_summary(
    df: pd.DataFrame, metric: str = "accuracy", scale: float = 100.0
) -> pd.DataFrame:
    """Per (dataset, learner): mean and sample std (ddof=1) of ``metric * scale`` over ok seeds.

    Also ``n_ok`` (ok seeds with the metric), ``n_seeds`` (distinct seeds recorded for that
    dataset and learner, failed ones included: a suite may give a learner fewer seeds than
    the others), ``n_timeout``/``n_error`` and ``status``
    ("ok", "partial", or the failure statuses when no seed gave a number).
    """
    d = prepare(df)
    rows = []
    for (col, row), g in d.groupby(["col", "row"], sort=True):
        ok = g.loc[g["status"] == "ok", metric].dropna().to_numpy(dtype=float) * scale
        n_ok, n_seeds = len(ok), int(g["seed"].nunique())
        fails = sorted({s for s in g["status"] if s in FAILED})
        status = "ok" if n_ok >= n_seeds else "partial"
        if n_ok == 0:
            status = "/".join(fails) or "n/a"
        rows.append(
            {
                "dataset": col,
                "learner": row,
                "mean": float(ok.mean()) if n_ok else math.nan,
                "std": float(ok.std(ddof=1)) if n_ok > 1 else math.nan,
                "n_ok": n_ok,
                "n_seeds": n_seeds,
                "n_timeout": int((g["status"] == "timeout").sum()),
                "n_error": int((g["status"] == "error").sum()),
                "status": status,
            }
        )
    cols = ["dataset", "learner", "mean", "std", "n_ok", "n_seeds", "n_timeout", "n_error"]
    return pd.DataFrame(rows, columns=[*cols, "status"]).set_index(["dataset", "learner"])


def accuracy_table(df: pd.DataFrame, metric: str = "accuracy") -> pd.DataFrame:
    """Test accuracy in %: rows = learner, columns = (dataset, stat) with stat in ``STATS``.

    A cell with no ok seed has NaN mean; a (learner, dataset) never run is absent (NaN n_ok).
    """
    summary = metric_summary(df, metric)[list(STATS)]
    wide = summary.unstack("dataset").swaplevel(0, 1, axis=1)
    datasets = sorted(summary.index.get_level_values("dataset").unique())
    wide = wide.reindex(columns=pd.MultiIndex.from_product([datasets, STATS]))
    wide.columns.names = ["dataset", "stat"]
    return wide.sort_index()


def f1_table(df: pd.DataFrame) -> pd.DataFrame:
    """Macro-F1 in %, shaped like :func:`accuracy_table`."""
    return accuracy_table(df, "f1_macro")


def timing_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, learner): medians over ok seeds of the time, throughput and size metrics.

    Medians because one slow seed (a noisy neighbour) should not move a timing; ``n_ok`` and
    ``n_seeds`` say how many seeds that is, ``status`` as in :func:`metric_summary`.
    """
    d = prepare(df)
    summary = metric_summary(d, "fit_seconds", 1.0)
    ok = d[d["status"] == "ok"]
    metrics = [c for cols, _, _ in TIMING_COLUMNS for c in cols]
    medians = ok.groupby(["col", "row"])[metrics].median()
    medians.index.names = ["dataset", "learner"]
    out = summary[["n_ok", "n_seeds", "status"]].join(medians, how="left")
    # n_ok counts ok records here, even those lacking fit_seconds.
    n_ok = ok.groupby(["col", "row"]).size()
    n_ok.index.names = ["dataset", "learner"]
    out["n_ok"] = n_ok.reindex(out.index).fillna(0).astype(int)
    out.loc[(out["n_ok"] > 0) & (out["n_ok"] < out["n_seeds"]), "status"] = "partial"
    out.loc[out["n_ok"] >= out["n_seeds"], "status"] = "ok"
    return out.sort_index()


def failures_table(df: pd.DataFrame) -> pd.DataFrame:
    """Every non-ok record: run, cell, dataset, learner, seed, status and one-line error."""
    d = prepare(df)
    bad = d[d["status"] != "ok"].sort_values(["col", "row", "seed", "cell_id"])
    out = pd.DataFrame(
        {
            "Run": bad["run_id"],
            "Cell": bad["cell_id"],
            "Dataset": bad["col"],
            "Learner": bad["row"],
            "Seed": bad["seed"].map(_seed_str),
            "Status": bad["status"],
            "Error": bad["error"].map(_one_line),
        }
    )
    return out.reset_index(drop=True)


def datasets_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per dataset: sizes seen in the records, dataset params, protocol and citation."""
    d = prepare(df)
    rows = []
    for name, g in d.groupby("dataset", sort=True):
        card = _dataset_card(str(name))
        params = sorted(set(g["dataset_params"].dropna()))
        rows.append(
            {
                "Dataset": name,
                "Modality": card.get("modality") or "?",
                "n train": int_range(g["n_train"]),
                "n test": int_range(g["n_test"]),
                "Params": "; ".join(p for p in params if p != "{}") or "default",
                "Protocol": _one_line(card.get("protocol")) or "?",
                "License": card.get("license") or "?",
                "Citation": _one_line(card.get("citation")) or "(not in the learnbench registry)",
            }
        )
    return pd.DataFrame(rows, columns=["Dataset", "Modality", "n train", "n test", "Params",
                                       "Protocol", "License", "Citation"])


# ---------------------------------------------------------------------------------------------
# Cell strings
# ---------------------------------------------------------------------------------------------


@dataclass
class Display:
    """A table of cell strings for one output format, and which cells are bold."""

    cells: pd.DataFrame
    bold: pd.DataFrame
    text_columns: list[str]  # columns holding free text (names), escaped by the renderer


def mark_cells(display: Display, cells: set[tuple[str, str]] | dict[tuple[str, str], Any],
               mark: str) -> Display:
    """``display`` with ``mark`` appended to the (dataset column, learner row) ``cells``."""
    if not cells:
        return display
    out = display.cells.copy()
    for ds in [c for c in out.columns if c not in display.text_columns]:
        out[ds] = [f"{text}{mark}" if (str(ds), str(learner)) in cells else text
                   for text, learner in zip(out[ds], out["Learner"], strict=True)]
    return Display(out, display.bold, display.text_columns)


def display_metric(df: pd.DataFrame, metric: str, fmt: Fmt, digits: int = 2) -> Display:
    """``mean ± std`` cells, ``(n=k/m)`` when seeds are missing, the status when all failed.

    Bold marks the best displayed (rounded) mean per dataset, ties included.
    """
    table = accuracy_table(df, metric)
    datasets = list(table.columns.get_level_values("dataset").unique())
    cells = pd.DataFrame({"Learner": table.index.astype(str)})
    bold = pd.DataFrame({"Learner": [False] * len(table)})
    summary = metric_summary(df, metric)
    for ds in datasets:
        means = table[(ds, "mean")].round(digits)
        best = means.max()
        texts, flags = [], []
        for learner, mean in means.items():
            if (ds, learner) not in summary.index:
                texts.append(DASH[fmt])
                flags.append(False)
                continue
            s = summary.loc[(ds, learner)]
            texts.append(_metric_cell(s, fmt, digits))
            flags.append(bool(not math.isnan(mean) and mean == best))
        cells[ds] = texts
        bold[ds] = flags
    return Display(cells, bold, ["Learner"])


def display_timing(df: pd.DataFrame, fmt: Fmt) -> Display:
    """Timing cells; the GPU column only when some record measured GPU memory."""
    table = timing_table(df)
    cells = pd.DataFrame(
        {
            "Dataset": table.index.get_level_values("dataset").astype(str),
            "Learner": table.index.get_level_values("learner").astype(str),
            "ok seeds": [_ok_seeds(r) for _, r in table.iterrows()],
        }
    )
    for cols, header, kind in TIMING_COLUMNS:
        if cols in OPTIONAL_TIMING_COLUMNS and table[cols[0]].isna().all():
            continue
        parts = [[format_number(v, kind, fmt) for v in table[c]] for c in cols]
        cells[header] = [_joined_numbers(p, fmt) for p in zip(*parts, strict=True)]
    bold = pd.DataFrame(False, index=cells.index, columns=cells.columns)
    return Display(cells, bold, ["Dataset", "Learner"])


def display_plain(table: pd.DataFrame, text_columns: list[str] | None = None) -> Display:
    """A table of ready-made cell strings, nothing bold.

    All columns are free text (left-aligned, escaped) unless ``text_columns`` names the text
    ones; the others are figures (right-aligned). For failures, datasets and the cost tables.
    """
    cells = table.astype(str).reset_index(drop=True)
    bold = pd.DataFrame(False, index=cells.index, columns=cells.columns)
    return Display(cells, bold, list(cells.columns) if text_columns is None else text_columns)


def format_number(value: float, kind: str, fmt: Fmt) -> str:
    """Integers with thousands separators; floats to about 3 significant digits; NaN as a dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH[fmt]
    if kind == "int":
        return f"{round(value):,}"
    a = abs(value)
    if a >= 100:
        return f"{value:,.0f}"
    if a >= 10:
        return f"{value:.1f}"
    if a >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


# ---------------------------------------------------------------------------------------------
# Renderers (pandas does the table syntax)
# ---------------------------------------------------------------------------------------------


def to_markdown(display: Display) -> str:
    """A pipe table; bold as ``**...**``; ``|`` escaped so names cannot break columns."""
    cells = display.cells.copy()
    for c in cells.columns:
        cells[c] = [
            f"**{_md_escape(v)}**" if b else _md_escape(v)
            for v, b in zip(cells[c], display.bold[c], strict=True)
        ]
    align = ["left" if c in display.text_columns else "right" for c in cells.columns]
    cells.columns = [_md_escape(str(c)) for c in cells.columns]
    return cells.to_markdown(index=False, disable_numparse=True, colalign=align)


def to_html(display: Display, table_id: str) -> str:
    """An HTML table (Styler, fixed uuid so the output is deterministic); bold via CSS."""
    styler = _styler(display, "font-weight: bold;")
    styler = styler.format(escape="html").format_index(escape="html", axis=1)
    return styler.to_html(table_uuid=table_id, table_attributes='class="lb"')


def to_latex(
    display: Display,
    caption: str,
    label: str,
    note: str = "",
    column_format: str | None = None,
    font_size: str = "",
) -> str:
    """A booktabs ``table`` float; names escaped, bold as ``\\textbf``; needs only booktabs.

    ``caption`` and ``note`` are LaTeX source (the caller escapes them); ``font_size`` is a
    size command such as ``\\small`` for wide tables.
    """
    styler = _styler(display, "textbf: --rwrap;")
    styler = styler.format(escape="latex", subset=display.text_columns)
    styler = styler.format_index(escape="latex", axis=1)
    if column_format is None:
        column_format = "".join(
            "l" if c in display.text_columns else "r" for c in display.cells.columns
        )
    tex = styler.to_latex(
        hrules=True,
        column_format=column_format,
        caption=caption,
        label=label,
        position_float="centering",
    )
    if font_size:
        tex = tex.replace("\\centering\n", f"\\centering\n{font_size}\n", 1)
    if note:
        note_tex = f"\\par\\smallskip{{\\footnotesize {note}}}\n"
        tex = tex.replace("\\end{table}", note_tex + "\\end{table}")
    return tex


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def _styler(display: Display, bold_css: str) -> pd.io.formats.style.Styler:
    css = display.bold.map(lambda b: bold_css if b else "")
    return display.cells.style.hide(axis="index").apply(lambda _: css, axis=None)


def _metric_cell(s: pd.Series, fmt: Fmt, digits: int) -> str:
    if s["n_ok"] == 0:
        return str(s["status"])
    text = f"{s['mean']:.{digits}f}"
    if not math.isnan(s["std"]):
        text += f" {PM[fmt]} {s['std']:.{digits}f}"
    if s["n_ok"] < s["n_seeds"]:
        text += f" (n={int(s['n_ok'])}/{int(s['n_seeds'])})"
    return text


def _joined_numbers(parts: tuple[str, ...], fmt: Fmt) -> str:
    """``"1.10 / 1.90"``; a single dash when every part is missing."""
    return DASH[fmt] if all(p == DASH[fmt] for p in parts) else " / ".join(parts)


def _ok_seeds(r: pd.Series) -> str:
    text = f"{int(r['n_ok'])}/{int(r['n_seeds'])}"
    return text if r["n_ok"] > 0 else f"{text} ({r['status']})"


def disambiguate(
    d: pd.DataFrame, base: str, extra: str, suffix: Callable[[str], str]
) -> pd.Series:
    """``base``, plus ``suffix(extra)`` only where one base value occurs with several extras.

    The display keys of every report (:func:`prepare`) and of the history plots: a learner
    gets its device, a dataset label its params, only when that is needed to tell them apart.
    """
    base_s = d[base].astype(object).where(d[base].notna(), "?").astype(str)
    extra_s = d[extra].astype(object).where(d[extra].notna(), "?").astype(str)
    counts = extra_s.groupby(base_s).transform("nunique")
    return pd.Series(
        [b + suffix(e) if n > 1 else b for b, e, n in zip(base_s, extra_s, counts, strict=True)],
        index=d.index,
        dtype=object,
    )


def params_suffix(params_json: str) -> str:
    """`` [k=v, ...]`` of a params JSON (sorted keys), `` [default]`` for ``{}``."""
    try:
        params = json.loads(params_json)
    except (TypeError, ValueError):
        return f" [{params_json}]"
    if not params:
        return " [default]"
    return " [" + ", ".join(f"{k}={params[k]}" for k in sorted(params)) + "]"


def _dataset_card(name: str) -> dict:
    """The registry's card for ``name``; empty when the registry does not know it."""
    from learnbench.errors import LearnbenchError

    try:
        from learnbench.datasets import get_dataset_spec

        return dict(get_dataset_spec(name).card())
    except (ImportError, LearnbenchError, KeyError):
        return {}


def int_range(values: pd.Series) -> str:
    """``1,000`` when all values agree, ``500–1,000`` otherwise (min–max), ``?`` for none."""
    v = sorted({int(x) for x in values.dropna()})
    if not v:
        return "?"
    return f"{v[0]:,}" if len(v) == 1 else f"{v[0]:,}–{v[-1]:,}"


def _seed_str(seed: object) -> str:
    try:
        return str(int(seed))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return "?"


def _one_line(text: object, limit: int = 300) -> str:
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return ""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|")


def sorted_unique(values: Sequence | pd.Series | np.ndarray) -> list:
    """Distinct non-missing values, sorted as strings (deterministic whatever their types)."""
    return sorted({v for v in values if not is_missing(v)}, key=str)


def fixed(value: float, digits: int, fmt: Fmt) -> str:
    """``value`` with ``digits`` decimals; a dash when it is missing."""
    return DASH[fmt] if is_missing(value) else f"{value:.{digits}f}"


def format_sig(value: float) -> str:
    """Thousands-separated integer from 1,000 up, else 4 significant digits (free-form figures
    such as learner extras and history points, whose scale is unknown)."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


_TEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                "^": r"\textasciicircum{}"}


def tex_escape(text: str) -> str:
    """``text`` with LaTeX's special characters escaped, for notes and captions built from
    record or CSV strings (table cells are escaped by :func:`to_latex` itself)."""
    return "".join(_TEX_SPECIAL.get(c, c) for c in text)
