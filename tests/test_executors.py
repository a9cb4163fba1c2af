"""Scale-out on Dask: LocalCluster runs, faults (killed worker, killed driver), locks, corrupt
records, version refusal, GPU routing and the SLURM job script (no SLURM needed)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from learnbench import records
from learnbench.harness import executors as ex
from learnbench.harness.executors import DaskExecutor, ExecutorError, ExecutorSettings
from learnbench.harness.lock import RunLockedError, run_lock
from learnbench.harness.processes import CELL_TEMP_PREFIX, HostSlots
from learnbench.harness.runner import run_suite
from learnbench.harness.suite import load_suite

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

SLEEPY = '''
"""A learner that sleeps in fit: a cell that is still running when a test kills something."""
import time

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from learnbench.learners import LearnerEntry, register_learner


class Sleepy(ClassifierMixin, BaseEstimator):
    def __init__(self, seconds=0.0, random_state=None):
        self.seconds = seconds
        self.random_state = random_state

    def fit(self, X, y):
        time.sleep(self.seconds)
        values, counts = np.unique(y, return_counts=True)
        self.classes_, self.majority_ = values, values[counts.argmax()]
        return self

    def predict(self, X):
        return np.full(len(X), self.majority_)


register_learner(LearnerEntry("sleepy", "sleepy_plugin:Sleepy", "classical",
                              "sleeps, then predicts the majority class", "none"))
'''


def suite_file(path: Path, learners: str, seeds: str = "[0]") -> Path:
    path.write_text(textwrap.dedent(f"""
        [suite]
        name = "{path.stem}"
        seeds = {seeds}
        device = "cpu"
        timeout = 300
        latency = {{ batch1_samples = 5, bulk_batch_size = 64, bulk_batches = 1 }}

        [[datasets]]
        name = "digits"
        """) + textwrap.dedent(learners))
    return path


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path_factory) -> Iterator[Path]:
    """A private temp dir for cell dirs and host markers, and the sleepy plug-in on the path
    of this process, the Dask workers and the cell processes."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    plugins = tmp_path_factory.getbasetemp() / "plugins"
    plugins.mkdir(exist_ok=True)
    (plugins / "sleepy_plugin.py").write_text(SLEEPY)
    monkeypatch.syspath_prepend(str(plugins))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(plugins), str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("LEARNBENCH_PLUGINS", "sleepy_plugin")
    yield tmp
    from learnbench import plugins
    from learnbench.learners.registry import unregister_learner

    unregister_learner("sleepy")  # the plug-in registered it in this process too
    plugins.unload_plugin("sleepy_plugin")


def cell_processes() -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info["cmdline"] or []
        if "learnbench.harness.worker" in cmd:
            found.append(proc)
    return found


def recorded(run_dir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(run_dir.glob("*.json"))]


def quiet(_: str) -> None:
    pass


# -- the smoke tier's classical cells: LocalCluster == serial -------------------------------------


def test_local_cluster_records_match_the_serial_runner(real_data: Path, smoke_run,
                                                       tmp_path: Path) -> None:
    """The smoke tier's classical cells on 2 Dask workers: the serial smoke run's cells and
    accuracies (the session's serial run, see conftest), then resume across executors."""
    from learnbench.cli import select_cells
    from learnbench.learners import learner_family

    assert smoke_run.process.returncode == 0, smoke_run.process.stderr
    smoke = load_suite("smoke")
    classical = sorted({c.learner for c in smoke.cells if learner_family(c.learner) == "classical"})
    suite = select_cells(smoke, classical, None, None)
    local = run_suite(suite, tmp_path / "local", progress=quiet,
                      executor=DaskExecutor(ExecutorSettings(executor="local", workers=2)))
    assert local.ok and len(local.ran) == len(suite.cells) == 25
    a = {r["cell_id"]: r for r in recorded(smoke_run.run_dir) if r["cell_id"] in set(local.ran)}
    b = {r["cell_id"]: r for r in recorded(tmp_path / "local")}
    assert set(a) == set(b)
    for cell_id in a:
        assert a[cell_id]["metrics"]["accuracy"] == b[cell_id]["metrics"]["accuracy"], cell_id
        assert a[cell_id]["execution"]["executor"] == "serial"
        assert b[cell_id]["execution"]["executor"] == "local"
        assert b[cell_id]["execution"]["threads"] == 1
        assert b[cell_id]["execution"]["worker"].startswith("tcp://")
    # resume across executors: a serial run into the Dask run's directory has nothing to do
    again = run_suite(suite, tmp_path / "local", progress=quiet)
    assert again.ran == [] and len(again.skipped) == 25


