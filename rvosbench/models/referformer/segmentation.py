"""ReferFormer's vision-language modules: early fusion and the cross-modal FPN that makes mask features.

* :class:`VisionLanguageFusionModule`: every visual token is multiplied by its attention over the words,
  ``x · MHA(x, words + pos, words)`` (applied to each encoder input level);
* :class:`CrossModalFPNDecoder`: a top-down FPN over the encoder's stride-8/16/32 maps and the backbone's
  stride-4 map. At each level a :class:`VisionLanguageBlock` first lets the visual tokens of the whole
  clip attend to each other (keys and values nearest-downsampled by 8, 4, 2, 1 from fine to coarse, the
  result bilinearly upsampled back), then to the words, then an FFN; the levels are summed top-down with
  nearest upsampling and a 3×3 conv + GroupNorm + ReLU, and a last 3×3 conv gives ``mask_dim`` channels.

Attribute names (``adapter_1``, ``layer_1``, ``cross_attn_1``, ``mask_features`` …) and the order of
operations are the authors', so their weights load and compute the same numbers. Attention calls keep
``nn.MultiheadAttention``'s sequence-first layout and its default ``need_weights``, as the authors call
them (that selects PyTorch's explicit softmax path; the fused kernel rounds differently).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

FPN_GROUPS = 8  # GroupNorm groups in the FPN convs (the authors' get_norm("GN"))
SR_RATIOS = (8, 4, 2, 1)  # self-attention downsampling per FPN level, stride 4 → 32


def c2_xavier_fill(module: nn.Conv2d) -> None:
    """Detectron2's ``c2_xavier_fill``: Kaiming-uniform with a=1, zero bias (the FPN convs' init)."""
    nn.init.kaiming_uniform_(module.weight, a=1)
    if module.bias is not None:
        nn.init.zeros_(module.bias)


class ConvNormAct(nn.Conv2d):
    """A convolution followed by an optional norm and activation, the norm stored as ``.norm``
    (detectron2's ``Conv2d`` layout, which the authors' FPN keys follow: ``adapter_1.norm.weight``)."""

    def __init__(self, *args, norm: nn.Module | None = None, relu: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.norm = norm
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = super().forward(x)
        if self.norm is not None:
            x = self.norm(x)
        return F.relu(x) if self.relu else x


class VisionLanguageFusionModule(nn.Module):
    """``tgt · MHA(tgt, memory + pos, memory)``: text-gated visual tokens (sequence-first tensors)."""

    def __init__(self, d_model: int, nhead: int, dropout: float = 0.0):
        super().__init__()
        self.multihead_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout)

    def forward(self, tgt, memory, memory_key_padding_mask, pos):
        attended = self.multihead_attn(query=tgt, key=memory + pos, value=memory,
                                       key_padding_mask=memory_key_padding_mask)[0]
        return tgt * attended


def to_sequence(x: torch.Tensor, t: int) -> torch.Tensor:
    """(b·t, c, h, w) → (t·h·w, b, c): the clip's tokens as one sequence per video."""
    n, c, h, w = x.shape
    return x.reshape(n // t, t, c, h, w).permute(1, 3, 4, 0, 2).reshape(t * h * w, n // t, c)


def from_sequence(x: torch.Tensor, t: int, h: int, w: int) -> torch.Tensor:
    """(t·h·w, b, c) → (b·t, c, h, w), the inverse of :func:`to_sequence`."""
    b, c = x.shape[1:]
    return x.reshape(t, h, w, b, c).permute(3, 0, 4, 1, 2).reshape(b * t, c, h, w)


class VisionLanguageBlock(nn.Module):
    """Clip self-attention (spatially reduced by ``sr_ratio``), cross-attention to the words, FFN; post-norm."""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1, sr_ratio: int = 1):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout)
        self.multihead_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.norm3 = nn.LayerNorm(d_model)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)
        self.sr_ratio = sr_ratio

    def forward(self, tgt, memory, t, h, w, memory_key_padding_mask, pos, query_pos):
        """tgt, query_pos (t·h·w, b, C); memory, pos (L, b, C) words; → (t·h·w, b, C)."""
        q = tgt + query_pos
        if self.sr_ratio > 1:
            # the authors' int(h / r), kept at least 1 so that tiny inputs still run
            size = (max(1, int(h * 1.0 / self.sr_ratio)), max(1, int(w * 1.0 / self.sr_ratio)))
            q_small = to_sequence(F.interpolate(from_sequence(q, t, h, w), size=size, mode="nearest"), t)
            v_small = to_sequence(F.interpolate(from_sequence(tgt, t, h, w), size=size, mode="nearest"), t)
            attended = self.self_attn(q_small, q_small, value=v_small)[0]
            attended = F.interpolate(from_sequence(attended, t, *size), size=(h, w), mode="bilinear",
                                     align_corners=False)
            attended = to_sequence(attended, t)
        else:
            attended = self.self_attn(q, q, value=tgt)[0]
        tgt = self.norm1(tgt + self.dropout1(attended))
        attended = self.multihead_attn(query=tgt + query_pos, key=memory + pos, value=memory,
                                       key_padding_mask=memory_key_padding_mask)[0]
        tgt = self.norm2(tgt + self.dropout2(attended))
        ffn = self.linear2(self.dropout(F.relu(self.linear1(tgt))))
        return self.norm3(tgt + self.dropout3(ffn))


