"""Record details the flat ``load_runs`` table does not carry, joined on for the report sections.

The model-cost, MobileNet and profiling sections need a record's ``details`` (the learner's
resolved parameters, the number of classes, the ``profile`` dict) and the run directory it was
read from (trace files are relative to it). :func:`attach_details` adds them as columns.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from learnbench.records import iter_records

DETAIL_COLUMNS = ("learner_params", "n_classes", "profile", "run_dir")


def attach_details(raw: pd.DataFrame, run_dirs: list[Path]) -> pd.DataFrame:
    """``raw`` (from ``load_runs(*run_dirs)``) plus the columns of :data:`DETAIL_COLUMNS`.

    ``learner_params`` and ``profile`` hold dicts (or None), ``n_classes`` an int (or None),
    ``run_dir`` the run directory as given. A ``profile`` column already in ``raw`` is kept.
    Rows are matched by position: ``load_runs`` reads the same files in the same order.
    """
    rows: list[dict] = []
    for run_dir in run_dirs:
        for record in iter_records(run_dir):
            details = record.get("details") or {}
            rows.append(
                {
                    "cell_id": record.get("cell_id"),
                    "learner_params": _dict_or_none(details.get("learner_params")),
                    "n_classes": details.get("n_classes"),
                    "profile": _dict_or_none(details.get("profile")),
                    "run_dir": os.fspath(run_dir),
                }
            )
    out = raw.copy()
    if len(rows) != len(out) or [r["cell_id"] for r in rows] != list(out["cell_id"]):
        return out  # the files changed between the two reads: report without the extras
    for col in DETAIL_COLUMNS:
        if col == "profile" and col in out.columns:
            continue
        out[col] = pd.Series([r[col] for r in rows], index=out.index, dtype=object)
    return out


def _dict_or_none(value: object) -> dict | None:
    return value if isinstance(value, dict) and value else None
