"""Run one cell in this process: load data, fit, predict, measure. The runner starts it as
``python -m learnbench.harness.worker CONFIG_JSON OUT_JSON`` so a crash, a leak or an
out-of-memory kill stays inside the cell.
"""

from __future__ import annotations

import json
import os
import random
import sys
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from learnbench.harness import measure


def subsample(X: Any, y: np.ndarray, n: int | None, seed: int) -> tuple[Any, np.ndarray]:
    """A stratified subsample of ``n`` rows chosen by ``seed`` (all rows when n is None or >= len)."""
    if n is None or n >= len(y):
        return X, y
    from sklearn.model_selection import train_test_split

    X_sub, _, y_sub, _ = train_test_split(X, y, train_size=n, stratify=y, random_state=seed)
    return X_sub, y_sub


#: The suite's dataset keys that pick rows after loading (not parameters of the loader).
SUBSAMPLE_KEYS = ("subsample_train", "subsample_test", "subsample_unlabelled")

# Where a dataset keeps rows without labels (IMDB's 50,000 "unsup" reviews, include_unsup=True).
UNLABELLED_META_KEYS = ("X_unlabelled", "unsup_text")


def unlabelled_kwargs(est: Any, data: Any, n: int | None, seed: int) -> dict[str, Any]:
    """``{"X_unlabelled": rows}`` when the dataset has unlabelled rows and ``est.fit`` takes them.

    ``n`` (the suite's ``subsample_unlabelled``) keeps a random subset chosen by ``seed``.
    """
    import inspect

    rows = next((data.meta[k] for k in UNLABELLED_META_KEYS if data.meta.get(k) is not None), None)
    if rows is None or "X_unlabelled" not in inspect.signature(est.fit).parameters:
        return {}
    if n is not None and n < len(rows):
        keep = np.sort(np.random.default_rng(seed).choice(len(rows), size=n, replace=False))
        rows = [rows[i] for i in keep] if isinstance(rows, list) else rows[keep]
    return {"X_unlabelled": rows}


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and, when a learner has imported it, torch.

    torch is not imported here: a classical cell would pay ~1.5 s to load it for nothing.
    """
    random.seed(seed)
    np.random.seed(seed)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)


def configure_threads(threads: int) -> None:
    """Pin torch's intra-op threads (the runner already set OMP/MKL variables for the child)."""
    if threads > 0 and "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


