"""Plug-ins: learners, datasets and report sections that live outside the package.

A plug-in is one importable module that registers what it adds when imported (as built-in
modules do): ``learnbench.learners.register_learner(LearnerEntry(...))``,
``@learnbench.datasets.register`` on a ``DatasetSpec`` subclass. learnbench imports, once per
process and before the first registry lookup,

- every module named in ``$LEARNBENCH_PLUGINS`` (comma-separated, like ``$PYTEST_PLUGINS``),
  which the harness's cell processes inherit; and
- every ``learnbench.plugins`` entry point of the installed distributions (a package adds
  ``[project.entry-points."learnbench.plugins"] mine = "mypkg.learnbench_plugin"``).

A plug-in that cannot be imported is a one-line error naming it and where it was named.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
from importlib.metadata import entry_points

from learnbench.errors import LearnbenchError

ENV_VAR = "LEARNBENCH_PLUGINS"
ENTRY_POINT_GROUP = "learnbench.plugins"

_loaded: set[str] = set()


def plugin_modules() -> list[tuple[str, str]]:
    """``(module, where it is named)`` for every plug-in: the environment, then entry points."""
    named = [(m.strip(), f"${ENV_VAR}") for m in os.environ.get(ENV_VAR, "").split(",")
             if m.strip()]
    return named + list(_entry_point_modules())


@functools.cache
def _entry_point_modules() -> tuple[tuple[str, str], ...]:
    """The entry-point plug-ins, scanned once per process: reading every installed
    distribution's metadata takes ~10 ms, and each registry lookup asks for the plug-ins."""
    return tuple((ep.value.partition(":")[0], f"entry point {ep.name!r} ({ENTRY_POINT_GROUP})")
                 for ep in entry_points(group=ENTRY_POINT_GROUP))


def load_plugins() -> list[str]:
    """Import the plug-in modules not imported yet; returns the names imported by this call."""
    new = []
    for module, where in plugin_modules():
        if module in _loaded:
            continue
        _loaded.add(module)  # before importing: a plug-in may look up the registry itself
        try:
            importlib.import_module(module)
        except Exception as exc:  # any failure of a user's module: one line naming it
            _loaded.discard(module)
            raise LearnbenchError(f"plug-in {module!r} (named in {where}) cannot be imported: "
                                  f"{type(exc).__name__}: {exc}") from exc
        new.append(module)
    return new


def unload_plugin(module: str) -> None:
    """Forget a plug-in module (tests): the next :func:`load_plugins` imports it afresh, so
    it registers again. What it registered is the caller's to unregister."""
    _loaded.discard(module)
    sys.modules.pop(module, None)
