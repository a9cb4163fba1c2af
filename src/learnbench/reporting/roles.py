"""Cell roles: the ‡ of the accuracy tables for pipeline checks.

A suite's learner entry may say ``role = "check"`` with a ``role_reason`` (see
:mod:`learnbench.harness.suite`): its cells run a pipeline or cost check whose accuracy is not a
result (e.g. ``bert_mlm`` at chance on a CPU budget). Records carry the role in their config
and ``load_runs`` in its ``role``/``role_reason`` columns ("result" and None for older records).
The accuracy tables mark such cells with a double dagger after the mean and put a note, with
the reason, under the table. Without check cells nothing changes, so reports of older records
stay byte-identical. Pure functions of the records.
"""

from __future__ import annotations

import pandas as pd

from learnbench.reporting.tables import Display, Fmt, mark_cells, prepare, tex_escape

_DDAGGER = {"md": "‡", "html": "‡", "tex": r"$^\ddagger$"}
CHECK_NOTE = '‡ pipeline check (role = "check" in the suite): not a result; {reasons}'
CHECK_NOTE_TEX = r"$^\ddagger$ pipeline check (role = ``check'' in the suite): not a result; {reasons}."


def check_cells(df: pd.DataFrame) -> dict[tuple[str, str], list[str]]:
    """(dataset, learner) display keys with a record of role "check" -> their reasons (sorted).

    Any status counts: a check that timed out is still not a result.
    """
    if "role" not in df.columns:
        return {}
    d = prepare(df)
    d = d[d["role"] == "check"]
    cells: dict[tuple[str, str], set[str]] = {}
    for col, row, reason in zip(d["col"], d["row"], d["role_reason"], strict=True):
        reasons = cells.setdefault((str(col), str(row)), set())
        if isinstance(reason, str) and reason:
            reasons.add(reason)
    return {key: sorted(reasons) for key, reasons in sorted(cells.items())}


def mark_checks(display: Display, df: pd.DataFrame, fmt: Fmt) -> Display:
    """The accuracy :class:`Display` with ‡ after the cells of pipeline checks."""
    return mark_cells(display, check_cells(df), _DDAGGER[fmt])


def checks_note(df: pd.DataFrame, fmt: Fmt = "md") -> str:
    """The note under the accuracy tables (LaTeX source for "tex"); empty without check cells.

    One reason: ``reason: ...``; several: ``reasons: <learner> on <dataset>: ...; ...``.
    """
    cells = check_cells(df)
    if not cells:
        return ""
    by_reason: dict[str, list[str]] = {}
    for (col, row), reasons in cells.items():
        for reason in reasons or ["none given"]:
            by_reason.setdefault(reason, []).append(f"{row} on {col}")
    if len(by_reason) == 1:
        reasons = f"reason: {next(iter(by_reason))}"
    else:
        reasons = "reasons: " + "; ".join(f"{', '.join(where)}: {reason}"
                                          for reason, where in by_reason.items())
    if fmt == "tex":
        return CHECK_NOTE_TEX.format(reasons=tex_escape(reasons))
    return CHECK_NOTE.format(reasons=reasons)

