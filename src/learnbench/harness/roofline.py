"""Roofline inputs: device peaks (a datasheet table), measured roofs, arithmetic intensity.

:func:`peak_for` looks a GPU up in :data:`PEAKS` by its ``torch.cuda.get_device_name()``;
:func:`measured_matmul_tflops` and :func:`measured_bandwidth_gbs` measure the practical
compute and memory roofs on the device itself (cached per process);
:func:`layer_intensity` estimates FLOPs, bytes moved and arithmetic intensity per layer.
"""

from __future__ import annotations

import functools
import re
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

# Peak dense (no structured sparsity) throughput in TFLOP/s for fp32 (non-tensor-core) and
# bf16 (tensor cores, fp32 accumulate), and memory bandwidth in GB/s, from the vendors'
# datasheets: NVIDIA H100 Tensor Core GPU datasheet (SXM5 / PCIe / NVL columns), NVIDIA H200
# datasheet (SXM / NVL), NVIDIA A100 datasheet (SXM4 / PCIe, 40 and 80 GB), NVIDIA L4 and
# L40S datasheets, NVIDIA A10 datasheet, NVIDIA V100 datasheet (SXM2 / PCIe; no bf16),
# NVIDIA T4 datasheet (no bf16), NVIDIA RTX A6000 datasheet, and the NVIDIA Ada (RTX 4090)
# and Ampere GA102 (RTX 3090) architecture whitepapers. Datasheets quote bf16 "with
# sparsity"; the dense figure is half of it. Matched in order on the device name.
PEAKS: tuple[tuple[str, str, dict[str, float | None]], ...] = (
    (r"H100.*(PCIe|PCIE)", "NVIDIA H100 PCIe datasheet",
     {"float32": 51.0, "bfloat16": 756.0, "bandwidth_gbs": 2000.0}),
    (r"H100.*NVL", "NVIDIA H100 NVL datasheet",
     {"float32": 60.0, "bfloat16": 835.0, "bandwidth_gbs": 3900.0}),
    (r"H100", "NVIDIA H100 SXM5 datasheet",
     {"float32": 67.0, "bfloat16": 989.4, "bandwidth_gbs": 3350.0}),
    (r"H200.*NVL", "NVIDIA H200 NVL datasheet",
     {"float32": 60.0, "bfloat16": 835.0, "bandwidth_gbs": 4800.0}),
    (r"H200", "NVIDIA H200 SXM datasheet",
     {"float32": 67.0, "bfloat16": 989.4, "bandwidth_gbs": 4800.0}),
    (r"A100.*(PCIe|PCIE).*80|A100.*80.*(PCIe|PCIE)", "NVIDIA A100 80GB PCIe datasheet",
     {"float32": 19.5, "bfloat16": 312.0, "bandwidth_gbs": 1935.0}),
    (r"A100.*80", "NVIDIA A100 80GB SXM datasheet",
     {"float32": 19.5, "bfloat16": 312.0, "bandwidth_gbs": 2039.0}),
    (r"A100", "NVIDIA A100 40GB datasheet",
     {"float32": 19.5, "bfloat16": 312.0, "bandwidth_gbs": 1555.0}),
    (r"L40S", "NVIDIA L40S datasheet",
     {"float32": 91.6, "bfloat16": 362.05, "bandwidth_gbs": 864.0}),
    (r"\bL4\b", "NVIDIA L4 datasheet",
     {"float32": 30.3, "bfloat16": 121.0, "bandwidth_gbs": 300.0}),
    (r"\bA10\b", "NVIDIA A10 datasheet",
     {"float32": 31.2, "bfloat16": 125.0, "bandwidth_gbs": 600.0}),
    (r"V100.*(PCIe|PCIE)", "NVIDIA V100 PCIe datasheet",
     {"float32": 14.0, "bfloat16": None, "bandwidth_gbs": 900.0}),
    (r"V100", "NVIDIA V100 SXM2 datasheet",
     {"float32": 15.7, "bfloat16": None, "bandwidth_gbs": 900.0}),
    (r"\bT4\b", "NVIDIA T4 datasheet",
     {"float32": 8.1, "bfloat16": None, "bandwidth_gbs": 320.0}),
    (r"RTX A6000", "NVIDIA RTX A6000 datasheet",
     {"float32": 38.7, "bfloat16": 154.8, "bandwidth_gbs": 768.0}),
    (r"RTX 4090", "NVIDIA Ada GPU architecture whitepaper (RTX 4090)",
     {"float32": 82.6, "bfloat16": 165.2, "bandwidth_gbs": 1008.0}),
    (r"RTX 3090", "NVIDIA Ampere GA102 GPU architecture whitepaper (RTX 3090)",
     {"float32": 35.6, "bfloat16": 71.0, "bandwidth_gbs": 936.0}),
)


