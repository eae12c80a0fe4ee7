"""The ReferFormer model: backbone → text-fused multi-scale tokens → deformable transformer → FPN + dynamic masks.

One forward pass, as the authors' ``ReferFormer.forward`` (wjn922/ReferFormer ``models/referformer.py``):

1. the backbone gives four maps (strides 4, 8, 16, 32), each with a 2-D sine encoding (0.5 offset);
2. RoBERTa gives word features and the pooler's sentence feature; one shared :class:`FeatureResizer`
   (Linear + LayerNorm(eps 1e-12) + dropout) brings both to C;
3. the stride-8/16/32 maps are projected to C (1×1 conv + GroupNorm(32)), a fourth level comes from a
   3×3 stride-2 conv on the stride-32 map, and every level is multiplied by its attention over the words;
4. the deformable transformer encodes each frame's four levels and decodes N queries per frame whose
   content is the sentence feature; box heads refine the references after every layer;
5. per layer, a class head (1 logit: the releases are trained ``--binary``) and the box head give
   ``pred_logits`` and ``pred_boxes``; the cross-modal FPN turns the encoder maps and the stride-4 map
   into ``mask_dim`` mask features; a controller MLP turns each query into the weights of three 1×1
   convolutions (``mask_dim + 2 → 8 → 8 → 1``), applied to the mask features with the coordinates of each
   pixel relative to the query's box centre in input pixels (x first), which gives ``pred_masks`` at stride 4.

Inference is :meth:`QueryRVOSModel.predict`, which is the authors' ``inference_ytvos.py``: sigmoid of the
logits averaged over frames picks one query for the whole video, its mask logits are upsampled bilinearly
(``align_corners=False``) to the original size and thresholded at 0.5 after a sigmoid.

Training uses rvosbench's shared set criterion (the authors' matching costs and loss weights), on
every decoder layer when ``aux_loss``.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rvosbench.core.errors import ConfigError
from rvosbench.core.registry import MODELS
from rvosbench.models.layers import MLP
from rvosbench.models.position_encoding import sine_1d, sine_2d_like
from rvosbench.models.query_model import QueryRVOSModel
from rvosbench.models.roberta import FeatureResizer
from rvosbench.models.referformer.segmentation import (CrossModalFPNDecoder, VisionLanguageFusionModule,
                                                       from_sequence, to_sequence)
from rvosbench.models.referformer.transformer import DeformableTransformer, clones

NUM_FEATURE_LEVELS = 4  # three backbone levels + one extra stride-2 conv (the authors' num_feature_levels)
INPUT_GROUPS = 32  # GroupNorm groups of the input projections
PRIOR = 0.01  # focal-loss prior of the class heads' bias
FUSION_HEADS = 8  # heads of the early fusion (fixed by the authors, independent of nheads)


def dynamic_weight_sizes(in_channels: int, channels: int, layers: int) -> tuple[list[int], list[int]]:
    """Weights and biases per dynamic layer: ``in → channels → … → 1``."""
    dims = [in_channels] + [channels] * (layers - 1) + [1]
    return [a * b for a, b in zip(dims[:-1], dims[1:])], dims[1:]


def pixel_locations(h: int, w: int, stride: int, device: torch.device) -> torch.Tensor:
    """(x, y) input-pixel centres of a stride-``stride`` map's cells, ``stride·j + stride // 2`` → (h·w, 2)."""
    xs = torch.arange(0, w * stride, step=stride, dtype=torch.float32, device=device)
    ys = torch.arange(0, h * stride, step=stride, dtype=torch.float32, device=device)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack((grid_x.reshape(-1), grid_y.reshape(-1)), dim=1) + stride // 2


