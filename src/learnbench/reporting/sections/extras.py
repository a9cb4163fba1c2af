"""Extra metrics: figures a learner reports beside accuracy (``extra_*`` record columns)."""

from __future__ import annotations

from learnbench.reporting import models
from learnbench.reporting.sections.base import ReportContext, Section, table_section


def section(ctx: ReportContext) -> Section | None:
    """The extras table; None when no learner reported one."""
    if not models.extra_columns(ctx.df):
        return None
    return table_section("Extra metrics", models.EXTRAS_NOTE,
                         lambda fmt: models.display_extras(ctx.df, fmt), "extras")
