"""What every query-based RVOS model here shares: encoders, set loss and the inference protocol.

ProxyFormer, ReferFormer and MTTR differ only in how video, text and queries interact. Everything else
is written once in :class:`QueryRVOSModel` so that comparisons between them are like for like:

* the visual backbone and text encoder come from the registries (same configs for every model);
* ``loss`` is the Hungarian set criterion (:mod:`rvosbench.models.criterion`);
* ``predict`` follows ReferFormer's inference (paper.md §5): the query slot with the highest referring
  score averaged over frames is the answer in every frame, its mask upsampled to the original size and
  thresholded at 0.5; all slots' masks and scores are returned for A2D-style mAP.
"""
from __future__ import annotations

from typing import Annotated, Any

import numpy as np
import torch
import torch.nn.functional as F

from pydantic import Field, NonNegativeInt, PositiveInt, model_validator

from rvosbench.core.errors import ConfigError
from rvosbench.core.registry import BACKBONES, TEXT_ENCODERS
from rvosbench.core.schema import BuiltBy, ModelConfig, RuleViolation, Section, derive_schema
from rvosbench.core.types import Prediction
from rvosbench.models.base import RVOSModel
from rvosbench.models.criterion import LossConfig, SetCriterion
from rvosbench.models.text_encoders import TextFeatures, build_text_encoder

DEFAULT_BACKBONE = {"type": "timm", "name": "tf_efficientnet_lite0", "out_indices": [1, 2, 3, 4],
                    "pretrained": "package", "frozen": True}


class LossRules(Section):
    """Loss weights are numbers >= 0 (a negative weight would reward the error it measures)."""

    @model_validator(mode="after")
    def _non_negative(self) -> LossRules:
        for name, value in self:
            if isinstance(value, (int, float)) and value < 0:
                raise RuleViolation(f"loss weight {name} is {value}; weights must be >= 0 (0 turns a term off)",
                                    [name])
        return self


#: ``model.loss`` of the query models: :class:`~rvosbench.models.criterion.LossConfig`'s weights
LossWeights = derive_schema(LossConfig, LossRules, name="LossWeights")


class AttentionModelRules(ModelConfig):
    """Checks of a transformer model's keys at plan time: sizes are positive and every attention head gets
    a whole share of the width (``nn.MultiheadAttention`` asserts it, which would otherwise stop a run
    after other cells had trained). Keys the constructor lacks are ignored."""

    field_types = {
        "hidden_dim": PositiveInt, "num_heads": PositiveInt, "num_queries": PositiveInt, "mask_dim": PositiveInt,
        "fine_dim": PositiveInt | None, "enc_layers": NonNegativeInt, "dec_layers": PositiveInt,
        "ffn_dim": NonNegativeInt, "points": PositiveInt, "encoded_levels": PositiveInt,
        "dynamic_layers": PositiveInt, "dynamic_channels": PositiveInt,
        "dropout": Annotated[float, Field(ge=0.0, lt=1.0)], "loss": LossWeights | None,
    }

    @model_validator(mode="after")
    def _heads_divide_width(self) -> AttentionModelRules:
        width, heads = getattr(self, "hidden_dim", None), getattr(self, "num_heads", None)
        if isinstance(width, int) and isinstance(heads, int) and heads > 0 and width % heads:
            fitting = [h for h in range(1, width + 1) if width % h == 0 and abs(h - heads) <= max(heads, 2)]
            raise RuleViolation(f"hidden_dim {width} is not divisible by num_heads {heads} (each attention head "
                                f"takes hidden_dim / num_heads channels); num_heads could be "
                                f"{' or '.join(map(str, fitting[-3:]))}", ["num_heads", "hidden_dim"])
        return self


class QueryModelRules(AttentionModelRules):
    """:class:`AttentionModelRules`, and the encoders' configs checked against their registries' classes."""

    field_types = {
        "backbone": Annotated[dict[str, Any] | None, BuiltBy(BACKBONES)],
        "text_encoder": Annotated[dict[str, Any] | None, BuiltBy(TEXT_ENCODERS)],
    }


