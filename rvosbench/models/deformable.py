"""Multi-scale deformable attention (Zhu et al., "Deformable DETR", ICLR 2021) in pure PyTorch.

Deformable DETR and ReferFormer ship a compiled CUDA op; this computes the same thing with
``F.grid_sample`` (bilinear, zero padding, ``align_corners=False``: the sampling rule of the CUDA
kernel), so it runs on CPU and on any GPU without building extensions.

Each query predicts, per head, level and point, an offset around its reference and an attention weight
(softmax over levels × points); values are sampled there and summed. A reference is either a point
``(x, y)`` in [0, 1] (offsets are in cells of each level) or a box ``(cx, cy, w, h)`` (offsets are
fractions of the box: ``offset / points · (w, h) / 2``), Deformable DETR's two cases.

Parameter names (``sampling_offsets``, ``attention_weights``, ``value_proj``, ``output_proj``) and the
initialisation are Deformable DETR's, so checkpoints of that family load without renaming.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def deformable_sampling(value: torch.Tensor, sizes: list[tuple[int, int]], locations: torch.Tensor,
                        weights: torch.Tensor) -> torch.Tensor:
    """The attention core: value (N, Lv, H, d); locations (N, Lq, H, L, P, 2) in [0, 1];
    weights (N, Lq, H, L, P) → (N, Lq, H·d)."""
    N, _, heads, head_dim = value.shape
    _, Lq, _, levels, points, _ = locations.shape
    grids = 2 * locations - 1  # grid_sample's [-1, 1] convention
    sampled, start = [], 0
    for level, (h, w) in enumerate(sizes):
        level_value = value[:, start: start + h * w].flatten(2).transpose(1, 2).reshape(N * heads, head_dim, h, w)
        start += h * w
        grid = grids[:, :, :, level].transpose(1, 2).flatten(0, 1)  # (N·H, Lq, P, 2)
        sampled.append(F.grid_sample(level_value, grid, mode="bilinear", padding_mode="zeros", align_corners=False))
    weights = weights.transpose(1, 2).reshape(N * heads, 1, Lq, levels * points)
    out = (torch.stack(sampled, dim=-2).flatten(-2) * weights).sum(-1)  # (N·H, d, Lq)
    return out.view(N, heads * head_dim, Lq).transpose(1, 2).contiguous()


class MSDeformAttn(nn.Module):
    """Multi-scale deformable attention.

    Args:
        d_model: channels. n_levels: feature levels. n_heads: attention heads. n_points: sampling points
            per head and level.
    """

    def __init__(self, d_model: int = 256, n_levels: int = 4, n_heads: int = 8, n_points: int = 4):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model {d_model} is not divisible by n_heads {n_heads}")
        self.d_model, self.n_levels, self.n_heads, self.n_points = d_model, n_levels, n_heads, n_points
        self.sampling_offsets = nn.Linear(d_model, n_heads * n_levels * n_points * 2)
        self.attention_weights = nn.Linear(d_model, n_heads * n_levels * n_points)
        self.value_proj = nn.Linear(d_model, d_model)
        self.output_proj = nn.Linear(d_model, d_model)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Deformable DETR's init: offsets start on a ring of directions, one per head, growing per point;
        uniform attention; Xavier projections."""
        nn.init.zeros_(self.sampling_offsets.weight)
        angles = torch.arange(self.n_heads, dtype=torch.float32) * (2 * math.pi / self.n_heads)
        ring = torch.stack([angles.cos(), angles.sin()], -1)
        ring = ring / ring.abs().max(-1, keepdim=True)[0]
        ring = ring[:, None, None].repeat(1, self.n_levels, self.n_points, 1)
        ring = ring * torch.arange(1, self.n_points + 1, dtype=torch.float32)[None, None, :, None]
        with torch.no_grad():
            self.sampling_offsets.bias.copy_(ring.flatten())
        nn.init.zeros_(self.attention_weights.weight)
        nn.init.zeros_(self.attention_weights.bias)
        for proj in (self.value_proj, self.output_proj):
            nn.init.xavier_uniform_(proj.weight)
            nn.init.zeros_(proj.bias)

    def forward(self, query: torch.Tensor, reference: torch.Tensor, value: torch.Tensor,
                sizes: list[tuple[int, int]], padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """query (N, Lq, C); reference (N, Lq, L, 2 or 4); value (N, Lv, C) → (N, Lq, C).

        ``padding_mask`` (N, Lv) True on padded tokens zeroes their values.
        """
        N, Lq, _ = query.shape
        H, L, P = self.n_heads, self.n_levels, self.n_points
        if len(sizes) != L:
            raise ValueError(f"{len(sizes)} feature levels given, the attention was built for {L}")
        value = self.value_proj(value)
        if padding_mask is not None:
            value = value.masked_fill(padding_mask[..., None], 0.0)
        value = value.view(N, value.shape[1], H, self.d_model // H)
        offsets = self.sampling_offsets(query).view(N, Lq, H, L, P, 2)
        weights = F.softmax(self.attention_weights(query).view(N, Lq, H, L * P), -1).view(N, Lq, H, L, P)
        if reference.shape[-1] == 2:
            normaliser = torch.tensor([[w, h] for h, w in sizes], dtype=query.dtype, device=query.device)
            locations = reference[:, :, None, :, None, :] + offsets / normaliser[None, None, None, :, None, :]
        elif reference.shape[-1] == 4:
            locations = (reference[:, :, None, :, None, :2]
                         + offsets / P * reference[:, :, None, :, None, 2:] * 0.5)
        else:
            raise ValueError(f"references must end in 2 (points) or 4 (boxes) values, got {reference.shape[-1]}")
        return self.output_proj(deformable_sampling(value, sizes, locations, weights))


def level_reference_points(sizes: list[tuple[int, int]], batch: int, device: torch.device) -> torch.Tensor:
    """Encoder references: the normalised centre of every token of the flattened levels, repeated for
    every level (no padding: valid ratios of 1) → (batch, Σ h·w, levels, 2)."""
    centres = []
    for h, w in sizes:
        ys = torch.linspace(0.5, h - 0.5, h, dtype=torch.float32, device=device) / h
        xs = torch.linspace(0.5, w - 0.5, w, dtype=torch.float32, device=device) / w
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
        centres.append(torch.stack((grid_x.reshape(-1), grid_y.reshape(-1)), -1))
    points = torch.cat(centres)
    return points[None, :, None].expand(batch, -1, len(sizes), -1)
