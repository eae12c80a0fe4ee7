"""ReferFormer's deformable transformer: Deformable DETR's encoder and decoder, with box refinement.

Differences from Deformable DETR that ReferFormer makes (and that this module follows):

* the decoder's content queries are given (the sentence feature, one per query and frame) and its
  positional queries are a learnt embedding, so ``query_embed`` is C wide, not 2C;
* the first references are ``sigmoid(Linear(query_embed))``, points ``(x, y)``; after each layer the
  layer's box head refines them into boxes ``(cx, cy, w, h)`` (``inverse_sigmoid`` + delta), which the next
  layer's deformable attention samples around (iterative box refinement, always on in the releases);
* the encoder's output is also returned as maps of its first ``levels − 1`` levels for the FPN.

Module and parameter names match the authors' (``encoder.layers.0.self_attn.sampling_offsets`` …), and
computations run in the same order and memory layout (sequence-first ``nn.MultiheadAttention``), so the
same weights give the same floating-point results. Frames carry no padding here (rvosbench batches
equally sized clips): valid ratios are 1 and no padding mask is needed.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from rvosbench.models.deformable import MSDeformAttn, level_reference_points

INVERSE_SIGMOID_EPS = 1e-5  # Deformable DETR's clamp in inverse_sigmoid


def inverse_sigmoid(x: torch.Tensor, eps: float = INVERSE_SIGMOID_EPS) -> torch.Tensor:
    """``log(x / (1 − x))`` with both terms clamped at ``eps`` (Deformable DETR's ``inverse_sigmoid``)."""
    x = x.clamp(min=0, max=1)
    return torch.log(x.clamp(min=eps) / (1 - x).clamp(min=eps))


def clones(module: nn.Module, n: int) -> nn.ModuleList:
    """``n`` independent copies (same initial weights), DETR's ``_get_clones``."""
    return nn.ModuleList(copy.deepcopy(module) for _ in range(n))


class DeformableTransformerEncoderLayer(nn.Module):
    """Deformable self-attention over all levels of a frame, then FFN (post-norm)."""

    def __init__(self, d_model: int = 256, d_ffn: int = 1024, dropout: float = 0.1, n_levels: int = 4,
                 n_heads: int = 8, n_points: int = 4):
        super().__init__()
        self.self_attn = MSDeformAttn(d_model, n_levels, n_heads, n_points)
        self.dropout1 = nn.Dropout(dropout)
        self.norm1 = nn.LayerNorm(d_model)
        self.linear1 = nn.Linear(d_model, d_ffn)
        self.dropout2 = nn.Dropout(dropout)
        self.linear2 = nn.Linear(d_ffn, d_model)
        self.dropout3 = nn.Dropout(dropout)
        self.norm2 = nn.LayerNorm(d_model)

    def forward(self, src, pos, reference, sizes):
        src = self.norm1(src + self.dropout1(self.self_attn(src + pos, reference, src, sizes)))
        ffn = self.linear2(self.dropout2(F.relu(self.linear1(src))))
        return self.norm2(src + self.dropout3(ffn))


class DeformableTransformerEncoder(nn.Module):
    def __init__(self, layer: nn.Module, num_layers: int):
        super().__init__()
        self.layers = clones(layer, num_layers)
        self.num_layers = num_layers

    def forward(self, src, sizes, pos):
        reference = level_reference_points(sizes, src.shape[0], src.device)
        for layer in self.layers:
            src = layer(src, pos, reference, sizes)
        return src


class DeformableTransformerDecoderLayer(nn.Module):
    """Query self-attention, deformable cross-attention around the references, FFN (post-norm)."""

    def __init__(self, d_model: int = 256, d_ffn: int = 1024, dropout: float = 0.1, n_levels: int = 4,
                 n_heads: int = 8, n_points: int = 4):
        super().__init__()
        self.cross_attn = MSDeformAttn(d_model, n_levels, n_heads, n_points)
        self.dropout1 = nn.Dropout(dropout)
        self.norm1 = nn.LayerNorm(d_model)
        self.self_attn = nn.MultiheadAttention(d_model, n_heads, dropout=dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.norm2 = nn.LayerNorm(d_model)
        self.linear1 = nn.Linear(d_model, d_ffn)
        self.dropout3 = nn.Dropout(dropout)
        self.linear2 = nn.Linear(d_ffn, d_model)
        self.dropout4 = nn.Dropout(dropout)
        self.norm3 = nn.LayerNorm(d_model)

    def forward(self, tgt, query_pos, reference, memory, sizes):
        q = (tgt + query_pos).transpose(0, 1)
        # need_weights left on, as the authors call it: PyTorch then takes the explicit softmax path,
        # which rounds differently from its fused kernel
        attended = self.self_attn(q, q, tgt.transpose(0, 1))[0].transpose(0, 1)
        tgt = self.norm2(tgt + self.dropout2(attended))
        tgt = self.norm1(tgt + self.dropout1(self.cross_attn(tgt + query_pos, reference, memory, sizes)))
        ffn = self.linear2(self.dropout3(F.relu(self.linear1(tgt))))
        return self.norm3(tgt + self.dropout4(ffn))


class DeformableTransformerDecoder(nn.Module):
    """Decoder layers with iterative box refinement by ``bbox_embed`` (set by the model, one head per layer).

    Returns every layer's queries and boxes; the boxes keep their gradient (the model's box outputs), while
    the references passed on to the next layer are detached, as in Deformable DETR.
    """

    def __init__(self, layer: nn.Module, num_layers: int):
        super().__init__()
        self.layers = clones(layer, num_layers)
        self.num_layers = num_layers
        self.bbox_embed: nn.ModuleList | None = None

    def forward(self, tgt, reference, memory, sizes, query_pos):
        levels = len(sizes)
        states, boxes = [], []
        for lid, layer in enumerate(self.layers):
            tgt = layer(tgt, query_pos, reference[:, :, None].expand(-1, -1, levels, -1), memory, sizes)
            delta = self.bbox_embed[lid](tgt)
            if reference.shape[-1] == 4:
                box = (delta + inverse_sigmoid(reference)).sigmoid()
            else:
                box = torch.cat([delta[..., :2] + inverse_sigmoid(reference), delta[..., 2:]], -1).sigmoid()
            reference = box.detach()
            states.append(tgt)
            boxes.append(box)
        return states, boxes


class DeformableTransformer(nn.Module):
    """Encoder over the flattened levels of each frame, then the query decoder.

    Args:
        d_model, nhead: width and heads. num_encoder_layers, num_decoder_layers: depth.
        dim_feedforward: FFN width. dropout: dropout in attention and FFN.
        num_feature_levels: levels the deformable attention samples. dec_n_points, enc_n_points: points
            per head and level.
    """

    def __init__(self, d_model: int = 256, nhead: int = 8, num_encoder_layers: int = 4, num_decoder_layers: int = 4,
                 dim_feedforward: int = 2048, dropout: float = 0.1, num_feature_levels: int = 4,
                 dec_n_points: int = 4, enc_n_points: int = 4):
        super().__init__()
        self.d_model, self.nhead, self.num_feature_level = d_model, nhead, num_feature_levels
        self.encoder = DeformableTransformerEncoder(DeformableTransformerEncoderLayer(
            d_model, dim_feedforward, dropout, num_feature_levels, nhead, enc_n_points), num_encoder_layers)
        self.decoder = DeformableTransformerDecoder(DeformableTransformerDecoderLayer(
            d_model, dim_feedforward, dropout, num_feature_levels, nhead, dec_n_points), num_decoder_layers)
        self.level_embed = nn.Parameter(torch.empty(num_feature_levels, d_model))
        self.reference_points = nn.Linear(d_model, 2)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Deformable DETR's init: Xavier on matrices, the deformable attention's own init, N(0, 1) level embeddings."""
        for param in self.parameters():
            if param.dim() > 1:
                nn.init.xavier_uniform_(param)
        for module in self.modules():
            if isinstance(module, MSDeformAttn):
                module.reset_parameters()
        nn.init.xavier_uniform_(self.reference_points.weight, gain=1.0)
        nn.init.zeros_(self.reference_points.bias)
        nn.init.normal_(self.level_embed)

    def forward(self, srcs: list[torch.Tensor], tgt: torch.Tensor, poses: list[torch.Tensor],
                query_embed: torch.Tensor):
        """srcs, poses: per level (N, C, h, w); tgt (N, Q, C) content queries; query_embed (Q, C).

        Returns the decoder's per-layer queries and boxes (each (N, Q, ·)), the first references
        (N, Q, 2), and the encoder output as maps of its first ``levels − 1`` levels (for the FPN).
        """
        sizes = [(int(s.shape[-2]), int(s.shape[-1])) for s in srcs]
        src_flatten = torch.cat([s.flatten(2).transpose(1, 2) for s in srcs], 1)
        pos_flatten = torch.cat([p.flatten(2).transpose(1, 2) + self.level_embed[lvl].view(1, 1, -1)
                                 for lvl, p in enumerate(poses)], 1)
        memory = self.encoder(src_flatten, sizes, pos_flatten)

        n, _, c = memory.shape
        query_pos = query_embed.unsqueeze(0).repeat(n, 1, 1)  # a copy: module hooks reject views of leaves
        reference = self.reference_points(query_pos).sigmoid()
        states, boxes = self.decoder(tgt, reference, memory, sizes, query_pos)

        maps, start = [], 0
        for h, w in sizes[: self.num_feature_level - 1]:
            maps.append(memory[:, start: start + h * w, :].reshape(n, h, w, c).permute(0, 3, 1, 2).contiguous())
            start += h * w
        return states, boxes, reference, maps
