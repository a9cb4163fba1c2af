"""MobileNet: depthwise-separable vs standard convolutions, and the cost ratios checked
against Howard et al.'s formulas; ``mobilenet.tex``. Absent unless both variants ran (see
:mod:`..mobilenet`)."""

from __future__ import annotations

import pandas as pd

from learnbench.reporting import mobilenet
from learnbench.reporting.sections.base import ReportContext, Section, table_section
from learnbench.reporting.tables import to_latex

TEX_FILE = "mobilenet.tex"


def mobilenet_latex(comparison: pd.DataFrame) -> str:
    """The two booktabs tables of ``mobilenet.tex``: the variants and the cost ratios."""
    variants = to_latex(
        mobilenet.display_mobilenet_variants(comparison, "tex"),
        caption=(r"MobileNet v1: depthwise-separable vs standard convolutions. Mult-adds per "
                 r"sample = counted FLOPs / 2; throughputs in samples/s (medians over seeds); "
                 r"accuracy (\%) mean $\pm$ std."),
        label="tab:learnbench-mobilenet",
        font_size=r"\small",
    )
    ratios = to_latex(
        mobilenet.display_mobilenet_ratios(comparison, "tex"),
        caption=(r"MobileNet cost ratios (separable / standard). Counted: recorded mult-adds "
                 r"of the whole nets (stem conv and head included); analytic: Eq.~2 and 4 "
                 r"for the same plan, whole net and blocks only; per block: $1/N + 1/D_K^2$ "
                 r"(Eq.~5); speed-up: throughput ratio."),
        label="tab:learnbench-mobilenet-ratios",
        font_size=r"\small",
    )
    return variants + ratios


def section(ctx: ReportContext) -> list[Section] | None:
    """The variants and the ratios sections; writes ``mobilenet.tex`` (removed without a pair)."""
    comparison = mobilenet.mobilenet_comparison(ctx.df)
    if comparison.empty:
        ctx.remove(TEX_FILE)
        return None
    ctx.write_tex(TEX_FILE, "MobileNet comparison", mobilenet_latex(comparison))
    return [
        table_section("MobileNet: depthwise-separable vs standard convolutions",
                      mobilenet.MOBILENET_NOTE,
                      lambda fmt: mobilenet.display_mobilenet_variants(comparison, fmt),
                      "mobilenet"),
        table_section("MobileNet: cost ratios", mobilenet.MOBILENET_RATIO_NOTE,
                      lambda fmt: mobilenet.display_mobilenet_ratios(comparison, fmt),
                      "mobilenet-ratios", bullets=mobilenet.mobilenet_verdicts(comparison)),
    ]
