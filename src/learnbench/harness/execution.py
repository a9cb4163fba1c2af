"""Run one cell on this host and build its whole record here: what every executor calls.

The cell runs in a fresh ``python -m learnbench.harness.worker`` process (a crash, a leak or an
out-of-memory kill stays inside it) that dies with its parent (:mod:`.processes`). The record
is built on the host that ran the cell (its environment: host, CPU, GPU, versions, commit),
so a Dask worker returns a finished record, with the log and traces as data: the driver
needs no shared filesystem.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from learnbench.harness.environment import collect_environment
from learnbench.harness.processes import HostSlots, cell_tempdir, parent_env
from learnbench.harness.suite import Cell

_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
_POLL_SECONDS = 1.0


@dataclass
class CellOutcome:
    """A finished cell: its record, and (from a remote worker) its log text and trace files."""

    record: dict[str, Any]
    log: str | None = None
    traces: dict[str, bytes] = field(default_factory=dict)

    @property
    def cell_id(self) -> str:
        return self.record["cell_id"]

    @property
    def status(self) -> str:
        return self.record["status"]


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@functools.lru_cache(maxsize=1)
def host_environment() -> dict[str, Any]:
    """This host's environment (collected once per process: it does not change mid-run)."""
    return collect_environment()


def run_cell_process(cell: Cell, log_path: Path, trace_dir: Path | None = None,
                     threads: int | None = None,
                     env: dict[str, str] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run ``cell`` in a fresh worker process: ``(result, contention)``.

    ``result`` is the worker's status/error/metrics/details; ``contention`` says how many other
    cells ran on this host meanwhile (sampled every second). ``threads`` overrides the cell's
    thread count for the process (executors that share a host pin every cell); it is recorded
    under ``execution``, never in the cell's config. ``env``: extra environment entries.
    """
    threads = cell.threads if threads is None else threads
    env = {**os.environ, **(env or {}), **parent_env()}
    if threads > 0:
        env.update({var: str(threads) for var in _THREAD_VARS})
    worker_config = {**cell.config, "threads": threads}
    if cell.profile and cell.profile.get("trace") and trace_dir is not None:
        worker_config["trace_dir"], worker_config["trace_name"] = str(trace_dir), cell.cell_id
    samples: list[int] = []
    with cell_tempdir() as tmp, HostSlots() as slots:
        cfg, out = tmp / "config.json", tmp / "result.json"
        cfg.write_text(json.dumps(worker_config))
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "w", encoding="utf-8") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "learnbench.harness.worker", str(cfg), str(out)],
                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
            deadline = time.monotonic() + cell.timeout
            timed_out = False
            while proc.poll() is None:
                samples.append(slots.others())
                left = deadline - time.monotonic()
                if left <= 0:
                    timed_out = True
                    break
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=min(_POLL_SECONDS, left))
            if timed_out:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        contention = {"other_cells_max": max(samples, default=0),
                      "other_cells_mean": round(sum(samples) / len(samples), 2) if samples else 0.0,
                      "threads": threads}
        if timed_out:
            return ({"status": "timeout",
                     "error": f"timed out after {cell.timeout:g} s (log: {log_path})"}, contention)
        if out.is_file():
            return json.loads(out.read_text()), contention
        return {"status": "error", "error": death_message(proc.returncode, log_path)}, contention


def death_message(code: int, log_path: Path) -> str:
    """One line on why a worker process ended without a result, with its last output."""
    if code < 0:
        name = signal.Signals(-code).name
        hint = " (likely out of memory)" if name == "SIGKILL" else ""
        what = f"worker killed by {name}{hint}"
    else:
        what = f"worker exited with code {code} without a result"
    lines = [ln for ln in log_path.read_text(errors="replace").splitlines() if ln.strip()]
    last = f"; last output: {lines[-1].strip()[:200]}" if lines else ""
    return f"{what}{last} (log: {log_path})"


def make_record(cell: Cell, suite: str, run_id: str, result: dict[str, Any], started: str,
                wall_seconds: float, execution: dict[str, Any]) -> dict[str, Any]:
    """The record of a finished cell, with this host's environment."""
    extra = {"seed_invariant": cell.seed_invariant} if cell.seed_invariant else {}
    return {**extra,
        "run_id": run_id,
        "suite": suite,
        "cell_id": cell.cell_id,
        "config_hash": cell.config_hash,
        "config": cell.config,
        "status": result["status"],
        "error": result.get("error"),
        "metrics": result.get("metrics"),
        "details": result.get("details"),
        "environment": {**host_environment(), "device": cell.device},
        "execution": execution,
        "timeout_seconds": cell.timeout,
        "started_at": started,
        "finished_at": now(),
        "wall_seconds": round(wall_seconds, 3),
    }


def execute_cell(cell: Cell, suite: str, run_id: str, log_path: Path, trace_dir: Path | None,
                 execution: dict[str, Any], threads: int | None = None,
                 env: dict[str, str] | None = None) -> CellOutcome:
    """Run ``cell`` here with its log and traces written in place (the serial runner)."""
    started, t0 = now(), time.perf_counter()
    result, contention = run_cell_process(cell, log_path, trace_dir, threads, env)
    execution = {**execution, "host": socket.gethostname(), **contention}
    return CellOutcome(make_record(cell, suite, run_id, result, started,
                                   time.perf_counter() - t0, execution))


def execute_cell_remote(cell: Cell, suite: str, run_id: str, execution: dict[str, Any],
                        threads: int | None = None,
                        env: dict[str, str] | None = None) -> CellOutcome:
    """Run ``cell`` on this (worker) host in a temporary directory; return the record, the
    log text and the trace files as data, for a driver that shares no filesystem."""
    with cell_tempdir() as tmp:
        log_path, trace_dir = tmp / "cell.log", tmp / "traces"
        outcome = execute_cell(cell, suite, run_id, log_path, trace_dir, execution, threads, env)
        outcome.log = log_path.read_text(errors="replace") if log_path.is_file() else ""
        if trace_dir.is_dir():
            outcome.traces = {p.name: p.read_bytes() for p in sorted(trace_dir.iterdir())}
    # the error messages name the worker's temporary log; the driver stores it in the run dir
    if outcome.record.get("error"):
        outcome.record["error"] = outcome.record["error"].replace(str(log_path), "<log>")
    return outcome
