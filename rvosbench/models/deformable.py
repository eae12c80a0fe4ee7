"""Multi-scale deformable attention (Deformable DETR) in pure PyTorch, no compiled ops.

ReferFormer uses the CUDA ``MSDeformAttn`` op; this is the same computation written with
``F.grid_sample`` (the reference fallback Deformable DETR itself documents), so it runs on CPU and
on any GPU without building extensions. Each query predicts, per head, level and point, an offset
around its reference point and an attention weight; values are bilinearly sampled there and summed.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class MSDeformAttn(nn.Module):
    """Multi-scale deformable attention.

    Args:
        dim: channels. levels: feature levels. heads: attention heads. points: sampling points per
            head and level.
    """

    def __init__(self, dim: int, levels: int, heads: int, points: int = 4):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        self.levels, self.heads, self.points = levels, heads, points
        self.offsets = nn.Linear(dim, heads * levels * points * 2)
        self.weights = nn.Linear(dim, heads * levels * points)
        self.value = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)
        self._reset()

    def _reset(self) -> None:
        """Deformable DETR's init: offsets start on a ring of directions, one per head, growing per point."""
        nn.init.zeros_(self.offsets.weight)
        angles = torch.arange(self.heads, dtype=torch.float32) * (2 * math.pi / self.heads)
        ring = torch.stack([angles.cos(), angles.sin()], -1)
        ring = ring / ring.abs().max(-1, keepdim=True)[0]
        ring = ring[:, None, None].repeat(1, self.levels, self.points, 1)
        ring = ring * torch.arange(1, self.points + 1, dtype=torch.float32)[None, None, :, None]
        with torch.no_grad():
            self.offsets.bias.copy_(ring.flatten())
        nn.init.zeros_(self.weights.weight)
        nn.init.zeros_(self.weights.bias)

    def forward(self, query: torch.Tensor, reference: torch.Tensor, value: torch.Tensor,
                sizes: list[tuple[int, int]]) -> torch.Tensor:
        """query (N, Lq, C); reference (N, Lq, 2) normalised (x, y) in [0, 1]; value (N, Lv, C) → (N, Lq, C)."""
        N, Lq, C = query.shape
        H, Lv, P = self.heads, len(sizes), self.points
        head_dim = C // H
        value = self.value(value)
        offsets = self.offsets(query).reshape(N, Lq, H, Lv, P, 2)
        weights = self.weights(query).reshape(N, Lq, H, Lv * P).softmax(-1).reshape(N, Lq, H, Lv, P)
        normaliser = torch.tensor([[w, h] for h, w in sizes], dtype=query.dtype, device=query.device)
        locations = reference[:, :, None, None, None, :] + offsets / normaliser[None, None, None, :, None, :]
        grids = 2 * locations - 1  # grid_sample's [-1, 1] convention
        sampled, start = [], 0
        for level, (h, w) in enumerate(sizes):
            v = value[:, start: start + h * w].reshape(N, h, w, H, head_dim).permute(0, 3, 4, 1, 2)
            start += h * w
            grid = grids[:, :, :, level].transpose(1, 2).reshape(N * H, Lq, P, 2)
            sampled.append(F.grid_sample(v.reshape(N * H, head_dim, h, w), grid, mode="bilinear",
                                         padding_mode="zeros", align_corners=False))  # (N·H, d, Lq, P)
        stacked = torch.stack(sampled, dim=-2)  # (N·H, d, Lq, Lv, P)
        attn = weights.permute(0, 2, 1, 3, 4).reshape(N * H, 1, Lq, Lv, P)
        out = (stacked * attn).sum((-1, -2)).reshape(N, H * head_dim, Lq).transpose(1, 2)
        return self.out(out)


def token_centres(sizes: list[tuple[int, int]], device: torch.device) -> torch.Tensor:
    """Normalised (x, y) centre of every token of the flattened levels → (L, 2)."""
    centres = []
    for h, w in sizes:
        ys = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) / h
        xs = (torch.arange(w, device=device, dtype=torch.float32) + 0.5) / w
        centres.append(torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1).reshape(h * w, 2))
    return torch.cat(centres)
