"""Model size and cost (parameters, FLOPs per sample, throughput, accuracy) and
``model_cost.tex``; absent when no record counted FLOPs (see :mod:`..models`)."""

from __future__ import annotations

from learnbench.reporting import models
from learnbench.reporting.sections.base import ReportContext, Section, table_section
from learnbench.reporting.tables import to_latex

TEX_FILE = "model_cost.tex"


def section(ctx: ReportContext) -> Section | None:
    """The model size and cost table; writes ``model_cost.tex`` (removes it without data)."""
    if not models.has_model_cost(ctx.df):
        ctx.remove(TEX_FILE)
        return None
    tex = to_latex(
        models.display_model_cost(ctx.df, "tex"),
        caption=(r"Model size and cost: parameters, forward FLOPs per sample (2 per "
                 r"multiply-add), training and bulk inference throughput (samples/s, medians "
                 r"over seeds) and mean test accuracy (\%)."),
        label="tab:learnbench-model-cost",
        font_size=r"\small",
    )
    ctx.write_tex(TEX_FILE, "model size and cost", tex)
    return table_section("Model size and cost", models.MODEL_COST_NOTE,
                         lambda fmt: models.display_model_cost(ctx.df, fmt), "model-cost")
