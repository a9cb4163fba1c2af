"""Where a run's cells execute: here one at a time (serial), or on Dask workers.

- ``serial`` (default): one cell after another on this machine, the cleanest timings on a
  small box.
- ``local``: a Dask ``LocalCluster`` of ``workers`` worker processes with
  ``threads_per_worker`` CPU slots each;
- ``dask``: workers already running, found at ``scheduler`` (``tcp://head:8786``) or through
  a ``scheduler_file``; e.g. one per GPU, started as
  ``CUDA_VISIBLE_DEVICES=i dask worker tcp://head:8786 --nthreads 1 --resources "GPU=1,CPU=8"``;
- ``slurm`` / ``pbs``: dask-jobqueue's ``SLURMCluster`` / ``PBSCluster``, up to ``max_jobs``
  jobs; the walltime follows from the longest cell timeout; ``dry_run`` prints the job script.

A cell asks Dask for ``CPU = max(threads, 1)`` slots (its process is pinned to that many
threads; ``threads = 0`` runs on one), ``GPU = 1`` when its device is CUDA (or the learner's
``resources.gpus``) and ``MEMORY_GB`` when the learner sets ``resources.memory_gb``, so cells
never oversubscribe a worker and GPU cells go only to workers that advertise a GPU. A cell no
worker can take, or a worker whose learnbench commit or key library versions differ from the
driver's, is an error before any cell runs. Executor settings never enter a cell's id or
config hash; each record says under ``execution`` where and beside how many other cells it ran.

Dask is the engine (scheduling, worker deaths, retries); this module only maps cells onto it.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

import tomllib

from learnbench.errors import LearnbenchError
from learnbench.harness.execution import CellOutcome, execute_cell, execute_cell_remote, host_environment
from learnbench.harness.processes import sweep_stale_tempdirs
from learnbench.harness.suite import Cell

EXECUTORS = ("serial", "local", "dask", "slurm", "pbs")
#: Environment entries that must match between the driver and every worker.
FINGERPRINT_KEYS = ("learnbench", "git_commit", "python", "torch", "sklearn", "numpy", "xgboost")
# Walltime of a batch job: the longest cell timeout, 10 % more, plus start-up time.
WALLTIME_MARGIN, WALLTIME_STARTUP_S = 1.1, 600


class ExecutorError(LearnbenchError):
    """Executor settings that cannot work, or workers that cannot run the cells."""


@dataclass
class ExecutorSettings:
    """How to run cells: the ``--executor`` options, or a ``--executor-config`` TOML file.

    The TOML file holds the same names at top level (``executor = "slurm"``,
    ``partition = "gpu"``, ``setup = ["module load cuda"]``...), as benchopt's
    ``--parallel-config`` file does; options given on the command line win.
    """

    executor: str = "serial"
    workers: int | None = None  # local: worker processes (default: CPU count)
    threads_per_worker: int = 1  # local: CPU slots per worker
    scheduler: str | None = None  # dask: scheduler address
    scheduler_file: str | None = None  # dask: scheduler file
    partition: str | None = None  # slurm partition / pbs queue
    account: str | None = None
    max_jobs: int = 10
    cores: int = 1  # slurm/pbs: cores (CPU slots) per job
    gpus: int = 0  # slurm/pbs: GPUs per job (GPU resource advertised by its worker)
    memory: str = "8GB"  # slurm/pbs: memory per job
    walltime: str | None = None  # default: from the longest cell timeout
    setup: list[str] = field(default_factory=list)  # shell lines run before the worker starts
    job_extra: list[str] = field(default_factory=list)  # extra #SBATCH / #PBS directives
    retries: int = 1  # times a cell is re-run after its worker died
    allow_mixed_versions: bool = False
    dry_run: bool = False

    def __post_init__(self) -> None:
        if self.executor not in EXECUTORS:
            raise ExecutorError(f"unknown executor {self.executor!r}; valid executors: "
                                f"{', '.join(EXECUTORS)}")
        for name in ("threads_per_worker", "max_jobs", "cores"):
            if getattr(self, name) < 1:
                raise ExecutorError(f"executor option {name} must be >= 1; got {getattr(self, name)}")
        if self.workers is not None and self.workers < 1:
            raise ExecutorError(f"executor option workers must be >= 1; got {self.workers}")
        if self.retries < 0:
            raise ExecutorError(f"executor option retries must be >= 0; got {self.retries}")
        if isinstance(self.setup, str):
            self.setup = [self.setup]
        if self.executor == "dask" and not (self.scheduler or self.scheduler_file):
            raise ExecutorError("--executor dask needs --scheduler ADDRESS or --scheduler-file FILE")

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], **overrides: Any) -> ExecutorSettings:
        """Settings from a TOML file, then ``overrides`` (the options given, not None)."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ExecutorError(f"executor config {path}: {exc}") from None
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ExecutorError(f"executor config {path}: unknown key(s) {', '.join(unknown)}; "
                                f"valid keys: {', '.join(sorted(known))}")
        return cls(**{**data, **{k: v for k, v in overrides.items() if v is not None}})


