"""Suites: declarative TOML files (``benchmarks/suites/*.toml``) expanded into cells.

A suite names datasets, learners with parameters, seeds and a device; every combination is
one :class:`Cell`, identified by the hash of its configuration so that a re-run can skip the
cells already recorded. See ``benchmarks/suites/smoke.toml`` for the format.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from learnbench.config import packaged
from learnbench.errors import SuiteError, UnknownNameError

SUITES_ENV = "LEARNBENCH_SUITES"
DEFAULT_TIMEOUT_S = 1800.0

_SUITE_KEYS = {"name", "description", "seeds", "device", "timeout", "threads", "latency", "profile"}
_DATASET_KEYS = {"name", "label", "subsample_train", "subsample_test", "subsample_unlabelled", "params",
                 "learners"}
_LEARNER_KEYS = {"name", "label", "params", "datasets", "seeds", "device", "timeout", "profile",
                 "latency", "role", "role_reason", "resources"}
#: A learner entry's ``resources``: what a cell needs of a Dask worker (never in its config).
_RESOURCE_KEYS = {"gpus", "memory_gb"}
#: A learner entry's ``role``: "result" (default; its accuracy is a result) or "check" (a
#: pipeline or cost check whose accuracy is not a result; needs a ``role_reason``).
ROLES = ("result", "check")
_LATENCY_KEYS = {"batch1_samples", "bulk_batch_size", "bulk_batches"}
_PROFILE_KEYS = {"warmup", "steps", "trace"}
#: What ``profile = true`` (or a table that leaves keys out) means.
PROFILE_DEFAULTS = {"warmup": 3, "steps": 10, "trace": True}


@dataclass(frozen=True)
class Cell:
    """One unit of work: a learner with its params on one dataset, one seed, one device."""

    dataset: str
    learner: str
    label: str
    params: dict[str, Any]
    seed: int
    device: str
    dataset_params: dict[str, Any] = field(default_factory=dict)
    dataset_label: str = ""
    threads: int = 0
    latency: dict[str, int] = field(default_factory=dict)
    timeout: float = DEFAULT_TIMEOUT_S
    profile: dict[str, Any] = field(default_factory=dict)  # empty: profiling off
    role: str = "result"  # or "check": a pipeline/cost check, its accuracy not a result
    role_reason: str = ""  # why a "check" cell is not a result (reports print it)
    # what the cell needs of a worker ({"gpus": 1, "memory_gb": 32}); where it runs, not what
    # it computes, so not part of its config, hash or id
    resources: dict[str, float] = field(default_factory=dict, compare=False)
    # why the suite's other seeds were not run ("" when they were): neither the learner nor
    # the dataset's protocol depends on the seed; recorded, but not part of the config
    seed_invariant: str = field(default="", compare=False)

    @property
    def config(self) -> dict[str, Any]:
        """What determines the result (the timeout does not, so it is left out).

        ``profile`` is included only when profiling is on, and ``role``/``role_reason`` only
        for a "check" cell, so cells without them keep their ids.
        """
        config = {
            "dataset": self.dataset,
            "dataset_params": self.dataset_params,
            "dataset_label": self.dataset_label or self.dataset,
            "learner": self.learner,
            "label": self.label,
            "params": self.params,
            "seed": self.seed,
            "device": self.device,
            "threads": self.threads,
            "latency": self.latency,
        }
        if self.profile:
            config["profile"] = self.profile
        if self.role != "result":
            config["role"] = self.role
            config["role_reason"] = self.role_reason
        return config

    @property
    def config_hash(self) -> str:
        canonical = json.dumps(self.config, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    @property
    def cell_id(self) -> str:
        ds, ln = (re.sub(r"[^A-Za-z0-9_.]+", "_", s).strip("_")
                  for s in (self.dataset_label or self.dataset, self.label))
        return f"{ds}-{ln}-s{self.seed}-{self.device}-{self.config_hash[:8]}"


@dataclass(frozen=True)
class Suite:
    name: str
    path: Path
    description: str
    cells: tuple[Cell, ...]


def suite_dirs() -> list[Path]:
    """Where suite names are looked up: ``$LEARNBENCH_SUITES``, ./benchmarks/suites, then the
    tiers shipped in the package (so ``learnbench run smoke`` works from any directory)."""
    dirs = [Path(p) for p in os.environ.get(SUITES_ENV, "").split(os.pathsep) if p]
    dirs.append(Path.cwd() / "benchmarks" / "suites")
    dirs.append(packaged("suites"))
    seen: list[Path] = []
    for d in dirs:
        if d.is_dir() and d.resolve() not in seen:
            seen.append(d.resolve())
    return seen


def suite_names() -> list[str]:
    return sorted({p.stem for d in suite_dirs() for p in d.glob("*.toml")})


def resolve_suite(name_or_path: str | os.PathLike[str]) -> Path:
    """A suite file from a path, or from a name looked up in :func:`suite_dirs`."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.is_file():
        if not path.is_file():
            raise SuiteError(f"suite file not found: {path}")
        return path
    for d in suite_dirs():
        candidate = d / f"{name_or_path}.toml"
        if candidate.is_file():
            return candidate
    raise UnknownNameError("suite", str(name_or_path), suite_names())


