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

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from rvosbench.core.errors import ConfigError
from rvosbench.core.registry import BACKBONES
from rvosbench.core.types import Prediction
from rvosbench.models.base import RVOSModel
from rvosbench.models.criterion import SetCriterion
from rvosbench.models.text_encoders import TextFeatures, build_text_encoder

DEFAULT_BACKBONE = {"type": "timm", "name": "tf_efficientnet_lite0", "out_indices": [1, 2, 3, 4],
                    "pretrained": "package", "frozen": True}


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
    """

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
