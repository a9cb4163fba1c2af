"""Where the time goes: step times, top operators, time by op class and roofline data.

Reads the ``profile`` dict a record carries in ``details["profile"]`` (column ``profile`` of
the report frame, see :mod:`.details`): per phase (``train``, ``infer``) median/p95 step
times, achieved TFLOP/s, top profiler operators and time per op class, plus a ``roofline``
block (peaks, measured matmul and bandwidth ceilings, per-layer FLOPs and bytes). One seed per
(dataset, learner) is shown: the first ok seed that has a profile.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from learnbench.reporting.tables import DASH, Display, Fmt, display_plain, format_number, prepare

PHASES = ("train", "infer")
OP_CLASSES = ("convolution", "gemm", "elementwise", "memory", "other")
TOP_OPS = 5

STEP_NOTE = (
    "One seed per model (the first ok seed with a profile, column Seed). Step times from "
    "unprofiled steps after warm-up (median and 95th percentile, ms); achieved TFLOP/s = "
    "counted FLOPs per step / median step time; % peak: of the table peak of the device for "
    "the roofline dtype (n/a when the device is not in the table); % matmul: of the matmul "
    "throughput measured on the same device; profiler overhead = profiled / unprofiled median "
    "step time - 1."
)
TOP_OPS_NOTE = (
    "The most expensive profiler operators of each phase (top {n} by total time over the "
    "profiled steps), with their op class; share = fraction of the phase's profiled time."
)


@dataclass
class RooflineDevice:
    """Roofline inputs for one device: ceilings and the points to place under them."""

    device: str
    peak_tflops: float | None
    peak_bandwidth_gbs: float | None
    peak_source: str | None
    measured_tflops: float
    measured_bandwidth_gbs: float
    dtype: str
    models: list[dict]  # {"model", "phase", "intensity", "tflops"}
    kinds: list[dict]  # {"model", "kind", "intensity", "flops", "bytes"}

    @property
    def ceiling_tflops(self) -> float:
        """The flat roof: the table peak when known, else the measured matmul ceiling."""
        return self.peak_tflops if self.peak_tflops else self.measured_tflops

    @property
    def bandwidth_gbs(self) -> float:
        """The slanted roof: the table bandwidth when known, else the measured one."""
        return self.peak_bandwidth_gbs if self.peak_bandwidth_gbs else self.measured_bandwidth_gbs

    def attainable_tflops(self, intensity: float) -> float:
        """min(ceiling, intensity x bandwidth) in TFLOP/s (intensity in FLOP/byte)."""
        return min(self.ceiling_tflops, intensity * self.bandwidth_gbs / 1e3)


def profiled(df: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, learner): the first ok seed's record that has a profile dict.

    Columns ``dataset``, ``learner``, ``seed``, ``run_dir`` (None when unknown), ``profile``.
    Empty when no record has a profile (old records).
    """
    cols = ["dataset", "learner", "seed", "run_dir", "profile"]
    if "profile" not in df.columns:
        return pd.DataFrame(columns=cols)
    d = prepare(df)
    d = d[(d["status"] == "ok") & d["profile"].map(lambda p: isinstance(p, dict) and bool(p))]
    rows = []
    for (col, row), g in d.groupby(["col", "row"], sort=True):
        first = g.sort_values("seed").iloc[0]
        rows.append({"dataset": col, "learner": row, "seed": int(first["seed"]),
                     "run_dir": first.get("run_dir"), "profile": first["profile"]})
    return pd.DataFrame(rows, columns=cols)


