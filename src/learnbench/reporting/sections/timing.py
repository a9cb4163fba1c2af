"""Time and throughput: fit time, throughputs, latencies and memory; and ``timing.tex``."""

from __future__ import annotations

import pandas as pd

from learnbench.reporting import execution
from learnbench.reporting.sections.base import ReportContext, Section, table_section
from learnbench.reporting.tables import Display, Fmt, display_timing, to_latex

TIMING_NOTE = (
    "Medians over the ok seeds. b1 = inference at batch size 1, bulk = inference at the "
    "bulk batch size; throughputs in samples/s, latencies p50/p95 per batch in ms."
)


def marked_timing(df: pd.DataFrame, fmt: Fmt) -> Display:
    """The timing cells, * after learners timed while other cells shared their host."""
    return execution.mark_contended(display_timing(df, fmt), df)


def section(ctx: ReportContext) -> Section:
    """The timing table; writes ``timing.tex``."""
    tex = to_latex(
        marked_timing(ctx.df, "tex"),
        caption=(r"Training and inference cost, medians over seeds (b1: batch size 1; "
                 r"bulk: bulk batch size)."),
        label="tab:learnbench-timing",
        font_size=r"\small",
    )
    ctx.write_tex("timing.tex", "time and throughput", tex)
    note = " ".join(filter(None, [TIMING_NOTE, execution.contention_note(ctx.df)]))
    return table_section("Time and throughput", note,
                         lambda fmt: marked_timing(ctx.df, fmt), "timing")
