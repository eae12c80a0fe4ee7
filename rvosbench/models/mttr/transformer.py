"""MTTR's multimodal transformer (Botach et al., CVPR 2022, §3.2), laid out as the authors' ``transformer``.

Per frame of every clip, the projected video tokens of the backbone's last kept stage and the projected
word tokens of the expression form one sequence (video first, then words). A DETR encoder (post-norm,
ReLU FFN) encodes it; video tokens carry MTTR's 2-D sine encoding and word tokens a zero encoding (the
words' order is already in the text encoder's features). A DETR decoder then decodes N object queries
(content zeros, positions = the learnt ``obj_queries``) against the whole encoded sequence, words
included, returning every layer's output after the shared final LayerNorm.

Tensors stay sequence-first and time-first as in the authors' code (``(h w) (t b) c``), so frame t of
clip b is column ``t·B + b``; attribute names are theirs, so state-dict keys coincide.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rvosbench.models.mttr.text import build_text_model, tokenize


def mttr_sine_encoding(pad_mask: torch.Tensor, dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """MTTR's 2-D sine encoding: (N, h, w) padding mask (True = padding) → (N, h, w, dim).

    Cumulative counts of valid rows/columns, divided by their total (+1e-6) and scaled to 2π, without
    DETR's/ReferFormer's 0.5 offset; y features first, each half interleaving sin and cos.
    """
    valid = ~pad_mask
    y = valid.cumsum(1, dtype=torch.float32)
    x = valid.cumsum(2, dtype=torch.float32)
    y = y / (y[:, -1:, :] + 1e-6) * 2 * math.pi
    x = x / (x[:, :, -1:] + 1e-6) * 2 * math.pi
    half = dim // 2
    steps = torch.arange(half, dtype=torch.float32, device=pad_mask.device)
    freqs = temperature ** (2 * (steps // 2) / half)

    def encode(coord: torch.Tensor) -> torch.Tensor:
        angles = coord[..., None] / freqs
        return torch.stack((angles[..., 0::2].sin(), angles[..., 1::2].cos()), dim=4).flatten(3)

    return torch.cat((encode(y), encode(x)), dim=3)


class FeatureResizer(nn.Module):
    """Linear → LayerNorm (eps 1e-12) → dropout: text features to the transformer's width."""

    def __init__(self, in_dim: int, out_dim: int, dropout: float):
        super().__init__()
        self.fc = nn.Linear(in_dim, out_dim)
        self.layer_norm = nn.LayerNorm(out_dim, eps=1e-12)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.layer_norm(self.fc(x)))


def with_pos(x: torch.Tensor, pos: torch.Tensor | None) -> torch.Tensor:
    return x if pos is None else x + pos


