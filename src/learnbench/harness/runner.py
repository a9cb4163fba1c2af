"""Run a suite: each cell in its own subprocess with a timeout, each result recorded at once.

Cells already recorded in the run directory are skipped (resume), so an interrupted run loses
nothing; failed cells are re-tried only when asked. A crashing or timed-out cell is recorded
with its status and error, and the run goes on.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from learnbench import records
from learnbench.harness.environment import collect_environment
from learnbench.harness.suite import Cell, Suite

_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
#: Sub-directory of a run directory holding profiled cells' Chrome traces.
TRACES_DIR = "traces"


@dataclass
class RunSummary:
    run_dir: Path
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def run_cell_subprocess(cell: Cell, log_path: Path, trace_dir: Path | None = None) -> dict[str, Any]:
    """Run ``cell`` in a fresh Python process; returns status/error/metrics/details.

    ``trace_dir`` (``<run_dir>/traces``) is where a profiled cell writes its Chrome traces, as
    ``<cell_id>-<phase>.json.gz``; the worker gets it, and the name, beside the cell's config.
    """
    env = dict(os.environ)
    if cell.threads > 0:
        env.update({var: str(cell.threads) for var in _THREAD_VARS})
    worker_config = dict(cell.config)
    if cell.profile and cell.profile.get("trace") and trace_dir is not None:
        worker_config["trace_dir"], worker_config["trace_name"] = str(trace_dir), cell.cell_id
    with tempfile.TemporaryDirectory(prefix="learnbench-cell-") as tmp:
        cfg, out = Path(tmp) / "config.json", Path(tmp) / "result.json"
        cfg.write_text(json.dumps(worker_config))
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "w", encoding="utf-8") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "learnbench.harness.worker", str(cfg), str(out)],
                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
            try:
                proc.wait(timeout=cell.timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return {"status": "timeout",
                        "error": f"timed out after {cell.timeout:g} s (log: {log_path})"}
        if out.is_file():
            return json.loads(out.read_text())
        return {"status": "error", "error": _death_message(proc.returncode, log_path)}


def _death_message(code: int, log_path: Path) -> str:
    if code < 0:
        name = signal.Signals(-code).name
        hint = " (likely out of memory)" if name == "SIGKILL" else ""
        what = f"worker killed by {name}{hint}"
    else:
        what = f"worker exited with code {code} without a result"
    lines = [ln for ln in log_path.read_text(errors="replace").splitlines() if ln.strip()]
    last = f"; last output: {lines[-1].strip()[:200]}" if lines else ""
    return f"{what}{last} (log: {log_path})"


def _print_now(message: str) -> None:
    print(message, flush=True)  # live progress even when stdout is a pipe (tox, CI logs)


def run_suite(suite: Suite, run_dir: str | os.PathLike[str], retry_failed: bool = False,
              progress: Callable[[str], None] = _print_now) -> RunSummary:
    """Run every cell of ``suite`` not yet recorded in ``run_dir``; record each as it ends."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(suite.path, run_dir / f"suite-{suite.name}.toml")
    done = records.recorded_cells(run_dir)
    summary = RunSummary(run_dir=run_dir)
    environment = collect_environment()
    total = len(suite.cells)
    for i, cell in enumerate(suite.cells, 1):
        status = done.get(cell.cell_id)
        if status == "ok" or (status is not None and not retry_failed):
            summary.skipped.append(cell.cell_id)
            if status != "ok":
                summary.failed.append(cell.cell_id)
            continue
        progress(f"[{i}/{total}] {cell.cell_id} ...")
        started, t0 = _now(), time.perf_counter()
        result = run_cell_subprocess(cell, run_dir / "logs" / f"{cell.cell_id}.log",
                                     trace_dir=run_dir / TRACES_DIR)
        record = {
            "run_id": run_dir.name,
            "suite": suite.name,
            "cell_id": cell.cell_id,
            "config_hash": cell.config_hash,
            "config": cell.config,
            "status": result["status"],
            "error": result.get("error"),
            "metrics": result.get("metrics"),
            "details": result.get("details"),
            "environment": {**environment, "device": cell.device},
            "timeout_seconds": cell.timeout,
            "started_at": started,
            "finished_at": _now(),
            "wall_seconds": round(time.perf_counter() - t0, 3),
        }
        records.write_record(run_dir, record)
        summary.ran.append(cell.cell_id)
        if result["status"] != "ok":
            summary.failed.append(cell.cell_id)
            progress(f"    {result['status']}: {result.get('error')}")
        else:
            m = result["metrics"]
            progress(f"    ok: accuracy {m['accuracy']:.4f}, fit {m['fit_seconds']:.1f} s "
                     f"({record['wall_seconds']:.1f} s wall)")
    return summary