def peak_for(device_name: str, dtype: str = "float32") -> dict[str, Any] | None:
    """``{"peak_tflops", "peak_bandwidth_gbs", "peak_source"}`` of a GPU named like
    ``torch.cuda.get_device_name()`` (e.g. ``"NVIDIA H100 80GB HBM3"``); None if unknown.

    ``dtype`` is ``"float32"`` or ``"bfloat16"``; ``peak_tflops`` is None where the GPU has
    no such tensor-core mode (V100, T4 in bf16).
    """
    for pattern, source, peaks in PEAKS:
        if re.search(pattern, device_name):
            return {"peak_tflops": peaks.get(dtype), "peak_bandwidth_gbs": peaks["bandwidth_gbs"],
                    "peak_source": f"{source} (dense {dtype})"}
    return None


def _median_seconds(fn: Callable[[], Any], device: torch.device, repeats: int) -> float:
    """Median wall seconds of ``fn`` over ``repeats`` runs after one warm-up run."""
    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    fn()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


@functools.cache
def _matmul_tflops(device: str, dtype: str, n: int, inner: int, repeats: int) -> float:
    dev = torch.device(device)
    a = torch.randn(n, n, device=dev).to(getattr(torch, dtype))
    b = torch.randn(n, n, device=dev).to(getattr(torch, dtype))

    def run() -> None:
        for _ in range(inner):
            torch.mm(a, b)

    seconds = _median_seconds(run, dev, repeats)
    return 2.0 * n**3 * inner / seconds / 1e12


def measured_matmul_tflops(device: str | torch.device = "cpu", dtype: str = "float32",
                           n: int | None = None, repeats: int = 3) -> float:
    """Achieved TFLOP/s of a large ``n x n`` matmul in ``dtype``: the practical compute roof.

    Median of ``repeats`` timed runs after a warm-up. Default ``n``: 2048 on CPU (17 GFLOP,
    ~0.2-1 s on a few cores; 1024 for other dtypes, slower on CPUs), 8192 on CUDA repeated
    10 times per run. Cached per process.
    """
    device = str(torch.device(device))
    cuda = device.startswith("cuda")
    default = 8192 if cuda else 2048 if dtype == "float32" else 1024
    return _matmul_tflops(device, dtype, n or default, 10 if cuda else 1, repeats)


@functools.cache
def _bandwidth_gbs(device: str, n: int, inner: int, repeats: int) -> float:
    dev = torch.device(device)
    src = torch.empty(n, dtype=torch.float32, device=dev).fill_(1.0)
    dst = torch.empty_like(src)

    def run() -> None:
        for _ in range(inner):
            dst.copy_(src)

    seconds = _median_seconds(run, dev, repeats)
    return 2.0 * src.numel() * src.element_size() * inner / seconds / 1e9  # read + write


def measured_bandwidth_gbs(device: str | torch.device = "cpu", n: int | None = None,
                           repeats: int = 3) -> float:
    """Achieved GB/s (bytes read + written) of a large float32 tensor copy: the memory roof.

    Default: 32 M elements (128 MiB each way) on CPU, 256 M (1 GiB) on CUDA repeated 10
    times per run. Cached per process.
    """
    device = str(torch.device(device))
    cuda = device.startswith("cuda")
    return _bandwidth_gbs(device, n or (256 * 2**20 if cuda else 32 * 2**20), 10 if cuda else 1,
                          repeats)


def layer_kind(module: nn.Module) -> str:
    """``"conv"``, ``"depthwise conv"``, ``"pointwise conv"``, ``"linear"`` or ``"other"``."""
    if isinstance(module, nn.modules.conv._ConvNd):
        if module.groups > 1 and module.groups == module.in_channels:
            return "depthwise conv"
        if all(k == 1 for k in module.kernel_size) and module.groups == 1:
            return "pointwise conv"
        return "conv"
    if isinstance(module, nn.Linear):
        return "linear"
    return "other"


