"""Assemble the report: provenance, then the sections of :data:`.sections.SECTIONS` in order,
rendered into report.md and report.html.

The report is an ordered list of section builders (:mod:`.sections`, one module each): each
takes a :class:`~.sections.ReportContext` (the prepared records, the output dir, the
provenance, the common plots of :func:`.plots.plot_all`, the baselines dir) and returns its
section(s), or None when the records lack its data (older records, a run without profiles,
MobileNet pairs or training curves), so such reports do not change. Builders write their own
files through the context (accuracy.tex, timing.tex, model_cost.tex, mobilenet.tex,
reproduction.tex, the profile and training PNGs) and remove them when they have no data, so
no stale file of an earlier build remains; :func:`build_report` returns every path written.
A new section is one module in :mod:`.sections` plus one line in ``SECTIONS``.

Everything written is a pure function of the records (and the run-dir paths as given): no
generation timestamps, sorted order, fixed table ids, so a report can be rebuilt and diffed.
"""

from __future__ import annotations

import html
import os
from pathlib import Path

import pandas as pd

import learnbench
from learnbench.errors import LearnbenchError
from learnbench.records import is_missing, load_runs
from learnbench.reporting import plots, sections
from learnbench.reporting.sections import ReportContext, Section, SectionBuilder
from learnbench.reporting.tables import prepare, sorted_unique

__all__ = ["ReportError", "Section", "build_report", "provenance", "render_html",
           "render_markdown", "report_sections"]


class ReportError(LearnbenchError):
    """No records to report on."""


def build_report(
    run_dirs: list[Path], out_dir: Path, baselines: Path | None = None
) -> list[Path]:
    """Read the records of ``run_dirs`` and write the report files into ``out_dir``.

    ``baselines``: where the published figures are read from (default
    :func:`reproduction.baselines_dir`). Returns the written paths, sorted. Raises
    :class:`LearnbenchError` when a run dir is missing or no records are found.
    """
    run_dirs = [Path(p) for p in run_dirs]
    if not run_dirs:
        raise ReportError("no run directories given to build a report from")
    raw = load_runs(*run_dirs)
    if raw.empty:
        raise ReportError(
            "no result records (*.json) in " + ", ".join(str(p) for p in run_dirs)
        )
    df = prepare(raw)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    prov = provenance(df, run_dirs, superseded=len(raw) - len(df))
    ctx = ReportContext(df, out_dir, prov, plots.plot_all(df, out_dir), baselines)
    ctx.written.extend(ctx.plots.values())
    built = report_sections(ctx)
    ctx.write("report.md", render_markdown(prov, built))
    ctx.write("report.html", render_html(prov, built))
    return sorted(ctx.written)


def report_sections(
    ctx: ReportContext, builders: list[SectionBuilder] | None = None
) -> list[Section]:
    """Run ``builders`` (default: :data:`.sections.SECTIONS`, looked up now) in order and
    concatenate what they return; a builder returning None adds nothing."""
    out: list[Section] = []
    for builder in sections.SECTIONS if builders is None else builders:
        result = builder(ctx)
        if result is not None:
            out.extend([result] if isinstance(result, Section) else result)
    return out