class EncoderLayer(nn.Module):
    """Post-norm self-attention (positions added to queries and keys) and ReLU FFN."""

    def __init__(self, dim: int, heads: int, ffn_dim: int, dropout: float):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(dim, heads, dropout=dropout)
        self.linear1 = nn.Linear(dim, ffn_dim)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(ffn_dim, dim)
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.dropout1, self.dropout2 = nn.Dropout(dropout), nn.Dropout(dropout)

    def forward(self, src: torch.Tensor, pad: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        qk = with_pos(src, pos)
        src = self.norm1(src + self.dropout1(self.self_attn(qk, qk, src, key_padding_mask=pad)[0]))
        return self.norm2(src + self.dropout2(self.linear2(self.dropout(F.relu(self.linear1(src))))))


class DecoderLayer(nn.Module):
    """Post-norm query self-attention, cross-attention to the multimodal memory, ReLU FFN."""

    def __init__(self, dim: int, heads: int, ffn_dim: int, dropout: float):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(dim, heads, dropout=dropout)
        self.multihead_attn = nn.MultiheadAttention(dim, heads, dropout=dropout)
        self.linear1 = nn.Linear(dim, ffn_dim)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(ffn_dim, dim)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.dropout1, self.dropout2, self.dropout3 = nn.Dropout(dropout), nn.Dropout(dropout), nn.Dropout(dropout)

    def forward(self, tgt: torch.Tensor, memory: torch.Tensor, memory_pad: torch.Tensor, pos: torch.Tensor,
                query_pos: torch.Tensor) -> torch.Tensor:
        qk = with_pos(tgt, query_pos)
        tgt = self.norm1(tgt + self.dropout1(self.self_attn(qk, qk, tgt)[0]))
        attended = self.multihead_attn(with_pos(tgt, query_pos), with_pos(memory, pos), memory,
                                       key_padding_mask=memory_pad)[0]
        tgt = self.norm2(tgt + self.dropout2(attended))
        return self.norm3(tgt + self.dropout3(self.linear2(self.dropout(F.relu(self.linear1(tgt))))))


class TransformerEncoder(nn.Module):
    def __init__(self, layers: int, **layer_kwargs: Any):
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(**layer_kwargs) for _ in range(layers))

    def forward(self, src: torch.Tensor, pad: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            src = layer(src, pad, pos)
        return src


class TransformerDecoder(nn.Module):
    """Decoder layers; returns every layer's output after the shared final norm: (L, N, T·B, C)."""

    def __init__(self, layers: int, dim: int, **layer_kwargs: Any):
        super().__init__()
        self.layers = nn.ModuleList(DecoderLayer(dim=dim, **layer_kwargs) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)

    def forward(self, tgt: torch.Tensor, memory: torch.Tensor, memory_pad: torch.Tensor, pos: torch.Tensor,
                query_pos: torch.Tensor) -> torch.Tensor:
        outputs = []
        for layer in self.layers:
            tgt = layer(tgt, memory, memory_pad, pos, query_pos)
            outputs.append(self.norm(tgt))
        return torch.stack(outputs)


class MultimodalTransformer(nn.Module):
    """Text encoder, text projection, multimodal encoder and object-query decoder.

    Args:
        d_model, nheads, dim_feedforward, dropout: width, heads, FFN width, dropout (MTTR: 256, 8, 2048, 0.1).
        num_encoder_layers, num_decoder_layers: depths (MTTR: 3 and 3).
        text_encoder: ``model.text_encoder`` (see :mod:`rvosbench.models.mttr.text`).
    """

    def __init__(self, d_model: int = 256, nheads: int = 8, num_encoder_layers: int = 3,
                 num_decoder_layers: int = 3, dim_feedforward: int = 2048, dropout: float = 0.1,
                 text_encoder: Mapping[str, Any] | None = None):
        super().__init__()
        self.d_model = d_model
        layer = {"heads": nheads, "ffn_dim": dim_feedforward, "dropout": dropout}
        self.encoder = TransformerEncoder(num_encoder_layers, dim=d_model, **layer)
        self.decoder = TransformerDecoder(num_decoder_layers, d_model, **layer)
        for param in self.parameters():  # as the authors: Xavier for the encoder's and decoder's matrices
            if param.dim() > 1:
                nn.init.xavier_uniform_(param)
        text = build_text_model(text_encoder)
        self.text_encoder = text.network
        self.tokenizer = text.tokenizer
        self.text_frozen, self.text_rebuilt = text.frozen, text.rebuilt
        self.text_encoder.requires_grad_(not text.frozen)
        self.txt_proj = FeatureResizer(self.text_encoder.config.hidden_size, d_model, dropout)

    def train(self, mode: bool = True) -> MultimodalTransformer:
        """A frozen text encoder stays in eval mode (no dropout noise on features nothing can adapt to)."""
        super().train(mode)
        self.text_encoder.train(mode and not self.text_frozen)
        return self

    def tokenize(self, sentences: list[str], device: torch.device) -> dict[str, torch.Tensor]:
        return tokenize(self.tokenizer, sentences, device)

    def encode_text(self, tokens: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids → projected word features (S, B, C) and padding mask (B, S), True on padding."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.text_frozen):
            hidden = self.text_encoder(input_ids=tokens["input_ids"],
                                       attention_mask=tokens["attention_mask"]).last_hidden_state
        return self.txt_proj(hidden.transpose(0, 1)), tokens["attention_mask"].ne(1)

    def forward(self, vid_embeds: torch.Tensor, vid_pad_mask: torch.Tensor, tokens: Mapping[str, torch.Tensor],
                obj_queries: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``vid_embeds`` (T, B, C, h, w), ``vid_pad_mask`` (T, B, h, w), ``obj_queries`` (N, C) →
        decoder outputs (L, T, B, N, C) and encoded video (T, B, C, h, w)."""
        T, B, C, h, w = vid_embeds.shape
        words, word_pad = self.encode_text(tokens)
        words = words.repeat(1, T, 1)  # (S, T·B, C): frame t of clip b is column t·B + b
        word_pad = word_pad.repeat(T, 1)
        video = vid_embeds.flatten(3).permute(3, 0, 1, 2).flatten(1, 2)  # (h·w, T·B, C)
        video_pad = vid_pad_mask.flatten(0, 1)  # (T·B, h, w)
        sequence = torch.cat((video, words))
        pad = torch.cat((video_pad.flatten(1), word_pad), dim=1)
        video_pos = mttr_sine_encoding(video_pad, self.d_model).flatten(1, 2).transpose(0, 1)  # (h·w, T·B, C)
        pos = torch.cat((video_pos, torch.zeros_like(words)))
        memory = self.encoder(sequence, pad, pos)
        encoded_video = memory[: h * w].permute(1, 2, 0).reshape(T, B, C, h, w)
        query_pos = obj_queries.unsqueeze(1).repeat(1, T * B, 1)  # (N, T·B, C)
        hs = self.decoder(torch.zeros_like(query_pos), memory, pad, pos, query_pos)
        return hs.unflatten(2, (T, B)).permute(0, 2, 3, 1, 4), encoded_video