def run_cell(config: dict[str, Any]) -> dict[str, Any]:
    """Fit and evaluate one cell; returns the record's ``metrics`` and ``details``."""
    from sklearn.metrics import accuracy_score, f1_score

    from learnbench.datasets import load_dataset
    from learnbench.learners import count_parameters, is_torch_learner, make_learner

    seed, device = int(config["seed"]), config["device"]
    load_before = _load_1m()
    ds_params = dict(config.get("dataset_params", {}))
    n_train, n_test, n_unlabelled = (ds_params.pop(k, None) for k in SUBSAMPLE_KEYS)
    data = load_dataset(config["dataset"], seed=seed, **ds_params)
    X_train, y_train = subsample(data.X_train, data.y_train, n_train, seed)
    X_test, y_test = subsample(data.X_test, data.y_test, n_test, seed)

    est = make_learner(config["learner"], **config.get("params", {}))
    configure_threads(int(config.get("threads", 0)))
    seed_everything(seed)
    own = est.get_params(deep=False)
    auto = {"random_state": seed, "device": device, "input_shape": data.image_shape}
    est.set_params(**{k: v for k, v in auto.items() if k in own and k not in config["params"]})

    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise RuntimeError(f"cell asks for device {device!r} but torch.cuda.is_available() "
                               "is False on this machine")
        torch.cuda.reset_peak_memory_stats()
    fit_kwargs = unlabelled_kwargs(est, data, n_unlabelled, seed)
    _, fit_s = measure.timed(lambda: est.fit(X_train, y_train, **fit_kwargs), device)
    y_pred, predict_s = measure.timed(lambda: est.predict(X_test), device)

    lat = config.get("latency", {})
    b1 = measure.latency(est.predict, X_test, 1, lat.get("batch1_samples", 200), device)
    bulk = measure.latency(est.predict, X_test, lat.get("bulk_batch_size", 1024),
                           lat.get("bulk_batches", 5), device)
    epochs = getattr(est, "n_epochs_run_", None) or 1
    # samples processed by training: the Trainer's count for torch learners (the validation
    # rows held out, unlabelled rows and rotations included), one pass otherwise
    fit_samples = getattr(est, "fit_samples_", None) or len(y_train) * epochs
    metrics = {
        "accuracy": float(accuracy_score(y_test, y_pred)),
        "f1_macro": float(f1_score(y_test, y_pred, average="macro")),
        "fit_seconds": fit_s,
        "predict_seconds": predict_s,
        # samples/s over all passes through the data (epochs for iterative torch learners)
        "train_throughput": fit_samples / fit_s,
        "infer_b1_throughput": b1["throughput"],
        "infer_b1_p50_ms": b1["p50_ms"],
        "infer_b1_p95_ms": b1["p95_ms"],
        "infer_bulk_throughput": bulk["throughput"],
        "infer_bulk_p50_ms": bulk["p50_ms"],
        "infer_bulk_p95_ms": bulk["p95_ms"],
        "infer_bulk_batch_size": bulk["batch_size"],
        "peak_rss_mb": measure.peak_rss_mb(),
        "gpu_peak_mb": measure.gpu_peak_mb(device),
        "n_parameters": count_parameters(est),
        # after all timing: one batch-1 forward pass on the fit device (torch learners only)
        "flops_per_sample": _flops_per_sample(est) if is_torch_learner(est) else None,
        "n_train": len(y_train),
        "n_test": len(y_test),
    }
    # Learners may add their own test-set figures (e.g. verification ROC AUC of an embedding)
    # through an optional ``evaluation_extras(X, y) -> dict[str, float]`` method.
    extras = getattr(est, "evaluation_extras", None)
    if callable(extras):
        metrics["extras"] = {k: float(v) for k, v in extras(X_test, y_test).items()}
    details = {
        "learner_params": {k: v for k, v in est.get_params(deep=False).items() if _jsonable(v)},
        "epochs": epochs,
        "n_classes": data.n_classes,
        "dataset_protocol": data.protocol,
        "torch_threads": _torch_threads(),
        # 1-minute load average of the host before and after the cell: timings taken while
        # other work shared the cores (load above the cell's threads) can be flagged later.
        "host_load_1m": [load_before, _load_1m()],
    }
    training = _training_record(est, metrics["flops_per_sample"])
    if training:
        details["training"] = training
    fitted = _fit_report(est)
    if fitted:
        details["fit_report"] = fitted
    # Last, so that profiling cannot perturb any figure above.
    if config.get("profile"):
        profile, skipped = profile_cell(est, X_train, y_train, device, config)
        if profile is not None:
            details["profile"] = profile
        else:
            details["profile_skipped"] = skipped
    return {"metrics": metrics, "details": details}


