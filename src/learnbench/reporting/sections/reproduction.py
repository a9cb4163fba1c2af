"""Reproduction of published figures: our accuracy beside the papers' (see :mod:`..reproduction`),
how the configurations differ, and ``reproduction.tex`` when a figure matched a run."""

from __future__ import annotations

from learnbench.reporting import reproduction
from learnbench.reporting.sections.base import ReportContext, Section, table_section
from learnbench.reporting.tables import display_plain

TEX_FILE = "reproduction.tex"


def section(ctx: ReportContext) -> list[Section]:
    """The comparison (or a line saying why there is none) and the configuration differences;
    writes ``reproduction.tex`` when some figure was compared, else removes it."""
    rep = reproduction.reproduction(ctx.df, ctx.baselines)
    if rep.compared.empty:  # no stale table from an earlier build beside a report that has none
        ctx.remove(TEX_FILE)
    else:
        ctx.write_tex(TEX_FILE, "reproduction", reproduction.reproduction_latex(rep))
    title, text = "Reproduction of published figures", reproduction.section_text(rep)
    if rep.table.empty:
        return [Section(title, text)]
    sections = [table_section(title, text,
                              lambda fmt: reproduction.display_reproduction(rep.table, fmt),
                              "reproduction")]
    if not rep.config.empty:
        config = display_plain(rep.config)
        sections.append(table_section("Reproduction: configuration differences",
                                      reproduction.CONFIG_NOTE, lambda _: config, "repro-config"))
    return sections
