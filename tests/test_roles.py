"""Cell roles: ``role = "check"`` in a suite, the ``role`` column of load_runs, the ‡ of the
accuracy tables; and the nightly tier that uses it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from learnbench.errors import SuiteError
from learnbench.harness.suite import Cell, load_suite
from learnbench.records import load_runs, write_record
from learnbench.reporting import build_report

SUITE = """
[suite]
seeds = [0, 1]

[[datasets]]
name = "digits"

[[learners]]
name = "knn"

[[learners]]
name = "logreg"
role = "check"
role_reason = "a 1-iteration budget; not meant to converge"
"""
REASON = "a 1-iteration budget; not meant to converge"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(text)
    return path


# ---------------------------------------------------------------------------------------------
# Suites
# ---------------------------------------------------------------------------------------------


def test_role_on_cell_and_in_config_only_for_checks(tmp_path: Path) -> None:
    cells = load_suite(write(tmp_path, SUITE)).cells
    knn, logreg = cells[0], cells[2]
    assert (knn.role, knn.role_reason) == ("result", "")
    assert "role" not in knn.config and "role_reason" not in knn.config
    assert knn.cell_id == Cell("digits", "knn", "knn", {}, 0, "cpu").cell_id  # ids kept
    assert (logreg.role, logreg.role_reason) == ("check", REASON)
    assert logreg.config["role"] == "check" and logreg.config["role_reason"] == REASON
    assert logreg.cell_id != Cell("digits", "logreg", "logreg", {}, 0, "cpu").cell_id
    # an explicit role = "result" is the default: same cells, same ids
    explicit = SUITE.replace('name = "knn"', 'name = "knn"\nrole = "result"')
    assert [c.cell_id for c in load_suite(write(tmp_path, explicit)).cells] == [
        c.cell_id for c in cells]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('role = "check"', 'role = "smoke"',
         "key 'learners[1].role' must be one of result, check, got 'smoke'"),
        ('role = "check"', "role = 1", "key 'learners[1].role' must be str"),
        (f'role_reason = "{REASON}"', "", "missing key 'learners[1].role_reason'"),
        (f'role_reason = "{REASON}"', 'role_reason = "  "',
         "key 'learners[1].role_reason' must not be empty"),
        (f'role_reason = "{REASON}"', "role_reason = 3", "key 'learners[1].role_reason' must be str"),
        ('role = "check"', 'role = "result"',
         "key 'learners[1].role_reason' is only allowed with role = \"check\""),
    ],
)
def test_malformed_role_names_file_and_key(tmp_path: Path, old: str, new: str, expected: str) -> None:
    path = write(tmp_path, SUITE.replace(old, new))
    with pytest.raises(SuiteError) as err:
        load_suite(path)
    message = str(err.value)
    assert str(path) in message and expected in message, message
    assert "\n" not in message


# ---------------------------------------------------------------------------------------------
# Records and reports
# ---------------------------------------------------------------------------------------------

ACC = {"knn": 0.95, "logreg": 0.40, "svm_rbf": 0.97}


def _record(learner: str, seed: int, dataset: str = "digits", *, role: str | None = None,
            reason: str = REASON) -> dict:
    config = {"dataset": dataset, "dataset_params": {}, "learner": learner, "label": learner,
              "params": {}, "seed": seed, "device": "cpu"}
    if role is not None:
        config.update(role=role, role_reason=reason)
    acc = ACC[learner] + 0.01 * seed
    return {
        "run_id": "r1", "suite": "s", "cell_id": f"{dataset}-{learner}-s{seed}-cpu",
        "config_hash": "0" * 64, "config": config, "status": "ok", "error": None,
        "metrics": {"accuracy": acc, "f1_macro": acc, "fit_seconds": 1.0 + seed,
                    "n_train": 100, "n_test": 50},
        "details": {"n_classes": 10},
        "environment": {"git_commit": "a" * 40, "git_dirty": False, "cpu": "Test CPU",
                        "cpu_count": 2, "os": "Linux"},
        "started_at": f"2026-11-25T20:0{seed}:00+00:00", "wall_seconds": 1.0,
    }


def _write(run: Path, checks: dict[str, str] | None = None) -> Path:
    """Two seeds of each learner on digits and mnist; ``checks``: learner -> reason."""
    for ds in ("digits", "mnist"):
        for learner in ACC:
            for seed in (0, 1):
                reason = (checks or {}).get(learner)
                write_record(run, _record(learner, seed, ds, role="check" if reason else None,
                                          reason=reason or ""))
    return run


def _md_section(md: str, title: str) -> str:
    return md.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def _rows(section: str) -> dict[str, dict[str, str]]:
    lines = [ln for ln in section.splitlines() if ln.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = [dict(zip(header, [c.strip() for c in ln.strip("|").split("|")], strict=True))
            for ln in lines[2:]]
    return {r["Learner"].strip("*"): r for r in rows}


def test_load_runs_role_column(tmp_path: Path) -> None:
    run = tmp_path / "run"
    write_record(run, _record("knn", 0))  # an old record: no role in its config
    write_record(run, _record("logreg", 0, role="check"))
    df = load_runs(run).set_index("learner")
    assert df.loc["knn", "role"] == "result" and pd.isna(df.loc["knn", "role_reason"])
    assert df.loc["logreg", "role"] == "check" and df.loc["logreg", "role_reason"] == REASON


def test_report_marks_check_cells_with_a_double_dagger(tmp_path: Path) -> None:
    out = tmp_path / "out"
    build_report([_write(tmp_path / "run", {"logreg": REASON})], out)
    md, html = (out / "report.md").read_text(), (out / "report.html").read_text()
    tex = (out / "accuracy.tex").read_text()
    section = _md_section(md, "Test accuracy (%)")
    rows = _rows(section)
    assert rows["logreg"]["digits"].endswith("‡") and rows["logreg"]["mnist"].endswith("‡")
    assert not any("‡" in rows[x][ds] for x in ("knn", "svm_rbf") for ds in ("digits", "mnist"))
    note = f'‡ pipeline check (role = "check" in the suite): not a result; reason: {REASON}'
    assert note in section and section.index(note) > section.index("| logreg")
    assert "‡" not in _md_section(md, "Macro-F1 (%)")
    assert md.count("‡") == 3  # two cells and the note
    assert html.count("‡") == 3 and "role = &quot;check&quot; in the suite" in html
    assert tex.count(r"$^\ddagger$") == 3
    assert r"not a result; reason: a 1-iteration budget; not meant to converge." in tex


def test_report_lists_each_reason(tmp_path: Path) -> None:
    out = tmp_path / "out"
    build_report([_write(tmp_path / "run", {"logreg": "budget_a", "knn": "budget 100%"})], out)
    md, tex = (out / "report.md").read_text(), (out / "accuracy.tex").read_text()
    assert ("not a result; reasons: knn on digits, knn on mnist: budget 100%; "
            "logreg on digits, logreg on mnist: budget_a") in md
    assert r"knn on digits, knn on mnist: budget 100\%; logreg on digits, logreg on mnist: budget\_a" in tex


def test_report_without_checks_has_no_double_dagger(tmp_path: Path) -> None:
    out, fresh = tmp_path / "out", tmp_path / "fresh"
    build_report([_write(tmp_path / "checked", {"logreg": REASON})], out)
    run = _write(tmp_path / "plain")
    build_report([run], out)
    build_report([run], fresh)
    for name in ("report.md", "report.html", "accuracy.tex"):
        text = (out / name).read_text()
        assert "‡" not in text and "ddagger" not in text and "pipeline check" not in text, name
        assert (out / name).read_bytes() == (fresh / name).read_bytes(), name


# ---------------------------------------------------------------------------------------------
# The nightly tier
# ---------------------------------------------------------------------------------------------

TRAINER_LEARNERS = {"lenet5", "cnn", "mobilenet", "mobilenet_standard", "siamese_contrastive",
                    "triplet", "bert_mlm", "minilm_finetune"}


def test_nightly_tier() -> None:
    suite = load_suite("nightly")
    # 254 cells; k-NN, logistic regression and the SVM on LETTER's fixed split run one seed
    assert suite.name == "nightly" and len(suite.cells) == 248
    assert len(load_suite("nightly", all_seeds=True).cells) == 254
    checks = [c for c in suite.cells if c.role == "check"]
    assert {c.learner for c in checks} == {"bert_mlm"}
    assert all("20 MLM steps" in c.role_reason for c in checks)
    for c in suite.cells:
        assert "epochs" not in c.params, c.cell_id  # the Trainer's budget is max_epochs
        if c.learner in TRAINER_LEARNERS - {"bert_mlm"}:
            assert "max_epochs" in c.params, c.cell_id
    # what nightly adds back to ci: gcForest ORL k5 x 3 seeds + k7 x 1, DF21 on LETTER, ...
    have = {(c.label, c.dataset_label, c.seed) for c in suite.cells}
    assert {("gcforest", "orl-k5", s) for s in (0, 1, 2)} | {("gcforest", "orl-k7", 0)} <= have
    assert ("gcforest", "orl-k7", 1) not in have
    assert {("deep_forest", "letter", 0), ("triplet", "orl-k7", 2),
            ("siamese_contrastive", "orl-k9", 1)} <= have


def test_nightly_lecture_models_select_for_cuda_without_a_gpu() -> None:
    """``learnbench run nightly --device cuda --learner lenet5 --dataset digits`` builds its
    cells on a machine without CUDA (running them is the GPU check's job)."""
    from learnbench.cli import select_cells

    sub = select_cells(load_suite("nightly"), ["lenet5"], ["digits"], "cuda")
    assert [(c.learner, c.dataset, c.seed, c.device) for c in sub.cells] == [
        ("lenet5", "digits", s, "cuda") for s in (0, 1, 2)]
    assert all(c.cell_id.endswith(c.config_hash[:8]) and "-cuda-" in c.cell_id for c in sub.cells)
