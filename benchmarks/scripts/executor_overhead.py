"""What a Dask executor costs and buys on one machine, measured side by side.

1. Scheduling overhead: ``TRIVIAL`` trivial cells (k-NN on the bundled digits, each in its
   own process as always, pinned to one thread on both sides) run serially, then on a
   one-worker ``LocalCluster``; the wall-time difference per cell, cluster start-up counted
   apart, is what Dask adds to a cell.
2. The ci tier's classical cells, serially (each cell unpinned: all cores) and on
   ``--executor local`` with one single-threaded worker per core.

    python benchmarks/scripts/executor_overhead.py [--skip-ci] [--out FILE.json]

Runs write into a temporary directory (the figures are about the harness, not results).
A script, not an asv benchmark (it takes about 25 minutes); asv reads only the modules
directly in ``benchmarks/``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

TRIVIAL = 50


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def trivial_suite(path: Path):
    from learnbench.harness.suite import load_suite

    seeds = ", ".join(str(s) for s in range(TRIVIAL))
    path.write_text(f"""
[suite]
name = "trivial"
seeds = [{seeds}]
device = "cpu"
threads = 1
latency = {{ batch1_samples = 1, bulk_batch_size = 64, bulk_batches = 1 }}

[[datasets]]
name = "digits"

[[learners]]
name = "knn"
""")
    return load_suite(path)


def main() -> None:
    from learnbench.cli import select_cells
    from learnbench.harness.executors import DaskExecutor, ExecutorSettings
    from learnbench.harness.runner import run_suite
    from learnbench.harness.suite import load_suite
    from learnbench.learners import learner_family

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-ci", action="store_true", help="only the trivial cells")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    quiet = lambda _: None  # noqa: E731
    figures: dict[str, float] = {"cpu_count": os.cpu_count() or 1}
    with tempfile.TemporaryDirectory(prefix="learnbench-executor-bench-") as tmp:
        root = Path(tmp)
        suite = trivial_suite(root / "trivial.toml")
        figures["trivial_serial_s"] = _timed(lambda: run_suite(suite, root / "t-serial", progress=quiet))

        from distributed import Client, LocalCluster

        start = time.perf_counter()
        with LocalCluster(n_workers=1, threads_per_worker=1, resources={"CPU": 1},
                          memory_limit=0, dashboard_address=":0") as cluster, Client(cluster):
            figures["cluster_start_s"] = time.perf_counter() - start
            settings = ExecutorSettings(executor="dask", scheduler=cluster.scheduler_address)
            figures["trivial_dask_s"] = _timed(lambda: run_suite(
                suite, root / "t-dask", progress=quiet, executor=DaskExecutor(settings)))
        figures["overhead_per_cell_s"] = (figures["trivial_dask_s"]
                                          - figures["trivial_serial_s"]) / TRIVIAL
        print(json.dumps(figures, indent=2), flush=True)
        if not args.skip_ci:
            ci = load_suite("ci")
            classical = sorted({c.learner for c in ci.cells if learner_family(c.learner) == "classical"})
            cells = select_cells(ci, classical, None, None)
            figures["ci_classical_cells"] = len(cells.cells)
            figures["ci_classical_serial_s"] = _timed(lambda: run_suite(
                cells, root / "ci-serial", progress=quiet))
            local = ExecutorSettings(executor="local", workers=os.cpu_count() or 1)
            figures["ci_classical_local_s"] = _timed(lambda: run_suite(
                replace(cells), root / "ci-local", progress=quiet, executor=DaskExecutor(local)))
            figures["ci_classical_local_workers"] = local.workers
    print(json.dumps(figures, indent=2))
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
