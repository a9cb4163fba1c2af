"""Reproduction section: published figures beside our mean ± std, verdicts, variants skipped,
"not run" rows, escaped booktabs LaTeX, a report without baselines, byte-identical rebuilds.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from learnbench.records import load_runs, write_record
from learnbench.reporting import build_report, load_published, reproduction_table
from learnbench.reporting.reproduction import (
    BASELINES_ENV,
    MIN_TOLERANCE_PP,
    BaselinesNotFoundError,
    verdict,
)

SEEDS = (0, 1, 2)
# (dataset label, learner) -> (dataset, dataset params, learner params, per-seed accuracy, n_train)
RUNS = {
    ("mnist", "random_forest"): ("mnist", {"subsample_train": 10000},
                                 {"n_estimators": 100, "n_jobs": -1}, [0.960, 0.962, 0.964], 10000),
    ("orl-k5", "svm_rbf"): ("orl", {"train_per_subject": 5, "downscale": 2}, {},
                            [0.80, 0.83, 0.86], 200),
}
# mean ± std in %: mnist/random_forest 96.20 ± 0.20 (tolerance 0.5, the minimum);
# orl-k5/svm_rbf 83.00 ± 3.00 (tolerance 6.0 = 2 std).
HEADER = "source_id,table,dataset,protocol,learner,learner_ours,metric,value,note\n"
MNIST = '"60,000 train / 10,000 test"'
CSV = HEADER + (
    f"src_a,Table 2,mnist,{MNIST},Random Forest,random_forest,accuracy_pct,{{rf}},"
    '"standard Random Forest with 2,000 trees"\n'
    f"src_a,Table 2,mnist,{MNIST},SVM (rbf kernel),svm_rbf,accuracy_pct,98.60,\n"
    f"src_a,Table 2,mnist,{MNIST},Deep Belief Net,,accuracy_pct,98.75,not run by the authors\n"
    "src_a,Table 3,orl-k5,train_per_subject=5,SVM (rbf kernel),svm_rbf,accuracy_pct,{svm},"
    "column printed '5 image'\n"
    f"src_a,Table 9,mnist,{MNIST},Random Forest,random_forest,accuracy_pct,11.11,"
    "repeats the Table 2 figure\n"
    f"src_a,Table 9,mnist,{MNIST},RF-10,random_forest,accuracy_pct,22.22,variant: 10 trees\n"
    "src_a,Table 4,gtzan,700 / 300,Random Forest,random_forest,accuracy_pct,33.33,"
    "[dataset not in learnbench] \n"
    "src_a,Table 10,semg,1800,gcForestconc,gcforest,accuracy_pct,44.44,"
    "[dataset not in learnbench] variant: concatenated\n"
)
SOURCES = '[src_a]\nauthors = ["A. Author"]\ntitle = "Test_Paper & Co"\nyear = 2017\n'


def _record(label: str, learner: str, seed: int, value: float | str) -> dict:
    dataset, ds_params, params, _, n_train = RUNS.get((label, learner), RUNS[("mnist",
                                                                              "random_forest")])
    ok = not isinstance(value, str)
    return {
        "run_id": "run-a",
        "suite": "ci",
        "cell_id": f"{label}-{learner}-s{seed}-cpu",
        "config_hash": "0" * 64,
        "config": {"dataset": dataset, "dataset_label": label, "dataset_params": ds_params,
                   "learner": learner, "label": learner, "params": params, "seed": seed,
                   "device": "cpu"},
        "status": "ok" if ok else value,
        "error": None if ok else value,
        "metrics": {"accuracy": value, "f1_macro": value, "n_train": n_train, "n_test": 10000}
        if ok else {},
        "environment": {"git_commit": "0" * 40, "git_dirty": False, "python": "3.12.3"},
        "started_at": f"2026-11-25T20:0{seed}:00+00:00",
        "finished_at": f"2026-11-25T20:0{seed}:30+00:00",
        "wall_seconds": 1.0,
    }


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    out = tmp_path / "run-a"
    for (label, learner), (*_, accs, _n) in RUNS.items():
        for seed, acc in zip(SEEDS, accs, strict=True):
            write_record(out, _record(label, learner, seed, acc))
    return out


def _baselines(root: Path, rf: str = "96.50", svm: str = "80.50") -> Path:
    """A baselines dir like the repo's: published/<name>.csv and published/sources.toml."""
    pub = root / "baselines" / "published"
    pub.mkdir(parents=True, exist_ok=True)
    (pub / "paper.csv").write_text(CSV.format(rf=rf, svm=svm), encoding="utf-8")
    (pub / "sources.toml").write_text(SOURCES, encoding="utf-8")
    return root / "baselines"


def _ours(label: str, learner: str) -> np.ndarray:
    return np.array(RUNS[(label, learner)][3]) * 100


