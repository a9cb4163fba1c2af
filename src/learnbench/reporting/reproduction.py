"""Reproduction: our accuracy beside figures published in papers (read from ``baselines/``).

Published figures are only ever *read* here, from ``baselines/published/*.csv`` (columns and
reading rules in ``baselines/README.md``); they are never written into a record. One row per
published main-table figure whose (dataset label, learner) a learnbench learner can match:
records are matched on their dataset label (e.g. ``orl-k5``) and learner name (``learner_ours``).
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import tomllib

from learnbench import config
from learnbench.errors import LearnbenchError
from learnbench.reporting.tables import (
    DASH,
    PM,
    Display,
    Fmt,
    int_range,
    metric_summary,
    prepare,
    tex_escape,
    to_latex,
)

BASELINES_ENV = "LEARNBENCH_BASELINES"
MIN_TOLERANCE_PP = 0.5  # "within spread" needs |delta| <= max(2 * std, this), in points
METRIC = "accuracy_pct"
NOT_IN_LEARNBENCH = "[dataset not in learnbench]"
NOT_RUN = "not run"
CSV_COLUMNS = ["source_id", "table", "dataset", "protocol", "learner", "learner_ours", "metric",
               "value", "note"]
TABLE_COLUMNS = ["dataset", "learner", "learner_ours", "paper_learner", "source_id", "table",
                 "paper", "paper_text", "mean", "std", "n_ok", "n_seeds", "delta", "tolerance",
                 "verdict", "protocol", "note"]
CONFIG_NOTE = (
    "How each compared setting differs: ours from the records (sizes, dataset and learner "
    "params as run), the paper's quoted from the published CSV's protocol and note columns; "
    "nothing is stated about the paper beyond those."
)
_REPEAT = re.compile(r"repeats the Table \S+ figure")


class BaselinesNotFoundError(LearnbenchError):
    """No published-figures CSV where the baselines are looked up."""


@dataclass
class Reproduction:
    """Everything the report's reproduction section shows; ``message`` when there is nothing."""

    table: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=TABLE_COLUMNS))
    config: pd.DataFrame = field(default_factory=pd.DataFrame)
    sources: dict[str, str] = field(default_factory=dict)  # source_id -> citation
    files: list[Path] = field(default_factory=list)
    skipped_variants: int = 0
    skipped_unmatchable: int = 0
    message: str = ""

    @property
    def compared(self) -> pd.DataFrame:
        """The rows with records (not the "not run" ones)."""
        return self.table[self.table["verdict"] != NOT_RUN]


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


def baselines_dir() -> Path:
    """Where published tables are looked up, like suites (``harness.suite.suite_dirs``).

    ``$LEARNBENCH_BASELINES`` if set; else ``./baselines`` when it exists (a checkout's, which
    may hold newer tables than the installed package); else the tables shipped in the package
    (``importlib.resources``).
    """
    env = os.environ.get(BASELINES_ENV)
    if env:
        return Path(env)
    cwd = Path.cwd() / "baselines"
    if (cwd / "published").is_dir():
        return cwd
    return config.packaged("baselines")


def published_files(path: str | os.PathLike[str] | None = None) -> list[Path]:
    """The CSV files at ``path``: a CSV, a dir of CSVs, or a baselines dir with ``published/``."""
    p = Path(path) if path is not None else baselines_dir()
    if p.is_file():
        return [p]
    if (p / "published").is_dir():
        p = p / "published"
    files = sorted(p.glob("*.csv")) if p.is_dir() else []
    if not files:
        raise BaselinesNotFoundError(f"no published baselines (*.csv) at {p}")
    return files


