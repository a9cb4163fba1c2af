"""Report sections that need newer record data: model size and cost, extra metrics, the MobileNet
cost comparison and "Where the time goes" (profiles). Each appears with the records' numbers,
is left out (with its files) when the data is absent, and rebuilds byte-identically.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from learnbench.learners.flops import mobilenet_cost_comparison
from learnbench.records import load_runs, write_record
from learnbench.reporting import build_report
from learnbench.reporting.mobilenet import mobilenet_comparison

SEEDS = (0, 1, 2)
REPO = Path(__file__).resolve().parents[1]
COST = mobilenet_cost_comparison((1, 28, 28), 10, 0.5, 1.0)
ACC = {"mobilenet": [0.981, 0.984, 0.979], "mobilenet_standard": [0.986, 0.985, 0.988],
       "logreg": [0.91, 0.92, 0.90], "triplet": [0.97, 0.95, 0.96]}


def _profile(kind: str, peak: float | None, trace: str | None) -> dict:
    """A profile dict in the records' schema; numbers chosen to be easy to check."""

    def phase(batch: int, median: float, tflops: float, shift: int) -> dict:
        ops = [{"name": f"aten::op{i}", "op_class": "convolution" if i % 2 else "elementwise",
                "calls": 10 * (i + 1), "total_ms": float(100 - 10 * i + shift),
                "mean_us": 50.0 + i, "share": (100 - 10 * i) / 1000} for i in range(7)]
        return {"batch_size": batch, "warmup": 5, "steps": 20, "step_ms_median": median,
                "step_ms_p95": median * 1.5, "profiled_step_ms_median": median * 1.25,
                "profiler_overhead": 0.25, "flops_per_step": int(tflops * median * 1e9),
                "achieved_tflops": tflops, "top_ops": ops,
                "time_by_class_ms": {"convolution": median * 0.5, "gemm": median * 0.1,
                                     "elementwise": median * 0.2, "memory": median * 0.15,
                                     "other": median * 0.05},
                "trace": trace}

    layers = [{"name": "blocks.0.0", "kind": "depthwise conv", "flops": 1000, "bytes": 2000,
               "intensity": 0.5},
              {"name": "blocks.0.3", "kind": "pointwise conv", "flops": 64000, "bytes": 4000,
               "intensity": 16.0},
              {"name": "blocks.1.3", "kind": "pointwise conv", "flops": 64000, "bytes": 4000,
               "intensity": 16.0}]
    return {
        "device": "cuda:0", "device_name": "NVIDIA H100 80GB HBM3",
        "options": {"cudnn_benchmark": True, "amp": None, "compile": False},
        "phases": {"train": phase(128, 8.0, 2.0 if kind == "mobilenet" else 4.0, 0),
                   "infer": phase(1024, 4.0, 5.0, 3)},
        "max_memory_allocated_mb": 1234.5,
        "roofline": {"dtype": "float32", "peak_tflops": peak,
                     "peak_bandwidth_gbs": 3350.0 if peak else None,
                     "peak_source": "vendor datasheet (test)" if peak else None,
                     "measured_matmul_tflops": 40.0, "measured_bandwidth_gbs": 2500.0,
                     "model_intensity": 12.5, "layers": layers},
    }


def _record(learner: str, seed: int, *, flops_off: int = 0, profile: dict | None = None,
            shape: bool = True) -> dict:
    acc = ACC[learner][seed]
    metrics: dict = {"accuracy": acc, "f1_macro": acc, "fit_seconds": 10.0 + seed,
                     "train_throughput": 1000.0 * (seed + 1), "infer_bulk_throughput": 5000.0
                     + seed, "n_train": 1000, "n_test": 200}
    params: dict = {}
    learner_params: dict = {"random_state": seed}
    if learner.startswith("mobilenet"):
        sep = learner == "mobilenet"
        params = {"width_mult": 0.5}
        learner_params.update(width_mult=0.5, resolution_mult=1.0, separable=sep)
        if shape:
            learner_params["input_shape"] = [1, 28, 28]
        metrics["n_parameters"] = COST["separable_parameters" if sep else "standard_parameters"]
        mult_adds = COST["separable_mult_adds" if sep else "standard_mult_adds"]
        metrics["flops_per_sample"] = 2 * mult_adds + (0 if sep else flops_off)
        metrics["train_throughput"] = (700.0 if sep else 350.0) + seed
        metrics["infer_bulk_throughput"] = (1600.0 if sep else 800.0) + seed
    elif learner == "logreg":
        metrics["n_parameters"] = 7850
    else:  # triplet: extras only
        metrics["extras"] = {"verification_roc_auc": [0.99, 0.97, 0.98][seed],
                             "verification_eer": [0.05, 0.07, 0.06][seed]}
    details: dict = {"learner_params": learner_params, "n_classes": 10}
    if profile is not None:
        details["profile"] = profile
    return {
        "run_id": "r1", "suite": "ci", "cell_id": f"mnist-{learner}-s{seed}-cpu",
        "config_hash": "0" * 64,
        "config": {"dataset": "mnist", "dataset_params": {}, "learner": learner,
                   "label": learner, "params": params, "seed": seed, "device": "cuda"},
        "status": "ok", "error": None, "metrics": metrics, "details": details,
        "environment": {"git_commit": "a" * 40, "git_dirty": False, "cpu": "Test CPU",
                        "cpu_count": 2, "os": "Linux", "torch": "2.14.1"},
        "started_at": f"2026-11-25T20:0{seed}:00+00:00", "wall_seconds": 1.0,
    }


