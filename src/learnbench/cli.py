"""The ``learnbench`` command: run suites, build reports, list and verify what is available."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from learnbench.errors import LearnbenchError, SuiteError

if TYPE_CHECKING:
    from learnbench.harness.executors import ExecutorSettings
    from learnbench.harness.suite import Suite


def _default_run_dir(suite_name: str) -> Path:
    """``results/<suite>-<short commit>``: stable per commit, so re-running resumes."""
    from learnbench.harness.environment import git_state

    commit, dirty = git_state()
    tag = f"-{commit[:8]}" if commit else ""
    return Path("results") / f"{suite_name}{tag}{'-dirty' if dirty else ''}"


def cmd_run(args: argparse.Namespace) -> int:
    from learnbench.harness import load_suite, run_suite
    from learnbench.harness.executors import dry_run_text, make_executor

    settings = executor_settings(args)
    suite = select_cells(load_suite(args.suite, all_seeds=args.all_seeds), args.learner,
                         args.dataset, args.device)
    run_dir = Path(args.out) if args.out else _default_run_dir(suite.name)
    print(f"suite {suite.name} ({suite.path}): {len(suite.cells)} cells -> {run_dir}"
          + (f" (executor {settings.executor})" if settings.executor != "serial" else ""))
    if settings.dry_run:  # nothing runs and nothing is written
        print(dry_run_text(settings, list(suite.cells)))
        return 0
    summary = run_suite(suite, run_dir, retry_failed=args.retry_failed,
                        executor=make_executor(settings))
    print(f"done: {len(summary.ran)} ran, {len(summary.skipped)} already recorded, "
          f"{len(summary.failed)} failed ({run_dir})")
    if args.report:
        from learnbench.reporting import build_report

        for path in build_report([run_dir], Path(args.report)):
            print(f"wrote {path}")
    for cell_id in summary.failed:
        print(f"failed: {cell_id}", file=sys.stderr)
    return 0 if summary.ok else 1


_EXECUTOR_OPTIONS = ("workers", "threads_per_worker", "scheduler", "scheduler_file", "partition",
                     "account", "max_jobs", "cores", "gpus", "memory", "walltime", "setup",
                     "retries", "allow_mixed_versions", "dry_run")


def executor_settings(args: argparse.Namespace) -> ExecutorSettings:
    """``--executor`` and its options over ``--executor-config FILE`` (options given win)."""
    from learnbench.harness.executors import ExecutorSettings

    given = {k: getattr(args, k) for k in _EXECUTOR_OPTIONS if getattr(args, k) not in (None, False)}
    if args.executor is not None:
        given["executor"] = args.executor
    if args.executor_config:
        return ExecutorSettings.from_file(args.executor_config, **given)
    return ExecutorSettings(**given)


def select_cells(suite: Suite, learners: list[str] | None, datasets: list[str] | None,
                 device: str | None) -> Suite:
    """The suite's cells restricted to some learners/datasets (name or label), on ``device``.

    A device override changes each cell's config, so its records get their own cell ids.
    """
    cells = [c for c in suite.cells
             if (not learners or {c.learner, c.label} & set(learners))
             and (not datasets or {c.dataset, c.dataset_label} & set(datasets))]
    for what, wanted, have in (
            ("learner", learners, {x for c in suite.cells for x in (c.learner, c.label)}),
            ("dataset", datasets, {x for c in suite.cells for x in (c.dataset, c.dataset_label)})):
        unknown = sorted(set(wanted or ()) - have)
        if unknown:
            raise SuiteError(f"{suite.path}: --{what} {', '.join(unknown)} not in suite "
                             f"{suite.name!r}; it has: {', '.join(sorted(have - {''}))}")
    if device:
        cells = [replace(c, device=device) for c in cells]
    return replace(suite, cells=tuple(cells))


def cmd_report(args: argparse.Namespace) -> int:
    from learnbench.reporting import build_report

    out = Path(args.out) if args.out else Path("reports") / Path(args.run_dirs[0]).name
    for path in build_report([Path(p) for p in args.run_dirs], out):
        print(f"wrote {path}")
    return 0


def cmd_accept(args: argparse.Namespace) -> int:
    from learnbench.accept import accept_run

    dest = Path("baselines") / "runs" / (args.name or Path(args.run_dir).resolve().name)
    print(f"accepted {accept_run(args.run_dir, dest)}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from learnbench.compare import compare_runs, render_markdown, render_text

    result = compare_runs(args.base, args.new, threshold=args.threshold, metrics=args.metrics,
                          confidence=args.confidence,
                          accuracy_tolerance=args.accuracy_tolerance)
    print(render_text(result), end="")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(render_markdown(result), encoding="utf-8")
        print(f"wrote {args.out}")
    return result.exit_code


def cmd_history(args: argparse.Namespace) -> int:
    from learnbench.reporting.history import build_history

    for path in build_history(args.run_dirs, Path(args.out), metric=args.metric):
        print(f"wrote {path}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from learnbench.datasets import dataset_names, get_dataset_spec
    from learnbench.harness import suite_names
    from learnbench.learners import learner_info, learner_names

    if args.what in ("all", "datasets"):
        print("datasets:")
        for name in dataset_names():
            spec = get_dataset_spec(name)
            print(f"  {name:<16} {spec.modality:<8} {spec.description}")
    if args.what in ("all", "learners"):
        print("learners:")
        for name in learner_names():
            info = learner_info(name)
            print(f"  {name:<16} {info.get('family', ''):<10} {info.get('description', '')}")
    if args.what in ("all", "suites"):
        print("suites:")
        for name in suite_names():
            print(f"  {name}")
    return 0


def cmd_datasets_verify(args: argparse.Namespace) -> int:
    from learnbench.datasets import verify_all

    names = list(args.names)
    if args.suite:
        from learnbench.harness import load_suite

        names += sorted({cell.dataset for cell in load_suite(args.suite).cells})
    results = verify_all(names or None)
    bad = 0
    for r in results:
        bad += r["status"] != "ok"
        where = r.get("location") or r.get("message") or ""
        print(f"{r['status']:<8} {r['dataset']:<14} {r['filename']:<44} {where}")
    print(f"{len(results) - bad}/{len(results)} artifacts verified")
    return 0 if bad == 0 else 1


def cmd_datasets_fetch(args: argparse.Namespace) -> int:
    """Load every dataset (with each parameter set) a suite uses: artifacts are fetched and
    verified, and the parsed arrays cached, so a node is ready before its cells run."""
    from learnbench.datasets import dataset_names, load_dataset
    from learnbench.harness.worker import SUBSAMPLE_KEYS

    wanted: dict[tuple[str, str], dict] = {(n, "{}"): {} for n in args.names}
    if args.suite:
        from learnbench.harness import load_suite

        for cell in load_suite(args.suite).cells:
            params = {k: v for k, v in cell.dataset_params.items() if k not in SUBSAMPLE_KEYS}
            wanted[(cell.dataset, json.dumps(params, sort_keys=True))] = params
    if not wanted:
        wanted = {(n, "{}"): {} for n in dataset_names()}
    bad = 0
    for (name, key), params in sorted(wanted.items()):
        try:
            data = load_dataset(name, **params)
        except LearnbenchError as exc:
            bad += 1
            print(f"{'error':<8} {name:<14} {key:<40} {exc}")
            continue
        print(f"{'ok':<8} {name:<14} {key:<40} {len(data.y_train)} train / {len(data.y_test)} test")
    print(f"{len(wanted) - bad}/{len(wanted)} datasets ready")
    return 0 if bad == 0 else 1


def cmd_datasets_info(args: argparse.Namespace) -> int:
    from learnbench.datasets import get_dataset_spec

    card = get_dataset_spec(args.name).card()
    if args.json:
        print(json.dumps(card, indent=2, default=str))
    else:
        for key, value in card.items():
            print(f"{key:>12}: {value}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="learnbench",
        description="Benchmark deep and classical learners on real datasets; record and report.",
        epilog="Data: artifacts come from $LEARNBENCH_CACHE, then $LEARNBENCH_MIRROR, then their "
               "canonical URL (unless LEARNBENCH_OFFLINE=1).")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run a suite (resumes into an existing run directory)",
                         description="Run every cell of SUITE (a name under benchmarks/suites/ "
                         "or a .toml path), each in its own subprocess, recording one JSON per "
                         "cell. Cells already recorded in --out are skipped. Exits 1 if any "
                         "cell failed.")
    run.add_argument("suite", help="suite name (smoke, ci, paper, ...) or path to a .toml file")
    run.add_argument("--out", help="run directory (default: results/<suite>-<commit>)")
    run.add_argument("--retry-failed", action="store_true",
                     help="re-run cells recorded as error/timeout instead of skipping them")
    run.add_argument("--report", metavar="DIR", help="also build reports from the run into DIR")
    run.add_argument("--learner", action="append", metavar="NAME",
                     help="run only this learner (name or label; repeatable)")
    run.add_argument("--dataset", action="append", metavar="NAME",
                     help="run only this dataset (name or label; repeatable)")
    run.add_argument("--device", help="run every cell on this device (cpu, cuda, cuda:N) "
                     "instead of the suite's")
    run.add_argument("--all-seeds", action="store_true",
                     help="run every seed even where they cannot differ (a deterministic "
                     "learner on a fixed split runs one seed otherwise)")
    ex = run.add_argument_group(
        "executors", "where cells run (never part of a cell's id: resume works across them); "
        "see README 'Running on a cluster'")
    ex.add_argument("--executor", choices=["serial", "local", "dask", "slurm", "pbs"],
                    help="serial (default: one cell at a time here), local (a Dask LocalCluster), "
                    "dask (running workers), slurm or pbs (dask-jobqueue batch jobs)")
    ex.add_argument("--executor-config", metavar="FILE.toml",
                    help="executor settings in a TOML file (same names as these options)")
    ex.add_argument("--workers", type=int, help="local: worker processes (default: CPU count)")
    ex.add_argument("--threads-per-worker", type=int, help="local: CPU slots per worker (default 1)")
    ex.add_argument("--scheduler", metavar="ADDRESS", help="dask: scheduler address, tcp://head:8786")
    ex.add_argument("--scheduler-file", metavar="FILE", help="dask: scheduler file")
    ex.add_argument("--partition", help="slurm: partition (pbs: queue)")
    ex.add_argument("--account", help="slurm/pbs: account to charge")
    ex.add_argument("--max-jobs", type=int, help="slurm/pbs: batch jobs at most (default 10)")
    ex.add_argument("--cores", type=int, help="slurm/pbs: cores (CPU slots) per job (default 1)")
    ex.add_argument("--gpus", type=int, help="slurm/pbs: GPUs per job (default 0)")
    ex.add_argument("--memory", help="slurm/pbs: memory per job (default 8GB)")
    ex.add_argument("--walltime", help="slurm/pbs: HH:MM:SS (default: from the longest timeout)")
    ex.add_argument("--setup", action="append", metavar="SHELL",
                    help="slurm/pbs: a line run before the worker starts (repeatable)")
    ex.add_argument("--retries", type=int,
                    help="times a cell is re-run after its worker died (default 1)")
    ex.add_argument("--allow-mixed-versions", action="store_true",
                    help="run on workers whose commit or library versions differ")
    ex.add_argument("--dry-run", action="store_true",
                    help="slurm/pbs: print the job script; others: say what would run")
    run.set_defaults(func=cmd_run)

    rep = sub.add_parser("report", help="build reports from stored result records",
                         description="Build Markdown, HTML, LaTeX tables and PNG plots from "
                         "the records in one or more run directories.")
    rep.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    rep.add_argument("--out", help="output directory (default: reports/<first run dir name>)")
    rep.set_defaults(func=cmd_report)

    cmp = sub.add_parser("compare", help="compare two runs; exit 1 on a significant regression",
                         description="Match the cells of two run directories by configuration "
                         "(seeds are the repeats) and compare accuracy and timings: ratio "
                         "new/base of the means (accuracy: difference) with a bootstrap CI. "
                         "A regression is a change whose CI excludes no-change and that is "
                         "worse than --threshold (accuracy: --accuracy-tolerance). Exits 1 on a "
                         "regression, 0 otherwise, 2 on bad input; timing regressions do not "
                         "gate when the runs' hardware differs.")
    cmp.add_argument("base", metavar="BASE_RUN", help="baseline run directory")
    cmp.add_argument("new", metavar="NEW_RUN", help="run directory to check")
    cmp.add_argument("--threshold", type=float, default=0.10,
                     help="relative change that counts as a regression (default 0.10)")
    cmp.add_argument("--accuracy-tolerance", type=float, default=0.01,
                     help="absolute accuracy drop that counts as a regression (default 0.01 "
                     "= 1 percentage point)")
    cmp.add_argument("--metrics", nargs="+", metavar="METRIC",
                     help="metrics to compare (default: accuracy and every timing metric)")
    cmp.add_argument("--confidence", type=float, default=0.95,
                     help="confidence level of the bootstrap interval (default 0.95)")
    cmp.add_argument("--out", metavar="FILE.md", help="also write the report as Markdown")
    cmp.set_defaults(func=cmd_compare)

    acc = sub.add_parser("accept", help="accept a run as a regression baseline",
                         description="Copy the ok records and suite file of RUN_DIR into "
                         "baselines/runs/<name> (replacing what is there) with an ACCEPTED.md "
                         "manifest; `learnbench compare baselines/runs/<name> NEW` then checks "
                         "new runs against it. Commit the result to accept it.")
    acc.add_argument("run_dir", metavar="RUN_DIR")
    acc.add_argument("--name", help="baseline name (default: RUN_DIR's name)")
    acc.set_defaults(func=cmd_accept)

    his = sub.add_parser("history", help="plot a metric over commits from stored runs",
                         description="One PNG per dataset (a line per learner, runs ordered by "
                         "start time and labelled by short commit; mean ± standard error over "
                         "seeds) and a Markdown table.")
    his.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    his.add_argument("--metric", default="train_throughput",
                     help="metric column to plot (default train_throughput)")
    his.add_argument("--out", default=str(Path("reports") / "history"),
                     help="output directory (default reports/history)")
    his.set_defaults(func=cmd_history)

    lst = sub.add_parser("list", help="list datasets, learners and suites")
    lst.add_argument("what", nargs="?", default="all",
                     choices=["all", "datasets", "learners", "suites"])
    lst.set_defaults(func=cmd_list)

    ds = sub.add_parser("datasets", help="verify dataset artifacts, show dataset cards")
    ds_sub = ds.add_subparsers(dest="datasets_command", required=True, metavar="ACTION")
    ver = ds_sub.add_parser("verify", help="check every artifact's SHA-256",
                            description="Find every dataset artifact (cache, mirrors, URL) and "
                            "verify its checksum. Exits 1 if any is missing or bad.")
    ver.add_argument("names", nargs="*", metavar="DATASET", help="only these datasets")
    ver.add_argument("--suite", help="only the datasets this suite uses (name or .toml path)")
    ver.set_defaults(func=cmd_datasets_verify)
    fet = ds_sub.add_parser("fetch", help="prepare this machine's cache for a suite",
                            description="Load every dataset (with each parameter set) that the "
                            "given suite or names use: artifacts come from the cache, a mirror "
                            "or their URL and are verified, and the parsed arrays are cached. "
                            "Run it on each node before a cluster run. Exits 1 if any failed.")
    fet.add_argument("names", nargs="*", metavar="DATASET", help="these datasets (defaults)")
    fet.add_argument("--suite", help="the datasets this suite uses (name or .toml path)")
    fet.set_defaults(func=cmd_datasets_fetch)
    info = ds_sub.add_parser("info", help="show a dataset's card")
    info.add_argument("name", metavar="DATASET")
    info.add_argument("--json", action="store_true", help="print the card as JSON")
    info.set_defaults(func=cmd_datasets_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except LearnbenchError as exc:
        print(f"learnbench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("learnbench: interrupted; recorded cells are kept, re-run to resume",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
