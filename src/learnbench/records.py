"""Result records: one schema-versioned JSON file per cell, written atomically; loaded as a DataFrame.

A run directory (``results/<run-id>/``) holds one ``<cell_id>.json`` per cell. Records are
never edited after they are written; re-running a suite into the same directory skips cells
already recorded (see :mod:`learnbench.harness.runner`).
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from learnbench.errors import LearnbenchError

SCHEMA_VERSION = 1
STATUSES = ("ok", "error", "timeout")

# Columns of the flat table returned by :func:`load_runs`, in order. Metrics absent from a
# record (e.g. n_parameters of kNN, or any metric of a failed cell) are NaN.
METRIC_COLUMNS = [
    "accuracy",
    "f1_macro",
    "fit_seconds",
    "predict_seconds",
    "train_throughput",
    "infer_b1_throughput",
    "infer_b1_p50_ms",
    "infer_b1_p95_ms",
    "infer_bulk_throughput",
    "infer_bulk_p50_ms",
    "infer_bulk_p95_ms",
    "infer_bulk_batch_size",
    "peak_rss_mb",
    "gpu_peak_mb",
    "n_parameters",
    "flops_per_sample",
    "n_train",
    "n_test",
]
ENV_COLUMNS = [
    "git_commit",
    "git_dirty",
    "hostname",
    "os",
    "cpu",
    "cpu_count",
    "gpu",
    "gpu_driver",
    "cuda",
    "python",
    "torch",
    "sklearn",
    "xgboost",
    "numpy",
]

# Flat figures of a profiled cell (``details["profile"]``, see learnbench.harness.profiling);
# NaN for cells without a profile. ``profile`` and ``fit_report`` columns hold the dicts.
PROFILE_COLUMNS = [
    "train_step_ms",
    "train_step_ms_p95",
    "infer_step_ms",
    "infer_step_ms_p95",
    "train_tflops",
    "infer_tflops",
    "profiler_overhead_train",
    "max_memory_allocated_mb",
]
# Figures of a deep learner's training (``details["training"]``, written by the torch
# Trainer): the main (last) phase's stop reason and best epoch, the epochs of all phases, the
# validation set size and whether the main phase was still improving when its budget ended
# (see :func:`learnbench.reporting.training.still_improving`). None/NaN for records without it.
TRAINING_COLUMNS = ["stop_reason", "epochs_run", "best_epoch", "val_size", "undertrained"]
TRAINING_NUMERIC_COLUMNS = ["epochs_run", "best_epoch", "val_size"]
DETAIL_DICT_COLUMNS = ["profile", "fit_report", "training"]


class RecordError(LearnbenchError):
    """A record file that is not valid JSON or not of a known schema version (``path``)."""

    def __init__(self, message: str, path: Path | None = None) -> None:
        super().__init__(message)
        self.path = path


def is_missing(value: object) -> bool:
    """True for a figure a record lacks: None, NaN or ``pd.NA`` (how absent values load).

    One definition for the reports and ``compare``, which both skip missing figures.
    """
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def record_path(run_dir: str | os.PathLike[str], cell_id: str) -> Path:
    return Path(run_dir) / f"{cell_id}.json"


def write_record(run_dir: str | os.PathLike[str], record: dict[str, Any]) -> Path:
    """Write ``record`` to ``run_dir/<cell_id>.json`` atomically (temp file + rename)."""
    if record.get("status") not in STATUSES:
        raise ValueError(f"record status must be one of {STATUSES}, got {record.get('status')!r}")
    record = {"schema_version": SCHEMA_VERSION, **record}
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    final = record_path(run_dir, record["cell_id"])
    fd, tmp = tempfile.mkstemp(prefix=f".{final.stem}.", suffix=".tmp", dir=run_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(record, fh, indent=2, sort_keys=True, default=_json_default)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return final


def read_record(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read one record, checking that it parses and has a known schema version."""
    path = Path(path)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise RecordError(f"unreadable result record {path}: {exc}", path) from None
    version = record.get("schema_version") if isinstance(record, dict) else None
    if version != SCHEMA_VERSION:
        raise RecordError(
            f"result record {path} has schema_version {version!r}; this learnbench reads "
            f"{SCHEMA_VERSION}", path
        )
    return record


def iter_records(run_dir: str | os.PathLike[str],
                 on_error: Callable[[RecordError], None] | None = None) -> Iterable[dict[str, Any]]:
    """Every record in a run directory, in file-name order (temp files are skipped).

    An unreadable record raises :class:`RecordError`, or, given ``on_error``, is passed to it
    and skipped.
    """
    for path in sorted(Path(run_dir).glob("*.json")):
        try:
            yield read_record(path)
        except RecordError as exc:
            if on_error is None:
                raise
            on_error(exc)


def warn_and_skip(exc: RecordError) -> None:
    """``on_error`` for readers that go on: one line on stderr naming the record."""
    print(f"learnbench: warning: {exc}; skipped", file=sys.stderr, flush=True)


def recorded_cells(run_dir: str | os.PathLike[str],
                   on_error: Callable[[RecordError], None] | None = None) -> dict[str, str]:
    """Map ``cell_id`` -> status of the records already in ``run_dir`` (empty if none);
    ``on_error`` as in :func:`iter_records`."""
    if not Path(run_dir).is_dir():
        return {}
    return {r["cell_id"]: r["status"] for r in iter_records(run_dir, on_error)}