def load_suite(name_or_path: str | os.PathLike[str], all_seeds: bool = False) -> Suite:
    """Parse and validate a suite file and expand it into cells.

    A deterministic learner on a seed-free protocol gets one seed, the first (see
    :func:`seed_invariance`), unless ``all_seeds``.
    """
    path = resolve_suite(name_or_path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SuiteError(f"{path}: not valid TOML: {exc}") from None
    return _expand(path, data, all_seeds)


def seed_invariance(learner: str, params: dict[str, Any], dataset: str,
                    dataset_params: dict[str, Any]) -> str:
    """Why every seed gives the same result for this learner on this dataset, or "".

    The learner's registry entry must declare it ``deterministic`` (checked by a test running
    two seeds) with none of its ``seed_params`` set by the suite (e.g. ``svm_rbf`` with
    ``probability``), and the dataset's protocol must be a fixed split (``seeded_split`` is
    False) with no subsampling.
    """
    from learnbench.datasets import get_dataset_spec
    from learnbench.learners import learner_entry

    entry = learner_entry(learner)
    if not entry.deterministic or set(params) & set(entry.seed_params):
        return ""
    if get_dataset_spec(dataset).seeded_split or any(k.startswith("subsample_")
                                                    for k in dataset_params):
        return ""
    return (f"deterministic learner ({learner}) on a fixed split without subsampling "
            f"({dataset}): every seed gives the same result")


def _expand(path: Path, data: dict[str, Any], all_seeds: bool = False) -> Suite:
    from learnbench.datasets import dataset_names
    from learnbench.learners import learner_family, learner_names

    where = str(path)
    _only_keys(where, "top level", data, {"suite", "datasets", "learners"})
    head = data.get("suite", {})
    _check_type(where, "suite", head, dict)
    _only_keys(where, "[suite]", head, _SUITE_KEYS)
    seeds = _seeds(where, "suite.seeds", head.get("seeds", [0]))
    device = _check_type(where, "suite.device", head.get("device", "cpu"), str)
    timeout = float(_check_type(where, "suite.timeout", head.get("timeout", DEFAULT_TIMEOUT_S),
                                (int, float)))
    threads = _check_type(where, "suite.threads", head.get("threads", 0), int)
    latency = _check_type(where, "suite.latency", head.get("latency", {}), dict)
    _only_keys(where, "suite.latency", latency, _LATENCY_KEYS)
    profile = _profile(where, "suite.profile", head.get("profile", False), {})

    datasets = _check_type(where, "datasets", data.get("datasets"), list)
    learners = _check_type(where, "learners", data.get("learners"), list)
    if not datasets or not learners:
        raise SuiteError(f"{where}: key 'datasets' and 'learners' must each list at least one entry")

    ds_entries = []
    for i, ds in enumerate(datasets):
        key = f"datasets[{i}]"
        _check_type(where, key, ds, dict)
        _only_keys(where, key, ds, _DATASET_KEYS)
        name = _check_type(where, f"{key}.name", ds.get("name"), str)
        if name not in dataset_names():
            raise SuiteError(f"{where}: key '{key}.name': unknown dataset {name!r}; valid datasets: "
                             f"{', '.join(dataset_names())}")
        params = dict(_check_type(where, f"{key}.params", ds.get("params", {}), dict))
        for sub in ("subsample_train", "subsample_test", "subsample_unlabelled"):
            if sub in ds:
                params[sub] = _check_type(where, f"{key}.{sub}", ds[sub], int)
        label = _check_type(where, f"{key}.label", ds.get("label", name), str)
        # ``learners``: only these learners (names or labels) use this dataset entry, e.g.
        # IMDB as raw text, which only the text models take.
        users = _check_type(where, f"{key}.learners", ds.get("learners", []), list)
        ds_entries.append((name, label, params, users))

    cells: list[Cell] = []
    for i, ln in enumerate(learners):
        key = f"learners[{i}]"
        _check_type(where, key, ln, dict)
        _only_keys(where, key, ln, _LEARNER_KEYS)
        name = _check_type(where, f"{key}.name", ln.get("name"), str)
        if name not in learner_names():
            raise SuiteError(f"{where}: key '{key}.name': unknown learner {name!r}; valid learners: "
                             f"{', '.join(learner_names())}")
        params = _check_type(where, f"{key}.params", ln.get("params", {}), dict)
        label = _check_type(where, f"{key}.label", ln.get("label", name), str)
        only = _check_type(where, f"{key}.datasets", ln.get("datasets", []), list)
        unknown = [d for d in only if d not in {x for n, lb, *_ in ds_entries for x in (n, lb)}]
        if unknown:
            raise SuiteError(f"{where}: key '{key}.datasets': {unknown} not among the suite's datasets")
        l_seeds = _seeds(where, f"{key}.seeds", ln["seeds"]) if "seeds" in ln else seeds
        l_device = _check_type(where, f"{key}.device", ln.get("device", device), str)
        l_timeout = float(_check_type(where, f"{key}.timeout", ln.get("timeout", timeout),
                                      (int, float)))
        # A suite-wide profile applies to the deep (torch) learners, the ones it can profile,
        # so classical cells keep their ids; a learner's own ``profile`` key always applies.
        l_profile = (_profile(where, f"{key}.profile", ln["profile"], profile)
                     if "profile" in ln else profile if learner_family(name) == "deep" else {})
        role, role_reason = _role(where, key, ln)
        resources = _resources(where, f"{key}.resources", ln.get("resources", {}))
        l_latency = dict(latency)
        if "latency" in ln:
            l_latency.update(_check_type(where, f"{key}.latency", ln["latency"], dict))
            _only_keys(where, f"{key}.latency", ln["latency"], _LATENCY_KEYS)
        for ds_name, ds_label, ds_params, users in ds_entries:
            if only and ds_name not in only and ds_label not in only:
                continue
            if users and name not in users and label not in users:
                continue
            invariant = "" if all_seeds else seed_invariance(name, params, ds_name, ds_params)
            for seed in l_seeds[:1] if invariant else l_seeds:
                cells.append(Cell(dataset=ds_name, learner=name, label=label, params=dict(params),
                                  seed=seed, device=l_device, dataset_params=dict(ds_params),
                                  dataset_label=ds_label,
                                  threads=threads, latency=l_latency, timeout=l_timeout,
                                  profile=dict(l_profile), role=role,
                                  role_reason=role_reason, resources=dict(resources),
                                  seed_invariant=invariant))
    known = {x for ln in learners for x in (ln.get("name"), ln.get("label", ln.get("name")))}
    for i, (_, _, _, users) in enumerate(ds_entries):
        unknown = [u for u in users if u not in known]
        if unknown:
            raise SuiteError(f"{where}: key 'datasets[{i}].learners': {unknown} not among the "
                             "suite's learners")
    ids = [c.cell_id for c in cells]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise SuiteError(f"{where}: duplicate cells {dupes}; give repeated learners distinct 'label's")
    suite_name = _check_type(where, "suite.name", head.get("name", path.stem), str)
    return Suite(name=suite_name, path=path, description=head.get("description", ""),
                 cells=tuple(cells))


def _only_keys(where: str, section: str, table: dict[str, Any], allowed: set[str]) -> None:
    extra = sorted(set(table) - allowed)
    if extra:
        raise SuiteError(f"{where}: unknown key '{extra[0]}' in {section}; allowed: "
                         f"{', '.join(sorted(allowed))}")


def _check_type(where: str, key: str, value: Any, types: type | tuple[type, ...]) -> Any:
    if value is None:
        raise SuiteError(f"{where}: missing key '{key}'")
    if not isinstance(value, types) or isinstance(value, bool) and types is int:
        expected = types.__name__ if isinstance(types, type) else "/".join(t.__name__ for t in types)
        raise SuiteError(f"{where}: key '{key}' must be {expected}, got {type(value).__name__} "
                         f"{value!r}")
    return value


def _profile(where: str, key: str, value: Any, base: dict[str, Any]) -> dict[str, Any]:
    """A ``profile`` setting: false (off: ``{}``), true (defaults) or a table of
    ``warmup``/``steps``/``trace`` over ``base`` (the suite's setting) or the defaults."""
    _check_type(where, key, value, (bool, dict))
    if value is False:
        return {}
    out = dict(base or PROFILE_DEFAULTS)
    if value is True:
        return out
    _only_keys(where, key, value, _PROFILE_KEYS)
    for sub, minimum in (("warmup", 0), ("steps", 1)):
        if sub in value:
            n = _check_type(where, f"{key}.{sub}", value[sub], int)
            if n < minimum:
                raise SuiteError(f"{where}: key '{key}.{sub}' must be at least {minimum}, got {n}")
            out[sub] = n
    if "trace" in value:
        out["trace"] = _check_type(where, f"{key}.trace", value["trace"], bool)
    return out


def _role(where: str, key: str, entry: dict[str, Any]) -> tuple[str, str]:
    """A learner entry's ``role`` and ``role_reason`` (required, non-empty, for "check")."""
    role = _check_type(where, f"{key}.role", entry.get("role", "result"), str)
    if role not in ROLES:
        raise SuiteError(f"{where}: key '{key}.role' must be one of {', '.join(ROLES)}, got {role!r}")
    if "role_reason" not in entry:
        if role == "check":
            raise SuiteError(f"{where}: missing key '{key}.role_reason' (required with role = \"check\": "
                             "say why its accuracy is not a result)")
        return role, ""
    reason = _check_type(where, f"{key}.role_reason", entry["role_reason"], str).strip()
    if role != "check":
        raise SuiteError(f"{where}: key '{key}.role_reason' is only allowed with role = \"check\"")
    if not reason:
        raise SuiteError(f"{where}: key '{key}.role_reason' must not be empty")
    return role, reason


def _resources(where: str, key: str, value: Any) -> dict[str, float]:
    """A learner's ``resources`` table: ``gpus`` and ``memory_gb``, non-negative numbers."""
    _check_type(where, key, value, dict)
    _only_keys(where, key, value, _RESOURCE_KEYS)
    for sub, amount in value.items():
        if not isinstance(amount, int | float) or isinstance(amount, bool) or amount < 0:
            raise SuiteError(f"{where}: key '{key}.{sub}' must be a number >= 0, got {amount!r}")
    return dict(value)


def _seeds(where: str, key: str, value: Any) -> list[int]:
    _check_type(where, key, value, list)
    if not value or not all(isinstance(s, int) and not isinstance(s, bool) for s in value):
        raise SuiteError(f"{where}: key '{key}' must be a non-empty list of integers, got {value!r}")
    return list(value)
