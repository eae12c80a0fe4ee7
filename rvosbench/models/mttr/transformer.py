"""MTTR's multimodal transformer (Botach et al., CVPR 2022, §3.2), laid out as the authors' ``transformer``.

Per frame of every clip, the projected video tokens of the backbone's last kept stage and the projected
word tokens of the expression form one sequence (video first, then words). A DETR encoder (post-norm,
ReLU FFN) encodes it; video tokens carry MTTR's 2-D sine encoding and word tokens a zero encoding (the
words' order is already in the text encoder's features). A DETR decoder then decodes N object queries
(content zeros, positions = the learnt ``obj_queries``) against the whole encoded sequence, words
included, returning every layer's output after the shared final LayerNorm.

Tensors stay sequence-first and time-first as in the authors' code (``(h w) (t b) c``), so frame t of
clip b is column ``t·B + b``. Attribute names are theirs; the text encoder is a ``TEXT_ENCODERS`` module,
which holds the transformers model under ``body`` (``transformer.text_encoder.body.*``).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rvosbench.models.position_encoding import sine_2d
from rvosbench.models.roberta import FeatureResizer  # the same module in both authors' code
from rvosbench.models.text_encoders import build_text_encoder


#: MTTR's text encoder: RoBERTa-base (weights from the checkpoint), its pooler removed, frozen
ROBERTA_WITHOUT_POOLER = {"type": "roberta", "pooler": False, "frozen": True}


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
        text_encoder: ``model.text_encoder``, a ``TEXT_ENCODERS`` config (default: RoBERTa-base built
            from its configuration, without pooler, frozen: :mod:`rvosbench.models.roberta`).
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
        self.text_encoder = build_text_encoder(dict(text_encoder or ROBERTA_WITHOUT_POOLER))
        self.txt_proj = FeatureResizer(self.text_encoder.channels, d_model, dropout)

    def encode_text(self, sentences: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Sentences → projected word features (S, B, C) and padding mask (B, S), True on padding."""
        text = self.text_encoder(list(sentences))
        return self.txt_proj(text.words.transpose(0, 1)), text.pad_mask

    def forward(self, vid_embeds: torch.Tensor, vid_pad_mask: torch.Tensor, sentences: list[str],
                obj_queries: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``vid_embeds`` (T, B, C, h, w), ``vid_pad_mask`` (T, B, h, w), ``obj_queries`` (N, C) →
        decoder outputs (L, T, B, N, C) and encoded video (T, B, C, h, w)."""
        T, B, C, h, w = vid_embeds.shape
        words, word_pad = self.encode_text(sentences)
        words = words.repeat(1, T, 1)  # (S, T·B, C): frame t of clip b is column t·B + b
        word_pad = word_pad.repeat(T, 1)
        video = vid_embeds.flatten(3).permute(3, 0, 1, 2).flatten(1, 2)  # (h·w, T·B, C)
        video_pad = vid_pad_mask.flatten(0, 1)  # (T·B, h, w)
        sequence = torch.cat((video, words))
        pad = torch.cat((video_pad.flatten(1), word_pad), dim=1)
        # MTTR's 2-D sine encoding: DETR's without the 0.5 offset ReferFormer subtracts
        video_pos = sine_2d(video_pad, self.d_model // 2, offset=0.0).flatten(2).permute(2, 0, 1)  # (h·w, T·B, C)
        pos = torch.cat((video_pos, torch.zeros_like(words)))
        memory = self.encoder(sequence, pad, pos)
        encoded_video = memory[: h * w].permute(1, 2, 0).reshape(T, B, C, h, w)
        query_pos = obj_queries.unsqueeze(1).repeat(1, T * B, 1)  # (N, T·B, C)
        hs = self.decoder(torch.zeros_like(query_pos), memory, pad, pos, query_pos)
        return hs.unflatten(2, (T, B)).permute(0, 2, 3, 1, 4), encoded_video