# -- faults ------------------------------------------------------------------------------------


def test_a_killed_dask_worker_loses_nothing_and_leaves_nothing(isolated: Path,
                                                               tmp_path: Path) -> None:
    suite = load_suite(suite_file(tmp_path / "faults.toml", """
        [[learners]]
        name = "sleepy"
        label = "slow"
        params = { seconds = 8 }

        [[learners]]
        name = "sleepy"
        label = "quick"
        seeds = [0, 1, 2]
        """))
    run_dir = tmp_path / "run"
    result: dict = {}

    def drive() -> None:
        result["summary"] = run_suite(
            suite, run_dir, progress=quiet,
            executor=DaskExecutor(ExecutorSettings(executor="local", workers=2, retries=1)))

    driver = threading.Thread(target=drive)
    driver.start()
    slow_worker = None
    deadline = time.monotonic() + 120
    while slow_worker is None and time.monotonic() < deadline:
        for proc in cell_processes():  # the slow cell's process; its parent is the Dask worker
            try:
                if "slow" in Path(proc.cmdline()[-2]).read_text():
                    slow_worker = proc.parent()
            except (OSError, IndexError, psutil.Error):
                continue
        time.sleep(0.2)
    assert slow_worker is not None, "the slow cell never started"
    time.sleep(1.0)
    slow_worker.send_signal(signal.SIGKILL)
    driver.join(timeout=240)
    assert not driver.is_alive()
    ids = [r["cell_id"] for r in recorded(run_dir)]
    assert sorted(ids) == sorted(c.cell_id for c in suite.cells)  # each exactly once
    slow = next(r for r in recorded(run_dir) if "slow" in r["cell_id"])
    assert slow["status"] == "ok"  # retried on another worker
    time.sleep(1.0)  # the killed worker's cell process gets SIGKILL from the kernel
    assert cell_processes() == []
    assert list(isolated.glob(f"{CELL_TEMP_PREFIX}*")) == []
    print(f"records after the worker kill: {len(ids)} for {len(suite.cells)} cells")


def test_a_killed_driver_resumes_and_its_cell_process_dies(isolated: Path, tmp_path: Path) -> None:
    path = suite_file(tmp_path / "resume.toml", """
        [[learners]]
        name = "sleepy"
        label = "first"

        [[learners]]
        name = "sleepy"
        label = "slow"
        params = { seconds = 8 }
        """)
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "learnbench", "run", str(path), "--out", str(run_dir)]
    driver = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (cell_processes() and list(run_dir.glob("*.json"))) and time.monotonic() < deadline:
        time.sleep(0.2)
    [cell] = cell_processes()
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    psutil.wait_procs([cell], timeout=10)
    assert not cell.is_running() or cell.status() == psutil.STATUS_ZOMBIE
    assert len(recorded(run_dir)) == 1  # the first cell, recorded before the kill
    assert len(list(isolated.glob(f"{CELL_TEMP_PREFIX}*"))) == 1  # the dead cell's, for now

    resumed = subprocess.run([*cmd[:-2], "--out", str(run_dir)], capture_output=True, text=True,
                             timeout=300, env={**os.environ})
    assert resumed.returncode == 0, resumed.stderr
    assert "1 ran, 1 already recorded" in resumed.stdout
    assert len(recorded(run_dir)) == 2
    assert list(isolated.glob(f"{CELL_TEMP_PREFIX}*")) == []


