"""Failures: every non-ok record with its one-line error (or a line saying there are none)."""

from __future__ import annotations

from learnbench.reporting.sections.base import ReportContext, Section, table_section
from learnbench.reporting.tables import display_plain, failures_table


def section(ctx: ReportContext) -> Section:
    """The failures table; always present, so a clean run says so."""
    fails = display_plain(failures_table(ctx.df))
    if not len(fails.cells):
        return Section("Failures", "None: every cell finished ok.")
    return table_section("Failures", "", lambda _: fails, "failures")
