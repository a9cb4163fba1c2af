"""Profile a window of training steps and inference batches with ``torch.profiler``.

:func:`profile_steps` takes step callables (``TorchClassifier.profiling_steps``) and, per
phase, runs warm-up calls, an unprofiled timed loop (CUDA events on CUDA, ``perf_counter`` on
CPU; half of its steps before and half after the profiler window), and a ``torch.profiler``
window over the same number of steps. It returns step times
(median, p95), the profiler's overhead, the top operators by self device time (self CUDA
time of kernels on CUDA, self CPU time of operators on CPU) with their class
(:func:`op_class`), time per class per step, FLOPs per step from ``FlopCounterMode`` and the
achieved TFLOP/s; optionally a gzipped Chrome trace per phase. The record schema is
``details["profile"]["phases"][phase]`` (see :func:`profile_steps`).
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

OP_CLASSES = ("convolution", "gemm", "elementwise", "memory", "other")
TOP_OPS = 10

# (class, pattern) tried in order on the lower-cased op or kernel name; the first match wins.
# Covers aten operator names (CPU and the CUDA ops' CPU side) and cuDNN / cuBLAS / CUTLASS /
# ATen CUDA kernel names. Normalisation, pooling, reductions and losses stay "other".
_OP_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (cls, re.compile(pattern))
    for cls, pattern in (
        ("other", r"batch_norm|bn_fw|bn_bw|layer_norm|group_norm|\bbn\b"),
        ("convolution", r"conv(?!ert)|winograd|implicit_gemm|implicit_convolve|fprop|dgrad|wgrad"
                        r"|im2col|col2im|cudnn|mkldnn_conv|depthwise|slow_conv"),
        ("gemm", r"gemm|gemv|\bmm\b|aten::mm|addmm|bmm|matmul|aten::linear|cublas|cutlass"
                 r"|splitkreduce|xmma|dot_product|baddbmm|_scaled_mm|mkldnn_matmul"),
        ("memory", r"memcpy|memset|copy|\bfill|fill_|zero_|aten::zeros|aten::empty|aten::cat"
                   r"|catarray|contiguous|clone|aten::to\b|_to_copy|aten::index|index_select"
                   r"|gather|scatter|aten::stack|nchwtonhwc|nhwctonchw|transpose_kernel"),
        ("elementwise", r"elementwise|relu|threshold|aten::add|aten::sub|aten::mul|aten::div"
                        r"|sigmoid|tanh|gelu|silu|clamp|hardtanh|aten::where|aten::neg|sqrt"
                        r"|addcmul|addcdiv|_foreach|multi_tensor_apply|lerp|aten::pow|aten::exp\b"
                        r"|dropout|aten::abs|aten::sign|aten::maximum|aten::minimum"),
    )
)


def op_class(name: str) -> str:
    """The class of an operator or kernel: one of :data:`OP_CLASSES`, by name patterns.

    ``aten::mkldnn_convolution``, ``implicit_convolve_sgemm``, ``sm90_xmma_fprop_...`` ->
    convolution; ``aten::addmm``, ``sm90_xmma_gemm_...``, ``ampere_sgemm_...`` -> gemm;
    ``aten::relu``, ``vectorized_elementwise_kernel`` -> elementwise; ``Memcpy HtoD``,
    ``aten::fill_``, ``aten::cat`` -> memory; anything else (pooling, batch norm, reductions,
    losses) -> other.
    """
    lowered = name.lower()
    for cls, pattern in _OP_PATTERNS:
        if pattern.search(lowered):
            return cls
    return "other"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed_steps(fn: Callable[[], None], n: int, device: torch.device) -> list[float]:
    """Milliseconds of each of ``n`` calls: CUDA events on CUDA, ``perf_counter`` on CPU."""
    _sync(device)
    if device.type == "cuda":
        events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
                  for _ in range(n)]
        for start, end in events:
            start.record()
            fn()
            end.record()
        torch.cuda.synchronize(device)
        return [start.elapsed_time(end) for start, end in events]
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def _conv_backward_flop(grad_out_shape: Any, x_shape: Any, w_shape: Any, _bias: Any,
                        _stride: Any, _padding: Any, _dilation: Any, transposed: bool,
                        _output_padding: Any, _groups: Any, output_mask: Any,
                        out_shape: Any = None) -> int:
    """FLOPs of ``aten.convolution_backward``: the forward conv's FLOPs once for the input
    gradient and once for the weight gradient (as requested by ``output_mask``).

    torch's own formula ignores ``groups`` for the weight gradient and so counts a depthwise
    conv's backward ``groups`` times too high (MobileNet's training FLOPs came out 3x too
    high); this one agrees with it for ``groups == 1``.
    """
    # forward FLOPs: 2 x outputs x (in-channels per group x kernel), w = (out, in/groups, *k);
    # for a transposed conv the roles of input and output swap.
    per_output = 2 * int(np.prod(w_shape[1:]))
    forward = per_output * int(np.prod(x_shape if transposed else grad_out_shape))
    return forward * (int(bool(output_mask[0])) + int(bool(output_mask[1])))


def flop_counter() -> FlopCounterMode:
    """A silent ``FlopCounterMode`` with the grouped-convolution backward formula fixed."""
    return FlopCounterMode(display=False, custom_mapping={
        torch.ops.aten.convolution_backward: _conv_backward_flop})


def count_step_flops(fn: Callable[[], None]) -> int | None:
    """FLOPs of one call of ``fn`` by ``FlopCounterMode`` (2 per multiply-add; matmuls and
    convolutions only, forward and backward; see :func:`flop_counter`); None when the counter
    cannot run it."""
    counter = flop_counter()
    try:
        with counter:
            fn()
    except Exception:  # noqa: BLE001 - a step the counter cannot trace has no count
        return None
    return int(counter.get_total_flops())


def _self_time_us(event: Any, device: torch.device) -> float:
    if device.type == "cuda":
        return float(getattr(event, "self_device_time_total", None)
                     or getattr(event, "self_cuda_time_total", 0.0))
    return float(event.self_cpu_time_total)


def _device_events(prof: Any, device: torch.device) -> list[Any]:
    """The profiler's averaged events that hold the device's time: CUDA kernels, memcpy and
    memset on CUDA (CPU operators would count their kernels twice); operators on CPU."""
    events = [e for e in prof.key_averages() if _self_time_us(e, device) > 0]
    if device.type == "cuda":
        cuda = torch.autograd.DeviceType.CUDA
        kernels = [e for e in events if getattr(e, "device_type", None) == cuda]
        events = kernels or events  # a torch that does not tag kernels: all device time
    return events


def _save_trace(prof: Any, trace_dir: Path, filename: str) -> Path:
    """``prof``'s Chrome trace, gzipped, as ``trace_dir/filename``."""
    trace_dir.mkdir(parents=True, exist_ok=True)
    fd, raw = tempfile.mkstemp(suffix=".json", dir=trace_dir)
    os.close(fd)
    target = trace_dir / filename
    try:
        prof.export_chrome_trace(raw)
        with open(raw, "rb") as src, gzip.open(target, "wb", compresslevel=6) as dst:
            shutil.copyfileobj(src, dst)
    finally:
        Path(raw).unlink(missing_ok=True)
    return target


