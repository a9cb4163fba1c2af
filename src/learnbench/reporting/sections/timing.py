"""Time and throughput: fit time, throughputs, latencies and memory; and ``timing.tex``."""

from __future__ import annotations

from learnbench.reporting.sections.base import ReportContext, Section, table_section
from learnbench.reporting.tables import display_timing, to_latex

TIMING_NOTE = (
    "Medians over the ok seeds. b1 = inference at batch size 1, bulk = inference at the "
    "bulk batch size; throughputs in samples/s, latencies p50/p95 per batch in ms."
)


def section(ctx: ReportContext) -> Section:
    """The timing table; writes ``timing.tex``."""
    tex = to_latex(
        display_timing(ctx.df, "tex"),
        caption=(r"Training and inference cost, medians over seeds (b1: batch size 1; "
                 r"bulk: bulk batch size)."),
        label="tab:learnbench-timing",
        font_size=r"\small",
    )
    ctx.write_tex("timing.tex", "time and throughput", tex)
    return table_section("Time and throughput", TIMING_NOTE,
                         lambda fmt: display_timing(ctx.df, fmt), "timing")
