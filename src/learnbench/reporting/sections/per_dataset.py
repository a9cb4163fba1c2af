"""Accuracy per dataset: the bar plots of :func:`~..plots.plot_all`, one per dataset."""

from __future__ import annotations

from learnbench.reporting.sections.base import ReportContext, Section


def section(ctx: ReportContext) -> Section:
    """The per-dataset accuracy bars (already written by ``plot_all``)."""
    images = [(path.name, f"accuracy on {ds}") for ds, path in ctx.plots.items()
              if ds != "accuracy_vs_throughput"]
    return Section("Accuracy per dataset", "Bars: mean over ok seeds; error bars: sample std.",
                   images=images)
