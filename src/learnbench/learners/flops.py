"""Forward-pass FLOPs of torch modules and learners, and the MobileNet cost comparison.

Counts come from ``torch.utils.flop_counter.FlopCounterMode``, which counts **2 FLOPs per
multiply-add** (so mult-adds = FLOPs / 2, the unit of Howard et al. 2017) and only counts
matrix products and convolutions (``mm``, ``addmm``, ``bmm``, ``convolution``, attention).
Batch norm, ReLU, pooling, bias additions, softmax and interpolation are **not** counted;
in conv nets they are a small share of the arithmetic but not of the run time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from learnbench.learners.mobilenet import MobileNetV1


def count_flops(module: nn.Module, input_shape: Sequence[int], batch_size: int = 1) -> int:
    """Forward-pass FLOPs **per sample** of ``module`` on inputs of shape ``input_shape``.

    ``input_shape`` is one sample's shape, e.g. ``(1, 28, 28)``; a zero batch of
    ``batch_size`` samples is run in eval mode without gradients, on the module's device, and
    the total is divided by ``batch_size``. FlopCounterMode counts 2 FLOPs per multiply-add
    and skips BN, ReLU, pooling and bias additions (see the module docstring).
    """
    param = next(module.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    x = torch.zeros(batch_size, *input_shape, device=device, dtype=dtype)
    was_training = module.training
    counter = FlopCounterMode(display=False)
    try:
        module.eval()
        with torch.no_grad(), counter:
            module(x)
    finally:
        module.train(was_training)
    total = counter.get_total_flops()
    return int(total) // batch_size


def count_mult_adds(module: nn.Module, input_shape: Sequence[int], batch_size: int = 1) -> int:
    """Forward-pass multiply-adds per sample: :func:`count_flops` / 2."""
    return count_flops(module, input_shape, batch_size) // 2


def estimator_flops_per_sample(est: Any) -> int | None:
    """Forward FLOPs per sample of a fitted torch learner; None for other learners.

    Every ``TorchLearner`` has ``flops_per_sample()`` (the prediction modules on one sample;
    the BERT learners: one sequence at ``max_length``). The harness records this as ``flops_per_sample`` (2
    FLOPs per multiply-add, convs and matrix products only). Raises ``NotFittedError`` for an
    unfitted torch learner.
    """
    own = getattr(est, "flops_per_sample", None)
    if callable(own):
        return int(own())
    return None


def separable_cost_ratio(n_out: int, kernel: int = 3) -> float:
    """Depthwise-separable over standard conv cost, ``1/N + 1/D_K^2`` (Howard et al. Eq. 5)."""
    return 1.0 / n_out + 1.0 / kernel**2


def _block_input_shapes(net: MobileNetV1, input_shape: Sequence[int]) -> list[tuple[int, ...]]:
    """The per-sample input shape of each block of ``net``, recorded by forward hooks."""
    shapes: list[tuple[int, ...]] = []
    hooks = [
        block.register_forward_pre_hook(lambda _m, args: shapes.append(tuple(args[0].shape[1:])))
        for block in net.blocks
    ]
    try:
        count_flops(net, input_shape)
    finally:
        for hook in hooks:
            hook.remove()
    return shapes


def mobilenet_cost_comparison(
    input_shape: Sequence[int] = (1, 28, 28),
    n_classes: int = 10,
    width_mult: float = 1.0,
    resolution_mult: float = 1.0,
) -> dict[str, Any]:
    """Counted mult-adds of :class:`MobileNetV1` and its standard-conv control, with Eq. 5.

    Returns per-sample mult-adds and parameters of both nets, their counted ratio, the
    counted ratio over the blocks alone, the analytic totals from the layer formulas (Eq. 2
    and 4 for the blocks, plus the shared stem conv and linear head: ``shared_mult_adds``)
    and their ratio, and per block: channels, stride, output side, counted and analytic
    mult-adds of both variants, the counted ratio and the analytic ``1/N + 1/9`` (Eq. 5).
    Counted and analytic figures agree exactly. The overall ratio is larger than the
    blocks-only ratio because the stem conv and the linear head are the same in both nets and
    dilute the saving; the blocks-only ratio is a cost-weighted mean of the per-block ones.
    """
    with torch.device("meta"):  # shapes only: counting needs no weights and no arithmetic
        nets = {
            sep: MobileNetV1(input_shape[0], n_classes, width_mult, resolution_mult, separable=sep)
            for sep in (True, False)
        }
    shapes = _block_input_shapes(nets[True], input_shape)
    blocks = []
    for shape, sep_block, std_block in zip(shapes, nets[True].blocks, nets[False].blocks, strict=True):
        sep_ma, std_ma = count_mult_adds(sep_block, shape), count_mult_adds(std_block, shape)
        out_side = [(s - 1) // sep_block.stride + 1 for s in shape[1:]]
        m, n, area = sep_block.in_channels, sep_block.out_channels, out_side[0] * out_side[1]
        blocks.append(
            {
                "in_channels": sep_block.in_channels,
                "out_channels": sep_block.out_channels,
                "stride": sep_block.stride,
                "out_size": tuple(out_side),
                "separable_mult_adds": sep_ma,
                "standard_mult_adds": std_ma,
                "counted_ratio": sep_ma / std_ma,
                "analytic_separable_mult_adds": 9 * m * area + m * n * area,  # Eq. 4
                "analytic_standard_mult_adds": 9 * m * n * area,  # Eq. 2
                "analytic_ratio": separable_cost_ratio(n, 3),  # Eq. 5
            }
        )
    sep_total = count_mult_adds(nets[True], input_shape)
    std_total = count_mult_adds(nets[False], input_shape)
    sep_blocks = sum(b["separable_mult_adds"] for b in blocks)
    std_blocks = sum(b["standard_mult_adds"] for b in blocks)
    # Layers shared by both nets: the stem conv on the resized input, the linear head.
    stem = nets[True].stem[0]
    shared = 9 * stem.in_channels * stem.out_channels * shapes[0][1] * shapes[0][2]
    shared += nets[True].classifier.in_features * n_classes
    analytic_sep = shared + sum(b["analytic_separable_mult_adds"] for b in blocks)
    analytic_std = shared + sum(b["analytic_standard_mult_adds"] for b in blocks)
    return {
        "input_shape": tuple(input_shape),
        "width_mult": width_mult,
        "resolution_mult": resolution_mult,
        "separable_mult_adds": sep_total,
        "standard_mult_adds": std_total,
        "counted_ratio": sep_total / std_total,
        "blocks_counted_ratio": sep_blocks / std_blocks,
        "shared_mult_adds": shared,
        "analytic_separable_mult_adds": analytic_sep,
        "analytic_standard_mult_adds": analytic_std,
        "analytic_ratio": analytic_sep / analytic_std,
        "separable_parameters": sum(p.numel() for p in nets[True].parameters()),
        "standard_parameters": sum(p.numel() for p in nets[False].parameters()),
        "blocks": blocks,
    }