def profile_phase(fn: Callable[[], None], device: torch.device, warmup: int = 3,
                  steps: int = 10, trace_path: Path | None = None) -> dict[str, Any]:
    """Profile one step callable; returns the phase's ``P`` dict (see :func:`profile_steps`),
    with ``trace`` the absolute path written (or None) and ``trace_bytes`` its size."""
    from torch.profiler import ProfilerActivity, profile

    for _ in range(warmup):
        fn()
    _sync(device)
    # The unprofiled steps come half before and half after the profiled window, so that a
    # drift in the machine's load (a shared host) biases the overhead ratio less.
    unprofiled = _timed_steps(fn, (steps + 1) // 2, device)
    activities = [ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    with profile(activities=activities) as prof:
        profiled = _timed_steps(fn, steps, device)
    _sync(device)
    unprofiled += _timed_steps(fn, steps // 2, device)

    events = _device_events(prof, device)
    total_us = sum(_self_time_us(e, device) for e in events)
    by_class = dict.fromkeys(OP_CLASSES, 0.0)
    for e in events:
        by_class[op_class(e.key)] += _self_time_us(e, device) / 1e3 / steps
    top = sorted(events, key=lambda e: _self_time_us(e, device), reverse=True)[:TOP_OPS]
    top_ops = [{
        "name": e.key,
        "op_class": op_class(e.key),
        "calls": int(e.count),
        "total_ms": round(_self_time_us(e, device) / 1e3, 4),
        "mean_us": round(_self_time_us(e, device) / max(int(e.count), 1), 3),
        "share": round(_self_time_us(e, device) / total_us, 4) if total_us else 0.0,
    } for e in top]

    trace = _save_trace(prof, trace_path.parent, trace_path.name) if trace_path else None
    median = float(statistics.median(unprofiled))
    profiled_median = float(statistics.median(profiled))
    flops = count_step_flops(getattr(fn, "eager", fn))
    return {
        "batch_size": int(getattr(fn, "batch_size", 0)),
        "warmup": int(warmup),
        "steps": int(steps),
        "step_ms_median": round(median, 4),
        "step_ms_p95": round(float(np.percentile(unprofiled, 95)), 4),
        "profiled_step_ms_median": round(profiled_median, 4),
        "profiler_overhead": round(profiled_median / median, 4) if median > 0 else None,
        "flops_per_step": flops,
        "achieved_tflops": (float(f"{flops / (median / 1e3) / 1e12:.5g}")
                            if flops and median > 0 else None),
        "top_ops": top_ops,
        "time_by_class_ms": {k: round(v, 4) for k, v in by_class.items()},
        "trace": str(trace) if trace else None,
        "trace_bytes": trace.stat().st_size if trace else None,
    }


def profile_steps(step_fns: dict[str, Callable[[], None]], device: str | torch.device,
                  warmup: int = 3, steps: int = 10, trace_dir: str | os.PathLike[str] | None = None,
                  name: str = "profile") -> dict[str, Any]:
    """Profile each phase of ``step_fns`` (``{"train": fn, "infer": fn}``) on ``device``.

    Returns ``{"phases": {phase: P}, "max_memory_allocated_mb": float | None,
    "trace_bytes": {phase: int}}`` where ``P`` has ``batch_size``, ``warmup``, ``steps``,
    ``step_ms_median``, ``step_ms_p95`` (unprofiled loop), ``profiled_step_ms_median``,
    ``profiler_overhead`` (profiled / unprofiled median), ``flops_per_step``,
    ``achieved_tflops``, ``top_ops`` (top 10 by self device time: ``name``, ``op_class``,
    ``calls``, ``total_ms``, ``mean_us``, ``share`` of the window's summed self time),
    ``time_by_class_ms`` (per step) and ``trace``: ``<trace_dir name>/<name>-<phase>.json.gz``
    (relative to the run directory when ``trace_dir`` is ``<run_dir>/traces``) or None.
    On CUDA the peak of ``torch.cuda.max_memory_allocated`` over all phases is recorded.
    """
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    trace_root = Path(trace_dir) if trace_dir is not None else None
    phases, sizes = {}, {}
    for phase, fn in step_fns.items():
        path = trace_root / f"{name}-{phase}.json.gz" if trace_root is not None else None
        result = profile_phase(fn, device, warmup, steps, path)
        sizes[phase] = result.pop("trace_bytes")
        if path is not None:
            result["trace"] = f"{trace_root.name}/{path.name}"
        phases[phase] = result
    peak = None
    if device.type == "cuda":
        peak = round(torch.cuda.max_memory_allocated(device) / 2**20, 2)
    return {"phases": phases, "max_memory_allocated_mb": peak, "trace_bytes": sizes}