def _write(run: Path, learners: tuple[str, ...], **kw) -> Path:
    for learner in learners:
        for seed in SEEDS:
            extra = dict(kw)
            if "profiles" in extra:
                prof = extra.pop("profiles").get(learner)
                extra["profile"] = copy.deepcopy(prof) if prof else None
            if learner != "mobilenet_standard":
                extra.pop("flops_off", None)
            write_record(run, _record(learner, seed, **extra))
    return run


def _md_section(md: str, title: str) -> str:
    return md.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def _rows(section: str) -> list[dict[str, str]]:
    lines = [ln for ln in section.splitlines() if ln.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    return [dict(zip(header, [c.strip() for c in ln.strip("|").split("|")], strict=True))
            for ln in lines[2:]]


ALL = ("logreg", "mobilenet", "mobilenet_standard", "triplet")


def test_model_cost_and_extras(tmp_path: Path) -> None:
    out = tmp_path / "out"
    build_report([_write(tmp_path / "run", ALL)], out)
    md = (out / "report.md").read_text()
    rows = {r["Learner"]: r for r in _rows(_md_section(md, "Model size and cost"))}
    assert set(rows) == {"logreg", "mobilenet", "mobilenet_standard"}  # triplet: no size
    mob = rows["mobilenet"]
    assert mob["params"] == f"{COST['separable_parameters']:,}"
    assert mob["FLOPs/sample"] == f"{2 * COST['separable_mult_adds']:,}"
    assert mob["train [samples/s]"] == "701" and mob["bulk infer [samples/s]"] == "1,601"
    assert mob["accuracy [%]"] == f"{np.mean(ACC['mobilenet']) * 100:.2f}"
    assert rows["logreg"]["FLOPs/sample"] == "–"
    extras = {r["Metric"]: r for r in _rows(_md_section(md, "Extra metrics"))}
    auc = np.array([0.99, 0.97, 0.98])
    assert extras["verification_roc_auc"]["mean ± std"] == (
        f"{auc.mean():.4g} ± {auc.std(ddof=1):.4g}")
    assert extras["verification_eer"]["Learner"] == "triplet"
    tex = (out / "model_cost.tex").read_text()
    body = "\n".join(ln for ln in tex.splitlines() if not ln.startswith("%"))
    assert body.count(r"\toprule") == 1 and "mobilenet\\_standard" in body
    assert f"{2 * COST['standard_mult_adds']:,}" in body


def test_mobilenet_section_numbers_and_verdict(tmp_path: Path) -> None:
    out = tmp_path / "out"
    build_report([_write(tmp_path / "run", ALL)], out)
    md = (out / "report.md").read_text()
    variants = _rows(_md_section(md, "MobileNet: depthwise-separable vs standard convolutions"))
    assert [r["Variant"] for r in variants] == ["depthwise-separable", "standard conv"]
    assert variants[1]["mult-adds/sample"] == f"{COST['standard_mult_adds']:,}"
    assert variants[0]["Config"] == "alpha=0.5, rho=1"
    ratios_section = _md_section(md, "MobileNet: cost ratios")
    (ratios,) = _rows(ratios_section)
    counted = COST["separable_mult_adds"] / COST["standard_mult_adds"]
    assert ratios["counted mult-adds"] == f"{counted:.4f}"
    assert ratios["analytic (whole net)"] == f"{COST['analytic_ratio']:.4f}"
    assert ratios["check"] == "agree"
    per_block = [1 / b["out_channels"] + 1 / 9 for b in COST["blocks"]]
    assert ratios["per block 1/N + 1/9"] == f"{min(per_block):.4f}–{max(per_block):.4f}"
    assert ratios["train speed-up"] == f"{701 / 351:.2f}"
    assert ratios["infer speed-up"] == f"{1601 / 801:.2f}"
    assert "= analytic" in ratios_section and "MISMATCH" not in ratios_section
    tex = (out / "mobilenet.tex").read_text()
    assert tex.count(r"\toprule") == 2 and "agree" in tex

    # Two mult-adds more in the standard net: the counted ratio no longer equals the plan's.
    bad = tmp_path / "bad"
    build_report([_write(tmp_path / "run-bad", ALL, flops_off=2 * 5000)], bad)
    md = (bad / "report.md").read_text()
    (ratios,) = _rows(_md_section(md, "MobileNet: cost ratios"))
    assert ratios["check"] == "MISMATCH"
    assert "MISMATCH" in _md_section(md, "MobileNet: cost ratios")


def test_mobilenet_comparison_frame_and_unknown_shape(tmp_path: Path) -> None:
    run = _write(tmp_path / "run", ("mobilenet", "mobilenet_standard"), shape=False)
    df = load_runs(run)
    comp = mobilenet_comparison(df)
    assert len(comp) == 1 and comp.loc[0, "agrees"] is None
    assert comp.loc[0, "counted_ratio"] == pytest.approx(
        COST["separable_mult_adds"] / COST["standard_mult_adds"], abs=0)
    build_report([run], tmp_path / "out")
    md = (tmp_path / "out" / "report.md").read_text()
    assert "analytic ratio unknown (input shape)" in md
    # Only one variant: no comparison.
    solo = _write(tmp_path / "solo", ("mobilenet",))
    assert mobilenet_comparison(load_runs(solo)).empty


def test_sections_absent_without_data(tmp_path: Path) -> None:
    out = tmp_path / "out"
    build_report([_write(tmp_path / "full", ALL, profiles={
        "mobilenet": _profile("mobilenet", 67.0, None)})], out)
    assert (out / "mobilenet.tex").exists() and (out / "time_by_class.png").exists()
    # Rebuild the same out dir from a run with none of that data: sections and files go.
    build_report([_write(tmp_path / "plain", ("logreg",))], out)
    md = (out / "report.md").read_text()
    for title in ("Model size and cost", "Extra metrics", "MobileNet", "Where the time goes"):
        assert f"## {title}" not in md
    names = {p.name for p in out.iterdir()}
    assert not {"model_cost.tex", "mobilenet.tex", "time_by_class.png"} & names
    assert not [n for n in names if n.startswith("roofline_")]


def test_where_the_time_goes(tmp_path: Path) -> None:
    profs = {"mobilenet": _profile("mobilenet", 67.0, "traces/mobilenet-train.json.gz"),
             "mobilenet_standard": _profile("mobilenet_standard", None, None)}
    run = _write(tmp_path / "run", ALL, profiles=profs)
    out = tmp_path / "reports" / "out"
    paths = build_report([run], out)
    names = {p.name for p in paths}
    assert {"time_by_class.png", "roofline_NVIDIA_H100_80GB_HBM3.png"} <= names
    md = (out / "report.md").read_text()
    section = _md_section(md, "Where the time goes")
    rows = {(r["Learner"], r["Phase"]): r for r in _rows(section)}
    assert set(rows) == {(m, p) for m in profs for p in ("train", "infer")}
    train = rows[("mobilenet", "train")]
    assert train["Seed"] == "0" and train["Device"] == "NVIDIA H100 80GB HBM3"
    assert train["median [ms]"] == "8.00" and train["p95 [ms]"] == "12.0"
    assert train["TFLOP/s"] == "2" and train["% peak"] == f"{100 * 2 / 67:.1f}%"
    assert train["% matmul"] == "5.0%" and train["profiler overhead"] == "+25%"
    assert train["max GPU mem [MB]"] == "1,234"
    assert rows[("mobilenet_standard", "train")]["% peak"] == "n/a"
    assert "vendor datasheet (test)" in section
    assert "![time per step by operator class](time_by_class.png)" in section
    ops_section = _md_section(md, "Where the time goes: top operators")
    ops = [r for r in _rows(ops_section) if (r["Learner"], r["Phase"]) == ("mobilenet", "infer")]
    assert [r["Operator"] for r in ops] == [f"aten::op{i}" for i in range(5)]
    assert ops[0]["total [ms]"] == "103" and ops[0]["share"] == "10.0%"
    assert "(../../run/traces/mobilenet-train.json.gz)" in ops_section
    html = (out / "report.html").read_text()
    assert 'href="../../run/traces/mobilenet-train.json.gz"' in html
    assert 'src="roofline_NVIDIA_H100_80GB_HBM3.png"' in html


def test_profile_pngs_byte_identical(tmp_path: Path) -> None:
    profs = {"mobilenet": _profile("mobilenet", 67.0, None),
             "mobilenet_standard": _profile("mobilenet_standard", 67.0, None)}
    run = _write(tmp_path / "run", ALL, profiles=profs)
    first = build_report([run], tmp_path / "one")
    second = build_report([run], tmp_path / "two")
    assert [p.name for p in first] == [p.name for p in second]
    pngs = [p for p in first if p.name.startswith(("roofline_", "time_by_class"))]
    assert len(pngs) == 2
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name
        if a.suffix == ".png":
            assert a.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_reference_cpu_report_builds(tmp_path: Path) -> None:
    ref = REPO / "results" / "reference-cpu"
    if not ref.is_dir():
        pytest.skip("no committed reference run")
    out = tmp_path / "out"
    build_report([ref], out)
    md = (out / "report.md").read_text()
    df = load_runs(ref)
    ok = df[df["status"] == "ok"]
    torch_rows = ok[ok["flops_per_sample"].notna()]
    assert ("## Model size and cost" in md) == (not torch_rows.empty)
    both = {"mobilenet", "mobilenet_standard"} <= set(ok["learner"])
    assert ("## MobileNet: cost ratios" in md) == both
    if both:
        assert "MISMATCH" not in _md_section(md, "MobileNet: cost ratios")
    if not torch_rows.empty:
        first = torch_rows.sort_values(["dataset_label", "label"]).iloc[0]
        g = torch_rows[(torch_rows["dataset_label"] == first["dataset_label"])
                       & (torch_rows["label"] == first["label"])]
        row = next(r for r in _rows(_md_section(md, "Model size and cost"))
                   if (r["Dataset"], r["Learner"]) == (first["dataset_label"], first["label"]))
        assert row["FLOPs/sample"] == f"{round(g['flops_per_sample'].median()):,}"
        assert (out / "model_cost.tex").exists()


def test_cpu_profile_without_peaks_or_flops(tmp_path: Path) -> None:
    """A CPU profile: no table peak, no GPU memory, one phase without a FLOP count, an op class
    the report does not know (counted as other): the section still renders, honestly."""
    prof = _profile("mobilenet", None, None)
    prof.update(device="cpu", device_name="Test CPU", max_memory_allocated_mb=None)
    prof["phases"]["infer"]["achieved_tflops"] = None
    prof["phases"]["train"]["time_by_class_ms"]["communication"] = 1.0
    run = _write(tmp_path / "run", ("mobilenet",), profiles={"mobilenet": prof})
    out = tmp_path / "out"
    names = {p.name for p in build_report([run], out)}
    assert {"time_by_class.png", "roofline_Test_CPU.png"} <= names
    section = _md_section((out / "report.md").read_text(), "Where the time goes")
    rows = {r["Phase"]: r for r in _rows(section)}
    assert rows["infer"]["TFLOP/s"] == "–" and rows["infer"]["% peak"] == "n/a"
    assert rows["train"]["max GPU mem [MB]"] == "–"
    assert "Test CPU (float32): no table peak known" in section
    from learnbench.reporting import profiles

    prof_df = profiles.profiled(load_runs(run))
    ((_, train), _) = profiles.class_times(prof_df)
    assert train["other"] == pytest.approx(8.0 * 0.05 + 1.0)
    (dev,) = profiles.roofline_devices(prof_df)
    assert dev.ceiling_tflops == 40.0 and dev.bandwidth_gbs == 2500.0
    assert [m["phase"] for m in dev.models] == ["train"]
    kinds = {k["kind"]: k["intensity"] for k in dev.kinds}
    assert kinds == {"depthwise conv": 0.5, "pointwise conv": 16.0}
    assert dev.attainable_tflops(0.5) == pytest.approx(0.5 * 2500 / 1e3)  # memory-bound
    assert dev.attainable_tflops(1e6) == 40.0