def provenance(
    df: pd.DataFrame, run_dirs: list[Path], superseded: int = 0
) -> list[tuple[str, str]]:
    """(label, value) lines saying where the numbers come from: code, machine, software, dates.

    Dates are the span of the runs' ``started_at`` (UTC), never the report's build time.
    """
    commits = []
    for commit in sorted_unique(df["git_commit"]):
        dirty = df.loc[df["git_commit"] == commit, "git_dirty"].map(_truthy).any()
        commits.append(f"{commit} (dirty)" if dirty else str(commit))
    if df["git_commit"].isna().any():
        commits.append("unknown (some records)")
    machines = sorted_unique(
        f"{_val(r.cpu)} ({_val(r.cpu_count)} cores), GPU: {_val(r.gpu, 'none')}, {_val(r.os)}"
        for r in df[["cpu", "cpu_count", "gpu", "os"]].itertuples()
    )
    software = ", ".join(
        f"{name} {_joined(df[col])}"
        for name, col in [("python", "python"), ("torch", "torch"), ("scikit-learn", "sklearn"),
                          ("xgboost", "xgboost"), ("numpy", "numpy")]
    ) + f", CUDA {_joined(df['cuda'], 'none')}"
    starts = pd.to_datetime(df["started_at"], utc=True, errors="coerce", format="ISO8601")
    if starts.notna().any():
        fmt = "%Y-%m-%d %H:%M:%S UTC"
        dates = f"{starts.min().strftime(fmt)} to {starts.max().strftime(fmt)}"
    else:
        dates = "unknown"
    counts = df["status"].value_counts()
    records = f"{len(df)} cells (" + ", ".join(
        f"{s} {int(counts.get(s, 0))}" for s in ("ok", "error", "timeout")
    ) + ")"
    if superseded:
        records += f"; {superseded} older duplicate record(s) superseded by a later run"
    return [
        ("Suite(s)", _joined(df["suite"])),
        ("Run(s)", _joined(df["run_id"])),
        ("Run dir(s)", ", ".join(os.fspath(p) for p in run_dirs)),
        ("Git commit(s)", ", ".join(commits) or "unknown"),
        ("Machine(s)", "; ".join(machines) or "unknown"),
        ("Software", software),
        ("Devices", _joined(df["device"])),
        ("Seeds", ", ".join(str(s) for s in sorted({int(s) for s in df["seed"].dropna()}))),
        ("Runs started", dates),
        ("Records", records),
        ("Report by", f"learnbench {learnbench.__version__}"),
    ]


# ---------------------------------------------------------------------------------------------
# Documents
# ---------------------------------------------------------------------------------------------


def render_markdown(prov: list[tuple[str, str]], sections: list[Section]) -> str:
    """report.md: provenance list, then the sections with pipe tables and embedded PNGs."""
    lines = ["# learnbench report", "", "## Provenance", ""]
    lines += [f"- **{k}:** {v}" for k, v in prov]
    for s in sections:
        lines += ["", f"## {s.title}", ""]
        if s.text:
            lines += [s.text, ""]
        if s.bullets:
            lines += [f"- {b}" for b in s.bullets] + [""]
        if s.md_table:
            lines += [s.md_table, ""]
        for name, alt in s.images:
            lines += [f"![{alt}]({name})", ""]
        if s.links:
            lines += [f"- [{text}]({path})" for text, path in s.links] + [""]
    return "\n".join(lines).rstrip("\n") + "\n"


def render_html(prov: list[tuple[str, str]], sections: list[Section]) -> str:
    """report.html: one standalone page with inline CSS; PNGs referenced next to it."""
    esc = html.escape
    body = ["<h1>learnbench report</h1>", "<h2>Provenance</h2>", '<dl class="prov">']
    body += [f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in prov]
    body.append("</dl>")
    for s in sections:
        body.append(f"<h2>{esc(s.title)}</h2>")
        if s.text:
            body.append(f"<p>{esc(s.text)}</p>")
        if s.bullets:
            body.append("<ul>" + "".join(f"<li>{esc(b)}</li>" for b in s.bullets) + "</ul>")
        if s.html_table:
            body.append(s.html_table.strip())
        for name, alt in s.images:
            body.append(f'<figure><img src="{esc(name)}" alt="{esc(alt)}"></figure>')
        if s.links:
            body.append("<ul>" + "".join(f'<li><a href="{esc(path)}">{esc(text)}</a></li>'
                                         for text, path in s.links) + "</ul>")
    return _HTML_TEMPLATE.format(body="\n".join(body))


def _val(v: object, missing: str = "unknown") -> str:
    return missing if is_missing(v) else str(v)


def _joined(col: pd.Series, missing: str = "unknown") -> str:
    values = sorted_unique(col)
    return ", ".join(str(v) for v in values) if values else missing


def _truthy(v: object) -> bool:
    return v is True or (isinstance(v, str) and v.lower() in {"true", "1", "yes"}) or v == 1


_HTML_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>learnbench report</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem; }}
table.lb {{ border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; }}
table.lb th, table.lb td {{ border-bottom: 1px solid #ccc; padding: 0.25rem 0.6rem;
  text-align: right; }}
table.lb th {{ border-bottom: 2px solid #333; }}
table.lb td:first-child, table.lb th:first-child {{ text-align: left; }}
dl.prov {{ display: grid; grid-template-columns: max-content auto; gap: 0.2rem 1rem; }}
dl.prov dt {{ font-weight: bold; }}
dl.prov dd {{ margin: 0; }}
figure img {{ max-width: 100%; }}
</style>
</head>
<body>
{body}
</body>
</html>
"""