def _row(table, dataset: str, learner: str):
    rows = table[(table["dataset"] == dataset) & (table["learner"] == learner)]
    assert len(rows) == 1, rows
    return rows.iloc[0]


def _md_section(md: str, title: str) -> str:
    return md.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def _md_rows(section: str) -> list[dict[str, str]]:
    lines = [ln for ln in section.splitlines() if ln.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    return [dict(zip(header, [c.strip() for c in ln.strip("|").split("|")], strict=True))
            for ln in lines[2:]]


@pytest.mark.parametrize(
    ("rf", "svm", "rf_verdict", "svm_verdict"),
    [
        ("96.50", "80.50", "within spread", "within spread"),  # -0.30 (min tol), +2.50 (2 std)
        ("97.00", "90.00", "below", "below"),                   # -0.80, -7.00
        ("95.50", "76.00", "above", "above"),                   # +0.70, +7.00
    ],
)
def test_table_figures_delta_and_verdict(
    run_dir: Path, tmp_path: Path, rf: str, svm: str, rf_verdict: str, svm_verdict: str
) -> None:
    table = reproduction_table(load_runs(run_dir), load_published(_baselines(tmp_path, rf, svm)))
    for (label, learner), paper, expected in [(("mnist", "random_forest"), rf, rf_verdict),
                                              (("orl-k5", "svm_rbf"), svm, svm_verdict)]:
        row = _row(table, label, learner)
        ours = _ours(label, learner)
        assert row["paper"] == float(paper) and row["paper_text"] == paper
        assert row["mean"] == pytest.approx(ours.mean(), abs=1e-12)
        assert row["std"] == pytest.approx(ours.std(ddof=1), abs=1e-12)
        assert (row["n_ok"], row["n_seeds"]) == (3, 3)
        assert row["delta"] == pytest.approx(ours.mean() - float(paper), abs=1e-9)
        assert row["tolerance"] == pytest.approx(max(2 * ours.std(ddof=1), MIN_TOLERANCE_PP))
        assert row["verdict"] == expected, (label, row["delta"], row["tolerance"])
    assert _row(table, "mnist", "random_forest")["table"] == "Table 2"
    assert _row(table, "orl-k5", "svm_rbf")["table"] == "Table 3"


def test_verdict_rule() -> None:
    assert verdict(0.5, math.nan) == (0.5, "within spread")  # one seed: the minimum only
    assert verdict(-0.51, 0.1) == (0.5, "below")
    assert verdict(5.9, 3.0) == (6.0, "within spread")
    assert verdict(6.1, 3.0) == (6.0, "above")


def test_variants_skipped_and_not_run_listed(run_dir: Path, tmp_path: Path) -> None:
    table = reproduction_table(load_runs(run_dir), load_published(_baselines(tmp_path)))
    # repeats (11.11), variants (22.22, 44.44), other datasets (33.33), no learner (98.75): out
    assert sorted(table["paper_text"]) == ["80.50", "96.50", "98.60"]
    not_run = _row(table, "mnist", "svm_rbf")
    assert not_run["verdict"] == "not run" and math.isnan(not_run["mean"])
    assert list(table["verdict"]) == ["within spread", "within spread", "not run"]  # run first


def test_failed_cell_shows_status_not_not_run(run_dir: Path, tmp_path: Path) -> None:
    for seed in SEEDS:
        write_record(run_dir, _record("mnist", "svm_rbf", seed, "timeout"))
    table = reproduction_table(load_runs(run_dir), load_published(_baselines(tmp_path)))
    row = _row(table, "mnist", "svm_rbf")
    assert row["verdict"] == "timeout" and math.isnan(row["delta"]) and row["n_ok"] == 0


def test_report_section(run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BASELINES_ENV, str(_baselines(tmp_path, "97.00")))
    out = tmp_path / "out"
    build_report([run_dir], out)
    md = (out / "report.md").read_text()
    rows = {(r["Dataset"], r["Learner"]): r
            for r in _md_rows(_md_section(md, "Reproduction of published figures"))}
    assert set(rows) == {("mnist", "random_forest"), ("orl-k5", "svm_rbf"), ("mnist", "svm_rbf")}
    rf = rows[("mnist", "random_forest")]
    assert rf["Paper [%]"] == "97.00" and rf["Source"] == "Table 2 [1]"
    assert rf["Ours [%]"] == "96.20 ± 0.20" and rf["Seeds"] == "3/3"
    assert rf["Δ [pp]"] == "-0.80" and rf["Tol. [pp]"] == "0.50" and rf["Verdict"] == "below"
    assert rows[("orl-k5", "svm_rbf")]["Ours [%]"] == "83.00 ± 3.00"
    assert rows[("mnist", "svm_rbf")]["Verdict"] == "not run"
    assert rows[("mnist", "svm_rbf")]["Ours [%]"] == "–"
    assert "[1] src_a: A. Author, Test_Paper & Co, 2017" in md
    assert "3 variant/repeat figure(s) skipped" in md

    config = {(r["Dataset"], r["Learner"]): r
              for r in _md_rows(_md_section(md, "Reproduction: configuration differences"))}
    data = config[("mnist", "(data split)")]
    assert "n train 10,000" in data["Ours"] and "subsample_train=10000" in data["Ours"]
    assert data["Paper"] == "Table 2: 60,000 train / 10,000 test"
    assert config[("mnist", "random_forest")]["Ours"] == "n_estimators=100, n_jobs=-1"
    assert "2,000 trees" in config[("mnist", "random_forest")]["Paper"]
    assert config[("orl-k5", "svm_rbf")]["Ours"] == "learner defaults"
    assert ("mnist", "svm_rbf") not in config  # not run: nothing to compare

    html = (out / "report.html").read_text()
    assert "Reproduction of published figures" in html and "96.20 ± 0.20" in html
    assert "Test_Paper &amp; Co" in html


def test_tex_booktabs_and_escaped(run_dir: Path, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BASELINES_ENV, str(_baselines(tmp_path)))
    out = tmp_path / "out"
    assert out / "reproduction.tex" in build_report([run_dir], out)
    tex = (out / "reproduction.tex").read_text()
    body = "\n".join(ln for ln in tex.splitlines() if not ln.startswith("%"))
    for rule in (r"\toprule", r"\midrule", r"\bottomrule"):
        assert body.count(rule) == 1, rule
    assert "random\\_forest" in body and "svm\\_rbf" in body
    assert "96.20 $\\pm$ 0.20" in body and "$\\Delta$ [pp]" in body and "Paper [\\%]" in body
    assert "Test\\_Paper \\& Co" in body
    assert "& $-$0.30 & 0.50 & within spread" in body and "& +2.50 & 6.00 &" in body
    assert "not run" not in body and "98.60" not in body  # not-run rows only in md/html
    assert "Paper & Co" not in body
    assert not re.search(r"(?<!\\)[_&%#](?![^$]*\$)", body.replace("\\&", "").replace("&", ""))
    assert body.count("{") == body.count("}")
    assert body.count(r"\begin{") == body.count(r"\end{")


def test_report_builds_without_baselines(run_dir: Path, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    monkeypatch.setenv(BASELINES_ENV, str(_baselines(tmp_path)))
    build_report([run_dir], out)
    assert (out / "reproduction.tex").exists()
    monkeypatch.setenv(BASELINES_ENV, str(tmp_path / "absent"))
    with pytest.raises(BaselinesNotFoundError):
        load_published()
    paths = build_report([run_dir], out)
    assert not (out / "reproduction.tex").exists()  # the stale one is gone
    assert {p.name for p in paths} >= {"report.md", "report.html", "accuracy.tex"}
    section = _md_section((out / "report.md").read_text(), "Reproduction of published figures")
    assert "No published figures to compare with" in section and "|" not in section


def test_rebuild_byte_identical_and_records_untouched(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(BASELINES_ENV, str(_baselines(tmp_path)))
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    first = build_report([run_dir], tmp_path / "one")
    second = build_report([run_dir], tmp_path / "two")
    assert "reproduction.tex" in [p.name for p in first]
    assert [p.name for p in first] == [p.name for p in second]
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name
    assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == before


def test_load_published_default_and_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = _baselines(tmp_path)
    csv = base / "published" / "paper.csv"
    for path in (base, base / "published", csv):
        assert len(load_published(path)) == 8
    monkeypatch.setenv(BASELINES_ENV, str(base))
    assert load_published()["value"].tolist()[:2] == [96.5, 98.6]
    monkeypatch.delenv(BASELINES_ENV)
    repo = Path(__file__).resolve().parents[1] / "baselines" / "published"
    if not repo.is_dir():
        pytest.skip("repository baselines/ not present")
    monkeypatch.chdir(repo.parents[1])  # the checkout, as tox and the CLI run it
    published = load_published()  # the repo's: ./baselines, or beside the source tree
    assert {Path(f).resolve() for f in published["file"]} == {p.resolve() for p in repo.glob("*.csv")}
    row = published[(published["table"] == "Table 2") & (published["learner_ours"] == "random_forest")]
    assert row["value_text"].tolist() == ["96.80"]


def test_report_names_baselines_without_absolute_paths(tmp_path: Path) -> None:
    """Reports must rebuild byte-identically in another clone: no machine-specific paths."""
    from learnbench.reporting.reproduction import _display_path

    assert _display_path(tmp_path / "repo" / "baselines" / "published" / "t.csv") == (
        "baselines/published/t.csv")
    assert _display_path(tmp_path / "elsewhere" / "t.csv") == "t.csv"
