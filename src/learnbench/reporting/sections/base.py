"""What a report section is and what a section builder gets: :class:`Section`,
:class:`ReportContext` and the :data:`SectionBuilder` signature (see :mod:`.sections`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import pandas as pd

from learnbench.reporting.tables import Display, Fmt, to_html, to_markdown


@dataclass
class Section:
    """One report section, rendered the same way into Markdown and HTML."""

    title: str
    text: str = ""
    md_table: str = ""
    html_table: str = ""
    images: list[tuple[str, str]] = field(default_factory=list)  # (file name, alt text)
    bullets: list[str] = field(default_factory=list)  # plain-text lines, shown as a list
    links: list[tuple[str, str]] = field(default_factory=list)  # (text, relative path)


@dataclass
class ReportContext:
    """Everything a section builder may read, and where it writes its own files.

    ``df``: the prepared records (:func:`~learnbench.reporting.tables.prepare`);
    ``provenance``: the report's (label, value) lines, also the header of every .tex;
    ``plots``: the PNGs of :func:`~learnbench.reporting.plots.plot_all`
    (``"accuracy_vs_throughput"`` and each dataset -> path); ``baselines``: where published
    figures are read from (None: the default). Files a section writes go through
    :meth:`write` / :meth:`write_tex` / :meth:`add`, so ``written`` lists them all for
    ``build_report``; a section without data calls :meth:`remove` on the files it owns, so no
    stale file of an earlier build stays beside the report.
    """

    df: pd.DataFrame
    out_dir: Path
    provenance: list[tuple[str, str]]
    plots: dict[str, Path] = field(default_factory=dict)
    baselines: Path | None = None
    written: list[Path] = field(default_factory=list)

    def write(self, name: str, text: str) -> Path:
        """Write ``text`` (UTF-8, ``\\n`` line ends) to ``out_dir/name``; returns the path."""
        path = self.out_dir / name
        path.write_text(text, encoding="utf-8", newline="\n")
        return self.add(path)

    def write_tex(self, name: str, what: str, body: str) -> Path:
        """Write a LaTeX fragment: the provenance as comments, then ``body`` (booktabs)."""
        lines = [f"% learnbench {what} table; \\input{{}} it (needs \\usepackage{{booktabs}})."]
        lines += [f"% {k}: {' '.join(v.split())}" for k, v in self.provenance]
        return self.write(name, "\n".join(lines) + "\n" + body)

    def add(self, path: Path) -> Path:
        """Count a file the section wrote itself (e.g. a PNG from a plot function)."""
        self.written.append(Path(path))
        return Path(path)

    def remove(self, *names: str) -> None:
        """Delete ``out_dir/name`` for each name, if there (files of an absent section)."""
        for name in names:
            (self.out_dir / name).unlink(missing_ok=True)


#: A section builder: the sections it adds, in order (one, a list, or None when it has no data).
SectionBuilder: TypeAlias = Callable[[ReportContext], Section | list[Section] | None]


def table_section(
    title: str, text: str, display: Callable[[Fmt], Display], table_id: str, **fields: Any
) -> Section:
    """A section around one table: ``display("md")`` and ``display("html")`` rendered (the
    HTML table with id ``table_id``); ``fields``: the other :class:`Section` fields."""
    return Section(title, text, to_markdown(display("md")), to_html(display("html"), table_id),
                   **fields)
