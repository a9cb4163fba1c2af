"""Macro-F1 (%): the accuracy table's layout for ``f1_macro`` (no marks, no plot)."""

from __future__ import annotations

from learnbench.reporting.sections.base import ReportContext, Section, table_section
from learnbench.reporting.tables import METRIC_NOTE, display_metric


def section(ctx: ReportContext) -> Section:
    """The macro-F1 table."""
    return table_section("Macro-F1 (%)", METRIC_NOTE,
                         lambda fmt: display_metric(ctx.df, "f1_macro", fmt), "f1")