def flatten_record(record: dict[str, Any]) -> dict[str, Any]:
    """One flat row: identity and config columns, metrics, environment, profile and training
    figures, the ``profile``, ``fit_report``, ``training`` and ``learner_params`` dicts of
    ``details`` (or None) and its ``n_classes``, learner extras."""
    config = record.get("config", {})
    metrics = record.get("metrics") or {}
    env = record.get("environment") or {}
    row: dict[str, Any] = {
        "run_id": record.get("run_id"),
        "suite": record.get("suite"),
        "cell_id": record.get("cell_id"),
        "config_hash": record.get("config_hash"),
        "status": record.get("status"),
        "error": record.get("error"),
        "dataset": config.get("dataset"),
        "dataset_label": config.get("dataset_label") or config.get("dataset"),
        "dataset_params": json.dumps(config.get("dataset_params", {}), sort_keys=True),
        "learner": config.get("learner"),
        "label": config.get("label") or config.get("learner"),
        "params": json.dumps(config.get("params", {}), sort_keys=True),
        "seed": config.get("seed"),
        "device": config.get("device"),
        # the suite's learner ``role``: "check" cells are pipeline/cost checks, not results;
        # records from before roles existed (and result cells) carry none: "result"
        "role": config.get("role") or "result",
        "role_reason": config.get("role_reason") or None,
        "started_at": record.get("started_at"),
        "wall_seconds": record.get("wall_seconds"),
        # where the cell ran and beside how many other cells on its host (records from
        # before executors existed ran serially: None)
        "executor": (record.get("execution") or {}).get("executor"),
        "worker": (record.get("execution") or {}).get("worker"),
        "other_cells_max": (record.get("execution") or {}).get("other_cells_max"),
        # why the suite ran one seed only (a deterministic learner on a fixed split), or None
        "seed_invariant": record.get("seed_invariant"),
    }
    for col in METRIC_COLUMNS:
        row[col] = metrics.get(col)
    for col in ENV_COLUMNS:
        row[col] = env.get(col)
    details = record.get("details") or {}
    profile = details.get("profile") if isinstance(details.get("profile"), dict) else None
    row.update(_profile_figures(profile))
    training = details.get("training")
    training = training if isinstance(training, dict) and training else None
    row.update(_training_figures(training))
    fit_report = details.get("fit_report")
    row["profile"] = profile
    row["fit_report"] = fit_report if isinstance(fit_report, dict) else None
    row["training"] = training
    learner_params = details.get("learner_params")
    row["learner_params"] = learner_params if isinstance(learner_params, dict) and learner_params else None
    row["n_classes"] = details.get("n_classes")
    for key, value in (metrics.get("extras") or {}).items():  # learner-specific figures
        row[f"extra_{key}"] = value
    return row


def _profile_figures(profile: dict[str, Any] | None) -> dict[str, Any]:
    """The :data:`PROFILE_COLUMNS` of one record's profile (None where absent)."""
    phases = (profile or {}).get("phases") or {}
    train, infer = phases.get("train") or {}, phases.get("infer") or {}
    return {
        "train_step_ms": train.get("step_ms_median"),
        "train_step_ms_p95": train.get("step_ms_p95"),
        "infer_step_ms": infer.get("step_ms_median"),
        "infer_step_ms_p95": infer.get("step_ms_p95"),
        "train_tflops": train.get("achieved_tflops"),
        "infer_tflops": infer.get("achieved_tflops"),
        "profiler_overhead_train": train.get("profiler_overhead"),
        "max_memory_allocated_mb": (profile or {}).get("max_memory_allocated_mb"),
    }


def _training_figures(training: dict[str, Any] | None) -> dict[str, Any]:
    """The :data:`TRAINING_COLUMNS` of one record's training dict (None where absent)."""
    if training is None:
        return dict.fromkeys(TRAINING_COLUMNS)
    from learnbench.reporting.training import main_phase, still_improving  # (imports records)

    main = main_phase(training)
    return {
        "stop_reason": training.get("stop_reason") or (main or {}).get("stop_reason"),
        "epochs_run": training.get("epochs_run"),
        "best_epoch": (main or {}).get("best_epoch"),
        "val_size": training.get("val_size"),
        "undertrained": still_improving(main) if main is not None else None,
    }


def load_runs(*run_dirs: str | os.PathLike[str],
              on_error: Callable[[RecordError], None] | None = warn_and_skip) -> pd.DataFrame:
    """All records of the given run directories as one DataFrame (one row per cell).

    An unreadable record is named on stderr and left out (``on_error=None``: raise instead).
    """
    rows = []
    for run_dir in run_dirs:
        if not Path(run_dir).is_dir():
            raise RecordError(f"no such run directory: {run_dir}")
        # run_dir: where the record's relative paths (traces/...) resolve
        rows.extend({**flatten_record(r), "run_dir": os.fspath(run_dir)}
                    for r in iter_records(run_dir, on_error))
    columns = [*flatten_record({}).keys(), "run_dir"]
    columns += sorted({key for row in rows for key in row if key not in columns})
    frame = pd.DataFrame(rows, columns=columns)
    for col in METRIC_COLUMNS + PROFILE_COLUMNS + TRAINING_NUMERIC_COLUMNS:
        frame[col] = pd.to_numeric(frame[col], errors="coerce")
    frame["undertrained"] = pd.Series([row["undertrained"] for row in rows], index=frame.index,
                                      dtype=object)
    for col in DETAIL_DICT_COLUMNS:
        frame[col] = pd.Series([row[col] for row in rows], index=frame.index, dtype=object)
    return frame


def _json_default(obj: Any) -> Any:
    """numpy scalars/arrays and paths in records."""
    if hasattr(obj, "item") and getattr(obj, "ndim", 1) == 0:
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
