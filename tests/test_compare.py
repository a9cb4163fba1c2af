"""``learnbench compare``: injected slowdowns and accuracy drops are flagged, same-distribution
noise is not, hardware changes do not gate timings, missing cells are listed, bad input is one
line with exit code 2.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from learnbench.cli import main
from learnbench.compare import compare_runs
from learnbench.records import write_record

CPU = "Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz"
OTHER_CPU = "AMD EPYC 7763 64-Core Processor"
BASE_METRICS = {"accuracy": 0.95, "fit_seconds": 10.0, "predict_seconds": 0.5,
                "train_throughput": 6000.0, "infer_b1_throughput": 900.0,
                "infer_bulk_throughput": 50000.0, "infer_b1_p50_ms": 1.1,
                "infer_bulk_p50_ms": 20.0, "peak_rss_mb": 800.0}


def write_run(run_dir: Path, *, scale: dict[str, float] | None = None, noise: float = 0.0,
              seeds: tuple[int, ...] = (0, 1, 2), rng_seed: int = 0, cpu: str = CPU,
              learners: tuple[str, ...] = ("logreg", "lenet5"), commit: str = "a" * 40,
              started: str = "2026-11-20T10:00:00+00:00",
              values: dict[str, list[float]] | None = None) -> Path:
    """One synthetic run: every learner on mnist, ``seeds`` repeats, metrics × scale × noise;
    ``values`` gives a metric's exact per-seed values instead."""
    rng = np.random.default_rng(rng_seed)
    for learner in learners:
        for seed in seeds:
            metrics = {}
            for name, value in BASE_METRICS.items():
                v = value * (scale or {}).get(name, 1.0)
                if name == "accuracy":
                    metrics[name] = v + rng.normal(0, 0.002) if noise else v
                else:
                    metrics[name] = v * (1 + rng.normal(0, noise))
            for name, per_seed in (values or {}).items():
                metrics[name] = per_seed[seed]
            config = {"dataset": "mnist", "dataset_label": "mnist", "dataset_params": {},
                      "learner": learner, "label": learner, "params": {}, "seed": seed,
                      "device": "cpu"}
            write_record(run_dir, {
                "run_id": run_dir.name, "suite": "ci", "cell_id": f"mnist-{learner}-s{seed}",
                "config_hash": f"{learner}{seed}", "config": config, "status": "ok",
                "metrics": metrics, "started_at": started,
                "environment": {"cpu": cpu, "cpu_count": 2, "gpu": None, "git_commit": commit,
                                "git_dirty": False},
            })
    return run_dir


def test_injected_2x_slowdown_is_a_regression(tmp_path: Path, capsys) -> None:
    base = write_run(tmp_path / "base", noise=0.03, rng_seed=1)
    new = write_run(tmp_path / "new", noise=0.03, rng_seed=2, scale={"fit_seconds": 2.0})
    result = compare_runs(base, new)
    reg = result.regressions
    assert set(reg["metric"]) == {"fit_seconds"}
    assert set(reg["label"]) == {"logreg", "lenet5"}
    assert reg["change"].between(1.8, 2.2).all()
    assert (reg["ci_low"] > 1.0).all() and reg["gating"].all()
    assert main(["compare", str(base), str(new)]) == 1
    out = capsys.readouterr().out
    assert "fit_seconds" in out and "regression" in out and "2 regressions (2 gating)" in out


def test_same_distribution_is_not_flagged(tmp_path: Path, capsys) -> None:
    base = write_run(tmp_path / "base", noise=0.03, rng_seed=1)
    new = write_run(tmp_path / "new", noise=0.03, rng_seed=2)
    result = compare_runs(base, new)
    assert result.regressions.empty
    assert len(result.table) == 2 * len(BASE_METRICS)  # everything was compared
    assert not result.table["beyond_threshold"].any()
    assert main(["compare", str(base), str(new)]) == 0
    assert "0 regressions" in capsys.readouterr().out


def test_large_but_noisy_change_is_not_significant(tmp_path: Path) -> None:
    """Means 13% apart but the repeats overlap: the CI includes 1, so no regression."""
    base = write_run(tmp_path / "base", values={"fit_seconds": [10.0, 15.0, 6.0]})
    new = write_run(tmp_path / "new", values={"fit_seconds": [12.0, 7.0, 16.0]})
    result = compare_runs(base, new, metrics=["fit_seconds"])
    row = result.table.iloc[0]
    assert row["change"] == pytest.approx(35 / 31) and row["beyond_threshold"]
    assert row["ci_low"] < 1 < row["ci_high"] and row["verdict"] == "unchanged"
    assert result.exit_code == 0


def test_help(capsys) -> None:
    for command in ("compare", "history"):
        with pytest.raises(SystemExit) as exc:
            main([command, "--help"])
        assert exc.value.code == 0
        assert f"usage: learnbench {command}" in capsys.readouterr().out


def test_improvement_is_not_a_regression(tmp_path: Path) -> None:
    base = write_run(tmp_path / "base", noise=0.03, rng_seed=1)
    new = write_run(tmp_path / "new", noise=0.03, rng_seed=2,
                    scale={"fit_seconds": 0.5, "train_throughput": 2.0})
    result = compare_runs(base, new)
    assert result.regressions.empty and result.exit_code == 0
    improved = result.table[result.table["verdict"] == "improvement"]
    assert set(improved["metric"]) == {"fit_seconds", "train_throughput"}


