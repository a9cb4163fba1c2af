"""Datasets: sizes seen in the records, params, protocol, licence and citation of each."""

from __future__ import annotations

from learnbench.reporting.sections.base import ReportContext, Section, table_section
from learnbench.reporting.tables import datasets_table, display_plain


def section(ctx: ReportContext) -> Section:
    """The datasets table."""
    data = display_plain(datasets_table(ctx.df))
    return table_section("Datasets", "", lambda _: data, "datasets")
