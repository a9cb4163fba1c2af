"""Training: budgets and learning curves of the deep learners (``details["training"]``; see
:mod:`..training`): a table per (dataset, learner) and up to three PNGs. Absent without it."""

from __future__ import annotations

from learnbench.reporting import training
from learnbench.reporting.sections.base import ReportContext, Section, table_section


def section(ctx: ReportContext) -> Section | None:
    """The training table and plots (file names :data:`~..training.PLOT_FILES`); a plot
    without data, and all of them without training records, removed from ``out_dir``."""
    df = ctx.df
    if not training.has_training(df) or training.trained(df).empty:
        ctx.remove(*training.PLOT_FILES)
        return None
    images = []
    curves = training.curve_table(df)
    has_time = bool((curves["seconds"] > 0).any())
    learning, vs_time, pareto = training.PLOT_FILES
    for name, plot, alt, needs_time in [
        (learning, training.plot_learning_curves, "validation accuracy vs epoch", False),
        (vs_time, training.plot_accuracy_vs_time, "validation accuracy vs training time", True),
        (pareto, training.plot_pareto_front, "Pareto front of accuracy vs training time", True),
    ]:
        if curves.empty or (needs_time and not has_time):
            ctx.remove(name)
            continue
        ctx.add(plot(df, ctx.out_dir / name))
        images.append((name, alt))
    return table_section("Training: budgets and learning curves", training.TRAINING_NOTE,
                         lambda fmt: training.display_training(df, fmt), "training",
                         images=images)
