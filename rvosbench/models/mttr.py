"""MTTR (Botach et al., CVPR 2022, "End-to-End Referring Video Object Segmentation with Multimodal
Transformers"), on the same backbones, text encoders, mask decoder and set loss as ProxyFormer.

* multimodal encoder: each frame's video tokens (the backbone's coarsest ``encoded_levels``) and the
  expression's word tokens are concatenated into one sequence and encoded together by a standard
  transformer encoder, frame by frame (MTTR's temporal context comes from its Video-Swin backbone);
* instance sequences: N learnt queries decode every frame against that frame's multimodal memory; query
  n across the frames is one instance sequence;
* heads: an is-referred logit per query and frame, and a dynamic mask kernel (one linear kernel per
  query, MTTR's dot product with the decoded mask features); no boxes (MTTR predicts none, so the box
  losses are left out);
* the spatial decoder is the shared FPN over the encoded video tokens and the backbone's finer levels.

Where this differs from MTTR: the referred/not-referred classification uses the sigmoid focal loss of
the shared criterion instead of MTTR's two-way softmax with a no-object weight, so all models here are
trained by the same loss; and the queries' content starts from a learnt embedding instead of DETR's
zeros (with zeros the first decoder self-attention only ever sees its bias and its projections get no
gradient at all).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from rvosbench.core.errors import ConfigError
from rvosbench.core.registry import MODELS
from rvosbench.models.heads import MaskDecoder, QueryHeads
from rvosbench.models.layers import (FeedForward, LevelTokens, ResidualAttention, level_projection,
                                     sine_encoding_1d, text_projection, tokens_to_maps)
from rvosbench.models.query_model import QueryRVOSModel


class EncoderLayer(nn.Module):
    """Self-attention over the joint video+text sequence, then FFN."""

    def __init__(self, dim: int, heads: int, ffn_dim: int, dropout: float):
        super().__init__()
        self.attn = ResidualAttention(dim, heads, dropout)
        self.ffn = FeedForward(dim, ffn_dim, dropout)

    def forward(self, x, pos, pad):
        return self.ffn(self.attn(x, pos_q=pos, pos_k=pos, key_padding_mask=pad))


class DecoderLayer(nn.Module):
    """Query self-attention, cross-attention to the multimodal memory, FFN (DETR decoder layer)."""

    def __init__(self, dim: int, heads: int, ffn_dim: int, dropout: float):
        super().__init__()
        self.self_attn = ResidualAttention(dim, heads, dropout)
        self.cross = ResidualAttention(dim, heads, dropout)
        self.ffn = FeedForward(dim, ffn_dim, dropout)

    def forward(self, q, query_pos, memory, memory_pos, memory_pad):
        q = self.self_attn(q, pos_q=query_pos, pos_k=query_pos)
        q = self.cross(q, kv=memory, pos_q=query_pos, pos_k=memory_pos, key_padding_mask=memory_pad)
        return self.ffn(q)


@MODELS.register_module("mttr")
class MTTR(QueryRVOSModel):
    """MTTR: text tokens joined to each frame's video tokens in a multimodal transformer; instance sequences.

    Args:
        backbone, text_encoder: encoder configs (as for ProxyFormer).
        hidden_dim, num_heads: width and heads. num_queries: instance sequences (MTTR: 50).
        enc_layers, dec_layers: multimodal encoder / decoder depth (MTTR: 3 and 3).
        ffn_dim: FFN width (MTTR: 2048). encoded_levels: how many of the coarsest backbone levels
            enter the multimodal encoder (MTTR: 1, the last stage); finer ones only feed the FPN.
        mask_dim: mask-feature channels. fine_dim: channels of the mask decoder's finest level (default C).
        aux_loss: losses on every decoder layer. loss: set-loss weights.
    """

    def __init__(self, backbone: dict | None = None, text_encoder: dict | None = None, hidden_dim: int = 256,
                 num_heads: int = 8, num_queries: int = 50, enc_layers: int = 3, dec_layers: int = 3,
                 ffn_dim: int = 2048, encoded_levels: int = 1, mask_dim: int = 8, fine_dim: int | None = None,
                 dropout: float = 0.0, aux_loss: bool = True, loss: dict | None = None):
        super().__init__(backbone, text_encoder, loss)
        C = hidden_dim
        levels = self.backbone.channels[1:]
        if not 1 <= encoded_levels <= len(levels):
            raise ConfigError(f"encoded_levels must be in 1..{len(levels)}", where="model.encoded_levels")
        self.num_queries, self.aux_loss, self.encoded_levels = num_queries, aux_loss, encoded_levels
        self.lateral = nn.ModuleList(level_projection(ch, C) for ch in levels[: len(levels) - encoded_levels])
        self.input_tokens = LevelTokens(levels[len(levels) - encoded_levels:], C)
        self.text_proj = text_projection(self.text_encoder.channels, C)
        self.encoder = nn.ModuleList(EncoderLayer(C, num_heads, ffn_dim, dropout) for _ in range(enc_layers))
        self.query_embed = nn.Embedding(num_queries, C)
        self.query_content = nn.Embedding(num_queries, C)
        self.decoder = nn.ModuleList(DecoderLayer(C, num_heads, ffn_dim, dropout) for _ in range(dec_layers))
        self.mask_decoder = MaskDecoder(C, self.backbone.channels[0], mask_dim, len(levels), fine_dim)
        self.heads = QueryHeads(C, mask_dim, dynamic_layers=1, rel_coords=False, boxes=False)

    def forward(self, batch: dict[str, Any]) -> dict[str, Any]:
        frames = batch["frames"]
        B, T = frames.shape[:2]
        maps = self.encode_video(frames)
        text = self.encode_text(batch["text"])
        words = self.text_proj(text.words).repeat_interleave(T, 0)  # (B·T, W, C)
        word_pad = text.pad_mask.repeat_interleave(T, 0)
        word_pos = sine_encoding_1d(torch.arange(words.shape[1], device=words.device), words.shape[-1])

        split = len(maps) - self.encoded_levels
        tokens, sizes, pos = self.input_tokens(maps[split:], B, T)
        video = tokens.flatten(0, 1)
        L = video.shape[1]
        memory = torch.cat([video, words], 1)
        memory_pos = torch.cat([pos, word_pos], 0)
        memory_pad = torch.cat([word_pad.new_zeros(word_pad.shape[0], L), word_pad], 1)
        for layer in self.encoder:
            memory = layer(memory, memory_pos, memory_pad)

        fpn_inputs = [lateral(m) for lateral, m in zip(self.lateral, maps[1:split])]
        fpn_inputs += tokens_to_maps(memory[:, :L], sizes)
        mask_features = self.mask_decoder(fpn_inputs, maps[0])
        mask_features = mask_features.reshape(B, T, *mask_features.shape[1:])

        N, C = self.num_queries, video.shape[-1]
        query_pos = self.query_embed.weight
        q = self.query_content.weight.repeat(B * T, 1, 1)  # a copy: an expanded view of a parameter breaks hooks
        layer_outputs = []
        for layer in self.decoder:
            q = layer(q, query_pos, memory, memory_pos, memory_pad)
            layer_outputs.append(self.heads(q.reshape(B, T, N, C), mask_features))
        final = layer_outputs[-1]
        final["aux_outputs"] = layer_outputs[:-1] if self.aux_loss and self.training else []
        return final