def test_throughput_drop_is_a_regression(tmp_path: Path) -> None:
    """Direction: lower throughput is worse (higher fit_seconds is worse, tested above)."""
    base = write_run(tmp_path / "base", noise=0.03, rng_seed=1)
    new = write_run(tmp_path / "new", noise=0.03, rng_seed=2,
                    scale={"infer_bulk_throughput": 0.5})
    result = compare_runs(base, new)
    assert set(result.regressions["metric"]) == {"infer_bulk_throughput"}
    assert result.exit_code == 1


def test_accuracy_drop_is_flagged(tmp_path: Path) -> None:
    base = write_run(tmp_path / "base", noise=0.03, rng_seed=1)
    new = write_run(tmp_path / "new", noise=0.03, rng_seed=2,
                    scale={"accuracy": 0.97})  # 0.95 -> 0.9215: -2.85 points
    result = compare_runs(base, new)
    reg = result.regressions
    assert set(reg["metric"]) == {"accuracy"}
    assert (reg["kind"] == "diff").all() and (reg["ci_high"] < 0).all()
    assert result.exit_code == 1
    # Below the tolerance the same drop is significant but not a regression.
    assert compare_runs(base, new, accuracy_tolerance=0.05).exit_code == 0


def test_hardware_change_reports_timings_without_gating(tmp_path: Path, capsys) -> None:
    base = write_run(tmp_path / "base", noise=0.03, rng_seed=1)
    new = write_run(tmp_path / "new", noise=0.03, rng_seed=2, cpu=OTHER_CPU,
                    scale={"fit_seconds": 2.0})
    result = compare_runs(base, new)
    assert set(result.regressions["metric"]) == {"fit_seconds"}
    assert not result.regressions["gating"].any()
    assert main(["compare", str(base), str(new)]) == 0
    out = capsys.readouterr().out
    assert f"hardware differs: {CPU} x2 vs {OTHER_CPU} x2" in out
    assert "not gating" in out and "fit_seconds" in out


def test_hardware_change_still_gates_accuracy(tmp_path: Path) -> None:
    base = write_run(tmp_path / "base", noise=0.03, rng_seed=1)
    new = write_run(tmp_path / "new", noise=0.03, rng_seed=2, cpu=OTHER_CPU,
                    scale={"accuracy": 0.9, "fit_seconds": 2.0})
    result = compare_runs(base, new)
    gating = result.regressions[result.regressions["gating"]]
    assert set(gating["metric"]) == {"accuracy"}
    assert result.exit_code == 1


def test_single_repeat_is_not_called_significant(tmp_path: Path, capsys) -> None:
    base = write_run(tmp_path / "base", seeds=(0,))
    new = write_run(tmp_path / "new", seeds=(0,), scale={"fit_seconds": 2.0})
    result = compare_runs(base, new)
    assert (result.table["verdict"] == "untested").all()
    assert result.regressions.empty
    assert main(["compare", str(base), str(new)]) == 0
    out = capsys.readouterr().out
    assert "n=1/1: no CI" in out and "untested" in out


def test_cells_in_one_run_only_are_listed(tmp_path: Path, capsys) -> None:
    base = write_run(tmp_path / "base", learners=("logreg", "knn"))
    new = write_run(tmp_path / "new", learners=("logreg", "lenet5"))
    result = compare_runs(base, new)
    assert [k[1] for k in result.only_base] == ["knn"]
    assert [k[1] for k in result.only_new] == ["lenet5"]
    assert set(result.table["label"]) == {"logreg"}
    out_md = tmp_path / "cmp.md"
    assert main(["compare", str(base), str(new), "--out", str(out_md)]) == 0
    out = capsys.readouterr().out
    assert "only in base: mnist / knn (cpu)" in out
    assert "only in new: mnist / lenet5 (cpu)" in out
    assert "only in new: mnist / lenet5" in out_md.read_text()


def test_metrics_option_limits_the_comparison(tmp_path: Path) -> None:
    base = write_run(tmp_path / "base", noise=0.03, rng_seed=1)
    new = write_run(tmp_path / "new", noise=0.03, rng_seed=2, scale={"fit_seconds": 2.0})
    assert main(["compare", str(base), str(new), "--metrics", "accuracy", "peak_rss_mb"]) == 0
    result = compare_runs(base, new, metrics=["accuracy"])
    assert set(result.table["metric"]) == {"accuracy"}


@pytest.mark.parametrize("case", ["missing_dir", "empty_dir", "no_common", "bad_metric"])
def test_bad_input_is_one_line_exit_2(tmp_path: Path, capsys, case: str) -> None:
    base = write_run(tmp_path / "base", learners=("logreg",))
    new = tmp_path / "new"
    extra: list[str] = []
    expected = {"missing_dir": "no such run directory", "empty_dir": "no result records",
                "no_common": "no matching cells", "bad_metric": "unknown metric 'bogus'"}[case]
    if case == "empty_dir":
        new.mkdir()
    elif case == "no_common":
        write_run(new, learners=("knn",))
    elif case == "bad_metric":
        write_run(new, learners=("logreg",))
        extra = ["--metrics", "bogus"]
    assert main(["compare", str(base), str(new), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("learnbench: error: ") and expected in err
    assert err.count("\n") == 1
