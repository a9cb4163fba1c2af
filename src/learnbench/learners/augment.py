"""Per-sample random image augmentation of a training batch, on the device.

Written by hand because torchvision's transforms draw one set of random parameters per call,
so on a batch tensor every image gets the same flip and shift; a training batch needs
independent draws per image, and they must come from the learner's seeded CPU generator so
the same seed gives the same model on any device. One ``affine_grid``/``grid_sample`` call
shifts the whole batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

#: Random shifts move an image by up to this share of its size.
MAX_SHIFT = 0.1


def augment_batch(x: Tensor, augment: str | None, generator: torch.Generator) -> Tensor:
    """``x`` (B, C, H, W) with each image flipped and/or shifted at random (None: ``x``)."""
    if augment is None:
        return x
    n = len(x)
    if "flip" in augment:
        flip = (torch.rand(n, generator=generator) < 0.5).to(x.device)
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    if "shift" in augment:
        # affine_grid works in [-1, 1] coordinates: a shift of s of the size is 2 s
        shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * (2 * MAX_SHIFT)
        theta = torch.zeros(n, 2, 3)
        theta[:, 0, 0] = theta[:, 1, 1] = 1.0
        theta[:, :, 2] = shift
        grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, padding_mode="zeros", align_corners=False)
    return x
