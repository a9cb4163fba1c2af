"""The harness: each cell in a subprocess, records written as cells end, resume, failures kept."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from learnbench import records
from learnbench.harness import load_suite, run_suite
from learnbench.harness.runner import run_cell_subprocess
from learnbench.harness.suite import Cell

SUITE = """
[suite]
name = "t"
seeds = [0, 1]
timeout = 120
latency = {{ batch1_samples = 5, bulk_batch_size = 64, bulk_batches = 2 }}

[[datasets]]
name = "digits"

[[learners]]
name = "knn"
{extra}
"""


def suite_file(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "t.toml"
    path.write_text(SUITE.format(extra=extra))
    return path


@pytest.mark.slow
def test_run_writes_complete_records_and_resumes(tmp_path: Path) -> None:
    suite = load_suite(suite_file(tmp_path))
    run_dir = tmp_path / "run"
    summary = run_suite(suite, run_dir, progress=lambda _: None)
    assert summary.ok and len(summary.ran) == 2 and not summary.skipped

    recs = [records.read_record(p) for p in sorted(run_dir.glob("*.json"))]
    assert len(recs) == 2
    for rec in recs:
        m, env = rec["metrics"], rec["environment"]
        assert rec["status"] == "ok" and rec["run_id"] == "run" and rec["suite"] == "t"
        assert 0.9 < m["accuracy"] <= 1.0 and 0.9 < m["f1_macro"] <= 1.0
        assert m["n_train"] + m["n_test"] == 1797
        for key in ("fit_seconds", "predict_seconds", "train_throughput", "infer_b1_throughput",
                    "infer_bulk_throughput", "infer_b1_p50_ms", "infer_b1_p95_ms", "peak_rss_mb"):
            assert m[key] > 0, key
        assert m["infer_b1_p95_ms"] >= m["infer_b1_p50_ms"]
        assert m["infer_bulk_batch_size"] == 64
        for key in ("python", "torch", "sklearn", "xgboost", "numpy", "os", "cpu", "cpu_count"):
            assert env[key], key
        assert env["device"] == "cpu"
        assert rec["details"]["learner_params"]["n_neighbors"] == 3
        load = rec["details"]["host_load_1m"]
        assert len(load) == 2 and all(x >= 0 for x in load)
        assert rec["config_hash"].startswith(rec["cell_id"].rsplit("-", 1)[1])
    # seeds change the split, so the two cells differ
    assert recs[0]["metrics"]["accuracy"] != recs[1]["metrics"]["accuracy"]
    assert (run_dir / "suite-t.toml").is_file() and (run_dir / "logs").is_dir()

    before = {p.name: p.stat().st_mtime_ns for p in run_dir.glob("*.json")}
    again = run_suite(suite, run_dir, progress=lambda _: None)
    assert not again.ran and len(again.skipped) == 2
    assert before == {p.name: p.stat().st_mtime_ns for p in run_dir.glob("*.json")}


@pytest.mark.slow
def test_same_seed_reproduces_accuracy(tmp_path: Path) -> None:
    extra = '\n[[learners]]\nname = "random_forest"\nparams = { n_estimators = 5 }\n'
    suite = load_suite(suite_file(tmp_path, extra))
    a = run_suite(suite, tmp_path / "a", progress=lambda _: None)
    b = run_suite(suite, tmp_path / "b", progress=lambda _: None)
    assert a.ok and b.ok
    acc = lambda d: records.load_runs(d).set_index("cell_id")["accuracy"]  # noqa: E731
    assert acc(tmp_path / "a").equals(acc(tmp_path / "b"))


@pytest.mark.slow
def test_failing_cell_is_recorded_and_run_continues(tmp_path: Path) -> None:
    extra = '\n[[learners]]\nname = "knn"\nlabel = "knn-bad"\nparams = { n_neighbors = -1 }\n'
    suite = load_suite(suite_file(tmp_path, extra))
    summary = run_suite(suite, tmp_path / "run", progress=lambda _: None)
    assert len(summary.ran) == 4 and len(summary.failed) == 2
    frame = records.load_runs(tmp_path / "run")
    bad = frame[frame["label"] == "knn-bad"]
    assert set(bad["status"]) == {"error"}
    assert bad["error"].str.contains("n_neighbors").all()
    assert not bad["error"].str.contains("\n").any()
    assert set(frame[frame["label"] == "knn"]["status"]) == {"ok"}
    # failed cells are skipped on resume unless asked to retry
    assert len(run_suite(suite, tmp_path / "run", progress=lambda _: None).skipped) == 4
    retry = run_suite(suite, tmp_path / "run", retry_failed=True, progress=lambda _: None)
    assert sorted(retry.ran) == sorted(bad["cell_id"])


def fake_python(tmp_path: Path, body: str) -> str:
    script = tmp_path / "fake-python"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(script)


def test_killed_worker_is_recorded_as_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", fake_python(tmp_path, "echo dying; kill -9 $$"))
    result = run_cell_subprocess(Cell("digits", "knn", "knn", {}, 0, "cpu"), tmp_path / "x.log")
    assert result["status"] == "error"
    assert "SIGKILL" in result["error"] and "out of memory" in result["error"]
    assert "dying" in result["error"] and "x.log" in result["error"]


def test_hung_worker_times_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", fake_python(tmp_path, "sleep 60"))
    cell = Cell("digits", "knn", "knn", {}, 0, "cpu", timeout=0.5)
    result = run_cell_subprocess(cell, tmp_path / "x.log")
    assert result == {"status": "timeout",
                      "error": f"timed out after 0.5 s (log: {tmp_path / 'x.log'})"}


def test_unlabelled_rows_reach_fit_only_when_it_takes_them() -> None:
    from types import SimpleNamespace

    from learnbench.harness.worker import unlabelled_kwargs

    class Takes:
        def fit(self, X, y, X_unlabelled=None): ...

    class Ignores:
        def fit(self, X, y): ...

    data = SimpleNamespace(meta={"unsup_text": [f"review {i}" for i in range(10)]})
    assert unlabelled_kwargs(Ignores(), data, None, 0) == {}
    assert unlabelled_kwargs(Takes(), SimpleNamespace(meta={}), None, 0) == {}
    assert unlabelled_kwargs(Takes(), data, None, 0)["X_unlabelled"] == data.meta["unsup_text"]
    sub = unlabelled_kwargs(Takes(), data, 4, 0)["X_unlabelled"]
    assert len(sub) == 4 and len(set(sub)) == 4 and set(sub) <= set(data.meta["unsup_text"])
    assert sub == unlabelled_kwargs(Takes(), data, 4, 0)["X_unlabelled"]  # seeded
    assert sub != unlabelled_kwargs(Takes(), data, 4, 1)["X_unlabelled"]


@pytest.mark.slow
def test_profiled_cell_records_profile_and_trace_beside_the_record(tmp_path: Path) -> None:
    text = SUITE.format(extra=(
        '\n[[learners]]\nname = "lenet5"\nparams = { max_epochs = 1, batch_size = 64, '
        'predict_batch_size = 128 }\nprofile = { warmup = 1, steps = 2 }\n'
        '\n[[learners]]\nname = "logreg"\nprofile = true\n'
    )).replace("seeds = [0, 1]", "seeds = [0]")
    path = tmp_path / "t.toml"
    path.write_text(text)
    run_dir = tmp_path / "run"
    summary = run_suite(load_suite(path), run_dir, progress=lambda _: None)
    assert summary.ok and len(summary.ran) == 3
    recs = {r["config"]["learner"]: r for r in records.iter_records(run_dir)}
    assert "profile" not in recs["knn"]["details"] and "profile" not in recs["knn"]["config"]
    # a learner without profiling_steps is skipped, never failed
    assert "profile" not in recs["logreg"]["details"]
    assert "profiling_steps" in recs["logreg"]["details"]["profile_skipped"]

    rec = recs["lenet5"]
    assert rec["config"]["profile"] == {"warmup": 1, "steps": 2, "trace": True}
    prof = rec["details"]["profile"]
    assert prof["device"] == "cpu" and prof["device_name"]
    assert prof["options"] == {"cudnn_benchmark": False, "amp": None, "compile": False}
    assert rec["details"]["learner_params"]["amp"] is None
    assert prof["max_memory_allocated_mb"] is None
    for phase in ("train", "infer"):
        P = prof["phases"][phase]
        assert P["batch_size"] == (64 if phase == "train" else 128)
        assert P["step_ms_median"] > 0 and P["flops_per_step"] > 0 and P["top_ops"]
        assert P["trace"] == f"traces/{rec['cell_id']}-{phase}.json.gz"
        assert (run_dir / P["trace"]).is_file()
    roof = prof["roofline"]
    assert roof["dtype"] == "float32" and roof["peak_tflops"] is None
    assert roof["measured_matmul_tflops"] > 0 and roof["measured_bandwidth_gbs"] > 0
    assert roof["model_intensity"] > 0
    assert [layer["kind"] for layer in roof["layers"]] == ["conv", "conv", "linear", "linear",
                                                           "linear"]
    frame = records.load_runs(run_dir).set_index("label")
    assert frame.loc["lenet5", "train_step_ms"] == prof["phases"]["train"]["step_ms_median"]
    assert frame.loc["lenet5", "profile"] == prof and frame.loc["knn", "profile"] is None