class QueryRVOSModel(RVOSModel):
    """Base of query-based models: ``backbone``, ``text_encoder``, set criterion, predict protocol.

    Subclasses implement ``forward``. The backbone's first output is the fine map the mask decoder
    ends on (stride 4 as in ReferFormer, or stride 2 for small inputs); the remaining outputs are the
    multi-scale features the model encodes.

    Args:
        backbone: ``BACKBONES`` config (default: frozen EfficientNet-Lite0 with packaged weights).
        text_encoder: ``TEXT_ENCODERS`` config (default: frozen packaged MiniLM).
        loss: loss weights (see :class:`rvosbench.models.criterion.LossConfig`); subclasses may take
            more keys out of it first.

    Config keys are checked before any work by :class:`QueryModelRules` (``config_rules``).
    """

    config_rules = QueryModelRules

    def __init__(self, backbone: dict | None = None, text_encoder: dict | None = None,
                 loss: dict | None = None):
        super().__init__()
        self.backbone = BACKBONES.build_from(dict(backbone or DEFAULT_BACKBONE), where="model.backbone")
        strides = self.backbone.strides
        if len(strides) < 2 or strides[0] not in (2, 4) or strides[1] <= strides[0]:
            raise ConfigError(f"backbone output strides {strides}: the first must be the stride-2 or stride-4 map "
                              "(mask features), followed by coarser levels", where="model.backbone.out_indices",
                              hint="e.g. out_indices [1, 2, 3, 4] for EfficientNet/ResNet (strides 4, 8, 16, 32)")
        self.text_encoder = build_text_encoder(text_encoder)
        try:
            self.criterion = SetCriterion(loss)
        except TypeError as error:
            raise ConfigError(f"bad loss weights: {error}", where="model.loss",
                              hint="known: cls, bbox, giou, mask, dice, aux (+ model-specific keys)") from error

    # -- encoders ------------------------------------------------------------------------------
    def rebuilt_prefixes(self) -> list[str]:
        """Frozen encoders whose weights are restored at build time (checkpoints leave them out)."""
        prefixes = []
        if self.backbone.frozen and self.backbone.pretrained:
            prefixes.append("backbone.")
        if self.text_encoder.frozen:
            prefixes.append("text_encoder.")
        return prefixes

    def encode_video(self, frames: torch.Tensor) -> list[torch.Tensor]:
        """(B, T, 3, H, W) → backbone maps, each (B·T, C_l, h_l, w_l), the fine (stride 2 or 4) map first."""
        if frames.ndim != 5 or frames.shape[2] != 3:
            raise ValueError(f"frames must be (B, T, 3, H, W), got {tuple(frames.shape)}")
        return self.backbone(frames.flatten(0, 1))

    def encode_text(self, text: list[str]) -> TextFeatures:
        return self.text_encoder(list(text))

    # -- training ------------------------------------------------------------------------------
    def loss(self, outputs: dict[str, Any], targets: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self.criterion(outputs, targets)[0]

    # -- inference -----------------------------------------------------------------------------
    @torch.no_grad()
    def predict(self, frames: torch.Tensor, text: str, orig_size: tuple[int, int],
                query_masks: bool = True) -> Prediction:
        """One video (T, 3, H, W) and its expression → masks at ``orig_size``.

        ``query_masks=False`` skips the per-slot masks (only A2D/JHMDB mAP needs them; they cost
        N·T·H·W booleans at the original size).
        """
        out = self.eval_forward(frames, text)
        scores = out["pred_logits"][0].sigmoid()  # (T, N)
        best = int(scores.mean(0).argmax())
        masks = out["pred_masks"][0]  # (T, N, h, w)

        def at_orig_size(slot: int) -> torch.Tensor:
            up = F.interpolate(masks[:, slot: slot + 1], size=tuple(orig_size), mode="bilinear", align_corners=False)
            return up[:, 0].sigmoid()

        probs = at_orig_size(best)
        per_query = None
        if query_masks:
            per_query = np.stack([(at_orig_size(n) > 0.5).cpu().numpy() for n in range(masks.shape[1])])
        return Prediction(
            masks=(probs > 0.5).cpu().numpy(),
            probs=probs.float().cpu().numpy(),
            scores=scores[:, best].float().cpu().numpy(),
            query_masks=per_query,
            query_scores=scores.T.float().cpu().numpy(),
        )
