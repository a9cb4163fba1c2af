"""One driver per run directory: an exclusive ``flock`` on ``<run>/.lock``.

The kernel drops a ``flock`` when its holder dies, so a lock left by a killed driver (even by
SIGKILL) is simply taken over by the next run; the holder's pid, host and start time are kept
in the file only to name it in the error a second driver gets.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from learnbench.errors import LearnbenchError

LOCK_NAME = ".lock"


class RunLockedError(LearnbenchError):
    """Another driver holds the run directory's lock."""


@contextlib.contextmanager
def run_lock(run_dir: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold ``<run_dir>/.lock`` for the block; a held lock raises :class:`RunLockedError`."""
    path = Path(run_dir) / LOCK_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunLockedError(f"run directory {path.parent} is in use: {path} is held by "
                                 f"{_holder(path)}; wait for that run or stop it") from None
        holder = {"pid": os.getpid(), "host": socket.gethostname(),
                  "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        info = {}
    if not info:
        return "another process"
    return f"pid {info.get('pid')} on {info.get('host')} since {info.get('since')}"
