"""Metric-learning losses on embedding tensors: contrastive (two variants) and triplet.

Pure functions of tensors (no module state), so they can be tested on hand-computed values
and reused outside the learners. Every loss is the **mean** over the pairs or triplets given.
"""

from __future__ import annotations

import torch
from torch import Tensor

CONTRASTIVE_VARIANTS = ("hadsell", "squared_hinge")


def contrastive_loss(
    a: Tensor, p: Tensor, y: Tensor, margin: float, variant: str = "hadsell"
) -> Tensor:
    """Mean contrastive loss of the pairs ``(a[i], p[i])``; ``y[i] = 1`` marks a DISSIMILAR pair.

    With ``D = ||a - p||_2`` and margin ``m``:

    - ``"hadsell"`` (Hadsell, Chopra & LeCun, Dimensionality reduction by learning an
      invariant mapping, CVPR 2006, Eq. 4): ``1/2 (1-y) D^2 + 1/2 y max(0, m - D)^2``;
    - ``"squared_hinge"`` (the course's variant, squared distance inside the hinge):
      ``1/2 (1-y) D^2 + 1/2 y max(0, m - D^2)``.

    Similar pairs cost the same in both; a dissimilar pair costs nothing once ``D >= m``
    (Hadsell) or ``D >= sqrt(m)`` (squared hinge). The Euclidean norm has a zero gradient at
    ``a == p`` (PyTorch's norm backward), so coincident dissimilar pairs give no NaN.
    """
    if variant not in CONTRASTIVE_VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(CONTRASTIVE_VARIANTS)}; got {variant!r}")
    diff = a - p
    d2 = diff.pow(2).sum(dim=1)
    y = y.to(d2.dtype)
    if variant == "hadsell":
        dissimilar = torch.clamp(margin - torch.linalg.vector_norm(diff, dim=1), min=0).pow(2)
    else:
        dissimilar = torch.clamp(margin - d2, min=0)
    return (0.5 * (1 - y) * d2 + 0.5 * y * dissimilar).mean()


def triplet_loss(a: Tensor, p: Tensor, n: Tensor, margin: float) -> Tensor:
    """Mean ``max(0, m + ||a - p||^2 - ||a - n||^2)`` over triplets (squared distances).

    Schroff, Kalenichenko & Philbin, FaceNet: A unified embedding for face recognition and
    clustering, CVPR 2015, Eq. 1-2. No triplets (empty inputs) gives a zero loss that still
    belongs to the graph, so a batch without a valid triplet contributes no gradient.
    """
    if len(a) == 0:
        return (a.sum() + p.sum() + n.sum()) * 0.0
    d_ap = (a - p).pow(2).sum(dim=1)
    d_an = (a - n).pow(2).sum(dim=1)
    return torch.clamp(margin + d_ap - d_an, min=0).mean()
