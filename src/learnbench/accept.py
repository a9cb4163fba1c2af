"""Accept a run as a regression baseline: copy its records into ``baselines/runs/NAME``.

``results/`` holds what runs wrote (the committed reference run is regenerated there);
``baselines/runs/`` holds the runs a maintainer *accepted* as the yardstick for
``learnbench compare``. Acceptance is an explicit, reviewed step (a commit that changes
``baselines/runs/``), so a new reference run never moves the yardstick by itself.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

from learnbench import records
from learnbench.errors import LearnbenchError

MANIFEST = "ACCEPTED.md"


def accept_run(run_dir: str | os.PathLike[str], dest: str | os.PathLike[str]) -> Path:
    """Replace ``dest`` by the ok records (and suite file) of ``run_dir``; return ``dest``.

    Failed or timed-out cells are not accepted: a baseline of a failure compares nothing.
    """
    src, dest = Path(run_dir), Path(dest)
    recs = list(records.iter_records(src)) if src.is_dir() else []
    ok = [r for r in recs if r.get("status") == "ok"]
    if not ok:
        raise LearnbenchError(f"{src}: no ok result records to accept")
    tmp = dest.with_name(f".{dest.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for rec in ok:
        shutil.copy2(records.record_path(src, rec["cell_id"]), tmp)
    for suite_file in sorted(src.glob("suite-*.toml")):
        shutil.copy2(suite_file, tmp)
    (tmp / MANIFEST).write_text(_manifest(src, ok, len(recs) - len(ok)))
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return dest


def _manifest(src: Path, ok: list[dict], rejected: int) -> str:
    def values(key: str) -> str:
        return ", ".join(sorted({str(r["environment"].get(key)) for r in ok}))

    return "\n".join([
        f"# Accepted baseline: {src.name}",
        "",
        f"- accepted on: {dt.date.today().isoformat()}, from `{src}`",
        f"- cells: {len(ok)} ok ({rejected} failed or timed out, not accepted)",
        f"- suite: {', '.join(sorted({str(r.get('suite')) for r in ok}))}",
        f"- git commit: {values('git_commit')}",
        f"- machine: {values('cpu')}, {values('cpu_count')} cores; GPU: {values('gpu')}",
        "",
        "Compare a new run against it: `learnbench compare "
        f"{Path('baselines') / 'runs' / src.name} NEW_RUN`.",
        "",
    ])
