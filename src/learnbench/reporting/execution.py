"""How cells were run, as the tables show it: one deterministic run (§) and shared hosts (*).

- A suite runs a deterministic learner on a fixed split once (``seed_invariant`` in the
  record, see :func:`learnbench.harness.suite.seed_invariance`): its accuracy cell gets § and
  the note says "deterministic, 1 run", instead of a spread that would read as ± 0.00.
- A cell that ran while other cells ran on the same host (a Dask executor with several
  workers, ``execution.other_cells_max`` > 0) measured its timings under contention: its row
  in the timing table gets *, and the note says how many cells shared the host.

Records without these facts (serial runs, older records) change nothing, so their reports
stay byte-identical. Pure functions of the records.
"""

from __future__ import annotations

import pandas as pd

from learnbench.reporting.tables import Display, Fmt, mark_cells, prepare

_SECTION = {"md": "§", "html": "§", "tex": r"\S{}"}
INVARIANT_NOTE = ("§ deterministic, 1 run: neither the learner nor the dataset's fixed split "
                  "depends on the seed, so the suite's other seeds were not run.")
INVARIANT_NOTE_TEX = (r"\S{} deterministic, 1 run: neither the learner nor the dataset's fixed "
                      r"split depends on the seed.")
CONTENTION_NOTE = ("* timings measured while up to {n} other cell(s) ran on the same host "
                   "(a parallel executor): slower than on an idle machine.")


def invariant_cells(df: pd.DataFrame) -> set[tuple[str, str]]:
    """(dataset, learner) display keys whose records all say ``seed_invariant``."""
    if "seed_invariant" not in df.columns or df["seed_invariant"].isna().all():
        return set()
    d = prepare(df)
    flags = d["seed_invariant"].notna()
    return {(str(col), str(row)) for (col, row), g in flags.groupby([d["col"], d["row"]])
            if g.all()}


def mark_invariant(display: Display, df: pd.DataFrame, fmt: Fmt) -> Display:
    """The accuracy :class:`Display` with § after the cells of one deterministic run."""
    return mark_cells(display, invariant_cells(df), _SECTION[fmt])


def invariant_note(df: pd.DataFrame, fmt: Fmt = "md") -> str:
    if not invariant_cells(df):
        return ""
    return INVARIANT_NOTE_TEX if fmt == "tex" else INVARIANT_NOTE


def contended(df: pd.DataFrame) -> int:
    """The most other cells that shared a host with an ok cell (0: every timing is clean)."""
    if "other_cells_max" not in df.columns:
        return 0
    d = prepare(df)
    shared = pd.to_numeric(d.loc[d["status"] == "ok", "other_cells_max"], errors="coerce")
    return int(shared.max()) if shared.notna().any() and shared.max() > 0 else 0


def contended_rows(df: pd.DataFrame) -> set[tuple[str, str]]:
    """(dataset, learner) rows of the timing table with a record measured under contention."""
    if not contended(df):
        return set()
    d = prepare(df)
    busy = pd.to_numeric(d["other_cells_max"], errors="coerce").fillna(0) > 0
    return {(str(col), str(row)) for col, row in zip(d.loc[busy, "col"], d.loc[busy, "row"],
                                                     strict=True)}


def mark_contended(display: Display, df: pd.DataFrame) -> Display:
    """The timing :class:`Display` with * after the learner of rows timed under contention."""
    rows = contended_rows(df)
    if not rows:
        return display
    out = display.cells.copy()
    out["Learner"] = [f"{learner}*" if (str(ds), str(learner)) in rows else learner
                      for ds, learner in zip(out["Dataset"], out["Learner"], strict=True)]
    return Display(out, display.bold, display.text_columns)


def contention_note(df: pd.DataFrame) -> str:
    n = contended(df)
    return CONTENTION_NOTE.format(n=n) if n else ""