class CrossModalFPNDecoder(nn.Module):
    """Text-aware FPN: stride-4 backbone map + stride-8/16/32 encoder maps → mask features at stride 4.

    Args:
        feature_channels: input channels, fine to coarse (backbone stride-4 channels, then C, C, C).
        conv_dim: FPN width (the model's C). mask_dim: output channels (the authors' default 256).
        dim_feedforward: FFN width of the vision-language blocks. nhead: their heads (8).
        dropout: their dropout (0.1, fixed in the authors' code).
    """

    def __init__(self, feature_channels: list[int], conv_dim: int, mask_dim: int, dim_feedforward: int = 2048,
                 nhead: int = 8, dropout: float = 0.1):
        super().__init__()
        self.feature_channels = list(feature_channels)
        for stage, in_channels in enumerate(self.feature_channels, start=1):
            adapter = ConvNormAct(in_channels, conv_dim, kernel_size=1, bias=False,
                                  norm=nn.GroupNorm(FPN_GROUPS, conv_dim))
            layer = ConvNormAct(conv_dim, conv_dim, kernel_size=3, padding=1, bias=False,
                                norm=nn.GroupNorm(FPN_GROUPS, conv_dim), relu=True)
            c2_xavier_fill(adapter)
            c2_xavier_fill(layer)
            self.add_module(f"adapter_{stage}", adapter)
            self.add_module(f"layer_{stage}", layer)
        self.mask_dim = mask_dim
        self.mask_features = nn.Conv2d(conv_dim, mask_dim, kernel_size=3, padding=1)
        c2_xavier_fill(self.mask_features)
        for stage, sr_ratio in enumerate(SR_RATIOS[: len(self.feature_channels)], start=1):
            block = VisionLanguageBlock(conv_dim, nhead, dim_feedforward=dim_feedforward, dropout=dropout,
                                        sr_ratio=sr_ratio)
            for param in block.parameters():
                if param.dim() > 1:
                    nn.init.xavier_uniform_(param)
            self.add_module(f"cross_attn_{stage}", block)

    def level(self, stage: int, x, pos, t, words, word_pad, word_pos) -> torch.Tensor:
        """Adapter, then the stage's vision-language block: (b·t, C_in, h, w) → (b·t, C, h, w)."""
        h, w = x.shape[-2:]
        vision = to_sequence(getattr(self, f"adapter_{stage}")(x), t)
        fused = getattr(self, f"cross_attn_{stage}")(vision, words, t, h, w, word_pad, word_pos, to_sequence(pos, t))
        return from_sequence(fused, t, h, w)

    def forward(self, features: list[torch.Tensor], memory: list[torch.Tensor], poses: list[torch.Tensor],
                words: torch.Tensor, word_pad: torch.Tensor, word_pos: torch.Tensor, t: int) -> torch.Tensor:
        """features, poses: backbone maps and their sine encodings, fine to coarse (stride 4 first);
        memory: encoder maps at strides 8, 16, 32; words, word_pos (L, b, C); word_pad (b, L) → (b·t, mask_dim, h, w)."""
        y = None
        stages = range(len(self.feature_channels), 0, -1)  # coarse → fine: 4, 3, 2, then 1 below
        for stage, mem, pos in zip(stages, memory[::-1], poses[1:][::-1]):
            current = self.level(stage, mem, pos, t, words, word_pad, word_pos)
            if y is not None:  # nearest upsampling, as in FPN
                current = current + F.interpolate(y, size=current.shape[-2:], mode="nearest")
            y = getattr(self, f"layer_{stage}")(current)
        current = self.level(1, features[0], poses[0], t, words, word_pad, word_pos)
        y = self.layer_1(current + F.interpolate(y, size=current.shape[-2:], mode="nearest"))
        return self.mask_features(y)
