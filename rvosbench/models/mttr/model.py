"""MTTR (Botach, Zheltonozhskii, Baskin, CVPR 2022, "End-to-End Referring Video Object Segmentation
with Multimodal Transformers"), rebuilt to match the authors' code (mttr2021/MTTR) output for output.

* Backbone: Video-Swin-T with per-frame patches and stage 4 dropped (:mod:`rvosbench.models.video_swin`),
  or, as the authors' code also allows (their ResNet option), any per-frame ``BACKBONES`` model; its
  last kept stage feeds the transformer through a 1x1 conv (``vid_embed_proj``), the finer ones the
  spatial decoder.
* Multimodal transformer (:mod:`.transformer`): per frame, video tokens then word tokens (zero position
  encodings) through a DETR encoder; N object queries (50) decoded against every frame. Query n in all
  frames of a clip is one *instance sequence*.
* Heads: ``is_referred_head`` (two logits: referred / not), ``instance_kernels_head`` (2-layer MLP to an
  8-d kernel per query and frame, dotted with the spatial decoder's 8-channel stride-4 map).
* Inference: :mod:`.postprocessing` (softmax channel 0, mean over time, argmax; bilinear to the padded
  size, threshold, crop, nearest to the original size).

Internally everything is time-first, ``[T, B, ...]``, as in the authors' code. The rvosbench contract
is batch-first, so ``forward`` returns the transposes: ``pred_is_referred`` (B, T, N, 2) — the authors'
``pred_is_referred`` with T and B swapped — ``pred_masks`` (B, T, N, H/4, W/4), and ``pred_logits``
(B, T, N) = referred minus not-referred logit, whose sigmoid is MTTR's softmax score.

Module and parameter names are the authors' (``transformer.encoder.layers.0.self_attn.in_proj_weight``,
``spatial_decoder.lay1.weight`` ...); the two encoders are rvosbench's registered modules, which hold
the network one level down, under ``body``. A release state dict therefore converts by inserting that
level (``backbone.`` → ``backbone.body.``, ``transformer.text_encoder.`` → ``transformer.text_encoder.body.``)
and dropping the RoBERTa buffers that newer transformers no longer save.

Training differs from the authors' in the loss only: the shared Hungarian set criterion of rvosbench
(sigmoid focal on ``pred_logits``, focal + Dice on the matched masks, one referred object per clip)
instead of MTTR's matching of every annotated instance with a two-way softmax and a 0.1 no-object
weight (rvosbench's targets hold the referred object only), so every model in a study is trained by
the same loss. A frozen text encoder is also kept in eval mode (MTTR leaves its dropout on).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rvosbench.core.errors import ConfigError
from rvosbench.core.registry import BACKBONES, MODELS
from rvosbench.core.types import Prediction
from rvosbench.models.base import RVOSModel
from rvosbench.models.criterion import SetCriterion
from rvosbench.models.layers import MLP
from rvosbench.models.mttr.postprocessing import postprocess
from rvosbench.models.mttr.spatial_decoder import FPNSpatialDecoder
from rvosbench.models.mttr.transformer import MultimodalTransformer
from rvosbench.models.query_model import AttentionModelRules

#: The paper's backbone (configs/*.yaml: swin-t; models/backbone.py: drop_path_rate 0.1, stage 4 dropped).
VIDEO_SWIN_T = {"type": "video_swin", "size": "t", "num_stages": 3, "drop_path_rate": 0.1}
#: the authors' prefix → rvosbench's (the registered encoder modules hold their network under ``body``)
ENCODER_PREFIXES = {"backbone.": "backbone.body.", "transformer.text_encoder.": "transformer.text_encoder.body."}
#: RoBERTa-base buffers that transformers 4.x saved and current versions rebuild (non-persistent)
STALE_TEXT_BUFFERS = ("transformer.text_encoder.embeddings.position_ids",
                      "transformer.text_encoder.embeddings.token_type_ids")


@MODELS.register_module("mttr")
class MTTR(RVOSModel):
    """MTTR: video and text tokens in one multimodal transformer; instance sequences; dynamic mask kernels.

    Args (the authors' config names in brackets):
        backbone: ``BACKBONES`` config: ``{type: video_swin, size: t, num_stages: 3}`` (default, the
            paper's) or a per-frame one; at least two levels, the finest giving the mask resolution.
        text_encoder: ``TEXT_ENCODERS`` config: ``{type: roberta, pooler: false, tokenizer: FOLDER}``
            (default, RoBERTa-base whose weights come with the checkpoint) or ``{type: hf, path: minilm}``
            (tiny cards only).
        hidden_dim [d_model] 256, num_heads [nheads] 8, num_queries 50, enc_layers
            [num_encoder_layers] 3, dec_layers [num_decoder_layers] 3, ffn_dim [dim_feedforward] 2048,
            dropout 0.1, mask_dim [mask_kernels_dim] 8, aux_loss: losses on every decoder layer.
        loss: weights of the shared set criterion (:class:`rvosbench.models.criterion.LossConfig`).
    """

    config_rules = AttentionModelRules  # keys checked before any work (sizes, hidden_dim % num_heads)

    def __init__(self, backbone: dict | None = None, text_encoder: dict | None = None, hidden_dim: int = 256,
                 num_heads: int = 8, num_queries: int = 50, enc_layers: int = 3, dec_layers: int = 3,
                 ffn_dim: int = 2048, dropout: float = 0.1, mask_dim: int = 8, aux_loss: bool = True,
                 loss: dict | None = None):
        super().__init__()
        self.backbone = BACKBONES.build_from(dict(backbone or VIDEO_SWIN_T), where="model.backbone")
        channels = list(self.backbone.channels)
        if len(channels) < 2:
            raise ConfigError(f"the backbone gives {len(channels)} level(s); MTTR needs the transformer's level "
                              "and at least one finer level for the spatial decoder", where="model.backbone")
        self.transformer = MultimodalTransformer(hidden_dim, num_heads, enc_layers, dec_layers, ffn_dim, dropout,
                                                 text_encoder)
        self.is_referred_head = nn.Linear(hidden_dim, 2)
        self.instance_kernels_head = MLP(hidden_dim, hidden_dim, mask_dim, num_layers=2)
        self.obj_queries = nn.Embedding(num_queries, hidden_dim)
        self.vid_embed_proj = nn.Conv2d(channels[-1], hidden_dim, kernel_size=1)
        self.spatial_decoder = FPNSpatialDecoder(hidden_dim, channels[:-1][::-1], mask_dim)
        self.aux_loss = aux_loss
        try:
            self.criterion = SetCriterion(loss)
        except TypeError as error:
            raise ConfigError(f"bad loss weights: {error}", where="model.loss",
                              hint="known: cls, mask, dice, aux (MTTR predicts no boxes)") from error

    # -- checkpoints ---------------------------------------------------------------------------
    @classmethod
    def from_official_state_dict(cls, state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The authors' MTTR state dict (release file, unwrapped) in rvosbench's keys: the encoders' tensors
        one level down (``body``), the RoBERTa buffers older transformers saved left out (rebuilt, not learnt)."""
        converted = {}
        for key, value in state.items():
            if key in STALE_TEXT_BUFFERS:
                continue
            prefix = next((p for p in ENCODER_PREFIXES if key.startswith(p)), None)
            converted[key if prefix is None else ENCODER_PREFIXES[prefix] + key[len(prefix):]] = value
        return converted

    def rebuilt_prefixes(self) -> list[str]:
        """Frozen encoders whose weights are restored at build time (checkpoints may leave them out)."""
        prefixes = []
        if getattr(self.backbone, "frozen", False) and getattr(self.backbone, "pretrained", None):
            prefixes.append("backbone.")
        text = self.transformer.text_encoder
        if text.frozen and getattr(text, "pretrained", True):  # RoBERTa from its config: weights in the checkpoint
            prefixes.append("transformer.text_encoder.")
        return prefixes

    def param_group(self, name: str) -> str:
        """As :meth:`RVOSModel.param_group`, with the text encoder where MTTR keeps it (in ``transformer``)."""
        return "text_encoder" if name.startswith("transformer.text_encoder.") else super().param_group(name)

    def idle_parameters(self) -> list[str]:
        """Trainable parameters that a freshly built MTTR gives no gradient, by the authors' design.

        The decoder's queries start as zeros, so the first decoder layer's self-attention attends among
        N identical zero vectors: its input projections never matter (the values are all its bias, the
        same for every query, and the weights multiply zeros), and while that bias is still zero, as
        built, so are the attention output and the first norm's input. DETR, which MTTR follows, has the
        same property. ``tests/models/test_contract.py`` checks that exactly these get no gradient.
        """
        first = "transformer.decoder.layers.0."
        return [first + "self_attn.in_proj_weight", first + "self_attn.out_proj.weight", first + "norm1.weight"]

    # -- forward -------------------------------------------------------------------------------
    def video_features(self, frames: torch.Tensor) -> list[torch.Tensor]:
        """(B, T, 3, H, W) → the backbone's levels, each time-first (T, B, C, h, w), finest first.

        A video backbone (``video = True``, Video Swin) takes whole clips, an image backbone frames; both
        return (B·T, C, h, w) maps."""
        B, T = frames.shape[:2]
        levels = self.backbone(frames if getattr(self.backbone, "video", False) else frames.flatten(0, 1))
        return [level.unflatten(0, (B, T)).transpose(0, 1) for level in levels]

    def forward(self, batch: dict[str, Any]) -> dict[str, Any]:
        """``batch``: ``frames`` (B, T, 3, H, W), ``text`` [str], optional ``pad_mask`` (B, T, H, W), True on
        padding, for clips zero-padded to a common size (the engine's batches need none)."""
        frames = batch["frames"]
        if frames.ndim != 5 or frames.shape[2] != 3:
            raise ValueError(f"frames must be (B, T, 3, H, W), got {tuple(frames.shape)}")
        B, T = frames.shape[:2]
        levels = self.video_features(frames)
        coarsest = levels[-1]
        h, w = coarsest.shape[-2:]
        vid_embeds = self.vid_embed_proj(coarsest.flatten(0, 1)).unflatten(0, (T, B))
        pad = batch.get("pad_mask")
        if pad is None:
            vid_pad = torch.zeros(T, B, h, w, dtype=torch.bool, device=frames.device)
        else:  # nearest-resized to the token grid, as the authors' backbone does
            vid_pad = F.interpolate(pad.transpose(0, 1).float(), size=(h, w)).bool()
        hs, vid_memory = self.transformer(vid_embeds, vid_pad, batch["text"], self.obj_queries.weight)
        finer = [level.flatten(0, 1) for level in levels[-2::-1]]
        decoded = self.spatial_decoder(vid_memory.flatten(0, 1), finer).unflatten(0, (T, B))  # (T, B, D, H4, W4)
        kernels = self.instance_kernels_head(hs)  # (L, T, B, N, D)
        masks = torch.einsum("ltbnd,tbdhw->ltbnhw", kernels, decoded)
        is_referred = self.is_referred_head(hs)  # (L, T, B, N, 2)
        layers = [{"pred_is_referred": ref.transpose(0, 1), "pred_masks": m.transpose(0, 1),
                   "pred_logits": (ref[..., 0] - ref[..., 1]).transpose(0, 1)}
                  for ref, m in zip(is_referred, masks)]
        final = layers[-1]
        final["aux_outputs"] = layers[:-1] if self.aux_loss and self.training else []
        return final

    # -- training and inference ----------------------------------------------------------------
    def loss(self, outputs: dict[str, Any], targets: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self.criterion(outputs, targets)[0]

    @torch.no_grad()
    def predict(self, frames: torch.Tensor, text: str, orig_size: tuple[int, int],
                query_masks: bool = True) -> Prediction:
        """One video (T, 3, H, W), unpadded, and its expression → MTTR's masks at ``orig_size``."""
        out = self.eval_forward(frames, text)
        size = tuple(frames.shape[-2:])
        return postprocess(out["pred_is_referred"][0], out["pred_masks"][0], size, size, tuple(orig_size), query_masks)