def _nbytes(obj: Any, element_size: int | None) -> int:
    tensors = [obj] if isinstance(obj, torch.Tensor) else [
        t for t in (obj if isinstance(obj, (tuple, list)) else ()) if isinstance(t, torch.Tensor)]
    return sum(t.numel() * (element_size or t.element_size()) for t in tensors)


def layer_intensity(module: nn.Module, example_input: torch.Tensor,
                    element_size: int | None = None) -> dict[str, Any]:
    """FLOPs, bytes moved and arithmetic intensity (FLOP/byte) of each leaf layer.

    One forward pass of ``example_input`` (no grad, eval mode) is counted with
    ``FlopCounterMode`` (2 FLOPs per multiply-add; convolutions and matrix products only).
    Bytes moved per layer is a **lower-bound estimate**: the layer's parameters plus its input
    and output activations, each read or written once, at ``element_size`` bytes per value
    (default: the tensors' own). Caches, re-reads and workspace traffic are ignored, so real
    traffic is higher and real intensity lower.

    Returns ``{"layers": [{"name", "kind", "flops", "bytes", "intensity"}] (layers with FLOPs,
    in forward order), "flops": total, "bytes": total over all leaf layers (batch norm and
    activations included: they move data without FLOPs), "intensity": flops / bytes}``.
    """
    leaves = {name: m for name, m in module.named_modules() if not list(m.children())}
    seen: dict[str, int] = {}
    order: list[str] = []

    def hook(name: str) -> Callable[..., None]:
        def record(mod: nn.Module, inputs: Any, output: Any) -> None:
            params = sum(p.numel() * (element_size or p.element_size())
                         for p in mod.parameters(recurse=False))
            seen[name] = seen.get(name, 0) + params + _nbytes(inputs, element_size) + _nbytes(
                output, element_size)
            if name not in order:
                order.append(name)
        return record

    handles = [m.register_forward_hook(hook(name)) for name, m in leaves.items()]
    counter = FlopCounterMode(display=False)
    was_training = module.training
    try:
        module.eval()
        with torch.no_grad(), counter:
            module(example_input)
    finally:
        module.train(was_training)
        for h in handles:
            h.remove()
    counts = counter.get_flop_counts()
    root = type(module).__name__
    layers = []
    for name in order:
        flops = int(sum(counts.get(f"{root}.{name}", {}).values()))
        if flops <= 0:
            continue
        layers.append({"name": name, "kind": layer_kind(leaves[name]), "flops": flops,
                       "bytes": int(seen[name]), "intensity": round(flops / seen[name], 4)})
    total_flops = int(counter.get_total_flops())
    total_bytes = int(sum(seen.values()))
    return {"layers": layers, "flops": total_flops, "bytes": total_bytes,
            "intensity": round(total_flops / total_bytes, 4) if total_bytes else 0.0}


def roofline(device: str | torch.device, dtype: str, module: nn.Module | None = None,
             example_input: torch.Tensor | None = None) -> dict[str, Any]:
    """The record's ``profile["roofline"]``: datasheet peaks (CUDA only), measured roofs and
    the model's per-layer and whole-model arithmetic intensity (None / [] without a module)."""
    device = torch.device(device)
    peak = None
    if device.type == "cuda":
        peak = peak_for(torch.cuda.get_device_name(device), dtype)
    peak = peak or {"peak_tflops": None, "peak_bandwidth_gbs": None, "peak_source": None}
    out: dict[str, Any] = {
        "dtype": dtype,
        **peak,
        "measured_matmul_tflops": round(measured_matmul_tflops(device, dtype), 4),
        "measured_bandwidth_gbs": round(measured_bandwidth_gbs(device), 3),
        "model_intensity": None,
        "layers": [],
    }
    if module is not None and example_input is not None:
        size = torch.empty((), dtype=getattr(torch, dtype)).element_size()
        found = layer_intensity(module, example_input, element_size=size)
        out["model_intensity"], out["layers"] = found["intensity"], found["layers"]
    return out