@dataclass
class RunContext:
    """What every executor needs to run and store a cell."""

    suite: str
    run_id: str
    run_dir: Path
    store: Callable[[CellOutcome], None]
    progress: Callable[[str], None]


class Executor(Protocol):
    def run(self, cells: list[Cell], ctx: RunContext) -> None: ...


# -- serial --------------------------------------------------------------------------------------


class SerialExecutor:
    """One cell after another in a subprocess on this machine (logs and traces in place)."""

    name = "serial"

    def run(self, cells: list[Cell], ctx: RunContext) -> None:
        for i, cell in enumerate(cells, 1):
            ctx.progress(f"[{i}/{len(cells)}] {cell.cell_id} ...")
            outcome = execute_cell(
                cell, ctx.suite, ctx.run_id, ctx.run_dir / "logs" / f"{cell.cell_id}.log",
                ctx.run_dir / "traces", {"executor": "serial", "worker": "local"})
            ctx.store(outcome)
            ctx.progress(outcome_line(outcome))


def outcome_line(outcome: CellOutcome) -> str:
    record = outcome.record
    if record["status"] != "ok":
        return f"    {record['status']}: {record.get('error')}"
    m = record["metrics"]
    return (f"    ok: accuracy {m['accuracy']:.4f}, fit {m['fit_seconds']:.1f} s "
            f"({record['wall_seconds']:.1f} s wall)")


# -- Dask ----------------------------------------------------------------------------------------


def cell_resources(cell: Cell) -> dict[str, float]:
    """The Dask resources a cell asks for (see the module docstring)."""
    wanted = dict(cell.resources or {})
    request = {"CPU": float(max(cell.threads, 1))}
    gpus = wanted.get("gpus", 1 if cell.device.startswith("cuda") else 0)
    if gpus:
        request["GPU"] = float(gpus)
    if wanted.get("memory_gb"):
        request["MEMORY_GB"] = float(wanted["memory_gb"])
    return request


def unplaceable(cells: list[Cell], capacities: list[dict[str, float]]) -> list[str]:
    """One line per cell that no worker capacity can hold."""
    lines = []
    for cell in cells:
        need = cell_resources(cell)
        if not any(all(cap.get(k, 0) >= v for k, v in need.items()) for cap in capacities):
            lines.append(f"{cell.cell_id} needs {_resources_text(need)}")
    return lines


def _resources_text(res: dict[str, float]) -> str:
    return ",".join(f"{k}={v:g}" for k, v in sorted(res.items())) or "nothing"


def fingerprint() -> dict[str, Any]:
    """The driver's learnbench commit and key library versions."""
    return worker_fingerprint()


def worker_fingerprint() -> dict[str, Any]:
    """This process's learnbench commit and key library versions (what a worker reports)."""
    env = host_environment()
    return {k: env.get(k) for k in FINGERPRINT_KEYS}


def fingerprint_difference(driver: dict[str, Any], worker: dict[str, Any]) -> str:
    """``"torch 2.14.1 here, 2.13.0 there; ..."`` or "" when they agree."""
    return "; ".join(f"{k} {driver.get(k)} here, {worker.get(k)} there"
                     for k in FINGERPRINT_KEYS if driver.get(k) != worker.get(k))


class VersionMismatchError(ExecutorError):
    """A worker runs other code or other key libraries than the driver."""


def run_on_worker(cell: Cell, suite: str, run_id: str, kind: str, driver: dict[str, Any],
                  allow_mixed: bool) -> CellOutcome:
    """The Dask task: check versions, run the cell on this worker, return the outcome."""
    from distributed import get_worker

    worker = get_worker()
    mismatch = fingerprint_difference(driver, worker_fingerprint())
    if mismatch and not allow_mixed:
        raise VersionMismatchError(f"worker {worker.address} refused: {mismatch} "
                                   "(--allow-mixed-versions to run anyway)")
    threads = int(cell_resources(cell)["CPU"])
    execution = {"executor": kind, "worker": worker.address, "worker_name": str(worker.name)}
    if mismatch:
        execution["mixed_versions"] = mismatch
    # a learner with backend="dask" (gcForest) spreads its trees over this same cluster
    env = {"DASK_SCHEDULER_ADDRESS": worker.scheduler.address}
    return execute_cell_remote(cell, suite, run_id, execution, threads=threads, env=env)