def step_table(prof: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, learner, phase): step times, FLOP rates and their efficiencies."""
    rows = []
    for _, r in prof.iterrows():
        p = r["profile"]
        roof = p.get("roofline") or {}
        peak, measured = roof.get("peak_tflops"), roof.get("measured_matmul_tflops")
        for phase in PHASES:
            ph = (p.get("phases") or {}).get(phase)
            if not ph:
                continue
            achieved = _num(ph.get("achieved_tflops"))
            median, profiled_median = _num(ph.get("step_ms_median")), _num(
                ph.get("profiled_step_ms_median"))
            rows.append(
                {
                    "dataset": r["dataset"],
                    "learner": r["learner"],
                    "seed": r["seed"],
                    "device": p.get("device_name") or p.get("device") or "?",
                    "phase": phase,
                    "batch_size": _num(ph.get("batch_size")),
                    "step_ms_median": median,
                    "step_ms_p95": _num(ph.get("step_ms_p95")),
                    "achieved_tflops": achieved,
                    "pct_peak": 100 * achieved / peak if peak else math.nan,
                    "pct_matmul": 100 * achieved / measured if measured else math.nan,
                    "profiler_overhead": (profiled_median / median - 1 if median > 0
                                          else math.nan),
                    "max_memory_mb": _num(p.get("max_memory_allocated_mb")),
                }
            )
    return pd.DataFrame(rows)


def display_steps(prof: pd.DataFrame, fmt: Fmt) -> Display:
    """Cells of :func:`step_table`."""
    t = step_table(prof)
    dash = DASH[fmt]
    cells = pd.DataFrame(
        {
            "Dataset": t["dataset"].astype(str),
            "Learner": t["learner"].astype(str),
            "Seed": t["seed"].astype(int).astype(str),
            "Device": t["device"].astype(str),
            "Phase": t["phase"],
            "batch": [format_number(v, "int", fmt) for v in t["batch_size"]],
            "median [ms]": [format_number(v, "float", fmt) for v in t["step_ms_median"]],
            "p95 [ms]": [format_number(v, "float", fmt) for v in t["step_ms_p95"]],
            "TFLOP/s": [dash if math.isnan(v) else f"{v:.3g}" for v in t["achieved_tflops"]],
            "% peak": [_pct(v, "n/a") for v in t["pct_peak"]],
            "% matmul": [_pct(v, dash) for v in t["pct_matmul"]],
            "profiler overhead": [dash if math.isnan(v) else f"{100 * v:+.0f}%"
                                  for v in t["profiler_overhead"]],
            "max GPU mem [MB]": [format_number(v, "float", fmt) for v in t["max_memory_mb"]],
        }
    )
    return display_plain(cells, ["Dataset", "Learner", "Device", "Phase"])


def top_ops_table(prof: pd.DataFrame, top: int = TOP_OPS) -> pd.DataFrame:
    """The ``top`` operators by total time per (dataset, learner, phase)."""
    rows = []
    for _, r in prof.iterrows():
        for phase in PHASES:
            ph = ((r["profile"].get("phases") or {}).get(phase)) or {}
            ops = sorted(ph.get("top_ops") or [],
                         key=lambda o: (-_num(o.get("total_ms")), str(o.get("name"))))
            for op in ops[:top]:
                rows.append({"dataset": r["dataset"], "learner": r["learner"], "phase": phase,
                             "name": str(op.get("name")), "op_class": str(op.get("op_class")),
                             "calls": _num(op.get("calls")), "total_ms": _num(op.get("total_ms")),
                             "mean_us": _num(op.get("mean_us")), "share": _num(op.get("share"))})
    return pd.DataFrame(rows, columns=["dataset", "learner", "phase", "name", "op_class",
                                       "calls", "total_ms", "mean_us", "share"])


def display_top_ops(prof: pd.DataFrame, fmt: Fmt, top: int = TOP_OPS) -> Display:
    """Cells of :func:`top_ops_table`."""
    t = top_ops_table(prof, top)
    cells = pd.DataFrame(
        {
            "Dataset": t["dataset"].astype(str),
            "Learner": t["learner"].astype(str),
            "Phase": t["phase"].astype(str),
            "Operator": t["name"],
            "Class": t["op_class"],
            "calls": [format_number(v, "int", fmt) for v in t["calls"]],
            "total [ms]": [format_number(v, "float", fmt) for v in t["total_ms"]],
            "mean [us]": [format_number(v, "float", fmt) for v in t["mean_us"]],
            "share": [_pct(100 * v, DASH[fmt]) for v in t["share"]],
        }
    )
    return display_plain(cells, ["Dataset", "Learner", "Phase", "Operator", "Class"])


def class_times(prof: pd.DataFrame) -> list[tuple[str, dict[str, float]]]:
    """(bar label, ms per op class) per (dataset, learner, phase), for the stacked bars."""
    bars = []
    for _, r in prof.iterrows():
        for phase in PHASES:
            ph = ((r["profile"].get("phases") or {}).get(phase)) or {}
            by_class = ph.get("time_by_class_ms") or {}
            if not by_class:
                continue
            values = {c: _num(by_class.get(c), 0.0) for c in OP_CLASSES}
            values["other"] += sum(_num(v, 0.0) for c, v in by_class.items()
                                   if c not in OP_CLASSES)  # a class this report lacks
            bars.append((f"{r['learner']}\n{r['dataset']}\n{phase}", values))
    return bars


def roofline_devices(prof: pd.DataFrame) -> list[RooflineDevice]:
    """Roofline inputs grouped by device name, sorted; devices without roofline data skipped."""
    groups: dict[str, list[tuple[pd.Series, dict]]] = {}
    for _, r in prof.iterrows():
        roof = r["profile"].get("roofline")
        if (roof and _num(roof.get("measured_matmul_tflops")) > 0
                and _num(roof.get("measured_bandwidth_gbs")) > 0):
            name = r["profile"].get("device_name") or r["profile"].get("device") or "?"
            groups.setdefault(str(name), []).append((r, roof))
    devices = []
    for name in sorted(groups):
        entries = groups[name]
        roofs = [roof for _, roof in entries]
        models, kinds = [], []
        for r, roof in entries:
            model = f"{r['learner']} ({r['dataset']})"
            intensity = _num(roof.get("model_intensity"))
            for phase in PHASES:
                ph = ((r["profile"].get("phases") or {}).get(phase)) or {}
                tflops = _num(ph.get("achieved_tflops"))
                if intensity > 0 and tflops > 0:
                    models.append({"model": model, "phase": phase, "intensity": intensity,
                                   "tflops": tflops})
            for kind, (flops, nbytes) in sorted(_kind_totals(roof.get("layers") or []).items()):
                if flops > 0 and nbytes > 0:
                    kinds.append({"model": model, "kind": kind, "intensity": flops / nbytes,
                                  "flops": flops, "bytes": nbytes})
        peak = next((x for x in roofs if x.get("peak_tflops") or x.get("peak_bandwidth_gbs")),
                    {})
        devices.append(
            RooflineDevice(
                device=name,
                peak_tflops=peak.get("peak_tflops") or None,
                peak_bandwidth_gbs=peak.get("peak_bandwidth_gbs") or None,
                peak_source=peak.get("peak_source"),
                measured_tflops=_median(x.get("measured_matmul_tflops") for x in roofs),
                measured_bandwidth_gbs=_median(x.get("measured_bandwidth_gbs") for x in roofs),
                dtype=str(roofs[0].get("dtype") or "?"),
                models=models,
                kinds=kinds,
            )
        )
    return devices


def roofline_text(devices: list[RooflineDevice]) -> list[str]:
    """One line per device: its name and where the roof comes from."""
    lines = []
    for dev in devices:
        measured = (f"measured matmul {dev.measured_tflops:.3g} TFLOP/s, measured bandwidth "
                    f"{dev.measured_bandwidth_gbs:.3g} GB/s")
        if dev.peak_tflops or dev.peak_bandwidth_gbs:
            compute = (f"the table peak {dev.peak_tflops:.3g} TFLOP/s" if dev.peak_tflops
                       else f"the measured matmul {dev.measured_tflops:.3g} TFLOP/s (no table "
                            f"peak for {dev.dtype})")
            bw = (f"the table bandwidth {dev.peak_bandwidth_gbs:.3g} GB/s"
                  if dev.peak_bandwidth_gbs
                  else f"the measured bandwidth {dev.measured_bandwidth_gbs:.3g} GB/s")
            lines.append(f"{dev.device} ({dev.dtype}): roof from {compute} and {bw} (source: "
                         f"{dev.peak_source or 'unstated'}); dashed: {measured}.")
        else:
            lines.append(f"{dev.device} ({dev.dtype}): no table peak known for this device; "
                         f"roof from the {measured}.")
    return lines


def trace_links(prof: pd.DataFrame, out_dir: Path) -> list[tuple[str, str]]:
    """(text, path relative to ``out_dir``) of each phase's trace file, when recorded."""
    links = []
    for _, r in prof.iterrows():
        for phase in PHASES:
            ph = ((r["profile"].get("phases") or {}).get(phase)) or {}
            trace = ph.get("trace")
            if not trace:
                continue
            base = r["run_dir"] if isinstance(r["run_dir"], str) else "."
            rel = os.path.relpath(Path(base) / trace, Path(out_dir))
            links.append((f"{r['learner']} on {r['dataset']}, seed {r['seed']}, {phase}",
                          Path(rel).as_posix()))
    return links


def _kind_totals(layers: list[dict]) -> dict[str, tuple[float, float]]:
    totals: dict[str, tuple[float, float]] = {}
    for layer in layers:
        kind = str(layer.get("kind") or "?")
        f, b = totals.get(kind, (0.0, 0.0))
        totals[kind] = (f + _num(layer.get("flops"), 0.0), b + _num(layer.get("bytes"), 0.0))
    return totals


def _median(values) -> float:
    v = sorted(_num(x) for x in values)
    v = [x for x in v if not math.isnan(x)]
    if not v:
        return math.nan
    mid = len(v) // 2
    return v[mid] if len(v) % 2 else (v[mid - 1] + v[mid]) / 2


def _num(value: object, missing: float = math.nan) -> float:
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return missing
    return missing if math.isnan(out) else out


def _pct(value: float, missing: str) -> str:
    return missing if math.isnan(value) else f"{value:.1f}%"
