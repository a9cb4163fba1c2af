"""Run suites: expand a suite file into cells and run each in its own subprocess."""

from learnbench.harness.runner import RunSummary, run_cell_subprocess, run_suite
from learnbench.harness.suite import Cell, Suite, load_suite, resolve_suite, suite_names

__all__ = ["Cell", "RunSummary", "Suite", "load_suite", "resolve_suite", "run_cell_subprocess",
           "run_suite", "suite_names"]