def test_a_second_driver_is_refused_and_a_stale_lock_taken_over(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    suite = load_suite(suite_file(tmp_path / "lock.toml", """
        [[learners]]
        name = "knn"
        """))
    with run_lock(run_dir), pytest.raises(RunLockedError) as err:
        run_suite(suite, run_dir, progress=quiet)
    message = str(err.value)
    assert "\n" not in message and f"{run_dir / '.lock'} is held by pid {os.getpid()}" in message
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from learnbench.harness.lock import run_lock
        with run_lock({str(run_dir)!r}):
            print("locked", flush=True)
            time.sleep(60)
        """)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert run_suite(suite, run_dir, progress=quiet).ran  # the dead holder's lock is taken over


def test_a_corrupt_record_is_moved_aside_and_rerun(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    suite = load_suite(suite_file(tmp_path / "corrupt.toml", """
        [[learners]]
        name = "knn"
        """, seeds="[0, 1]"))
    run_dir = tmp_path / "run"
    run_suite(suite, run_dir, progress=quiet)
    victim = sorted(run_dir.glob("*.json"))[0]
    victim.write_text(victim.read_text()[:40])  # truncated JSON
    frame = records.load_runs(run_dir)  # what `report` reads: names it and goes on
    assert len(frame) == 1
    assert f"unreadable result record {victim}" in capsys.readouterr().err
    again = run_suite(suite, run_dir, progress=quiet)
    assert again.ran == [victim.stem] and again.corrupt == [run_dir / "corrupt" / victim.name]
    assert len(records.load_runs(run_dir)) == 2


# -- workers: versions, resources, batch jobs ---------------------------------------------------


@pytest.fixture
def two_workers():
    """A Dask cluster of a CPU worker and a worker that advertises a (fake) GPU."""
    from distributed import Nanny, Scheduler, SpecCluster

    workers = {name: {"cls": Nanny, "options": {"nthreads": 1, "resources": res,
                                                 "memory_limit": 0}}
               for name, res in (("cpu", {"CPU": 1}), ("gpu", {"CPU": 1, "GPU": 1}))}
    cluster = SpecCluster(scheduler={"cls": Scheduler, "options": {"dashboard_address": ":0"}},
                          workers=workers, silence_logs=40)
    yield cluster
    cluster.close()


def test_gpu_cells_run_only_on_the_worker_with_a_gpu(isolated: Path, tmp_path: Path,
                                                     two_workers) -> None:
    suite = load_suite(suite_file(tmp_path / "gpu.toml", """
        [[learners]]
        name = "sleepy"
        label = "needs_gpu"
        seeds = [0, 1, 2]
        params = { seconds = 0.5 }
        resources = { gpus = 1 }

        [[learners]]
        name = "sleepy"
        label = "any"
        seeds = [0, 1, 2]
        """))
    gpu_address = next(addr for addr, w in two_workers.scheduler_info["workers"].items()
                       if w["name"] == "gpu")
    settings = ExecutorSettings(executor="dask", scheduler=two_workers.scheduler_address)
    summary = run_suite(suite, tmp_path / "run", progress=quiet, executor=DaskExecutor(settings))
    assert summary.ok
    for record in recorded(tmp_path / "run"):
        if "needs_gpu" in record["cell_id"]:
            assert record["execution"]["worker"] == gpu_address
    assert len(recorded(tmp_path / "run")) == 6


def test_a_cell_no_worker_can_take_is_an_error_before_the_run(isolated: Path,
                                                              tmp_path: Path) -> None:
    suite = load_suite(suite_file(tmp_path / "nogpu.toml", """
        [[learners]]
        name = "sleepy"
        resources = { gpus = 1 }
        """))
    with pytest.raises(ExecutorError) as err:
        run_suite(suite, tmp_path / "run", progress=quiet,
                  executor=DaskExecutor(ExecutorSettings(executor="local", workers=1)))
    assert "1 cell(s) fit no worker" in str(err.value) and "GPU=1" in str(err.value)
    assert "\n" not in str(err.value) and recorded(tmp_path / "run") == []


def test_workers_with_other_versions_are_refused(isolated: Path, tmp_path: Path,
                                                 two_workers, monkeypatch) -> None:
    suite = load_suite(suite_file(tmp_path / "versions.toml", """
        [[learners]]
        name = "sleepy"
        """))
    real = ex.fingerprint()
    monkeypatch.setattr(ex, "fingerprint", lambda: {**real, "torch": "0.0.0+driver"})
    settings = ExecutorSettings(executor="dask", scheduler=two_workers.scheduler_address)
    with pytest.raises(ex.VersionMismatchError) as err:
        run_suite(suite, tmp_path / "run", progress=quiet, executor=DaskExecutor(settings))
    message = str(err.value)
    assert message.startswith("worker tcp://") and "refused: torch 0.0.0+driver here, " in message
    assert f"{real['torch']} there" in message and recorded(tmp_path / "run") == []
    settings.allow_mixed_versions = True
    run_suite(suite, tmp_path / "run", progress=quiet, executor=DaskExecutor(settings))
    [record] = recorded(tmp_path / "run")
    assert record["status"] == "ok" and "torch 0.0.0+driver here" in record["execution"]["mixed_versions"]


def test_the_slurm_job_script_without_slurm(tmp_path: Path) -> None:
    suite = load_suite("ci")
    settings = ExecutorSettings(executor="slurm", partition="gpu", max_jobs=20, cores=8, gpus=1,
                                memory="64GB", setup=["module load cuda"], dry_run=True)
    script = DaskExecutor(settings).job_cluster(list(suite.cells)).job_script()
    longest = max(c.timeout for c in suite.cells)
    walltime = ex.walltime_for(list(suite.cells))
    hours, minutes, seconds = (int(x) for x in walltime.split(":"))
    assert hours * 3600 + minutes * 60 + seconds >= longest * 1.1
    for line in ("#SBATCH -p gpu", f"#SBATCH -t {walltime}", "#SBATCH --cpus-per-task=8",
                 "#SBATCH --gres=gpu:1", "module load cuda", "--resources CPU=8,GPU=1",
                 sys.executable):
        assert line in script, line
    out = subprocess.run([sys.executable, "-m", "learnbench", "run", "ci", "--executor", "slurm",
                          "--partition", "gpu", "--cores", "8", "--dry-run",
                          "--out", str(tmp_path / "run")], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert "#SBATCH -p gpu" in out.stdout and not (tmp_path / "run").exists()


def test_executor_settings_from_a_file_and_bad_settings(tmp_path: Path) -> None:
    path = tmp_path / "cluster.toml"
    path.write_text('executor = "slurm"\npartition = "long"\nmax_jobs = 4\nsetup = "module load x"\n')
    settings = ExecutorSettings.from_file(path, max_jobs=8)
    assert (settings.executor, settings.partition, settings.max_jobs) == ("slurm", "long", 8)
    assert settings.setup == ["module load x"]
    path.write_text('executor = "slurm"\nnodes = 3\n')
    with pytest.raises(ExecutorError, match="unknown key\\(s\\) nodes; valid keys: "):
        ExecutorSettings.from_file(path)
    with pytest.raises(ExecutorError, match="--executor dask needs --scheduler"):
        ExecutorSettings(executor="dask")


def test_host_slots_count_other_running_cells(tmp_path: Path) -> None:
    with HostSlots(tmp_path) as a, HostSlots(tmp_path) as b:
        assert a.others() == 1 and b.others() == 1
        (tmp_path / "999999999.dead").touch()  # a marker whose process is gone
        assert a.others() == 1 and not (tmp_path / "999999999.dead").exists()
    with HostSlots(tmp_path) as c:
        assert c.others() == 0


def test_gcforest_spreads_its_trees_over_dask_with_the_same_model() -> None:
    """``n_jobs`` with ``backend="dask"``: the same forests (same seed), built on the cluster."""
    import dask
    from distributed import Client, LocalCluster, get_task_stream

    from learnbench.datasets import load_dataset
    from learnbench.errors import LearnbenchError
    from learnbench.learners import make_learner

    data = load_dataset("digits")
    X, y = data.X_train[:300], data.y_train[:300]
    params = {"n_forests": 2, "n_estimators": 8, "max_levels": 2, "n_jobs": 2, "random_state": 0}
    plain = make_learner("gcforest_cascade", **params).fit(X, y).predict_proba(data.X_test)
    with dask.config.set({"scheduler-address": None}), pytest.raises(
            LearnbenchError, match="backend='dask' needs a Dask scheduler"):
        make_learner("gcforest_cascade", backend="dask", **params).fit(X, y)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=":0") as cluster, Client(cluster) as client, \
            dask.config.set({"scheduler-address": cluster.scheduler_address}), \
            get_task_stream(client) as tasks:
        est = make_learner("gcforest_cascade", backend="dask", **params).fit(X, y)
        on_dask = est.predict_proba(data.X_test)
    assert len(tasks.data) > 0  # the forests' joblib batches ran as Dask tasks
    assert (on_dask == plain).all()
