"""Reports from result records: Markdown/HTML pages, LaTeX tables for papers, and PNG plots.

``build_report(run_dirs, out_dir)`` writes everything; the table functions return the numbers
behind the tables (e.g. ``accuracy_table(load_runs(d)).loc["logreg", ("mnist", "mean")]``);
``reproduction_table(load_runs(d), load_published())`` sets them beside published figures.
The report's sections, in order, are :data:`learnbench.reporting.sections.SECTIONS` (one
module per section; see :mod:`.sections`).
"""

from learnbench.reporting.build import ReportError, build_report, provenance
from learnbench.reporting.plots import plot_accuracy_bars, plot_accuracy_vs_throughput
from learnbench.reporting.reproduction import load_published, reproduction_table
from learnbench.reporting.tables import (
    accuracy_table,
    datasets_table,
    f1_table,
    failures_table,
    metric_summary,
    prepare,
    timing_table,
)

__all__ = [
    "ReportError",
    "accuracy_table",
    "build_report",
    "datasets_table",
    "f1_table",
    "failures_table",
    "load_published",
    "metric_summary",
    "plot_accuracy_bars",
    "plot_accuracy_vs_throughput",
    "prepare",
    "provenance",
    "reproduction_table",
    "timing_table",
]
