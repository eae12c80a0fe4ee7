"""Video Swin Transformer (Liu et al., CVPR 2022, "Video Swin Transformer", arXiv 2106.13230) as the
per-frame video backbone of MTTR and ReferFormer.

Both rivals wrap the same network the same way (MTTR ``models/backbone.py``, ReferFormer
``models/video_swin_transformer.py``; facts checked against those files):

* the temporal patch size is 1 (``patch_size (1, 4, 4)``), so every frame keeps its own feature map and
  time mixes only inside the 3-D attention windows (8 frames x 7 x 7 tokens, shifted by half a window
  in every other block);
* each stage's output is taken *before* its patch merging, and the patch mergings move into a separate
  list, ``downsamples`` (the last one is dropped: nothing reads it);
* the network's final LayerNorm is not used;
* MTTR keeps three stages (Video-Swin-T without stage 4), ReferFormer all four.

Module and attribute names follow the authors' layout (``patch_embed.proj``, ``layers.<i>.blocks.<j>.attn.
relative_position_bias_table``, ``downsamples.<i>.reduction`` ...), so a state dict of the authors'
wrapper loads here under the same keys. ``relative_position_index`` is a persistent buffer, as there,
so it is part of those state dicts too.

Numerical conventions kept because outputs must match the authors' code:

* tokens padded up to a whole number of windows are zeros *after* ``norm1`` and are not masked out of
  the attention (only the shifted-window regions are, with -100 rather than -inf);
* a window larger than the input along an axis shrinks to the input and is not shifted along it; the
  relative-position index is then the top-left ``N x N`` block of the full window's index;
* stochastic depth rates rise linearly over the blocks of *all* configured stages, also those dropped
  (MTTR: 0.1 over the 12 blocks of T, of which the first 10 are kept).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

import rvosbench  # noqa: F401  (torchvision, and thus timm, importable beside a CPU torch)
from rvosbench.core.errors import ConfigError

Triple = tuple[int, int, int]

#: Published sizes (Video Swin paper, Table 1; the rivals' configs use window (8, 7, 7), patch (1, 4, 4)).
VIDEO_SWIN_SIZES: dict[str, dict[str, Any]] = {
    "t": {"embed_dim": 96, "depths": (2, 2, 6, 2), "num_heads": (3, 6, 12, 24)},
    "s": {"embed_dim": 96, "depths": (2, 2, 18, 2), "num_heads": (3, 6, 12, 24)},
    "b": {"embed_dim": 128, "depths": (2, 2, 18, 2), "num_heads": (4, 8, 16, 32)},
}
MASKED_OUT = -100.0  # the authors' value for attention between different shifted-window regions


def size_config(size: str, where: str = "video_swin.size") -> dict[str, Any]:
    """``embed_dim``, ``depths`` and ``num_heads`` of size ``t``, ``s`` or ``b``."""
    key = str(size).lower()
    if key not in VIDEO_SWIN_SIZES:
        raise ConfigError(f"unknown Video Swin size '{size}'", where=where, hint=f"known: {', '.join(VIDEO_SWIN_SIZES)}")
    return dict(VIDEO_SWIN_SIZES[key])


def fitted_window(size: Triple, window: Triple, shift: Triple) -> tuple[Triple, Triple]:
    """The window and shift actually used on a (D, H, W) input: an axis no longer than the window
    takes the input's length and no shift."""
    fit = [(s, 0) if s <= w else (w, sh) for s, w, sh in zip(size, window, shift)]
    return tuple(w for w, _ in fit), tuple(sh for _, sh in fit)


