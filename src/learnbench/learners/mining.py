"""Triplet mining inside a mini-batch: batch-hard, semi-hard and random.

Each miner takes the batch's embeddings (or only its labels) and returns three index tensors
``(anchors, positives, negatives)`` into the batch, ready for
:func:`learnbench.learners.losses.triplet_loss`. Mining only picks indices: it runs without
gradients, and the loss is then computed on the (differentiable) embeddings. Distances are
squared Euclidean, the unit of the triplet loss; for the hardest-sample choices the order is
the same as for plain Euclidean distances. Anchors without a positive (a label seen once in
the batch) or without a negative are left out.
"""

from __future__ import annotations

import torch
from torch import Tensor

Triplets = tuple[Tensor, Tensor, Tensor]


def pairwise_squared_distances(embeddings: Tensor) -> Tensor:
    """``(b, b)`` matrix of ``||e_i - e_j||^2`` (Gram-matrix form, clamped at 0)."""
    sq = embeddings.pow(2).sum(dim=1)
    d2 = sq[:, None] + sq[None, :] - 2.0 * embeddings @ embeddings.T
    return d2.clamp_min(0.0)


def _masks(labels: Tensor) -> tuple[Tensor, Tensor]:
    """Positive (same label, not itself) and negative (other label) masks, ``(b, b)`` bool."""
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same


@torch.no_grad()
def batch_hard_triplets(embeddings: Tensor, labels: Tensor) -> Triplets:
    """For each anchor, its hardest positive (farthest same-label sample) and hardest
    negative (closest other-label sample).

    Hermans, Beyer & Leibe, In defense of the triplet loss for person re-identification,
    arXiv:1703.07737, 2017 ("batch hard"). Ties go to the lowest index.
    """
    d2 = pairwise_squared_distances(embeddings.detach())
    pos, neg = _masks(labels)
    anchors = (pos.any(dim=1) & neg.any(dim=1)).nonzero().squeeze(1)
    hardest_pos = d2.masked_fill(~pos, float("-inf")).argmax(dim=1)
    hardest_neg = d2.masked_fill(~neg, float("inf")).argmin(dim=1)
    return anchors, hardest_pos[anchors], hardest_neg[anchors]


@torch.no_grad()
def semi_hard_negatives(embeddings: Tensor, labels: Tensor, margin: float) -> Triplets:
    """Every anchor-positive pair of the batch with a semi-hard negative.

    Schroff, Kalenichenko & Philbin, FaceNet, CVPR 2015, Sec. 3.2: a semi-hard negative is
    farther from the anchor than the positive but within the margin,
    ``d(a, p) < d(a, n) < d(a, p) + margin`` (squared distances). Of those, the closest one
    is taken (the hardest semi-hard negative, as TensorFlow Addons' ``triplet_semihard_loss``
    does). When the band is empty the **hardest negative** (closest other-label sample) is
    used instead: it is either harder than the positive or beyond the margin (zero loss).
    """
    d2 = pairwise_squared_distances(embeddings.detach())
    pos, neg = _masks(labels)
    a, p = (pos & neg.any(dim=1, keepdim=True)).nonzero(as_tuple=True)
    d_ap = d2[a, p][:, None]
    d_an = d2[a]
    neg_a = neg[a]
    band = neg_a & (d_an > d_ap) & (d_an < d_ap + margin)
    semi_hard = d_an.masked_fill(~band, float("inf")).argmin(dim=1)
    hardest = d_an.masked_fill(~neg_a, float("inf")).argmin(dim=1)
    return a, p, torch.where(band.any(dim=1), semi_hard, hardest)


@torch.no_grad()
def random_triplets(labels: Tensor, generator: torch.Generator) -> Triplets:
    """For each anchor, a uniformly random positive and negative of the batch (no mining).

    The draws come from ``generator`` (a CPU generator, so the result is the same on any
    device); the baseline against which the mining strategies are compared.
    """
    pos, neg = _masks(labels)
    anchors = (pos.any(dim=1) & neg.any(dim=1)).nonzero().squeeze(1)
    u = torch.rand(len(labels), len(labels), generator=generator).to(labels.device)
    positives = u.masked_fill(~pos, -1.0).argmax(dim=1)
    negatives = u.masked_fill(~neg, -1.0).argmax(dim=1)
    return anchors, positives[anchors], negatives[anchors]
