"""Reporting: numbers equal numpy's, best-in-bold, failures never shown as numbers, provenance,
byte-identical rebuilds, LaTeX that is escaped and booktabs-ruled, clear errors without records.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from learnbench.errors import LearnbenchError
from learnbench.records import load_runs, write_record
from learnbench.reporting import (
    accuracy_table,
    build_report,
    f1_table,
    failures_table,
    timing_table,
)

COMMIT_A = "0123456789abcdef0123456789abcdef01234567"
COMMIT_B = "fedcba9876543210fedcba9876543210fedcba98"
SEEDS = (0, 1, 2)
# (dataset, learner) -> per-seed accuracy, or a status string for a failed seed.
ACC = {
    ("mnist", "logreg"): [0.9201, 0.9213, 0.9188],
    ("mnist", "mlp_wide"): [0.9754, 0.9771, 0.9760],
    ("mnist", "cnn"): ["timeout", "timeout", "timeout"],
    ("toy_set", "logreg"): [0.8412, 0.8390, "error"],
    ("toy_set", "mlp_wide"): [0.8105, 0.8150, 0.8122],
    ("toy_set", "cnn"): [0.8650, 0.8702, 0.8671],
}
BEST = {"mnist": "mlp_wide", "toy_set": "cnn"}
T0 = datetime(2026, 11, 25, 20, 0, tzinfo=timezone.utc)


def _record(dataset: str, learner: str, seed: int, value, started: str, commit: str, dirty: bool):
    ok = not isinstance(value, str)
    metrics = {}
    if ok:
        k = len(learner) + seed  # distinct, consistent synthetic numbers
        metrics = {
            "accuracy": value,
            "f1_macro": value - 0.01,
            "fit_seconds": 1.5 + k,
            "predict_seconds": 0.1,
            "train_throughput": 10000.0 / (1.5 + k),
            "infer_b1_throughput": 900.0 + k,
            "infer_b1_p50_ms": 1.1,
            "infer_b1_p95_ms": 1.9,
            "infer_bulk_throughput": 50000.0 * (1 + len(learner)),
            "infer_bulk_p50_ms": 20.0,
            "infer_bulk_p95_ms": 25.0,
            "infer_bulk_batch_size": 1024,
            "peak_rss_mb": 512.0 + k,
            "n_parameters": 7850 * len(learner),
            "n_train": 1000,
            "n_test": 200,
        }
    return {
        "run_id": "run-b" if learner == "cnn" else "run-a",
        "suite": "ci",
        "cell_id": f"{dataset}-{learner}-s{seed}-cpu",
        "config_hash": "0" * 64,
        "config": {
            "dataset": dataset,
            "dataset_params": {"subsample_train": 1000},
            "learner": learner.split("_")[0],
            "label": learner,
            "params": {"C": 1.0},
            "seed": seed,
            "device": "cpu",
        },
        "status": "ok" if ok else value,
        "error": None if ok else f"{value} in {learner}\n  second line",
        "metrics": metrics,
        "environment": {
            "git_commit": commit,
            "git_dirty": dirty,
            "hostname": "host1",
            "os": "Linux-6.1",
            "cpu": "Test CPU 9000",
            "cpu_count": 2,
            "gpu": None,
            "cuda": None,
            "python": "3.12.3",
            "torch": "2.14.1",
            "sklearn": "1.5.2",
            "xgboost": "3.0.0",
            "numpy": "2.4.6",
        },
        "started_at": started,
        "finished_at": started,
        "wall_seconds": 1.0,
    }


@pytest.fixture
def runs(tmp_path: Path) -> list[Path]:
    """run-a: logreg and mlp_wide on commit A (clean); run-b: cnn on commit B (dirty)."""
    dirs = [tmp_path / "run-a", tmp_path / "run-b"]
    minute = 0
    for (dataset, learner), values in sorted(ACC.items()):
        for seed, value in zip(SEEDS, values, strict=True):
            started = (T0 + timedelta(minutes=minute)).isoformat()
            minute += 13
            if (dataset, learner, seed) == ("toy_set", "mlp_wide", 0):
                # Sorts last as a string, but 23:30 UTC is not the latest start.
                started = "2026-11-26T00:30:00+01:00"
            cnn = learner == "cnn"
            commit = COMMIT_B if cnn else COMMIT_A
            rec = _record(dataset, learner, seed, value, started, commit, cnn)
            write_record(dirs[cnn], rec)
    return dirs


def _expected_last_start() -> str:
    # 18 records, 13 minutes apart from T0 (the +01:00 one, 23:30 UTC, is not the last).
    return (T0 + timedelta(minutes=13 * 17)).strftime("%Y-%m-%d %H:%M:%S UTC")


def _md_section(md: str, title: str) -> str:
    return md.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def _md_cell(section: str, learner: str, dataset: str) -> str:
    lines = [ln for ln in section.splitlines() if ln.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    for ln in lines[2:]:
        cells = [c.strip() for c in ln.strip("|").split("|")]
        if cells[0].strip("*") == learner:
            return cells[header.index(dataset)]
    raise AssertionError(f"no row {learner!r} in {section}")


def _ok_values(dataset: str, learner: str) -> np.ndarray:
    values = [v for v in ACC[(dataset, learner)] if not isinstance(v, str)]
    return np.array(values) * 100


def test_accuracy_table_equals_numpy(runs: list[Path]) -> None:
    table = accuracy_table(load_runs(*runs))
    for dataset, learner in ACC:
        ok = _ok_values(dataset, learner)
        row = table.loc[learner]
        if len(ok) == 0:
            assert np.isnan(row[(dataset, "mean")]) and row[(dataset, "n_ok")] == 0
            continue
        assert row[(dataset, "mean")] == pytest.approx(np.mean(ok), abs=1e-12)
        assert row[(dataset, "std")] == pytest.approx(np.std(ok, ddof=1), abs=1e-12)
        assert row[(dataset, "n_ok")] == len(ok)
    assert table.loc["logreg", ("toy_set", "n_seeds")] == 3
    f1 = f1_table(load_runs(*runs))
    expected_f1 = np.mean(_ok_values("mnist", "logreg") - 1)
    assert f1.loc["logreg", ("mnist", "mean")] == pytest.approx(expected_f1)


def test_best_per_column_bold_only_in_md_and_tex(runs: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    build_report(runs, out)
    md = (out / "report.md").read_text()
    section = _md_section(md, "Test accuracy (%)")
    for dataset in ("mnist", "toy_set"):
        for learner in ("logreg", "mlp_wide", "cnn"):
            cell = _md_cell(section, learner, dataset)
            assert cell.startswith("**") == (learner == BEST[dataset]), (dataset, learner, cell)
    assert section.count("**") == 2 * len(BEST)
    best = _ok_values("mnist", "mlp_wide")
    expected = f"{best.mean():.2f} ± {best.std(ddof=1):.2f}"
    assert _md_cell(section, "mlp_wide", "mnist") == f"**{expected}**"

    tex = (out / "accuracy.tex").read_text()
    bolds = re.findall(r"\\textbf\{([^}]*)\}", tex)
    assert len(bolds) == 2
    assert expected.replace("±", r"$\pm$") in bolds
    cnn = _ok_values("toy_set", "cnn")
    assert f"{cnn.mean():.2f} $\\pm$ {cnn.std(ddof=1):.2f}" in bolds


def test_failed_cells_show_status_not_numbers(runs: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    build_report(runs, out)
    md = (out / "report.md").read_text()
    section = _md_section(md, "Test accuracy (%)")
    assert _md_cell(section, "cnn", "mnist") == "timeout"
    assert _md_cell(section, "logreg", "toy_set").endswith("(n=2/3)")
    assert "(n=" not in _md_cell(section, "logreg", "mnist")
    tex = (out / "accuracy.tex").read_text()
    cnn_row = next(ln for ln in tex.splitlines() if ln.startswith("cnn &"))
    assert cnn_row.split("&")[1].strip() == "timeout"
    assert "(n=2/3)" in tex
    timing = timing_table(load_runs(*runs))
    assert timing.loc[("mnist", "cnn"), "n_ok"] == 0
    assert np.isnan(timing.loc[("mnist", "cnn"), "fit_seconds"])
    assert "0/3 (timeout)" in _md_section(md, "Time and throughput")

    fails = failures_table(load_runs(*runs))
    assert sorted(fails["Status"]) == ["error", "timeout", "timeout", "timeout"]
    failures = _md_section(md, "Failures")
    assert "toy_set-logreg-s2-cpu" in failures and "error in logreg second line" in failures


def test_timing_table_medians(runs: list[Path], tmp_path: Path) -> None:
    df = load_runs(*runs)
    timing = timing_table(df)
    ok = df[(df["label"] == "mlp_wide") & (df["dataset"] == "mnist")]
    assert timing.loc[("mnist", "mlp_wide"), "fit_seconds"] == np.median(ok["fit_seconds"])
    assert timing.loc[("mnist", "mlp_wide"), "n_parameters"] == 7850 * 8
    build_report(runs, tmp_path / "out")
    section = _md_section((tmp_path / "out" / "report.md").read_text(), "Time and throughput")
    rows = [[c.strip() for c in ln.strip("|").split("|")] for ln in section.splitlines()
            if ln.startswith("|")]
    row = dict(zip(rows[0], next(r for r in rows if r[:2] == ["mnist", "mlp_wide"]), strict=True))
    assert row["ok seeds"] == "3/3" and row["params"] == "62,800"
    assert row["bulk [samples/s]"] == "450,000" and row["bulk p50/p95 [ms]"] == "20.0 / 25.0"


def test_provenance_from_records(runs: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    build_report(runs, out)
    dates = f"2026-11-25 20:00:00 UTC to {_expected_last_start()}"
    commits = f"{COMMIT_A}, {COMMIT_B} (dirty)"
    md = (out / "report.md").read_text()
    assert f"- **Git commit(s):** {commits}\n" in md
    assert f"- **Runs started:** {dates}\n" in md
    assert "- **Seeds:** 0, 1, 2\n" in md
    assert "- **Suite(s):** ci\n" in md
    assert "Test CPU 9000 (2 cores), GPU: none, Linux-6.1" in md
    assert "torch 2.14.1" in md and "xgboost 3.0.0" in md
    assert str(runs[0]) in md
    html = (out / "report.html").read_text()
    assert commits in html and dates in html
    for name in ("accuracy.tex", "timing.tex"):
        tex = (out / name).read_text()
        assert f"% Git commit(s): {commits}\n" in tex
        assert f"% Runs started: {dates}\n" in tex


def test_rebuild_is_byte_identical(runs: list[Path], tmp_path: Path) -> None:
    first = build_report(runs, tmp_path / "one")
    second = build_report(runs, tmp_path / "two")
    assert [p.name for p in first] == [p.name for p in second]
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name
    again = build_report(runs, tmp_path / "one")
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in second]


def test_tex_is_booktabs_and_escaped(runs: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    build_report(runs, out)
    for name in ("accuracy.tex", "timing.tex"):
        tex = (out / name).read_text()
        body = "\n".join(ln for ln in tex.splitlines() if not ln.startswith("%"))
        for rule in (r"\toprule", r"\midrule", r"\bottomrule"):
            assert body.count(rule) == 1, (name, rule)
        assert "mlp\\_wide" in body and "toy\\_set" in body
        assert not re.search(r"(?<!\\)[_&%#](?![^$]*\$)", body.replace("&", "")), name
        assert body.count("{") == body.count("}")
        assert body.count(r"\begin{") == body.count(r"\end{")
        assert "\\multirow" not in body and "\\cline" not in body  # only booktabs is required


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
def test_tex_compiles(runs: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    build_report(runs, out)
    doc = tmp_path / "paper.tex"
    doc.write_text(
        "\\documentclass{article}\\usepackage{booktabs}\\begin{document}"
        "\\input{out/accuracy.tex}\\input{out/timing.tex}\\end{document}\n"
    )
    proc = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-2000:]


def test_all_files_written(runs: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    paths = build_report(runs, out)
    names = {
        "report.md", "report.html", "accuracy.tex", "timing.tex",
        "accuracy_vs_throughput.png", "accuracy_mnist.png", "accuracy_toy_set.png",
    }
    assert {p.name for p in paths} == names
    assert {p.name for p in out.iterdir()} == names
    for p in paths:
        if p.suffix == ".png":
            assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (out / "report.md").read_text()
    html = (out / "report.html").read_text()
    for png in (n for n in names if n.endswith(".png")):
        assert f"]({png})" in md and f'src="{png}"' in html
    assert html.startswith("<!DOCTYPE html>") and "<style>" in html
    assert "(not in the learnbench registry)" in _md_section(md, "Datasets")  # toy_set


def test_duplicate_records_counted_once(runs: list[Path]) -> None:
    once = accuracy_table(load_runs(*runs))
    twice = accuracy_table(load_runs(*runs, runs[0]))
    assert once.equals(twice)


def test_no_records_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(LearnbenchError, match="no result records"):
        build_report([tmp_path / "empty"], tmp_path / "out")
    with pytest.raises(LearnbenchError, match="no such run directory"):
        build_report([tmp_path / "missing"], tmp_path / "out")
    with pytest.raises(LearnbenchError, match="no run directories"):
        build_report([], tmp_path / "out")
    assert not (tmp_path / "out").exists()