def to_windows(x: torch.Tensor, window: Triple) -> torch.Tensor:
    """(B, D, H, W, C) → (B·windows, Wd·Wh·Ww, C), windows in (d, h, w) raster order."""
    B, D, H, W, C = x.shape
    wd, wh, ww = window
    x = x.view(B, D // wd, wd, H // wh, wh, W // ww, ww, C)
    return x.permute(0, 1, 3, 5, 2, 4, 6, 7).reshape(-1, wd * wh * ww, C)


def from_windows(windows: torch.Tensor, window: Triple, batch: int, size: Triple) -> torch.Tensor:
    """Inverse of :func:`to_windows`: (B·windows, Wd·Wh·Ww, C) → (B, D, H, W, C)."""
    (D, H, W), (wd, wh, ww) = size, window
    x = windows.view(batch, D // wd, H // wh, W // ww, wd, wh, ww, -1)
    return x.permute(0, 1, 4, 2, 5, 3, 6, 7).reshape(batch, D, H, W, -1)


def relative_position_index(window: Triple) -> torch.Tensor:
    """(N, N) index into the (2Wd-1)(2Wh-1)(2Ww-1)-row bias table for every pair of tokens of a window."""
    grid = torch.stack(torch.meshgrid(*(torch.arange(w) for w in window), indexing="ij")).flatten(1)  # (3, N)
    offsets = (grid[:, :, None] - grid[:, None, :]).permute(1, 2, 0)  # (N, N, 3), each in [-(w-1), w-1]
    offsets = offsets + torch.tensor([w - 1 for w in window])
    spans = [2 * w - 1 for w in window]
    return offsets[..., 0] * spans[1] * spans[2] + offsets[..., 1] * spans[2] + offsets[..., 2]


@lru_cache(maxsize=32)
def shifted_window_mask(padded: Triple, window: Triple, shift: Triple, device: torch.device) -> torch.Tensor:
    """(windows, N, N) additive mask of the shifted windows: 0 within a region, -100 across regions.

    After the cyclic roll, the last window along an axis holds tokens from both ends of the video;
    each axis is cut into regions [0, P-w), [P-w, P-s), [P-s, P) and tokens attend only within their
    region (an axis that is not shifted has one region per window, which changes nothing).
    """
    labels = torch.zeros(padded, dtype=torch.long, device=device)
    for axis, (length, w, s) in enumerate(zip(padded, window, shift)):
        coord = torch.arange(length, device=device)
        region = (coord >= length - w).long() + (coord >= length - s).long() if s > 0 else torch.zeros_like(coord)
        labels = labels * 3 + region.view([-1 if a == axis else 1 for a in range(3)])
    windows = to_windows(labels[None, ..., None], window)[..., 0]  # (windows, N)
    different = windows[:, None, :] != windows[:, :, None]
    return torch.zeros(different.shape, device=device).masked_fill_(different, MASKED_OUT)


class Mlp(nn.Module):
    """Linear → GELU → Linear, dropout after each (the transformer block's feed-forward)."""

    def __init__(self, dim: int, hidden: int, drop: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class WindowAttention3D(nn.Module):
    """Multi-head self-attention inside 3-D windows, with a learnt bias per relative offset and head."""

    def __init__(self, dim: int, window: Triple, num_heads: int, qkv_bias: bool = True,
                 qk_scale: float | None = None, attn_drop: float = 0.0, proj_drop: float = 0.0):
        super().__init__()
        self.window_size = tuple(window)
        self.num_heads = num_heads
        self.scale = qk_scale or (dim // num_heads) ** -0.5
        rows = math.prod(2 * w - 1 for w in window)
        self.relative_position_bias_table = nn.Parameter(torch.zeros(rows, num_heads))
        self.register_buffer("relative_position_index", relative_position_index(self.window_size))
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` (B·windows, N, C); ``mask`` (windows, N, N) additive, or None."""
        B_, N, C = x.shape
        windows = 1 if mask is None else mask.shape[0]
        qkv = self.qkv(x).view(B_ // windows, windows, N, 3, self.num_heads, C // self.num_heads)
        q, k, v = qkv.permute(3, 0, 1, 4, 2, 5)  # each (B, windows, heads, N, head_dim)
        # explicit scores in the authors' order ((q·scale)kᵀ + bias, then + mask): a fused kernel rounds
        # differently, and over Video-Swin-B's 24 blocks that reached 1e-4 on ReferFormer's mask logits
        scores = (q * self.scale) @ k.transpose(-2, -1)
        index = self.relative_position_index[:N, :N].reshape(-1)
        scores = scores + self.relative_position_bias_table[index].view(N, N, -1).permute(2, 0, 1)
        if mask is not None:
            scores = scores + mask.unsqueeze(1).to(scores.dtype)  # (windows, 1, N, N), broadcast over the batch
        out = self.attn_drop(scores.softmax(-1)) @ v
        return self.proj_drop(self.proj(out.transpose(2, 3).reshape(B_, N, C)))


class SwinBlock3D(nn.Module):
    """(Shifted-)window attention then MLP, each pre-normed, residual, with stochastic depth."""

    def __init__(self, dim: int, num_heads: int, window: Triple, shift: Triple, mlp_ratio: float = 4.0,
                 qkv_bias: bool = True, qk_scale: float | None = None, drop: float = 0.0,
                 attn_drop: float = 0.0, drop_path: float = 0.0, use_checkpoint: bool = False):
        super().__init__()
        from timm.layers import DropPath

        if not all(0 <= s < w for s, w in zip(shift, window)):
            raise ConfigError(f"shift {shift} must lie in [0, window {window})", where="video_swin.window_size")
        self.window_size, self.shift_size = tuple(window), tuple(shift)
        self.use_checkpoint = use_checkpoint
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention3D(dim, self.window_size, num_heads, qkv_bias, qk_scale, attn_drop, drop)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop)

    def attend(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        B, D, H, W, C = x.shape
        window, shift = fitted_window((D, H, W), self.window_size, self.shift_size)
        x = self.norm1(x)
        pads = [(-n) % w for n, w in zip((D, H, W), window)]
        x = F.pad(x, (0, 0, 0, pads[2], 0, pads[1], 0, pads[0]))
        padded = tuple(x.shape[1:4])
        shifted = any(shift)
        if shifted:
            x = torch.roll(x, shifts=tuple(-s for s in shift), dims=(1, 2, 3))
        x = from_windows(self.attn(to_windows(x, window), mask if shifted else None), window, B, padded)
        if shifted:
            x = torch.roll(x, shifts=shift, dims=(1, 2, 3))
        return x[:, :D, :H, :W].contiguous() if any(pads) else x

    def feed_forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop_path(self.mlp(self.norm2(x)))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """``x`` (B, D, H, W, C); ``mask`` the stage's shifted-window mask (used by shifted blocks only)."""
        if self.use_checkpoint and self.training:
            x = x + self.drop_path(checkpoint(self.attend, x, mask, use_reentrant=False))
            return x + checkpoint(self.feed_forward, x, use_reentrant=False)
        x = x + self.drop_path(self.attend(x, mask))
        return x + self.feed_forward(x)


class PatchMerging(nn.Module):
    """2x2 spatial neighbours concatenated (4C), LayerNorm, linear to 2C: half the resolution, per frame."""

    def __init__(self, dim: int):
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, D, H, W, C) → (B, D, ⌈H/2⌉, ⌈W/2⌉, 2C)."""
        H, W = x.shape[2:4]
        if H % 2 or W % 2:
            x = F.pad(x, (0, 0, 0, W % 2, 0, H % 2))
        x = torch.cat([x[:, :, 0::2, 0::2], x[:, :, 1::2, 0::2], x[:, :, 0::2, 1::2], x[:, :, 1::2, 1::2]], -1)
        return self.reduction(self.norm(x))


class SwinStage3D(nn.Module):
    """One stage: ``depth`` blocks alternating plain and shifted windows (merging lives in ``downsamples``)."""

    def __init__(self, dim: int, depth: int, num_heads: int, window: Triple, drop_path: Sequence[float],
                 **block_kwargs: Any):
        super().__init__()
        self.window_size = tuple(window)
        self.shift_size = tuple(w // 2 for w in window)
        self.blocks = nn.ModuleList(
            SwinBlock3D(dim, num_heads, self.window_size, self.shift_size if i % 2 else (0, 0, 0),
                        drop_path=drop_path[i], **block_kwargs)
            for i in range(depth))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, D, H, W) → (B, C, D, H, W)."""
        D, H, W = x.shape[2:]
        window, shift = fitted_window((D, H, W), self.window_size, self.shift_size)
        padded = tuple(math.ceil(n / w) * w for n, w in zip((D, H, W), window))
        mask = shifted_window_mask(padded, window, shift, x.device).to(x.dtype) if any(shift) else None
        x = x.permute(0, 2, 3, 4, 1)
        for block in self.blocks:
            x = block(x, mask)
        return x.permute(0, 4, 1, 2, 3)


class PatchEmbed3D(nn.Module):
    """Non-overlapping 3-D patches → ``embed_dim`` channels (input zero-padded to whole patches)."""

    def __init__(self, patch_size: Triple, in_chans: int, embed_dim: int, patch_norm: bool):
        super().__init__()
        self.patch_size = tuple(patch_size)
        self.proj = nn.Conv3d(in_chans, embed_dim, kernel_size=self.patch_size, stride=self.patch_size)
        self.norm = nn.LayerNorm(embed_dim) if patch_norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, H, W) → (B, C, T', H', W')."""
        pd, ph, pw = ((-n) % p for n, p in zip(x.shape[2:], self.patch_size))
        if pd or ph or pw:
            x = F.pad(x, (0, pw, 0, ph, 0, pd))
        x = self.proj(x)
        if self.norm is not None:
            x = self.norm(x.permute(0, 2, 3, 4, 1)).permute(0, 4, 1, 2, 3)
        return x


class VideoSwinTransformer(nn.Module):
    """Video Swin as the rivals use it: the output of each kept stage, before its patch merging.

    Args:
        embed_dim, depths, num_heads: the size (see :data:`VIDEO_SWIN_SIZES` and :meth:`from_size`).
        num_stages: stages kept (MTTR: 3; ReferFormer: 4 = all); default all of ``depths``.
        window_size: (frames, height, width) of the attention windows (the rivals: (8, 7, 7)).
        patch_size: (1, 4, 4) keeps one feature map per frame (the rivals' choice).
        mlp_ratio, qkv_bias, qk_scale: block options (4, True, None = head_dim ** -0.5).
        drop_rate, attn_drop_rate, drop_path_rate: dropout, attention dropout, stochastic depth
            (MTTR: drop_path_rate 0.1; ReferFormer: 0.2).
        patch_norm: LayerNorm after the patch embedding (True in both rivals).
        use_checkpoint: recompute each block in the backward pass (less memory, ~30 % more time).

    ``forward`` takes (B, 3, T, H, W) and returns one (B, C_i, T, H/2^(i+2), W/2^(i+2)) map per stage
    (ceil for sizes that are not multiples); ``channels`` and ``strides`` describe them.
    """

    def __init__(self, embed_dim: int = 96, depths: Sequence[int] = (2, 2, 6, 2),
                 num_heads: Sequence[int] = (3, 6, 12, 24), num_stages: int | None = None,
                 window_size: Sequence[int] = (8, 7, 7), patch_size: Sequence[int] = (1, 4, 4),
                 mlp_ratio: float = 4.0, qkv_bias: bool = True, qk_scale: float | None = None,
                 drop_rate: float = 0.0, attn_drop_rate: float = 0.0, drop_path_rate: float = 0.2,
                 patch_norm: bool = True, use_checkpoint: bool = False, in_chans: int = 3):
        super().__init__()
        if len(depths) != len(num_heads):
            raise ConfigError(f"depths {list(depths)} and num_heads {list(num_heads)} differ in length",
                              where="video_swin")
        num_stages = len(depths) if num_stages is None else int(num_stages)
        if not 1 <= num_stages <= len(depths):
            raise ConfigError(f"num_stages must be in 1..{len(depths)}, got {num_stages}", where="video_swin.num_stages")
        if len(window_size) != 3 or len(patch_size) != 3:
            raise ConfigError("window_size and patch_size take three values (frames, height, width)",
                              where="video_swin")
        self.embed_dim = embed_dim
        self.patch_size = tuple(int(p) for p in patch_size)
        self.window_size = tuple(int(w) for w in window_size)
        self.channels: list[int] = [embed_dim * 2 ** i for i in range(num_stages)]
        self.strides: list[int] = [self.patch_size[1] * 2 ** i for i in range(num_stages)]
        self.patch_embed = PatchEmbed3D(self.patch_size, in_chans, embed_dim, patch_norm)
        self.pos_drop = nn.Dropout(drop_rate)
        rates = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        starts = [sum(depths[:i]) for i in range(len(depths))]
        block_kwargs = {"mlp_ratio": mlp_ratio, "qkv_bias": qkv_bias, "qk_scale": qk_scale, "drop": drop_rate,
                        "attn_drop": attn_drop_rate, "use_checkpoint": use_checkpoint}
        self.layers = nn.ModuleList(
            SwinStage3D(self.channels[i], depths[i], num_heads[i], self.window_size,
                        rates[starts[i]: starts[i] + depths[i]], **block_kwargs)
            for i in range(num_stages))
        # merging after stage i feeds stage i+1; the last kept stage's merging would feed nothing
        self.downsamples = nn.ModuleList(PatchMerging(self.channels[i]) for i in range(num_stages - 1))

    @classmethod
    def from_size(cls, size: str, **kwargs: Any) -> VideoSwinTransformer:
        """``size`` ``t``, ``s`` or ``b`` (:data:`VIDEO_SWIN_SIZES`), other arguments as the constructor."""
        return cls(**{**size_config(size), **kwargs})

    def forward(self, video: torch.Tensor) -> list[torch.Tensor]:
        """(B, 3, T, H, W) → per stage (B, C_i, T, H_i, W_i), taken before the stage's patch merging."""
        x = self.pos_drop(self.patch_embed(video))
        outputs = []
        for i, stage in enumerate(self.layers):
            x = stage(x.contiguous())
            outputs.append(x)
            if i < len(self.downsamples):
                x = self.downsamples[i](x.permute(0, 2, 3, 4, 1)).permute(0, 4, 1, 2, 3)
        return outputs


def kinetics_state_dict(state: Mapping[str, torch.Tensor], num_stages: int) -> dict[str, torch.Tensor]:
    """The authors' Kinetics-400 Video Swin release (``{'state_dict': ...}`` of the full recognizer,
    e.g. ``swin_tiny_patch244_window877_kinetics400_1k.pth``) in :class:`VideoSwinTransformer`'s keys.

    As both rivals do on load: the ``backbone.`` weights are kept (the classification head dropped), the
    patch embedding's two temporal taps are summed into one (patch (2, 4, 4) → (1, 4, 4)), each stage's
    ``downsample`` becomes ``downsamples.<i>``, and the final norm and stages beyond ``num_stages`` go.
    """
    state = state.get("state_dict", state)
    out = {}
    for key, value in state.items():
        if not key.startswith("backbone."):
            continue
        key = key.removeprefix("backbone.")
        parts = key.split(".")
        if key == "patch_embed.proj.weight":
            value = value.sum(dim=2, keepdim=True)
        elif parts[0] == "norm":
            continue
        elif parts[0] == "layers":
            stage = int(parts[1])
            if parts[2] == "downsample":
                if stage + 1 >= num_stages:
                    continue
                key = ".".join(["downsamples", parts[1], *parts[3:]])
            elif stage >= num_stages:
                continue
        out[key] = value
    return out
