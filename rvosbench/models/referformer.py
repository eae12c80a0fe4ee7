"""ReferFormer (Wu et al., CVPR 2022, "Language as Queries for Referring Video Object Segmentation").

The "conditional queries, late text" baseline ProxyFormer argues against (paper.md §1), rebuilt on the
same backbones, text encoders, mask decoder, heads and set loss as ProxyFormer so that only the
interaction design differs:

* early vision-language fusion: every visual token is gated by its attention over the words
  (ReferFormer's ``VisionLanguageFusionModule``: ``x · MHA(x, words)``);
* a multi-scale deformable transformer encoder per frame (pure-PyTorch deformable attention,
  :mod:`rvosbench.models.deformable`); frames do not interact (ReferFormer with an image backbone has
  no temporal module: the shared queries are its only link between frames);
* N text-conditioned queries: content = the sentence feature, positional = a learnt query embedding,
  the same N queries decoding every frame (so query n is one object track over time); each decoder
  layer is query self-attention, deformable cross-attention around a reference point, FFN;
* box refinement: each layer's predicted box centre is the next layer's reference point (ReferFormer
  predicts a delta with per-layer box heads; here one shared head predicts the box and its centre is
  carried forward, the same iterative refinement with fewer parameters);
* heads and inference shared with ProxyFormer: FPN mask decoder, dynamic-conv mask head with relative
  coordinates, referring head; auxiliary losses on every decoder layer.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from rvosbench.core.registry import MODELS
from rvosbench.models.deformable import MSDeformAttn, token_centres
from rvosbench.models.heads import MaskDecoder, QueryHeads
from rvosbench.models.layers import (FeedForward, LevelTokens, ResidualAttention, sine_encoding_1d, text_projection,
                                     tokens_to_maps)
from rvosbench.models.query_model import QueryRVOSModel


class VisionLanguageFusion(nn.Module):
    """``x · MHA(x + pos, words + word_pos, words)``: text-gated visual tokens (ReferFormer's early fusion)."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)

    def forward(self, x, pos, words, word_pos, word_pad):
        return x * self.attn(x + pos, words + word_pos, words, key_padding_mask=word_pad, need_weights=False)[0]


class DeformableEncoderLayer(nn.Module):
    """Multi-scale deformable self-attention around each token's own position, then FFN."""

    def __init__(self, dim: int, heads: int, levels: int, points: int, ffn_dim: int, dropout: float):
        super().__init__()
        self.attn = MSDeformAttn(dim, levels, heads, points)
        self.norm = nn.LayerNorm(dim)
        self.ffn = FeedForward(dim, ffn_dim, dropout)

    def forward(self, x, pos, reference, sizes):
        x = self.norm(x + self.attn(x + pos, reference, x, sizes))
        return self.ffn(x)


class DeformableDecoderLayer(nn.Module):
    """Query self-attention, deformable cross-attention to the frame's memory, FFN."""

    def __init__(self, dim: int, heads: int, levels: int, points: int, ffn_dim: int, dropout: float):
        super().__init__()
        self.self_attn = ResidualAttention(dim, heads, dropout)
        self.cross = MSDeformAttn(dim, levels, heads, points)
        self.norm = nn.LayerNorm(dim)
        self.ffn = FeedForward(dim, ffn_dim, dropout)

    def forward(self, q, query_pos, reference, memory, sizes):
        q = self.self_attn(q, pos_q=query_pos, pos_k=query_pos)
        q = self.norm(q + self.cross(q + query_pos, reference, memory, sizes))
        return self.ffn(q)


@MODELS.register_module("referformer")
class ReferFormer(QueryRVOSModel):
    """ReferFormer: text-conditioned queries decode a deformable-encoded video (language as queries).

    Args:
        backbone, text_encoder: encoder configs (as for ProxyFormer).
        hidden_dim, num_heads: width and heads. num_queries: N (ReferFormer: 5).
        enc_layers, dec_layers: deformable encoder/decoder depth (ReferFormer: 4 and 4).
        ffn_dim: FFN width (ReferFormer: 2048). points: sampling points per head and level (4).
        mask_dim, dynamic_layers, dynamic_channels: mask head (ReferFormer: 8, 3, 8).
        fine_dim: channels of the mask decoder's finest level (default C, as ReferFormer).
        aux_loss: losses on every decoder layer. loss: set-loss weights.
    """

    def __init__(self, backbone: dict | None = None, text_encoder: dict | None = None, hidden_dim: int = 256,
                 num_heads: int = 8, num_queries: int = 5, enc_layers: int = 4, dec_layers: int = 4,
                 ffn_dim: int = 2048, points: int = 4, mask_dim: int = 8, fine_dim: int | None = None,
                 dropout: float = 0.0, aux_loss: bool = True, dynamic_layers: int = 3, dynamic_channels: int = 8,
                 loss: dict | None = None):
        super().__init__(backbone, text_encoder, loss)
        C = hidden_dim
        levels = self.backbone.channels[1:]
        self.num_queries, self.aux_loss = num_queries, aux_loss
        self.input_tokens = LevelTokens(levels, C)
        self.text_proj = text_projection(self.text_encoder.channels, C)
        self.fusion = VisionLanguageFusion(C, num_heads)
        self.encoder = nn.ModuleList(DeformableEncoderLayer(C, num_heads, len(levels), points, ffn_dim, dropout)
                                     for _ in range(enc_layers))
        self.query_pos = nn.Embedding(num_queries, C)
        self.reference_points = nn.Linear(C, 2)
        self.decoder = nn.ModuleList(DeformableDecoderLayer(C, num_heads, len(levels), points, ffn_dim, dropout)
                                     for _ in range(dec_layers))
        self.mask_decoder = MaskDecoder(C, self.backbone.channels[0], mask_dim, len(levels), fine_dim)
        self.heads = QueryHeads(C, mask_dim, dynamic_layers, dynamic_channels, rel_coords=True)

    def forward(self, batch: dict[str, Any]) -> dict[str, Any]:
        frames = batch["frames"]
        B, T = frames.shape[:2]
        maps = self.encode_video(frames)
        text = self.encode_text(batch["text"])
        words = self.text_proj(text.words).repeat_interleave(T, 0)  # per frame: (B·T, W, C)
        word_pad = text.pad_mask.repeat_interleave(T, 0)
        sentence = self.text_proj(text.sentence)
        word_pos = sine_encoding_1d(torch.arange(words.shape[1], device=words.device), words.shape[-1])

        tokens, sizes, pos = self.input_tokens(maps[1:], B, T)
        memory = self.fusion(tokens.flatten(0, 1), pos, words, word_pos, word_pad)
        centres = token_centres(sizes, memory.device).expand(memory.shape[0], -1, -1)
        for layer in self.encoder:
            memory = layer(memory, pos, centres, sizes)
        mask_features = self.mask_decoder(tokens_to_maps(memory, sizes), maps[0])
        mask_features = mask_features.reshape(B, T, *mask_features.shape[1:])

        N, C = self.num_queries, sentence.shape[-1]
        q = sentence[:, None, None].expand(B, T, N, C).reshape(B * T, N, C)
        query_pos = self.query_pos.weight
        reference = self.reference_points(query_pos).sigmoid().expand(B * T, N, 2)
        layer_outputs = []
        for layer in self.decoder:
            q = layer(q, query_pos, reference, memory, sizes)
            out = self.heads(q.reshape(B, T, N, C), mask_features)
            reference = out["pred_boxes"].reshape(B * T, N, 4)[..., :2].detach()
            layer_outputs.append(out)
        final = layer_outputs[-1]
        final["aux_outputs"] = layer_outputs[:-1] if self.aux_loss and self.training else []
        return final
