"""Prediction heads shared by query-based RVOS models: mask decoder, dynamic kernel head, reference head.

These follow ReferFormer's design, which ProxyFormer's figure reuses by name (paper.md §5):

* :class:`MaskDecoder`: an FPN over the encoder's multi-scale video features plus the backbone's
  fine map → per-frame mask features at the fine map's stride (4 in ReferFormer; 2 for small inputs);
* :class:`DynamicMaskHead`: each query is turned into the weights of a tiny per-query network of 1×1
  convolutions (CondInst's dynamic convolution) applied to the mask features, with relative
  coordinates to the query's box centre concatenated (ReferFormer's ``rel_coord``);
* :class:`ReferenceHead`: a referred/not-referred logit and a cxcywh box per query per frame.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from rvosbench.models.layers import MLP


def normalized_grid(h: int, w: int, like: torch.Tensor) -> torch.Tensor:
    """Pixel-centre coordinates (x, y) in [0, 1] of an h×w grid, shape (2, h·w), dtype/device of ``like``."""
    ys = (torch.arange(h, device=like.device, dtype=like.dtype) + 0.5) / h
    xs = (torch.arange(w, device=like.device, dtype=like.dtype) + 0.5) / w
    return torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=0).reshape(2, h * w)


def conv_gn_relu(in_ch: int, out_ch: int, kernel: int = 3) -> nn.Sequential:
    groups = 8 if out_ch % 8 == 0 else 1
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2, bias=False),
                         nn.GroupNorm(groups, out_ch), nn.ReLU(inplace=True))


class MaskDecoder(nn.Module):
    """Top-down FPN: encoder maps (coarse → fine) + the backbone's fine map → mask features at its stride.

    Args:
        dim: channels of the encoder maps (the model's hidden size C).
        fine_channels: channels of the backbone's fine (stride-4 or stride-2) feature map.
        mask_dim: output channels (ReferFormer: 8).
        fine_dim: channels of the fine level (default ``dim``, as in ReferFormer). A smaller width
            projects the coarse maps down *before* they are upsampled, so the upsampling, the lateral
            sum and the 3×3 convolution run narrow. At stride 2 that convolution is the most expensive
            layer of a CPU-sized model (64 → 16 channels: a training step of ``proxyformer_tiny`` goes
            from 0.140 to 0.110 s on one thread, docs/models.md).
    """

    def __init__(self, dim: int, fine_channels: int, mask_dim: int, num_levels: int, fine_dim: int | None = None):
        super().__init__()
        fine_dim = fine_dim or dim
        self.smooth = nn.ModuleList(conv_gn_relu(dim, dim) for _ in range(num_levels))
        self.reduce = nn.Conv2d(dim, fine_dim, 1) if fine_dim != dim else nn.Identity()
        self.fine_lateral = nn.Conv2d(fine_channels, fine_dim, 1)
        self.fine_smooth = conv_gn_relu(fine_dim, fine_dim)
        self.out = nn.Conv2d(fine_dim, mask_dim, 1)

    def forward(self, maps: list[torch.Tensor], fine: torch.Tensor) -> torch.Tensor:
        """``maps``: encoder maps (N, C, h_l, w_l) ordered fine → coarse; ``fine``: (N, C_f, H/s, W/s)."""
        y = self.smooth[-1](maps[-1])
        for level in range(len(maps) - 2, -1, -1):
            y = maps[level] + F.interpolate(y, size=maps[level].shape[-2:], mode="bilinear", align_corners=False)
            y = self.smooth[level](y)
        y = self.fine_lateral(fine) + F.interpolate(self.reduce(y), size=fine.shape[-2:], mode="bilinear",
                                                    align_corners=False)
        return self.out(self.fine_smooth(y))


class DynamicMaskHead(nn.Module):
    """Per-query dynamic 1×1 convolutions on the mask features (the figure's "⊛ Convolution" node).

    Args:
        dim: query channels.
        mask_dim: mask-feature channels.
        layers: dynamic conv layers (ReferFormer: 3; 1 gives MaskFormer's dot product).
        channels: hidden channels of the dynamic layers (ReferFormer: 8).
        rel_coords: concatenate coordinates relative to the query's predicted box centre.
    """

    def __init__(self, dim: int, mask_dim: int, layers: int = 3, channels: int = 8, rel_coords: bool = True):
        super().__init__()
        self.rel_coords = rel_coords
        in_ch = mask_dim + (2 if rel_coords else 0)
        dims = [in_ch] + [channels] * (layers - 1) + [1]
        self.shapes = list(zip(dims[1:], dims[:-1]))  # (out, in) per layer
        num_params = sum(o * i + o for o, i in self.shapes)
        self.controller = MLP(dim, dim, num_params, 3)

    def forward(self, queries: torch.Tensor, mask_features: torch.Tensor,
                boxes: torch.Tensor | None = None) -> torch.Tensor:
        """queries (B, T, N, C), mask_features (B, T, D, h, w), boxes (B, T, N, 4) → logits (B, T, N, h, w)."""
        B, T, N, _ = queries.shape
        h, w = mask_features.shape[-2:]
        x = mask_features.flatten(-2).unsqueeze(2).expand(B, T, N, -1, h * w)
        if self.rel_coords:
            grid = normalized_grid(h, w, x)
            centres = boxes[..., :2].detach() if boxes is not None else x.new_full((B, T, N, 2), 0.5)
            x = torch.cat([grid - centres.unsqueeze(-1), x], dim=3)
        params = self.controller(queries)
        offset = 0
        for index, (out_ch, in_ch) in enumerate(self.shapes):
            weight = params[..., offset: offset + out_ch * in_ch].reshape(B, T, N, out_ch, in_ch)
            offset += out_ch * in_ch
            bias = params[..., offset: offset + out_ch].unsqueeze(-1)
            offset += out_ch
            x = torch.matmul(weight, x) + bias
            if index < len(self.shapes) - 1:
                x = F.relu(x)
        return x.reshape(B, T, N, h, w)


PRIOR = 0.01  # initial referred probability: focal-loss prior init (RetinaNet/DETR), stable early training


class ReferenceHead(nn.Module):
    """Referred-object logit and box per query: ``Linear(C, 1)`` and a 3-layer MLP → sigmoid cxcywh."""

    def __init__(self, dim: int, boxes: bool = True):
        super().__init__()
        self.cls = nn.Linear(dim, 1)
        nn.init.constant_(self.cls.bias, -math.log((1 - PRIOR) / PRIOR))
        self.box = MLP(dim, dim, 4, 3) if boxes else None

    def forward(self, queries: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        logits = self.cls(queries).squeeze(-1)
        boxes = self.box(queries).sigmoid() if self.box is not None else None
        return logits, boxes


class TokenLocator(nn.Module):
    """Box centres as a soft-arg-max of query-token similarity over one token grid.

    ``logits[b, t, n, l] = (W_q q_{t,n}) · (W_k f_{t,l}) / √C`` over the h·w tokens of frame t, and
    the centre is the softmax-weighted mean of the tokens' pixel-centre coordinates. The logits are
    returned as ``pred_locations`` so the set criterion can train them directly with a cross-entropy
    against the referred mask pooled to the grid (``loss.loc``).

    Why: with a regressed centre (an MLP on the query, ReferFormer's head) the small CPU models predict
    about the frame centre for every object, so the relative coordinates of the dynamic mask head tell
    nothing apart; given the true centre the same model reaches J&F 0.90 on synth (docs/models.md,
    "Third round"). A centre that is an explicit choice among tokens is what lets relation expressions
    be learnt within the CPU budget. The paper does not say how boxes are predicted; this is our choice.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)

    def forward(self, queries: torch.Tensor, tokens: torch.Tensor, size: tuple[int, int]
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """queries (B, T, N, C), tokens (B, T, h·w, C) with positions added → centres (B, T, N, 2)
        as (x, y) in [0, 1], and logits (B, T, N, h, w)."""
        h, w = size
        logits = torch.einsum("btnc,btlc->btnl", self.query(queries), self.key(tokens)) / math.sqrt(queries.shape[-1])
        centres = logits.softmax(-1) @ normalized_grid(h, w, logits).T
        return centres, logits.unflatten(-1, (h, w))


class QueryHeads(nn.Module):
    """Reference head + dynamic kernel head applied to one set of queries (final or auxiliary)."""

    def __init__(self, dim: int, mask_dim: int, dynamic_layers: int = 3, dynamic_channels: int = 8,
                 rel_coords: bool = True, boxes: bool = True):
        super().__init__()
        self.reference = ReferenceHead(dim, boxes=boxes)
        self.kernels = DynamicMaskHead(dim, mask_dim, dynamic_layers, dynamic_channels, rel_coords)

    def forward(self, queries: torch.Tensor, mask_features: torch.Tensor,
                centres: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """``centres`` (B, T, N, 2), e.g. from a :class:`TokenLocator`, replace the regressed box centres."""
        logits, boxes = self.reference(queries)
        if centres is not None and boxes is not None:
            boxes = torch.cat([centres, boxes[..., 2:]], dim=-1)
        out = {"pred_logits": logits, "pred_masks": self.kernels(queries, mask_features, boxes)}
        if boxes is not None:
            out["pred_boxes"] = boxes
        return out
