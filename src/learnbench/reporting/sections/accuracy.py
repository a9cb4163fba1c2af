"""Test accuracy (%): the main table, marked † (under-trained), ‡ (pipeline check) and §
(deterministic, 1 run) with their notes under it, the accuracy-vs-throughput plot, and
``accuracy.tex``."""

from __future__ import annotations

import html

import pandas as pd

from learnbench.reporting import execution, roles, training
from learnbench.reporting.sections.base import ReportContext, Section
from learnbench.reporting.tables import (
    METRIC_NOTE,
    Display,
    Fmt,
    display_metric,
    to_html,
    to_latex,
    to_markdown,
)

TEX_NOTE = (r"(n=$k$/$m$): only $k$ of the $m$ seeds finished; timeout/error: no seed "
            r"finished; --: not run.")


def marked_accuracy(df: pd.DataFrame, fmt: Fmt) -> Display:
    """The accuracy cells with † after under-trained, ‡ after pipeline-check and § after
    one-run deterministic means."""
    display = training.mark_undertrained(display_metric(df, "accuracy", fmt), df, fmt)
    return execution.mark_invariant(roles.mark_checks(display, df, fmt), df, fmt)


def accuracy_latex(df: pd.DataFrame) -> str:
    """The booktabs accuracy table of ``accuracy.tex``, with the † / ‡ notes under it."""
    note = TEX_NOTE
    if dagger := training.undertrained_note(df, "tex"):
        note += " " + dagger
    if ddagger := roles.checks_note(df, "tex"):
        note += " " + ddagger
    if section_mark := execution.invariant_note(df, "tex"):
        note += " " + section_mark
    return to_latex(
        marked_accuracy(df, "tex"),
        caption=r"Test accuracy (\%), mean $\pm$ std over seeds; best per dataset in bold.",
        label="tab:learnbench-accuracy",
        note=note,
    )


def section(ctx: ReportContext) -> Section:
    """The accuracy table and plot; writes ``accuracy.tex``."""
    df = ctx.df
    md = to_markdown(marked_accuracy(df, "md"))
    html_table = to_html(marked_accuracy(df, "html"), "accuracy")
    for note in (training.undertrained_note(df), roles.checks_note(df),
                 execution.invariant_note(df)):  # under the table
        if note:
            md += f"\n\n{note}"
            html_table = html_table.rstrip("\n") + f"\n<p>{html.escape(note)}</p>\n"
    ctx.write_tex("accuracy.tex", "test accuracy", accuracy_latex(df))
    plot = ctx.plots["accuracy_vs_throughput"].name
    return Section("Test accuracy (%)", METRIC_NOTE, md, html_table,
                   [(plot, "accuracy vs bulk inference throughput")])