class DaskExecutor:
    """Cells as tasks on a Dask cluster; each outcome stored by the driver as it arrives."""

    def __init__(self, settings: ExecutorSettings) -> None:
        self.settings = settings
        self.name = settings.executor

    # -- the cluster --------------------------------------------------------------------------

    def _cluster_and_client(self, cells: list[Cell]) -> tuple[Any, Any, list[dict[str, float]]]:
        """``(cluster or None, client, capacities of the workers that can exist)``."""
        import dask
        from distributed import Client, LocalCluster

        s = self.settings
        dask.config.set({"distributed.scheduler.allowed-failures": s.retries})
        if s.executor == "local":
            n = s.workers or os.cpu_count() or 1
            cluster = LocalCluster(n_workers=n, threads_per_worker=s.threads_per_worker,
                                   processes=True, memory_limit=0,
                                   resources={"CPU": s.threads_per_worker},
                                   dashboard_address=":0", silence_logs=logging.ERROR)
            return cluster, Client(cluster), [{"CPU": float(s.threads_per_worker)}]
        if s.executor == "dask":
            client = (Client(scheduler_file=s.scheduler_file) if s.scheduler_file
                      else Client(s.scheduler))
            return None, client, self._live_capacities(client)
        cluster = self.job_cluster(cells)
        cluster.adapt(minimum_jobs=0, maximum_jobs=s.max_jobs)
        return cluster, Client(cluster), [self._job_capacity()]

    def _job_capacity(self) -> dict[str, float]:
        cap = {"CPU": float(self.settings.cores)}
        if self.settings.gpus:
            cap["GPU"] = float(self.settings.gpus)
        return cap

    @staticmethod
    def _live_capacities(client: Any) -> list[dict[str, float]]:
        workers = client.scheduler_info().get("workers", {})
        return [dict(w.get("resources") or {}) for w in workers.values()]

    def job_cluster(self, cells: list[Cell]) -> Any:
        """The dask-jobqueue cluster (not started), one worker of ``cores`` slots per job."""
        s = self.settings
        try:
            from dask_jobqueue import PBSCluster, SLURMCluster
        except ImportError:
            raise ExecutorError("--executor slurm/pbs needs dask-jobqueue "
                                "(pip install dask-jobqueue)") from None
        resources = _resources_text(self._job_capacity())
        options = {
            "queue": s.partition, "account": s.account, "cores": s.cores, "processes": 1,
            "memory": s.memory, "walltime": s.walltime or walltime_for(cells),
            "job_script_prologue": list(s.setup),
            "worker_extra_args": ["--resources", resources, "--nthreads", str(s.cores)],
            "job_extra_directives": list(s.job_extra)
            + ([f"--gres=gpu:{s.gpus}"] if s.gpus and s.executor == "slurm" else []),
            "python": sys.executable,
        }
        cls = SLURMCluster if s.executor == "slurm" else PBSCluster
        return cls(**{k: v for k, v in options.items() if v is not None})

    # -- running ------------------------------------------------------------------------------

    def run(self, cells: list[Cell], ctx: RunContext) -> None:
        from distributed import as_completed
        from distributed.client import FutureCancelledError
        from distributed.scheduler import KilledWorker

        cluster, client, capacities = self._cluster_and_client(cells)
        try:
            if client.dashboard_link:
                ctx.progress(f"Dask dashboard: {client.dashboard_link}")
            self._check_workers(client)
            bad = unplaceable(cells, capacities)
            if bad:
                raise ExecutorError(f"{len(bad)} cell(s) fit no worker ({'; '.join(bad[:3])}"
                                    f"{'; ...' if len(bad) > 3 else ''}); workers offer "
                                    + (" | ".join(_resources_text(c) for c in capacities)
                                       or "nothing (no workers)")
                                    + "; start workers with --resources \"CPU=N\" (and GPU=1 "
                                    "on a GPU)")
            driver = fingerprint()
            futures = {
                client.submit(run_on_worker, cell, ctx.suite, ctx.run_id, self.name, driver,
                              self.settings.allow_mixed_versions, key=f"cell-{cell.cell_id}",
                              resources=cell_resources(cell), pure=False): cell
                for cell in cells
            }
            progress = ProgressBar(len(cells), ctx.progress)
            slots = int(sum(cap.get("CPU", 1) for cap in self._live_capacities(client))) or 1
            for future in as_completed(futures):
                cell = futures[future]
                try:
                    outcome = future.result()
                except VersionMismatchError:
                    client.cancel(list(futures))
                    raise
                except KilledWorker as exc:
                    outcome = lost_cell(cell, ctx, self.name,
                                        f"worker died while running it, {self.settings.retries + 1} "
                                        f"time(s): {' '.join(str(exc).split())[:300]}")
                except FutureCancelledError:
                    continue
                except Exception as exc:  # noqa: BLE001 - the task itself failed: record, go on
                    from learnbench.harness.worker import error_line

                    outcome = lost_cell(cell, ctx, self.name,
                                        f"the Dask task failed: {error_line(exc)}")
                ctx.store(outcome)
                progress.done(outcome, running=min(_running(client), slots))
            progress.close()
        finally:
            with contextlib.suppress(Exception):  # temp dirs of cells whose worker was killed
                client.run(sweep_stale_tempdirs)
            client.close()
            if cluster is not None:
                cluster.close()

    def _check_workers(self, client: Any) -> None:
        """Refuse workers whose versions differ from the driver's (before any cell runs)."""
        if self.settings.executor != "dask":
            return  # local and batch workers are started by this driver from this Python
        driver = fingerprint()
        found = client.run(worker_fingerprint)
        for address, theirs in sorted(found.items()):
            diff = fingerprint_difference(driver, theirs)
            if diff and not self.settings.allow_mixed_versions:
                raise VersionMismatchError(f"worker {address} refused: {diff} "
                                           "(--allow-mixed-versions to run anyway)")


