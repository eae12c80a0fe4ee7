"""Small building blocks shared by ProxyFormer and the rivals: MLPs, sine encodings, attention + norm."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class MLP(nn.Module):
    """``num_layers`` Linear layers with ReLU between them (DETR's box/kernel MLP)."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, num_layers: int):
        super().__init__()
        dims = [in_dim] + [hidden_dim] * (num_layers - 1) + [out_dim]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x


def sine_encoding_1d(positions: torch.Tensor, dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """Transformer sine/cosine encoding of (any shape) positions → (..., dim)."""
    half = dim // 2
    freqs = temperature ** (-torch.arange(half, device=positions.device, dtype=torch.float32) / half)
    angles = positions.float().unsqueeze(-1) * freqs
    enc = torch.cat([angles.sin(), angles.cos()], dim=-1)
    return F.pad(enc, (0, dim - 2 * half))


def temporal_encoding(T: int, dim: int, device: torch.device) -> torch.Tensor:
    """Sine encoding of frame order normalised to the clip → (T, dim).

    Positions are ``(t + 0.5) / T`` of the clip, not frame numbers: models train on short clips
    (e.g. 5 frames) and are evaluated on whole videos (up to 36 frames), and an absolute encoding would
    meet positions it never saw. Scaled like :func:`sine_encoding_2d`.
    """
    positions = (torch.arange(T, device=device, dtype=torch.float32) + 0.5) / T * 2 * math.pi
    return sine_encoding_1d(positions * 100, dim)


def text_projection(in_dim: int, dim: int) -> nn.Sequential:
    """Linear + LayerNorm from the text encoder's width (ReferFormer's ``FeatureResizer``).

    The LayerNorm gives word features the same scale as the positional encodings added to them;
    without it a 384-d MiniLM feature projected to 64-d is ~5× smaller and attention keys are
    dominated by word position rather than content.
    """
    return nn.Sequential(nn.Linear(in_dim, dim), nn.LayerNorm(dim))


def sine_encoding_2d(height: int, width: int, dim: int, device: torch.device) -> torch.Tensor:
    """DETR-style normalised 2-D sine encoding of a grid → (H*W, dim): half for y, half for x.

    Coordinates are normalised to [0, 2π] so the encoding means the same at every feature scale.
    """
    ys = (torch.arange(height, device=device, dtype=torch.float32) + 0.5) / height * 2 * math.pi
    xs = (torch.arange(width, device=device, dtype=torch.float32) + 0.5) / width * 2 * math.pi
    half = dim // 2
    enc_y = sine_encoding_1d(ys * 100, half)  # ×100: fine frequencies still resolve neighbouring cells
    enc_x = sine_encoding_1d(xs * 100, dim - half)
    return torch.cat([enc_y[:, None].expand(height, width, half),
                      enc_x[None].expand(height, width, dim - half)], dim=-1).reshape(height * width, dim)


class ResidualAttention(nn.Module):
    """``Norm(x + MHA(x + pos_q, kv + pos_k, kv))``: one attention branch as drawn in ProxyFormer's Fig. 2.

    Post-norm with a residual, the layout of every MHSA/MHCA box in the figure (and of DETR).
    Positional encodings go into queries and keys only, never into values (DETR convention).
    Uses ``nn.MultiheadAttention`` (PyTorch's SDPA kernels when no weights are requested).

    The two halves are separate calls, :meth:`attend` (the attention's output) and :meth:`residual`
    (``Norm(x + update)``), so that a branch can keep its residual and norm while taking its update from
    another branch's attention: ``attend=False`` builds such a branch, with no attention parameters
    (ProxyFormer's coupled ablation shares one attention between the two branches of a pair).
    """

    def __init__(self, dim: int, heads: int, dropout: float = 0.0, attend: bool = True):
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True) if attend else None
        self.norm = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)

    def attend(self, x: torch.Tensor, kv: torch.Tensor | None = None, pos_q: torch.Tensor | None = None,
               pos_k: torch.Tensor | None = None, key_padding_mask: torch.Tensor | None = None,
               mask: torch.Tensor | None = None) -> torch.Tensor:
        """The attention's output (no residual, no norm). ``mask`` (Lq, Lk) bool: True blocks a query-key
        pair (``nn.MultiheadAttention``'s ``attn_mask``)."""
        if self.attn is None:
            raise RuntimeError("this branch has no attention of its own (attend=False); pass it an update")
        kv = x if kv is None else kv
        q = x if pos_q is None else x + pos_q
        k = kv if pos_k is None else kv + pos_k
        return self.attn(q, k, kv, key_padding_mask=key_padding_mask, attn_mask=mask, need_weights=False)[0]

    def residual(self, x: torch.Tensor, update: torch.Tensor) -> torch.Tensor:
        """``Norm(x + update)``."""
        return self.norm(x + self.drop(update))

    def forward(self, x: torch.Tensor, kv: torch.Tensor | None = None, pos_q: torch.Tensor | None = None,
                pos_k: torch.Tensor | None = None, key_padding_mask: torch.Tensor | None = None,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.residual(x, self.attend(x, kv, pos_q, pos_k, key_padding_mask, mask))


class FeedForward(nn.Module):
    """``Norm(x + W2 relu(W1 x))``; optional in ProxyFormer (the figure draws none)."""

    def __init__(self, dim: int, hidden: int, dropout: float = 0.0):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, dim))
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x + self.net(x))


def level_projection(in_channels: int, dim: int) -> nn.Sequential:
    """1×1 conv + GroupNorm: a backbone level into the model's width (DETR-family input projection)."""
    return nn.Sequential(nn.Conv2d(in_channels, dim, 1), nn.GroupNorm(min(32, dim // 2), dim))


class LevelTokens(nn.Module):
    """Backbone levels → one token sequence per frame: 1×1 conv + GroupNorm per level, flattened.

    Returns tokens (B, T, L, C) with L = Σ h_l·w_l, the level sizes, and the positional encoding of
    each token (2-D sine + a learnt level embedding), the multi-scale input ReferFormer's and
    ProxyFormer's encoders share.
    """

    def __init__(self, in_channels: list[int], dim: int):
        super().__init__()
        self.proj = nn.ModuleList(level_projection(ch, dim) for ch in in_channels)
        self.level_embed = nn.Parameter(torch.randn(len(in_channels), dim) * 0.02)

    def forward(self, maps: list[torch.Tensor], B: int, T: int
                ) -> tuple[torch.Tensor, list[tuple[int, int]], torch.Tensor]:
        projected = [proj(m) for proj, m in zip(self.proj, maps)]
        sizes = [(int(m.shape[-2]), int(m.shape[-1])) for m in projected]
        tokens = torch.cat([m.flatten(2).transpose(1, 2) for m in projected], 1)
        tokens = tokens.reshape(B, T, tokens.shape[1], tokens.shape[2])
        dim = tokens.shape[-1]
        pos = torch.cat([sine_encoding_2d(h, w, dim, tokens.device) + self.level_embed[i]
                         for i, (h, w) in enumerate(sizes)])
        return tokens, sizes, pos


def tokens_to_maps(tokens: torch.Tensor, sizes: list[tuple[int, int]]) -> list[torch.Tensor]:
    """(..., L, C) tokens → per-level maps (N, C, h, w) with N the product of the leading dims."""
    flat = tokens.reshape(-1, tokens.shape[-2], tokens.shape[-1])
    maps, start = [], 0
    for h, w in sizes:
        maps.append(flat[:, start: start + h * w].transpose(1, 2).reshape(flat.shape[0], -1, h, w))
        start += h * w
    return maps

