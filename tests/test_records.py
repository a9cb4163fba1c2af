"""Result records: atomic, schema-versioned JSON, loaded as a flat DataFrame."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from learnbench import records


def make_record(cell_id: str = "digits-knn-s0-cpu-abc", **over: object) -> dict:
    rec = {
        "run_id": "r1", "suite": "t", "cell_id": cell_id, "config_hash": "abc",
        "config": {"dataset": "digits", "learner": "knn", "params": {"n_neighbors": 3},
                   "seed": 0, "device": "cpu"},
        "status": "ok", "error": None,
        "metrics": {"accuracy": 0.9, "fit_seconds": 1.5, "n_parameters": None},
        "environment": {"git_commit": "deadbeef", "python": "3.11"},
        "started_at": "2026-11-25T20:00:00+00:00",
    }
    rec.update(over)
    return rec


def test_write_then_load_round_trip(tmp_path: Path) -> None:
    path = records.write_record(tmp_path, make_record())
    assert path.name == "digits-knn-s0-cpu-abc.json"
    assert json.loads(path.read_text())["schema_version"] == records.SCHEMA_VERSION
    assert not list(tmp_path.glob("*.tmp")), "temp file left behind"
    frame = records.load_runs(tmp_path)
    row = frame.iloc[0]
    assert (row["dataset"], row["learner"], row["label"], row["seed"]) == ("digits", "knn", "knn", 0)
    assert row["accuracy"] == pytest.approx(0.9)
    assert row["git_commit"] == "deadbeef"
    assert json.loads(row["params"]) == {"n_neighbors": 3}


def test_failed_write_keeps_previous_record(tmp_path: Path) -> None:
    records.write_record(tmp_path, make_record())
    bad = make_record(metrics={"accuracy": object()})  # not serialisable
    with pytest.raises(TypeError):
        records.write_record(tmp_path, bad)
    assert records.read_record(tmp_path / "digits-knn-s0-cpu-abc.json")["metrics"]["accuracy"] == 0.9
    assert not list(tmp_path.glob(".*.tmp"))


def test_rejects_unknown_status_and_schema(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="status"):
        records.write_record(tmp_path, make_record(status="done"))
    (tmp_path / "x.json").write_text(json.dumps({"schema_version": 99}))
    with pytest.raises(records.RecordError, match="schema_version 99"):
        records.load_runs(tmp_path, on_error=None)
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(records.RecordError, match="x.json"):
        records.load_runs(tmp_path, on_error=None)
    seen: list[str] = []
    assert records.load_runs(tmp_path, on_error=lambda e: seen.append(str(e))).empty
    assert len(seen) == 1 and seen[0].startswith(f"unreadable result record {tmp_path / 'x.json'}")


def test_recorded_cells_and_missing_dir(tmp_path: Path) -> None:
    assert records.recorded_cells(tmp_path / "none") == {}
    records.write_record(tmp_path, make_record("a", status="timeout", metrics=None))
    records.write_record(tmp_path, make_record("b"))
    assert records.recorded_cells(tmp_path) == {"a": "timeout", "b": "ok"}
    with pytest.raises(records.RecordError, match="no such run directory"):
        records.load_runs(tmp_path / "none")


def test_learner_extras_become_columns(tmp_path: Path) -> None:
    records.write_record(tmp_path, make_record("a", metrics={"accuracy": 0.5,
                                                             "extras": {"pair_roc_auc": 0.75}}))
    records.write_record(tmp_path, make_record("b"))
    frame = records.load_runs(tmp_path).set_index("cell_id")
    assert frame.loc["a", "extra_pair_roc_auc"] == 0.75
    assert pd.isna(frame.loc["b", "extra_pair_roc_auc"])


def test_profile_and_fit_report_columns(tmp_path: Path) -> None:
    phase = {"step_ms_median": 2.0, "step_ms_p95": 3.0, "achieved_tflops": 0.5,
             "profiler_overhead": 1.1}
    profile = {"device": "cpu", "phases": {"train": phase, "infer": {**phase, "step_ms_median": 1.0}},
               "max_memory_allocated_mb": None}
    records.write_record(tmp_path, make_record("a", details={"profile": profile,
                                                             "fit_report": {"n_levels": 3}}))
    records.write_record(tmp_path, make_record("b", details={"learner_params": {}}))
    frame = records.load_runs(tmp_path).set_index("cell_id")
    a, b = frame.loc["a"], frame.loc["b"]
    assert a["profile"] == profile and a["fit_report"] == {"n_levels": 3}
    assert b["profile"] is None and b["fit_report"] is None
    assert (a["train_step_ms"], a["train_step_ms_p95"], a["infer_step_ms"]) == (2.0, 3.0, 1.0)
    assert (a["train_tflops"], a["infer_tflops"], a["profiler_overhead_train"]) == (0.5, 0.5, 1.1)
    assert pd.isna(a["max_memory_allocated_mb"])
    for col in records.PROFILE_COLUMNS:
        assert pd.isna(b[col]), col
        assert frame[col].dtype.kind == "f", col


def test_git_state_dirty_for_code_edits_not_for_run_outputs(tmp_path) -> None:
    import subprocess

    from learnbench.harness.environment import git_state

    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path,
                       check=True, capture_output=True)

    (tmp_path / "results" / "ref").mkdir(parents=True)
    (tmp_path / "results" / "ref" / "suite-ci.toml").write_text("a\n")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "init")
    assert git_state(tmp_path)[1] is False
    (tmp_path / "results" / "ref" / "suite-ci.toml").write_text("b\n")  # a run rewrote its copy
    assert git_state(tmp_path)[1] is False
    (tmp_path / "code.py").write_text("x = 2\n")
    assert git_state(tmp_path)[1] is True
