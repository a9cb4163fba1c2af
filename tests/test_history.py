"""``learnbench history``: runs in started_at order labelled by commit, mean ± std error per
(dataset, learner), one PNG per dataset plus a Markdown table, byte-identical rebuilds.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from learnbench.cli import main
from learnbench.records import write_record
from learnbench.reporting.history import build_history, history_table, load_history

# Directory names sort opposite to start times, so ordering by name would be caught.
RUNS = [  # (dir name, commit, started_at, throughput scale)
    ("run-c", "1111111111aaaaaaaaaa", "2026-11-01T09:00:00+00:00", 1.0),
    ("run-b", "2222222222bbbbbbbbbb", "2026-11-02T09:00:00+00:00", 1.0),
    ("run-a", "3333333333cccccccccc", "2026-11-03T09:00:00+00:00", 0.5),
]
SEEDS = (0, 1, 2)


def _write_runs(root: Path) -> list[Path]:
    dirs = []
    for name, commit, started, scale in RUNS:
        run_dir = root / name
        for dataset in ("mnist", "digits"):
            for learner in ("logreg", "lenet5"):
                for seed in SEEDS:
                    value = (1000.0 + 10 * seed) * scale * (2 if learner == "lenet5" else 1)
                    # Later seeds start later: the run's position is its earliest record.
                    ts = started.replace("09:00:00", f"09:0{seed}:00")
                    write_record(run_dir, {
                        "run_id": name, "suite": "ci", "cell_id": f"{dataset}-{learner}-s{seed}",
                        "config": {"dataset": dataset, "learner": learner, "seed": seed,
                                   "device": "cpu", "params": {}, "dataset_params": {}},
                        "status": "ok", "metrics": {"train_throughput": value},
                        "started_at": ts,
                        "environment": {"git_commit": commit, "git_dirty": False, "cpu": "x",
                                        "cpu_count": 2, "gpu": None},
                    })
        dirs.append(run_dir)
    return dirs


def test_runs_ordered_by_started_at_and_labelled_by_commit(tmp_path: Path) -> None:
    dirs = _write_runs(tmp_path)
    _, runs = load_history(list(reversed(dirs)))  # argument order must not matter
    assert list(runs["name"]) == ["run-c", "run-b", "run-a"]
    assert list(runs["x_label"]) == ["11111111", "22222222", "33333333"]


def test_history_values_are_mean_and_standard_error(tmp_path: Path) -> None:
    dirs = _write_runs(tmp_path)
    df, runs = load_history(dirs)
    stats = history_table(df, runs, "train_throughput")
    row = stats[(stats["dataset"] == "mnist") & (stats["learner"] == "logreg")
                & (stats["run_index"] == 2)].iloc[0]
    values = np.array([(1000.0 + 10 * s) * 0.5 for s in SEEDS])
    assert row["mean"] == pytest.approx(values.mean())
    assert row["sem"] == pytest.approx(values.std(ddof=1) / np.sqrt(len(values)))
    assert row["n"] == 3 and row["x_label"] == "33333333"


def test_history_writes_png_per_dataset_and_table(tmp_path: Path, capsys) -> None:
    dirs = _write_runs(tmp_path / "runs")
    out = tmp_path / "out"
    assert main(["history", *map(str, dirs), "--metric", "train_throughput",
                 "--out", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["history_train_throughput.md", "history_train_throughput_digits.png",
                     "history_train_throughput_mnist.png"]
    for png in out.glob("*.png"):
        data = png.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and b"Software" not in data
    md = (out / "history_train_throughput.md").read_text()
    header = next(line for line in md.splitlines() if line.startswith("| learner"))
    assert re.findall(r"[0-9]{8}", header) == ["11111111", "22222222", "33333333"]
    logreg = next(line for line in md.split("## mnist")[1].splitlines()
                  if line.startswith("| logreg"))
    assert "1,010 ± 5.774 (3)" in logreg and "505 ± 2.887 (3)" in logreg


def test_history_is_byte_reproducible(tmp_path: Path) -> None:
    dirs = _write_runs(tmp_path / "runs")
    first = {p.name: p.read_bytes() for p in build_history(dirs, tmp_path / "one")}
    shutil.rmtree(tmp_path / "one")
    again = {p.name: p.read_bytes() for p in build_history(dirs, tmp_path / "one")}
    other = {p.name: p.read_bytes() for p in build_history(list(reversed(dirs)), tmp_path / "two")}
    assert len(first) == 3
    assert first == again == other


def test_history_errors_are_one_line(tmp_path: Path, capsys) -> None:
    dirs = _write_runs(tmp_path / "runs")
    assert main(["history", str(dirs[0]), "--metric", "bogus", "--out", str(tmp_path)]) == 2
    assert "unknown metric 'bogus'" in capsys.readouterr().err
    assert main(["history", str(dirs[0]), "--metric", "gpu_peak_mb",
                 "--out", str(tmp_path)]) == 2
    assert "no ok values of gpu_peak_mb" in capsys.readouterr().err
    assert main(["history", str(tmp_path / "missing"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no such run directory" in err and err.count("\n") == 1
