"""DETR's sine positional encodings (Carion et al., 2020), as the Deformable-DETR family computes them.

Unlike :func:`rvosbench.models.layers.sine_encoding_2d` (centres of a fixed grid, ×100 frequencies), these
are the DETR formulas that checkpoints of DETR-derived models were trained with, so a model that loads
such a checkpoint must use them bit for bit:

* positions are the running count of valid (non-padding) cells along each axis, 1, 2, …, n;
* with ``normalize`` they are divided by the count of the axis and scaled to ``2π``. ReferFormer's 2-D
  encoding subtracts 0.5 first (cell centres: ``(k - 0.5) / n · 2π``), its 1-D text encoding does not,
  and MTTR's 2-D encoding does not either: hence ``offset``;
* feature ``2i`` is ``sin(p / temperature^(2i / d))`` and ``2i + 1`` is ``cos`` of the same angle
  (interleaved, not concatenated halves); the 2-D encoding is ``[y features, x features]``.

Padding masks are optional: without one every cell is valid (a batch of equally sized frames, the
only case rvosbench's models meet), and the counts are simply ``1..n``.
"""
from __future__ import annotations

import math

import torch

EPS = 1e-6  # DETR's guard in the normalisation


def _interleaved_sine(positions: torch.Tensor, num_feats: int, temperature: float) -> torch.Tensor:
    """(...,) positions → (..., num_feats): sin on even features, cos on odd ones, DETR's frequencies."""
    index = torch.arange(num_feats, dtype=torch.float32, device=positions.device)
    dim_t = temperature ** (2 * torch.div(index, 2, rounding_mode="floor") / num_feats)
    angles = positions[..., None] / dim_t
    return torch.stack((angles[..., 0::2].sin(), angles[..., 1::2].cos()), dim=-1).flatten(-2)


def _normalised_counts(valid: torch.Tensor, dim: int, normalize: bool, offset: float, scale: float) -> torch.Tensor:
    counts = valid.cumsum(dim, dtype=torch.float32)
    if not normalize:
        return counts
    total = counts.narrow(dim, counts.shape[dim] - 1, 1)
    return (counts - offset) / (total + EPS) * scale


def sine_2d(pad_mask: torch.Tensor, num_feats: int, temperature: float = 10000.0, normalize: bool = True,
            offset: float = 0.5, scale: float = 2 * math.pi) -> torch.Tensor:
    """DETR 2-D encoding of ``pad_mask`` (N, H, W), True on padding → (N, 2·num_feats, H, W).

    ``offset=0.5`` is ReferFormer's ``PositionEmbeddingSine2D``; ``offset=0`` is DETR's and MTTR's.
    """
    valid = ~pad_mask
    y = _normalised_counts(valid, 1, normalize, offset, scale)
    x = _normalised_counts(valid, 2, normalize, offset, scale)
    pos = torch.cat((_interleaved_sine(y, num_feats, temperature), _interleaved_sine(x, num_feats, temperature)), -1)
    return pos.permute(0, 3, 1, 2)


def sine_2d_like(feature: torch.Tensor, num_feats: int, offset: float = 0.5) -> torch.Tensor:
    """:func:`sine_2d` of an unpadded (N, C, H, W) map, in the map's dtype (no padding anywhere)."""
    n, _, h, w = feature.shape
    pad = torch.zeros(n, h, w, dtype=torch.bool, device=feature.device)
    return sine_2d(pad, num_feats, offset=offset).to(feature.dtype)


def sine_1d(pad_mask: torch.Tensor, num_feats: int, temperature: float = 10000.0, normalize: bool = True,
            scale: float = 2 * math.pi) -> torch.Tensor:
    """DETR-style 1-D encoding of a (B, L) padding mask (True on padding) → (B, L, num_feats).

    ReferFormer's ``PositionEmbeddingSine1D`` for words: counts normalised without the 0.5 offset.
    """
    positions = _normalised_counts(~pad_mask, 1, normalize, 0.0, scale)
    return _interleaved_sine(positions, num_feats, temperature)