@MODELS.register_module("referformer")
class ReferFormer(QueryRVOSModel):
    """ReferFormer (Wu et al., CVPR 2022): language as queries, rebuilt to load the authors' checkpoints.

    Args:
        backbone, text_encoder: encoder configs (the releases: ``resnet``/Video Swin and ``roberta``).
        hidden_dim, num_heads: width and heads of the transformer (256, 8).
        num_queries: queries per frame (5). enc_layers, dec_layers: depth (4, 4).
        ffn_dim: FFN width of the transformer and of the FPN's vision-language blocks (2048).
        enc_points, dec_points: deformable sampling points per head and level (4, 4).
        mask_dim: channels of the mask features (256, the authors' default).
        controller_layers, dynamic_mask_channels: dynamic mask head (3 layers, 8 channels).
        rel_coord: concatenate the relative coordinates to the mask features (True).
        dropout: dropout of the transformer, the FPN's blocks and the text resizer (0.1: the authors fix the
            last two at 0.1 and default the first to it). aux_loss: losses on every decoder layer.
        fusion_heads: heads of the early fusion and of the FPN's blocks (8, fixed in the authors' code).
        loss: weights of the shared set criterion.
    """

    def __init__(self, backbone: dict | None = None, text_encoder: dict | None = None, hidden_dim: int = 256,
                 num_heads: int = 8, num_queries: int = 5, enc_layers: int = 4, dec_layers: int = 4,
                 ffn_dim: int = 2048, enc_points: int = 4, dec_points: int = 4, mask_dim: int = 256,
                 controller_layers: int = 3, dynamic_mask_channels: int = 8, rel_coord: bool = True,
                 dropout: float = 0.1, aux_loss: bool = True, fusion_heads: int = FUSION_HEADS,
                 loss: dict | None = None):
        super().__init__(backbone, text_encoder, loss)
        C = hidden_dim
        channels = list(self.backbone.channels)
        if len(channels) != 4:
            raise ConfigError(f"ReferFormer needs 4 backbone levels (stride 4, 8, 16, 32), got {len(channels)}",
                              where="model.backbone.out_indices", hint="e.g. out_indices [1, 2, 3, 4]")
        if C % INPUT_GROUPS or C % num_heads or C % fusion_heads or C % 2:
            raise ConfigError(f"hidden_dim {C} must be even and divisible by {INPUT_GROUPS} (GroupNorm), num_heads "
                              f"({num_heads}) and fusion_heads ({fusion_heads})", where="model.hidden_dim")
        if controller_layers < 2:
            raise ConfigError("controller_layers must be >= 2", where="model.controller_layers")
        self.hidden_dim, self.num_queries, self.aux_loss = C, num_queries, aux_loss
        self.mask_dim, self.rel_coord, self.dynamic_mask_channels = mask_dim, rel_coord, dynamic_mask_channels
        self.mask_feat_stride = int(self.backbone.strides[0])

        self.transformer = DeformableTransformer(C, num_heads, enc_layers, dec_layers, ffn_dim, dropout,
                                                 NUM_FEATURE_LEVELS, dec_points, enc_points)
        self.query_embed = nn.Embedding(num_queries, C)
        projections = [nn.Sequential(nn.Conv2d(ch, C, kernel_size=1), nn.GroupNorm(INPUT_GROUPS, C))
                       for ch in channels[-3:]]
        projections.append(nn.Sequential(nn.Conv2d(channels[-1], C, kernel_size=3, stride=2, padding=1),
                                         nn.GroupNorm(INPUT_GROUPS, C)))
        self.input_proj = nn.ModuleList(projections)
        for proj in self.input_proj:
            nn.init.xavier_uniform_(proj[0].weight, gain=1)
            nn.init.zeros_(proj[0].bias)

        class_embed = nn.Linear(C, 1)
        nn.init.constant_(class_embed.bias, -math.log((1 - PRIOR) / PRIOR))
        bbox_embed = MLP(C, C, 4, 3)
        nn.init.zeros_(bbox_embed.layers[-1].weight)
        nn.init.zeros_(bbox_embed.layers[-1].bias)
        self.class_embed = clones(class_embed, dec_layers)
        self.bbox_embed = clones(bbox_embed, dec_layers)
        nn.init.constant_(self.bbox_embed[0].layers[-1].bias[2:], -2.0)
        self.transformer.decoder.bbox_embed = self.bbox_embed  # box refinement (shared: same keys as theirs)

        self.resizer = FeatureResizer(self.text_encoder.channels, C, dropout=dropout)
        self.fusion_module = VisionLanguageFusionModule(C, fusion_heads)
        self.pixel_decoder = CrossModalFPNDecoder([channels[0]] + 3 * [C], C, mask_dim, ffn_dim, fusion_heads, dropout)

        self.weight_nums, self.bias_nums = dynamic_weight_sizes(mask_dim + (2 if rel_coord else 0),
                                                                dynamic_mask_channels, controller_layers)
        self.controller = MLP(C, C, sum(self.weight_nums) + sum(self.bias_nums), 3)
        for layer in self.controller.layers:
            nn.init.zeros_(layer.bias)
            nn.init.xavier_uniform_(layer.weight)

    # -- checkpoints ---------------------------------------------------------------------------------
    def rebuilt_prefixes(self) -> list[str]:
        """Only encoders whose weights come from a package or folder at build time are left out of
        checkpoints; RoBERTa built from a config gets its weights from the checkpoint, frozen or not."""
        prefixes = []
        if self.backbone.frozen and getattr(self.backbone, "pretrained", None):
            prefixes.append("backbone.")
        if self.text_encoder.frozen and getattr(self.text_encoder, "pretrained", True):
            prefixes.append("text_encoder.")
        return prefixes

    @classmethod
    def from_official_state_dict(cls, state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The authors' keys → ours; see :mod:`rvosbench.models.referformer.official`."""
        from rvosbench.models.referformer.official import referformer_keys

        return referformer_keys(state)

    # -- forward ---------------------------------------------------------------------------------------
    def encode_video(self, frames: torch.Tensor) -> list[torch.Tensor]:
        """Backbone maps (B·T, C_l, h_l, w_l); a video backbone (``video = True``) gets the whole clip."""
        if getattr(self.backbone, "video", False):
            return self.backbone(frames)
        return super().encode_video(frames)

    def fuse(self, src: torch.Tensor, t: int, words, word_pad, word_pos) -> torch.Tensor:
        """Early fusion of one level (b·t, C, h, w) with the words."""
        h, w = src.shape[-2:]
        fused = self.fusion_module(to_sequence(src, t), words, word_pad, word_pos)
        return from_sequence(fused, t, h, w)

    def forward(self, batch: dict[str, Any]) -> dict[str, Any]:
        frames = batch["frames"]
        b, t = frames.shape[:2]
        features = self.encode_video(frames)
        poses = [sine_2d_like(f, self.hidden_dim // 2) for f in features]
        text = self.encode_text(batch["text"])
        words = self.resizer(text.words)  # (b, L, C)
        sentence = self.resizer(text.sentence)  # (b, C)
        word_pos = sine_1d(text.pad_mask, self.hidden_dim).to(words.dtype).transpose(0, 1)  # (L, b, C)
        words = words.transpose(0, 1)
        word_pad = text.pad_mask

        srcs = [self.fuse(proj(f), t, words, word_pad, word_pos) for proj, f in zip(self.input_proj, features[-3:])]
        srcs_pos = list(poses[-3:])
        extra = self.input_proj[3](features[-1])
        srcs_pos.append(sine_2d_like(extra, self.hidden_dim // 2))
        srcs.append(self.fuse(extra, t, words, word_pad, word_pos))

        n, C = self.num_queries, self.hidden_dim
        queries = sentence[:, None, None].expand(b, t, n, C).reshape(b * t, n, C)
        states, boxes, _, memory = self.transformer(srcs, queries, srcs_pos, self.query_embed.weight)

        mask_features = self.pixel_decoder(features, memory, poses, words, word_pad, word_pos, t)
        mask_features = mask_features.reshape(b, t, *mask_features.shape[1:])
        input_size = frames.shape[-2:]
        layers = range(len(states)) if self.training and self.aux_loss else [len(states) - 1]
        outputs = []
        for lvl in layers:
            outputs.append({
                "pred_logits": self.class_embed[lvl](states[lvl])[..., 0].reshape(b, t, n),
                "pred_boxes": boxes[lvl].reshape(b, t, n, 4),
                "pred_masks": self.dynamic_masks(mask_features, self.controller(states[lvl]), boxes[lvl], input_size),
            })
        final = outputs[-1]
        final["aux_outputs"] = outputs[:-1]
        return final

    def dynamic_masks(self, mask_features: torch.Tensor, params: torch.Tensor, boxes: torch.Tensor,
                      input_size: tuple[int, int]) -> torch.Tensor:
        """mask_features (b, t, D, h, w); params (b·t, n, P); boxes (b·t, n, 4) → logits (b, t, n, h, w).

        Each query's parameters are split as the authors do (all weights first, then all biases) and
        applied as grouped 1×1 convolutions, one group per query and frame.
        """
        b, t, _, h, w = mask_features.shape
        n = params.shape[1]
        x = mask_features[:, :, None].expand(b, t, n, *mask_features.shape[2:])
        if self.rel_coord:
            img_h, img_w = (float(s) for s in input_size)
            scale = torch.tensor([img_w, img_h], dtype=boxes.dtype, device=boxes.device)
            centres = (boxes.detach()[..., :2] * scale).reshape(b, t, n, 1, 1, 2)
            locations = pixel_locations(h, w, self.mask_feat_stride, boxes.device).reshape(1, 1, 1, h, w, 2)
            relative = (centres - locations).permute(0, 1, 2, 5, 3, 4)
            x = torch.cat([x, relative], dim=3)
        x = x.reshape(1, -1, h, w)
        insts = b * t * n
        splits = torch.split_with_sizes(params.reshape(insts, -1), self.weight_nums + self.bias_nums, dim=1)
        layers = len(self.weight_nums)
        for i in range(layers):
            out_ch = self.bias_nums[i]
            weight = splits[i].reshape(insts * out_ch, -1, 1, 1)
            bias = splits[layers + i].reshape(insts * out_ch)
            x = F.conv2d(x, weight, bias=bias, groups=insts)
            if i < layers - 1:
                x = F.relu(x)
        return x.reshape(b, t, n, h, w)