def load_published(path: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """All published figures as a DataFrame: the CSV columns, ``value`` as float, ``value_text``
    as printed and ``file`` (its CSV). Default location: :func:`baselines_dir`.
    """
    frames = []
    for f in published_files(path):
        frame = pd.read_csv(f, dtype=str, keep_default_na=False)
        missing = [c for c in CSV_COLUMNS if c not in frame.columns]
        if missing:
            raise LearnbenchError(f"published baselines {f} lack column(s) {', '.join(missing)}")
        frame = frame[CSV_COLUMNS].apply(lambda col: col.str.strip())
        frame["value_text"] = frame["value"]
        frame["value"] = pd.to_numeric(frame["value"], errors="coerce")
        frame["file"] = str(f)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _display_path(path: Path | str) -> str:
    """``baselines/published/x.csv``: the path from the baselines folder on, not the absolute
    one, so a report rebuilt in another clone or machine is byte-identical."""
    parts = Path(path).parts
    if "baselines" in parts:
        return "/".join(parts[len(parts) - 1 - parts[::-1].index("baselines"):])
    return Path(path).name


def load_sources(files: list[Path]) -> dict[str, str]:
    """source_id -> one-line citation, from the ``sources.toml`` beside each CSV (if any)."""
    out: dict[str, str] = {}
    for toml in sorted({f.parent / "sources.toml" for f in files}):
        if toml.is_file():
            for key, entry in tomllib.loads(toml.read_text(encoding="utf-8")).items():
                if isinstance(entry, dict):
                    out.setdefault(key, _citation(entry))
    return out


# ---------------------------------------------------------------------------------------------
# Numbers
# ---------------------------------------------------------------------------------------------


def is_main_row(note: str) -> bool:
    """False for a variant (``variant:``) or a repeat (``repeats the Table N figure``)."""
    return "variant:" not in note and not _REPEAT.search(note)


def comparable_rows(published: pd.DataFrame) -> pd.DataFrame:
    """Main-table accuracy figures of a learnbench learner on a learnbench dataset."""
    p = published
    keep = (p["metric"] == METRIC) & p["note"].map(is_main_row) & (p["learner_ours"] != "")
    keep &= ~p["note"].str.contains(NOT_IN_LEARNBENCH, regex=False) & p["value"].notna()
    return p[keep]


def verdict(delta: float, std: float) -> tuple[float, str]:
    """(tolerance, verdict): "within spread" when |delta| <= max(2 std, MIN_TOLERANCE_PP)."""
    tol = max(2 * std if not math.isnan(std) else 0.0, MIN_TOLERANCE_PP)
    if abs(delta) <= tol:
        return tol, "within spread"
    return tol, "below" if delta < 0 else "above"


def reproduction_table(df: pd.DataFrame, published: pd.DataFrame) -> pd.DataFrame:
    """One row per comparable published figure (see :func:`comparable_rows`) and matching
    report row: ``paper`` (%), our ``mean``/``std`` (%, as in the accuracy table), ``n_ok``/
    ``n_seeds``, ``delta`` = mean - paper (points), ``tolerance`` and ``verdict``. A figure
    with no matching record gets one row with verdict "not run"; a cell whose seeds all
    failed gets its status as verdict. Compared rows first, then sorted by dataset, learner.
    """
    d = prepare(df)
    summary = metric_summary(d, "accuracy")
    keys = d[["col", "row", "dataset_label", "learner"]].dropna().drop_duplicates()
    rows = []
    for p in comparable_rows(published).itertuples(index=False):
        base = {"learner_ours": p.learner_ours, "paper_learner": p.learner,
                "source_id": p.source_id, "table": p.table, "paper": float(p.value),
                "paper_text": p.value_text, "protocol": p.protocol, "note": p.note}
        match = keys[(keys["dataset_label"] == p.dataset) & (keys["learner"] == p.learner_ours)]
        pairs = sorted({(str(c), str(r)) for c, r in zip(match["col"], match["row"], strict=True)})
        if not pairs:
            rows.append({**base, "dataset": p.dataset, "learner": p.learner_ours,
                         "mean": math.nan, "std": math.nan, "n_ok": 0, "n_seeds": 0,
                         "delta": math.nan, "tolerance": math.nan, "verdict": NOT_RUN})
        for col, row in pairs:
            s = summary.loc[(col, row)]
            delta, tol, verdict_ = math.nan, math.nan, str(s["status"])
            if s["n_ok"] > 0:
                delta = float(s["mean"]) - float(p.value)
                tol, verdict_ = verdict(delta, float(s["std"]))
            rows.append({**base, "dataset": col, "learner": row, "mean": float(s["mean"]),
                         "std": float(s["std"]), "n_ok": int(s["n_ok"]),
                         "n_seeds": int(s["n_seeds"]), "delta": delta, "tolerance": tol,
                         "verdict": verdict_})
    out = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    out["_not_run"] = out["verdict"] == NOT_RUN
    out = out.sort_values(["_not_run", "dataset", "learner", "source_id", "table", "paper_learner"])
    return out.drop(columns="_not_run").reset_index(drop=True)


def config_table(df: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """Per compared dataset, then per compared learner: our setting (records) vs the paper's
    (the CSV's protocol and note columns, quoted). Columns Dataset, Learner, Ours, Paper.
    """
    d = prepare(df)
    compared = table[table["verdict"] != NOT_RUN]
    rows = []
    for col, g in compared.groupby("dataset", sort=True):
        cells = d[d["col"] == col]
        ours = f"n train {int_range(cells['n_train'])}, n test {int_range(cells['n_test'])}"
        params = sorted(set(cells["dataset_params"].dropna()) - {"{}"})
        ours += "; dataset params: " + (" | ".join(_params(p) for p in params) if params
                                        else "none (no subsample)")
        paper = "; ".join(f"{t}: {pr}" for t, pr in sorted(set(zip(g["table"], g["protocol"],
                                                                      strict=True))))
        rows.append({"Dataset": col, "Learner": "(data split)", "Ours": ours, "Paper": paper})
        for r in g.sort_values(["learner", "table"]).itertuples(index=False):
            mine = d[(d["col"] == col) & (d["row"] == r.learner)]
            params = sorted(set(mine["params"].dropna()))
            ours = " | ".join(_params(p) for p in params if p != "{}") or "learner defaults"
            paper = f"{r.paper_learner}: {r.note or 'no configuration stated'}"
            rows.append({"Dataset": col, "Learner": r.learner, "Ours": ours, "Paper": paper})
    return pd.DataFrame(rows, columns=["Dataset", "Learner", "Ours", "Paper"])


def reproduction(df: pd.DataFrame, path: str | os.PathLike[str] | None = None) -> Reproduction:
    """Load the baselines and build the tables; a :class:`Reproduction` with only a message
    when no baselines are found (e.g. an installed package without the repository).
    """
    try:
        files = published_files(path)
        published = load_published(path)
    except BaselinesNotFoundError as exc:
        return Reproduction(message=f"No published figures to compare with: {exc}. Set "
                                    f"{BASELINES_ENV} to a baselines/ directory to add this section.")
    table = reproduction_table(df, published)
    main = published[published["note"].map(is_main_row)]
    rep = Reproduction(
        table=table,
        config=config_table(df, table),
        sources=load_sources(files),
        files=files,
        skipped_variants=len(published) - len(main),
        skipped_unmatchable=len(main) - len(comparable_rows(published)),
    )
    if table.empty:
        rep.message = ("The published baselines hold no main-table figure of a learnbench "
                       "learner on a learnbench dataset.")
    elif rep.compared.empty:
        rep.message = ("None of this run's (dataset label, learner) pairs has a published "
                       "figure; the published figures are listed as not run.")
    return rep


# ---------------------------------------------------------------------------------------------
# Display
# ---------------------------------------------------------------------------------------------


def references(table: pd.DataFrame) -> dict[str, int]:
    """source_id -> reference number [1], [2], ... in sorted order."""
    return {s: i for i, s in enumerate(sorted(set(table["source_id"])), start=1)}


def display_reproduction(table: pd.DataFrame, fmt: Fmt, digits: int = 2) -> Display:
    """Cell strings: ``mean ± std`` as in the accuracy table, signed delta, verdict."""
    refs = references(table)
    dash = DASH[fmt]
    cells = pd.DataFrame({
        "Dataset": table["dataset"].astype(str),
        "Learner": table["learner"].astype(str),
        "Paper learner": table["paper_learner"].astype(str),
        "Source": [f"{t} [{refs[s]}]" for t, s in zip(table["table"], table["source_id"],
                                                      strict=True)],
        "Paper [%]": table["paper_text"].astype(str),
        "Ours [%]": [_mean_std(r, fmt, digits) for r in table.itertuples(index=False)],
        "Seeds": [f"{r.n_ok}/{r.n_seeds}" if r.verdict != NOT_RUN else dash
                  for r in table.itertuples(index=False)],
        "Δ [pp]": [dash if math.isnan(v) else _signed(v, fmt, digits) for v in table["delta"]],
        "Tol. [pp]": [dash if math.isnan(v) else f"{v:.{digits}f}" for v in table["tolerance"]],
        "Verdict": table["verdict"].astype(str),
    })
    if fmt == "tex":
        cells = cells.rename(columns={"Δ [pp]": "Delta [pp]"})
    bold = pd.DataFrame(False, index=cells.index, columns=cells.columns)
    return Display(cells, bold, ["Dataset", "Learner", "Paper learner", "Source", "Verdict"])


def section_text(rep: Reproduction) -> str:
    """The note above the table: what is compared, the verdict rule, what is left out, sources."""
    if rep.message and rep.table.empty:
        return rep.message
    refs = references(rep.table)
    sources = "; ".join(f"[{i}] {s}: {rep.sources.get(s, '(not in sources.toml)')}"
                        for s, i in refs.items())
    differ = "" if rep.compared.empty else ", and the configurations differ (next section)"
    text = (
        "Our test accuracy (mean ± sample std over ok seeds, %, as in the accuracy table) beside "
        "figures published in the sources below, for every (dataset label, learner) found in "
        "both; the published figures are quotes read from baselines/, not measurements of this "
        f"run{differ}. Δ = ours − paper in percentage "
        f"points; verdict 'within spread' when |Δ| ≤ max(2·std, {MIN_TOLERANCE_PP} pp) (the "
        "Tol. column), else 'below'/'above'; 'not run': a published figure with no matching "
        f"record. Main tables only: {rep.skipped_variants} variant/repeat figure(s) skipped, "
        f"{rep.skipped_unmatchable} figure(s) of learners or datasets learnbench lacks not "
        f"listed. Sources: {sources}. Read from: {', '.join(_display_path(f) for f in rep.files)}."
    )
    return f"{rep.message} {text}" if rep.message else text


def reproduction_latex(rep: Reproduction, digits: int = 2) -> str:
    """The booktabs table of the compared rows ("not run" rows stay in report.md/html)."""
    table = rep.compared.reset_index(drop=True)
    refs = references(table)
    sources = "; ".join(f"[{i}] {tex_escape(s)}: {tex_escape(rep.sources.get(s, ''))}"
                        for s, i in refs.items())
    tex = to_latex(
        display_reproduction(table, "tex", digits),
        caption=(r"Our test accuracy (\%, mean $\pm$ std over seeds) beside published figures; "
                 r"$\Delta$ = ours $-$ paper in percentage points."),
        label="tab:learnbench-reproduction",
        note=(r"Within spread: $|\Delta| \le \max(2\,\mathrm{std}, "
              f"{MIN_TOLERANCE_PP}" r")$; configurations differ from the papers' (see the "
              f"report). Sources: {sources}."),
        font_size=r"\small",
    )
    return tex.replace("Delta [pp]", r"$\Delta$ [pp]", 1)


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def _mean_std(r, fmt: Fmt, digits: int) -> str:
    if r.verdict == NOT_RUN:
        return DASH[fmt]
    if r.n_ok == 0:
        return str(r.verdict)
    text = f"{r.mean:.{digits}f}"
    if not math.isnan(r.std):
        text += f" {PM[fmt]} {r.std:.{digits}f}"
    return text


def _signed(value: float, fmt: Fmt, digits: int) -> str:
    text = f"{value:+.{digits}f}"
    return text.replace("-", "$-$", 1) if fmt == "tex" else text


def _params(params_json: str) -> str:
    try:
        params = json.loads(params_json)
    except (TypeError, ValueError):
        return params_json
    return ", ".join(f"{k}={params[k]}" for k in sorted(params)) if params else "{}"


def _citation(entry: dict) -> str:
    parts = [", ".join(entry.get("authors", [])), entry.get("title", ""), entry.get("venue", "")]
    arxiv = entry.get("arxiv_id")
    if arxiv:
        parts.append(f"arXiv:{arxiv}")  # the version is in sources.toml, with its caveats
    if entry.get("pages"):
        parts.append(f"pp. {entry['pages']}")
    parts.append(str(entry.get("year", "")))
    return ", ".join(p for p in parts if p)