def _running(client: Any) -> int:
    try:
        return sum(len(keys) for keys in client.processing().values())
    except Exception:  # noqa: BLE001 - progress only
        return 0


def lost_cell(cell: Cell, ctx: RunContext, executor: str, why: str) -> CellOutcome:
    """The ``error`` record of a cell whose worker kept dying (built on the driver)."""
    from learnbench.harness.execution import make_record, now

    return CellOutcome(make_record(cell, ctx.suite, ctx.run_id, {"status": "error", "error": why},
                                   now(), 0.0, {"executor": executor, "worker": None,
                                                "host": socket.gethostname()}))


def walltime_for(cells: list[Cell]) -> str:
    """``HH:MM:SS`` for one batch job: the longest cell timeout with margin and start-up."""
    longest = max((c.timeout for c in cells), default=3600)
    seconds = int(math.ceil(longest * WALLTIME_MARGIN + WALLTIME_STARTUP_S))
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class ProgressBar:
    """Cells done / running / failed with an ETA (tqdm on a terminal, one line per cell always)."""

    def __init__(self, total: int, say: Callable[[str], None]) -> None:
        from tqdm import tqdm

        self.total, self.count, self.failed, self.say = total, 0, 0, say
        self.started = time.monotonic()
        self.bar = tqdm(total=total, unit="cell", disable=not sys.stderr.isatty(), leave=False)

    def done(self, outcome: CellOutcome, running: int) -> None:
        self.count += 1
        self.failed += outcome.status != "ok"
        self.bar.set_postfix(running=running, failed=self.failed, refresh=False)
        self.bar.update(1)
        left = (time.monotonic() - self.started) / self.count * (self.total - self.count)
        self.say(f"[{self.count}/{self.total}] {outcome.cell_id} on "
                 f"{outcome.record['execution'].get('worker')} ({running} running, "
                 f"{self.failed} failed, ETA {left / 60:.1f} min)")
        self.say(outcome_line(outcome))

    def close(self) -> None:
        self.bar.close()


def dry_run_text(settings: ExecutorSettings, cells: list[Cell]) -> str:
    """What ``--dry-run`` prints: the batch job script, or the cells and where they would go."""
    if settings.executor in ("slurm", "pbs"):
        return DaskExecutor(settings).job_cluster(cells).job_script()
    lines = [f"{c.cell_id} needs {_resources_text(cell_resources(c))}" for c in cells]
    return "\n".join([f"dry run: {len(cells)} cell(s) on executor {settings.executor}", *lines])


def make_executor(settings: ExecutorSettings) -> Executor:
    """The executor the settings name."""
    return SerialExecutor() if settings.executor == "serial" else DaskExecutor(settings)
