"""Run a suite into a run directory: resume, one driver at a time, each record stored at once.

Cells already recorded in the run directory are skipped (resume, whichever executor recorded
them), so an interrupted run loses nothing; failed cells are re-tried only when asked. A
crashing or timed-out cell is recorded with its status and error, and the run goes on. The
cells themselves run on an executor (:mod:`.executors`: serial by default, or Dask); whatever
runs them, the driver writes each record, log and trace atomically as the cell completes.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from learnbench import records
from learnbench.harness.execution import CellOutcome, run_cell_process
from learnbench.harness.executors import Executor, RunContext, SerialExecutor
from learnbench.harness.lock import run_lock
from learnbench.harness.processes import sweep_stale_tempdirs
from learnbench.harness.suite import Cell, Suite

#: Sub-directory of a run directory holding profiled cells' Chrome traces.
TRACES_DIR = "traces"
#: Sub-directory where unreadable records are moved aside (their cells are run again).
CORRUPT_DIR = "corrupt"


@dataclass
class RunSummary:
    run_dir: Path
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    corrupt: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


def run_cell_subprocess(cell: Cell, log_path: Path, trace_dir: Path | None = None) -> dict[str, Any]:
    """Run ``cell`` in a fresh Python process here; returns status/error/metrics/details."""
    return run_cell_process(cell, log_path, trace_dir)[0]


def _print_now(message: str) -> None:
    print(message, flush=True)  # live progress even when stdout is a pipe (tox, CI logs)


def _warn(message: str) -> None:
    print(f"learnbench: warning: {message}", file=sys.stderr, flush=True)


def quarantine(run_dir: Path, exc: records.RecordError,
               warn: Callable[[str], None] = _warn) -> Path:
    """Move an unreadable record to ``<run_dir>/corrupt/`` (its cell will run again)."""
    target = run_dir / CORRUPT_DIR / exc.path.name
    target.parent.mkdir(exist_ok=True)
    os.replace(exc.path, target)
    warn(f"{exc}; moved to {target}, its cell will run again")
    return target


def run_suite(suite: Suite, run_dir: str | os.PathLike[str], retry_failed: bool = False,
              progress: Callable[[str], None] = _print_now,
              executor: Executor | None = None) -> RunSummary:
    """Run every cell of ``suite`` not yet recorded in ``run_dir``; record each as it ends.

    The run directory is locked for the run (a second driver gets a one-line error).
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    executor = executor or SerialExecutor()
    with run_lock(run_dir):
        sweep_stale_tempdirs()  # left by cells of a killed run
        shutil.copyfile(suite.path, run_dir / f"suite-{suite.name}.toml")
        summary = RunSummary(run_dir=run_dir)
        done = records.recorded_cells(
            run_dir, on_error=lambda exc: summary.corrupt.append(quarantine(run_dir, exc)))
        pending = []
        for cell in suite.cells:
            status = done.get(cell.cell_id)
            if status == "ok" or (status is not None and not retry_failed):
                summary.skipped.append(cell.cell_id)
                if status != "ok":
                    summary.failed.append(cell.cell_id)
            else:
                pending.append(cell)

        def store(outcome: CellOutcome) -> None:
            store_outcome(run_dir, outcome)
            summary.ran.append(outcome.cell_id)
            if outcome.status != "ok":
                summary.failed.append(outcome.cell_id)

        try:
            if pending:
                executor.run(pending, RunContext(suite=suite.name, run_id=run_dir.name,
                                                 run_dir=run_dir, store=store, progress=progress))
        finally:
            sweep_stale_tempdirs()
    return summary


def store_outcome(run_dir: Path, outcome: CellOutcome) -> Path:
    """Write a finished cell: its log and traces (when they came as data), then its record.

    The record goes last, so a record on disk means the cell is complete.
    """
    cell_id = outcome.cell_id
    if outcome.log is not None:
        log_path = run_dir / "logs" / f"{cell_id}.log"
        _atomic_write(log_path, outcome.log.encode())
        if outcome.record.get("error"):
            outcome.record["error"] = outcome.record["error"].replace("<log>", str(log_path))
    for name, data in outcome.traces.items():
        _atomic_write(run_dir / TRACES_DIR / name, data)
    return records.write_record(run_dir, outcome.record)


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
