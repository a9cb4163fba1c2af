"""The report's sections, one module each, and :data:`SECTIONS`: their order in the report.

A section builder is a function ``section(ctx: ReportContext) -> Section | list[Section] |
None`` (:data:`~.base.SectionBuilder`): it reads the prepared records ``ctx.df`` (and the
other inputs of :class:`~.base.ReportContext`) and returns its section(s), or None when the
records have nothing for it (e.g. no profiles), so that reports of older records do not
change. A builder that writes files (a .tex table, PNGs) does so through ``ctx`` (write,
write_tex, add), which collects the paths for ``build_report``; without data it removes the
files it owns, so no stale file of an earlier build stays beside the report.

Adding a section: one module here with a ``section(ctx)`` function, and one line in
:data:`SECTIONS` at the place it should appear.
"""

from __future__ import annotations

from learnbench.reporting.sections import (
    accuracy,
    datasets,
    extras,
    f1,
    failures,
    mobilenet,
    model_cost,
    per_dataset,
    reproduction,
    timing,
    training,
    where_time_goes,
)
from learnbench.reporting.sections.base import (
    ReportContext,
    Section,
    SectionBuilder,
    table_section,
)

#: The report, in order: each builder's sections follow those of the one before.
SECTIONS: list[SectionBuilder] = [
    accuracy.section,  # + accuracy.tex
    f1.section,
    timing.section,  # + timing.tex
    model_cost.section,  # + model_cost.tex; when a record counted FLOPs
    extras.section,  # when a learner reported extra_* figures
    mobilenet.section,  # + mobilenet.tex; when both MobileNet variants ran
    where_time_goes.section,  # + time_by_class.png, roofline_<device>.png; with profiles
    training.section,  # + learning_curves.png, ...; with training dicts
    failures.section,
    datasets.section,
    per_dataset.section,
    reproduction.section,  # + reproduction.tex when a published figure matches
]

__all__ = ["SECTIONS", "ReportContext", "Section", "SectionBuilder", "table_section"]
