"""Assemble the report: provenance, report.md, report.html, accuracy.tex, timing.tex and PNGs
(and reproduction.tex when a published figure matches a run: see :mod:`.reproduction`).

Sections that need data older records lack are left out when it is absent: "Model size and
cost" (+ model_cost.tex) when a record counted FLOPs, "Extra metrics" when a learner reported
``extra_*`` figures, the MobileNet comparison (+ mobilenet.tex) when both MobileNet variants
ran, "Where the time goes" (time_by_class.png, roofline_<device>.png) when records carry
a ``profile``, and "Training: budgets and learning curves" (learning_curves.png,
accuracy_vs_time.png, pareto_front.png; see :mod:`.training`) when deep learners' records
carry a ``training`` dict; then under-trained accuracy means are marked with a dagger. Cells of
pipeline checks (``role = "check"`` in the suite; see :mod:`.roles`) get a double dagger and
their reason under the accuracy tables.

Everything written is a pure function of the records (and the run-dir paths as given): no
generation timestamps, sorted order, fixed table ids, so a report can be rebuilt and diffed.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

import learnbench
from learnbench.errors import LearnbenchError
from learnbench.records import load_runs
from learnbench.reporting import models, plots, profiles, reproduction, roles, training
from learnbench.reporting.tables import (
    Display,
    datasets_table,
    display_metric,
    display_plain,
    display_timing,
    failures_table,
    prepare,
    sorted_unique,
    to_html,
    to_latex,
    to_markdown,
)

METRIC_NOTE = (
    "Mean ± sample standard deviation (ddof=1) over seeds; best mean per dataset in bold. "
    "(n=k/m): only k of the m seeds recorded for that dataset finished ok (see Failures); "
    "timeout/error: no seed finished; –: not run."
)
TIMING_NOTE = (
    "Medians over the ok seeds. b1 = inference at batch size 1, bulk = inference at the "
    "bulk batch size; throughputs in samples/s, latencies p50/p95 per batch in ms."
)


class ReportError(LearnbenchError):
    """No records to report on."""


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
    plot_paths = plots.plot_all(df, out_dir)
    written = list(plot_paths.values())

    sections = _sections(df, {k: p.name for k, p in plot_paths.items()})
    new_sections, new_paths = _cost_and_profile_sections(df, out_dir, prov)
    at = next(i for i, s in enumerate(sections) if s.title == "Time and throughput") + 1
    train = training.training_section(df, out_dir)
    if train is not None:
        new_sections.append(train)
        new_paths += [out_dir / name for name, _ in train.images]
    sections[at:at] = new_sections
    written += new_paths
    rep = reproduction.reproduction(df, baselines)
    sections += _reproduction_sections(rep)
    written.append(_write(out_dir / "report.md", render_markdown(prov, sections)))
    written.append(_write(out_dir / "report.html", render_html(prov, sections)))
    written.append(_write(out_dir / "accuracy.tex", accuracy_latex(df, prov)))
    written.append(_write(out_dir / "timing.tex", timing_latex(df, prov)))
    if not rep.compared.empty:
        tex = _tex_header("reproduction", prov) + reproduction.reproduction_latex(rep)
        written.append(_write(out_dir / "reproduction.tex", tex))
    else:  # no stale table from an earlier build beside a report that has none
        (out_dir / "reproduction.tex").unlink(missing_ok=True)
    return sorted(written)


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


def accuracy_latex(df: pd.DataFrame, prov: list[tuple[str, str]]) -> str:
    """accuracy.tex: provenance as comments, then the booktabs accuracy table."""
    display = training.mark_undertrained(display_metric(df, "accuracy", "tex"), df, "tex")
    display = roles.mark_checks(display, df, "tex")
    note = (r"(n=$k$/$m$): only $k$ of the $m$ seeds finished; timeout/error: no seed "
            r"finished; --: not run.")
    if dagger := training.undertrained_note(df, "tex"):
        note += " " + dagger
    if ddagger := roles.checks_note(df, "tex"):
        note += " " + ddagger
    table = to_latex(
        display,
        caption=r"Test accuracy (\%), mean $\pm$ std over seeds; best per dataset in bold.",
        label="tab:learnbench-accuracy",
        note=note,
    )
    return _tex_header("test accuracy", prov) + table


def timing_latex(df: pd.DataFrame, prov: list[tuple[str, str]]) -> str:
    """timing.tex: provenance as comments, then the booktabs time/throughput table."""
    table = to_latex(
        display_timing(df, "tex"),
        caption=(r"Training and inference cost, medians over seeds (b1: batch size 1; "
                 r"bulk: bulk batch size)."),
        label="tab:learnbench-timing",
        font_size=r"\small",
    )
    return _tex_header("time and throughput", prov) + table


def model_cost_latex(df: pd.DataFrame, prov: list[tuple[str, str]]) -> str:
    """model_cost.tex: provenance as comments, then the booktabs model size and cost table."""
    table = to_latex(
        models.display_model_cost(df, "tex"),
        caption=(r"Model size and cost: parameters, forward FLOPs per sample (2 per "
                 r"multiply-add), training and bulk inference throughput (samples/s, medians "
                 r"over seeds) and mean test accuracy (\%)."),
        label="tab:learnbench-model-cost",
        font_size=r"\small",
    )
    return _tex_header("model size and cost", prov) + table


def mobilenet_latex(comparison: pd.DataFrame, prov: list[tuple[str, str]]) -> str:
    """mobilenet.tex: the MobileNet variants table and the cost-ratio table (booktabs)."""
    variants = to_latex(
        models.display_mobilenet_variants(comparison, "tex"),
        caption=(r"MobileNet v1: depthwise-separable vs standard convolutions. Mult-adds per "
                 r"sample = counted FLOPs / 2; throughputs in samples/s (medians over seeds); "
                 r"accuracy (\%) mean $\pm$ std."),
        label="tab:learnbench-mobilenet",
        font_size=r"\small",
    )
    ratios = to_latex(
        models.display_mobilenet_ratios(comparison, "tex"),
        caption=(r"MobileNet cost ratios (separable / standard). Counted: recorded mult-adds "
                 r"of the whole nets (stem conv and head included); analytic: Eq.~2 and 4 "
                 r"for the same plan, whole net and blocks only; per block: $1/N + 1/D_K^2$ "
                 r"(Eq.~5); speed-up: throughput ratio."),
        label="tab:learnbench-mobilenet-ratios",
        font_size=r"\small",
    )
    return _tex_header("MobileNet comparison", prov) + variants + ratios


def _cost_and_profile_sections(
    df: pd.DataFrame, out_dir: Path, prov: list[tuple[str, str]]
) -> tuple[list[Section], list[Path]]:
    """The optional sections and the files they write; stale files of absent ones removed."""
    sections: list[Section] = []
    written: list[Path] = []
    if models.has_model_cost(df):
        cost_md, cost_h = models.display_model_cost(df, "md"), models.display_model_cost(df,
                                                                                         "html")
        sections.append(Section("Model size and cost", models.MODEL_COST_NOTE,
                                *_tables(cost_md, cost_h, "model-cost")))
        written.append(_write(out_dir / "model_cost.tex", model_cost_latex(df, prov)))
    else:
        (out_dir / "model_cost.tex").unlink(missing_ok=True)
    if models.extra_columns(df):
        ex_md, ex_h = models.display_extras(df, "md"), models.display_extras(df, "html")
        sections.append(Section("Extra metrics", models.EXTRAS_NOTE,
                                *_tables(ex_md, ex_h, "extras")))
    comparison = models.mobilenet_comparison(df)
    if not comparison.empty:
        var_md, var_h = (models.display_mobilenet_variants(comparison, f) for f in ("md", "html"))
        rat_md, rat_h = (models.display_mobilenet_ratios(comparison, f) for f in ("md", "html"))
        sections.append(Section("MobileNet: depthwise-separable vs standard convolutions",
                                models.MOBILENET_NOTE, *_tables(var_md, var_h, "mobilenet")))
        sections.append(Section("MobileNet: cost ratios", models.MOBILENET_RATIO_NOTE,
                                *_tables(rat_md, rat_h, "mobilenet-ratios"),
                                bullets=models.mobilenet_verdicts(comparison)))
        written.append(_write(out_dir / "mobilenet.tex", mobilenet_latex(comparison, prov)))
    else:
        (out_dir / "mobilenet.tex").unlink(missing_ok=True)
    prof = profiles.profiled(df)
    plot_names: set[str] = set()
    if not prof.empty:
        images = []
        bars = profiles.class_times(prof)
        if bars:
            path = plots.plot_time_by_class(bars, out_dir / "time_by_class.png")
            written.append(path)
            images.append((path.name, "time per step by operator class"))
        devices = profiles.roofline_devices(prof)
        for dev in devices:
            name = plots.device_filename("roofline", dev.device)
            stem, n = name[:-4], 2
            while name in plot_names:
                name, n = f"{stem}-{n}.png", n + 1
            plot_names.add(name)
            written.append(plots.plot_roofline(dev, out_dir / name))
            images.append((name, f"roofline of {dev.device}"))
        plot_names.add("time_by_class.png" if bars else "")
        step_md, step_h = (profiles.display_steps(prof, f) for f in ("md", "html"))
        ops_md, ops_h = (profiles.display_top_ops(prof, f) for f in ("md", "html"))
        sections.append(Section("Where the time goes", profiles.STEP_NOTE,
                                *_tables(step_md, step_h, "steps"), images=images,
                                bullets=profiles.roofline_text(devices)))
        sections.append(Section("Where the time goes: top operators",
                                profiles.TOP_OPS_NOTE.format(n=profiles.TOP_OPS),
                                *_tables(ops_md, ops_h, "top-ops"),
                                links=profiles.trace_links(prof, out_dir)))
    for stale in [out_dir / "time_by_class.png", *out_dir.glob("roofline_*.png")]:
        if stale.name not in plot_names:
            stale.unlink(missing_ok=True)
    return sections, written


def _sections(df: pd.DataFrame, plot_names: dict[str, str]) -> list[Section]:
    acc, f1 = (display_metric(df, m, "md") for m in ("accuracy", "f1_macro"))
    acc_h, f1_h = (display_metric(df, m, "html") for m in ("accuracy", "f1_macro"))
    acc_md, acc_html = _tables(
        roles.mark_checks(training.mark_undertrained(acc, df, "md"), df, "md"),
        roles.mark_checks(training.mark_undertrained(acc_h, df, "html"), df, "html"), "accuracy")
    for note in (training.undertrained_note(df), roles.checks_note(df)):  # under the table
        if note:
            acc_md += f"\n\n{note}"
            acc_html = acc_html.rstrip("\n") + f"\n<p>{html.escape(note)}</p>\n"
    timing, timing_h = display_timing(df, "md"), display_timing(df, "html")
    fails = display_plain(failures_table(df))
    data = display_plain(datasets_table(df))
    per_dataset = [(name, f"accuracy on {ds}") for ds, name in plot_names.items()
                   if ds != "accuracy_vs_throughput"]
    return [
        Section("Test accuracy (%)", METRIC_NOTE, acc_md, acc_html,
                [(plot_names["accuracy_vs_throughput"], "accuracy vs bulk inference throughput")]),
        Section("Macro-F1 (%)", METRIC_NOTE, *_tables(f1, f1_h, "f1")),
        Section("Time and throughput", TIMING_NOTE, *_tables(timing, timing_h, "timing")),
        Section("Failures", "" if len(fails.cells) else "None: every cell finished ok.",
                *(_tables(fails, fails, "failures") if len(fails.cells) else ("", ""))),
        Section("Datasets", "", *_tables(data, data, "datasets")),
        Section("Accuracy per dataset", "Bars: mean over ok seeds; error bars: sample std.",
                images=per_dataset),
    ]


def _reproduction_sections(rep: reproduction.Reproduction) -> list[Section]:
    text = reproduction.section_text(rep)
    if rep.table.empty:
        return [Section("Reproduction of published figures", text)]
    md, html_d = (reproduction.display_reproduction(rep.table, f) for f in ("md", "html"))
    sections = [Section("Reproduction of published figures", text,
                        *_tables(md, html_d, "reproduction"))]
    if not rep.config.empty:
        config = display_plain(rep.config)
        sections.append(Section("Reproduction: configuration differences",
                                reproduction.CONFIG_NOTE, *_tables(config, config, "repro-config")))
    return sections


def _tables(md: Display, html_display: Display, table_id: str) -> tuple[str, str]:
    return to_markdown(md), to_html(html_display, table_id)


def _tex_header(what: str, prov: list[tuple[str, str]]) -> str:
    lines = [f"% learnbench {what} table; \\input{{}} it (needs \\usepackage{{booktabs}})."]
    lines += [f"% {k}: {' '.join(v.split())}" for k, v in prov]
    return "\n".join(lines) + "\n"


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8", newline="\n")
    return path


def _val(v: object, missing: str = "unknown") -> str:
    return missing if v is None or (isinstance(v, float) and v != v) or v is pd.NA else str(v)


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
