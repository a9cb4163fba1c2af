from __future__ import annotations

from pathlib import Path

import pytest

from learnbench import records
from learnbench.accept import MANIFEST, accept_run
from learnbench.cli import main
from learnbench.errors import LearnbenchError


def _record(cell_id: str, status: str) -> dict:
    return {"run_id": "run", "suite": "ci", "cell_id": cell_id, "status": status,
            "metrics": {"accuracy": 0.9} if status == "ok" else {},
            "environment": {"git_commit": "abc123", "cpu": "Xeon", "cpu_count": 2, "gpu": None}}


def test_accept_copies_ok_records_and_replaces_the_old_baseline(tmp_path: Path) -> None:
    run = tmp_path / "run"
    for cell_id, status in (("a", "ok"), ("b", "ok"), ("c", "error")):
        records.write_record(run, _record(cell_id, status))
    (run / "suite-ci.toml").write_text("[suite]\n")
    dest = tmp_path / "baselines" / "runs" / "ref"
    (dest / "stale").mkdir(parents=True)
    accept_run(run, dest)
    assert sorted(p.name for p in dest.iterdir()) == [MANIFEST, "a.json", "b.json", "suite-ci.toml"]
    assert records.read_record(dest / "a.json") == records.read_record(run / "a.json")
    manifest = (dest / MANIFEST).read_text()
    assert "cells: 2 ok (1 failed or timed out, not accepted)" in manifest and "abc123" in manifest


def test_accept_refuses_a_run_without_ok_records(tmp_path: Path) -> None:
    records.write_record(tmp_path / "run", _record("c", "error"))
    with pytest.raises(LearnbenchError, match="no ok result records"):
        accept_run(tmp_path / "run", tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_cli_accept_writes_under_baselines_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    records.write_record(tmp_path / "results" / "ref", _record("a", "ok"))
    assert main(["accept", "results/ref"]) == 0
    assert (tmp_path / "baselines" / "runs" / "ref" / "a.json").is_file()
