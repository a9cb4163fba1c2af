"""The ``learnbench`` command: run suites, build reports, list and verify what is available."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from learnbench.errors import LearnbenchError


def _default_run_dir(suite_name: str) -> Path:
    """``results/<suite>-<short commit>``: stable per commit, so re-running resumes."""
    from learnbench.harness.environment import git_state

    commit, dirty = git_state()
    tag = f"-{commit[:8]}" if commit else ""
    return Path("results") / f"{suite_name}{tag}{'-dirty' if dirty else ''}"


def cmd_run(args: argparse.Namespace) -> int:
    from learnbench.harness import load_suite, run_suite

    suite = load_suite(args.suite)
    run_dir = Path(args.out) if args.out else _default_run_dir(suite.name)
    print(f"suite {suite.name} ({suite.path}): {len(suite.cells)} cells -> {run_dir}")
    summary = run_suite(suite, run_dir, retry_failed=args.retry_failed)
    print(f"done: {len(summary.ran)} ran, {len(summary.skipped)} already recorded, "
          f"{len(summary.failed)} failed ({run_dir})")
    if args.report:
        from learnbench.reporting import build_report

        for path in build_report([run_dir], Path(args.report)):
            print(f"wrote {path}")
    for cell_id in summary.failed:
        print(f"failed: {cell_id}", file=sys.stderr)
    return 0 if summary.ok else 1


def cmd_report(args: argparse.Namespace) -> int:
    from learnbench.reporting import build_report

    out = Path(args.out) if args.out else Path("reports") / Path(args.run_dirs[0]).name
    for path in build_report([Path(p) for p in args.run_dirs], out):
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

    results = verify_all(args.names or None)
    bad = 0
    for r in results:
        bad += r["status"] != "ok"
        where = r.get("location") or r.get("message") or ""
        print(f"{r['status']:<8} {r['dataset']:<14} {r['filename']:<44} {where}")
    print(f"{len(results) - bad}/{len(results)} artifacts verified")
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
    run.set_defaults(func=cmd_run)

    rep = sub.add_parser("report", help="build reports from stored result records",
                         description="Build Markdown, HTML, LaTeX tables and PNG plots from "
                         "the records in one or more run directories.")
    rep.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    rep.add_argument("--out", help="output directory (default: reports/<first run dir name>)")
    rep.set_defaults(func=cmd_report)

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
    ver.set_defaults(func=cmd_datasets_verify)
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
