"""Cell processes that never outlive what started them, and the host-local files they use.

- :func:`die_with_parent`: ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` in the child (Linux), so a
  cell's worker process is killed when the runner or Dask worker that started it dies, even by
  SIGKILL; the child also gets its own session, and a timeout kills its whole group.
- :func:`cell_tempdir`: a temporary directory named after the owning process
  (``learnbench-cell-<pid>-*``); :func:`sweep_stale_tempdirs` removes those whose owner is dead,
  which is the only way to clean up after a SIGKILL (no ``finally`` runs).
- :class:`HostSlots`: one marker file per running cell in a host-local directory, so a cell
  can record how many other cells ran on the same host while it ran (timings under
  contention), whichever executor or driver started them.

Written by hand: neither subprocess nor Dask offers a parent-death signal, and the
contention count spans processes that share nothing but the host.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import shutil
import signal
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

CELL_TEMP_PREFIX = "learnbench-cell-"
_PR_SET_PDEATHSIG = 1


def pid_alive(pid: int) -> bool:
    """True when a process ``pid`` exists on this host (zombies count as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie has exited; only its parent has not reaped it yet
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (OSError, IndexError):
        return True


PARENT_PID_VAR = "LEARNBENCH_PARENT_PID"


def parent_env() -> dict[str, str]:
    """Environment entries that let :func:`die_with_parent` in the child check its parent."""
    return {PARENT_PID_VAR: str(os.getpid())}


def die_with_parent() -> None:
    """In a cell's worker process: get SIGKILL when the process that started it dies (Linux).

    Called first thing in the child (not as a ``preexec_fn``, which is unsafe in a threaded
    parent such as a Dask worker). The signal follows the parent *thread*; the runner and the
    Dask task wait for the cell in the thread that started it, so that thread outlives it. A
    parent that died before the call is caught by comparing ``getppid`` with the pid it left.
    """
    expected = os.environ.get(PARENT_PID_VAR)
    if not sys.platform.startswith("linux") or not expected:
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != int(expected):
        os._exit(1)


@contextlib.contextmanager
def cell_tempdir() -> Iterator[Path]:
    """A fresh ``learnbench-cell-<pid>-*`` directory, removed on exit (and by the sweep)."""
    sweep_stale_tempdirs()
    path = Path(tempfile.mkdtemp(prefix=f"{CELL_TEMP_PREFIX}{os.getpid()}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def sweep_stale_tempdirs(root: str | os.PathLike[str] | None = None) -> list[Path]:
    """Remove ``learnbench-cell-<pid>-*`` directories whose owner process is dead."""
    root = Path(root or tempfile.gettempdir())
    removed = []
    for path in root.glob(f"{CELL_TEMP_PREFIX}*"):
        owner = path.name[len(CELL_TEMP_PREFIX):].split("-", 1)[0]
        if owner.isdigit() and not pid_alive(int(owner)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


class HostSlots:
    """Marker files, one per running cell on this host: ``<dir>/<pid>.<random>``.

    ``with HostSlots() as slots:`` registers this process; ``slots.others()`` counts the other
    live markers now. Stale markers of dead processes are ignored and removed.
    """

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        uid = os.getuid() if hasattr(os, "getuid") else "user"
        self.root = Path(root or Path(tempfile.gettempdir()) / f"learnbench-running-{uid}")
        self.marker = self.root / f"{os.getpid()}.{uuid.uuid4().hex[:12]}"

    def __enter__(self) -> HostSlots:
        self.root.mkdir(parents=True, exist_ok=True)
        self.marker.touch()
        return self

    def __exit__(self, *exc: object) -> None:
        self.marker.unlink(missing_ok=True)

    def others(self) -> int:
        count = 0
        for path in self.root.glob("*.*"):
            owner = path.name.split(".", 1)[0]
            if path == self.marker or not owner.isdigit():
                continue
            if pid_alive(int(owner)):
                count += 1
            else:
                path.unlink(missing_ok=True)
        return count