def profile_cell(est: Any, X: Any, y: Any, device: str,
                 config: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """``(details["profile"], None)`` for a learner with ``profiling_steps``, else
    ``(None, why)``; an error while profiling is reported as the reason, never raised."""
    steps_of = getattr(est, "profiling_steps", None)
    if not callable(steps_of):
        return None, "learner has no profiling_steps"
    try:
        step_fns = steps_of(X, y)
        if not step_fns:
            return None, "learner's profiling_steps returned no steps"
        return _profile(est, step_fns, config), None
    except Exception as exc:  # noqa: BLE001 - profiling is optional; the cell's result stands
        traceback.print_exc()
        return None, error_line(exc)


def _profile(est: Any, step_fns: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    import torch

    from learnbench.harness import roofline
    from learnbench.harness.profiling import profile_steps

    opts = config["profile"]
    run_on = torch.device(getattr(est, "device_", None) or config["device"])
    trace_dir = config.get("trace_dir") if opts.get("trace", True) else None
    found = profile_steps(step_fns, run_on, warmup=int(opts.get("warmup", 3)),
                          steps=int(opts.get("steps", 10)), trace_dir=trace_dir,
                          name=config.get("trace_name", "profile"))
    amp = getattr(est, "amp", None)
    dtype = "bfloat16" if amp == "bf16" else "float32"
    first = next(iter(step_fns.values()))
    roof = roofline.roofline(run_on, dtype, getattr(first, "module", None),
                             getattr(first, "example_input", None))
    return {
        "device": str(run_on),
        "device_name": (torch.cuda.get_device_name(run_on) if run_on.type == "cuda"
                        else _cpu_name()),
        "options": {"cudnn_benchmark": bool(getattr(est, "cudnn_benchmark", False)),
                    "amp": amp, "compile": bool(getattr(est, "compile", False))},
        "phases": found["phases"],
        "max_memory_allocated_mb": found["max_memory_allocated_mb"],
        "roofline": roof,
    }


def _cpu_name() -> str:
    from learnbench.harness.environment import cpu_model

    return str(cpu_model() or "cpu")


def _flops_per_sample(est: Any) -> int | None:
    from learnbench.learners.flops import estimator_flops_per_sample

    return estimator_flops_per_sample(est)


def _training_record(est: Any, flops_per_sample: int | None) -> dict[str, Any]:
    """The Trainer's phases and curves (``training_record()``), with cumulative training FLOPs
    per epoch estimated as 3 x forward FLOPs per sample x samples (forward + backward, the
    usual approximation) for phases that train the prediction network."""
    record_of = getattr(est, "training_record", None)
    training = record_of() if callable(record_of) else {}
    if training and flops_per_sample:
        for phase in training["phases"]:
            if phase["name"] in FLOP_COUNTED_PHASES:
                phase["curves"]["flops"] = [3 * flops_per_sample * n for n in phase["curves"]["samples"]]
    return training if _jsonable(training) else {}


# Phases whose network is the one ``flops_per_sample`` counts (pretext phases train other heads).
FLOP_COUNTED_PHASES = ("train", "fine_tune")


# Fitted attributes a learner may set to explain its fit (gcForest: seconds and peak MB of the
# scanning stage and of each cascade level, estimated accuracy per level).
FIT_REPORT_ATTRS = ("timings_", "peak_memory_mb_", "level_scores_", "n_levels_")


def _fit_report(est: Any) -> dict[str, Any]:
    """The learner's own account of its fit (``FIT_REPORT_ATTRS`` that are set and JSON-able)."""
    out = {}
    for attr in FIT_REPORT_ATTRS:
        value = getattr(est, attr, None)
        if value is not None and _jsonable(value):
            out[attr.rstrip("_")] = value
    return out


def _load_1m() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _torch_threads() -> int | None:
    if "torch" not in sys.modules:
        return None
    return sys.modules["torch"].get_num_threads()


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def error_line(exc: BaseException) -> str:
    """``Type: message (file:line)`` of the innermost frame, on one line."""
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" ({Path(tb[-1].filename).name}:{tb[-1].lineno})" if tb else ""
    message = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {message}{where}"


def main(argv: list[str] | None = None) -> int:
    from learnbench.harness.processes import die_with_parent

    die_with_parent()  # no orphan: this process dies with the runner or Dask worker
    config_path, out_path = (argv or sys.argv[1:])[:2]
    config = json.loads(Path(config_path).read_text())
    try:
        result = {"status": "ok", **run_cell(config)}
        code = 0
    except Exception as exc:  # noqa: BLE001 - any failure of the cell is recorded, not raised
        traceback.print_exc()
        result = {"status": "error", "error": error_line(exc)}
        code = 1
    tmp = f"{out_path}.tmp"
    Path(tmp).write_text(json.dumps(result, default=str))
    os.replace(tmp, out_path)
    return code


if __name__ == "__main__":
    sys.exit(main())
