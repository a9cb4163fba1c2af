"""The ``learnbench`` command end to end, as a user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from learnbench import records
from learnbench.cli import main
from learnbench.errors import SuiteError


def learnbench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "learnbench", *args], capture_output=True,
                          text=True, timeout=600)


@pytest.mark.parametrize("args", [[], ["run"], ["report"], ["list"], ["datasets", "verify"]])
def test_help_is_useful(args: list[str]) -> None:
    out = learnbench(*args, "--help")
    assert out.returncode == 0
    assert "usage: learnbench" in out.stdout


def test_list_names_everything(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("mnist", "digits", "logreg", "knn", "svm_rbf", "random_forest", "xgboost",
                 "lenet5", "smoke", "ci", "paper"):
        assert name in out


def test_unknown_suite_is_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("learnbench: error: unknown suite 'nope'; valid suites:")
    assert "smoke" in err and "\n" not in err


def test_unknown_dataset_info_lists_valid(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets", "info", "cifar-100"]) == 2
    err = capsys.readouterr().err
    assert "unknown dataset 'cifar-100'" in err and "mnist" in err


def test_datasets_verify_real_mirror(real_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets", "verify", "mnist"]) == 0
    out = capsys.readouterr().out
    assert out.count("ok") >= 4 and "4/4 artifacts verified" in out


def test_datasets_verify_suite_checks_its_datasets(real_data: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets", "verify", "--suite", "smoke"]) == 0
    out = capsys.readouterr().out
    assert "imdb/aclImdb_v1_text.tar.gz" in out and "cifar" not in out
    assert "16/16 artifacts verified" in out


def test_datasets_verify_without_mirror_fails(empty_env: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets", "verify", "mnist"]) == 1
    assert "0/4 artifacts verified" in capsys.readouterr().out


@pytest.mark.slow
def test_smoke_suite_end_to_end(real_data: Path, smoke_run) -> None:
    run_dir, report_dir, out = smoke_run.run_dir, smoke_run.report_dir, smoke_run.process
    assert out.returncode == 0, out.stdout + out.stderr
    frame = records.load_runs(run_dir)
    assert len(frame) == 41 and set(frame["status"]) == {"ok"}
    assert set(frame["dataset"]) == {"digits", "mnist", "fashion_mnist", "orl", "letter", "adult",
                                     "yeast", "imdb"}
    # a learner that works beats uniform guessing clearly even on the smoke tier's tiny data:
    # it closes at least 30 % of the gap between chance and a perfect score
    # (not the fine-tuned transformers: 64 reviews and one epoch leave them at chance here;
    # tests/test_bert.py checks that they learn)
    for rec in records.iter_records(run_dir):
        if rec["config"]["learner"] in ("bert_mlm", "minilm_finetune"):
            continue
        chance = 1 / rec["details"]["n_classes"]
        assert rec["metrics"]["accuracy"] > chance + 0.3 * (1 - chance), rec["cell_id"]
    for name in ("report.md", "report.html", "accuracy.tex", "timing.tex",
                 "accuracy_vs_throughput.png"):
        assert (report_dir / name).stat().st_size > 0, name
    assert "lenet5" in (report_dir / "report.md").read_text()
    # profiling (issue 7): deep learners that support it carry step times and a Chrome trace
    lenet = frame[frame["learner"] == "lenet5"]
    assert (lenet["train_step_ms"] > 0).all() and (lenet["infer_step_ms"] > 0).all()
    traces = [p["phases"]["train"]["trace"] for p in lenet["profile"]]
    assert all((run_dir / t).stat().st_size > 0 for t in traces)
    assert frame.loc[frame["learner"] == "knn", "profile"].isna().all()
    assert "Where the time goes" in (report_dir / "report.md").read_text()

    again = learnbench("run", "smoke", "--out", str(run_dir))
    assert again.returncode == 0 and "0 ran, 41 already recorded" in again.stdout


def test_run_selects_learners_datasets_and_device() -> None:
    from learnbench.cli import select_cells
    from learnbench.harness import load_suite

    suite = load_suite("smoke")
    sub = select_cells(suite, ["knn", "xgboost"], ["mnist"], None)
    assert {(c.learner, c.dataset) for c in sub.cells} == {("knn", "mnist"), ("xgboost", "mnist")}
    assert select_cells(suite, None, ["orl-k5"], None).cells  # a dataset label selects too
    moved = select_cells(suite, ["knn"], None, "cuda")
    assert {c.device for c in moved.cells} == {"cuda"}
    assert not {c.cell_id for c in moved.cells} & {c.cell_id for c in suite.cells}
    with pytest.raises(SuiteError, match="--learner nope not in suite 'smoke'"):
        select_cells(suite, ["nope"], None, None)


def test_run_with_unknown_learner_filter_is_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "smoke", "--learner", "nope"]) != 0
    err = capsys.readouterr().err.strip()
    assert "--learner nope not in suite" in err and "\n" not in err


def test_tiers_ship_with_the_package_and_run_from_any_directory(real_data: Path,
                                                                tmp_path: Path) -> None:
    """Outside a checkout (cwd without benchmarks/ or baselines/) the packaged tiers are found."""
    from learnbench.config import packaged

    assert {p.stem for p in packaged("suites").glob("*.toml")} >= {"smoke", "ci", "paper"}
    assert (packaged("baselines") / "published" / "sources.toml").is_file()
    run = lambda *a: subprocess.run([sys.executable, "-m", "learnbench", *a],  # noqa: E731
                                    capture_output=True, text=True, timeout=600, cwd=tmp_path)
    listed = run("list", "suites")
    assert listed.returncode == 0 and "  smoke" in listed.stdout and "  paper" in listed.stdout
    out = run("run", "smoke", "--learner", "knn", "--dataset", "digits", "--out", "run")
    assert out.returncode == 0, out.stderr
    assert "1 ran" in out.stdout and len(list((tmp_path / "run").glob("*.json"))) == 1
