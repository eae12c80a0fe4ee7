"""Hungarian matching of query tracks to the referred object, and the set losses (ReferFormer recipe).

paper.md §6.1 (inferred from ReferFormer, which ProxyFormer's code base is): the N query slots, each a
track over the T frames, are matched to the referred object's track by the cost
``2·focal_cls + 5·L1_box + 2·GIoU + 2·mask_focal + 5·dice`` (each term averaged over the frames where
the object is visible), with ``scipy.optimize.linear_sum_assignment``. The matched slot then gets
sigmoid focal classification (every other slot and every invisible frame is "not referred"), L1 + GIoU
box losses and focal + Dice mask losses on the visible frames. Predicted masks are upsampled to the
target size before the mask terms (ReferFormer does the same).

Models without boxes (MTTR) simply omit ``pred_boxes``; the box terms are then left out. Models that
output per-token localisation logits ``pred_locations`` (ProxyFormer with ``token_centres``) get one more
term for the matched slot, ``loss_loc`` (:func:`location_loss`); it is not part of the matching cost.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from torchvision.ops import box_convert, generalized_box_iou_loss, sigmoid_focal_loss

DEFAULT_WEIGHTS = {"cls": 2.0, "bbox": 5.0, "giou": 2.0, "mask": 2.0, "dice": 5.0, "aux": 1.0, "loc": 2.0}
FOCAL_ALPHA, FOCAL_GAMMA = 0.25, 2.0
PREDICTIONS = ("pred_logits", "pred_masks", "pred_boxes", "pred_locations")  # the output keys the losses read


@dataclass
class LossConfig:
    """Loss weights (``model.loss`` in a card); ``aux`` scales every auxiliary stage's losses, ``loc`` the
    token-localisation cross-entropy of models that output ``pred_locations``."""

    cls: float = DEFAULT_WEIGHTS["cls"]
    bbox: float = DEFAULT_WEIGHTS["bbox"]
    giou: float = DEFAULT_WEIGHTS["giou"]
    mask: float = DEFAULT_WEIGHTS["mask"]
    dice: float = DEFAULT_WEIGHTS["dice"]
    aux: float = DEFAULT_WEIGHTS["aux"]
    loc: float = DEFAULT_WEIGHTS["loc"]


def dice_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Dice loss per mask: logits and targets (..., P) → (...)."""
    probs = logits.sigmoid()
    numerator = 2 * (probs * targets).sum(-1)
    return 1 - (numerator + 1) / (probs.sum(-1) + targets.sum(-1) + 1)


def focal_pixels(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Sigmoid focal loss averaged over pixels: (..., P) → (...)."""
    return sigmoid_focal_loss(logits, targets, alpha=FOCAL_ALPHA, gamma=FOCAL_GAMMA, reduction="none").mean(-1)


def focal_class_cost(logits: torch.Tensor) -> torch.Tensor:
    """Cost of calling each logit "referred" (DETR's focal matching cost)."""
    prob = logits.sigmoid()
    neg = (1 - FOCAL_ALPHA) * prob ** FOCAL_GAMMA * -(1 - prob + 1e-8).log()
    pos = FOCAL_ALPHA * (1 - prob) ** FOCAL_GAMMA * -(prob + 1e-8).log()
    return pos - neg


def location_loss(logits: torch.Tensor, masks: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of per-frame token logits against the referred mask pooled to their grid, summed
    over the frames where the object is visible: logits (B, T, h, w), masks (B, T, H, W), valid (B, T).

    The target distribution is the fraction of each token's pixels the object covers, normalised to 1,
    so the softmax is pulled onto the object's tokens in proportion to its area in them.
    """
    B, T, h, w = logits.shape
    target = F.adaptive_avg_pool2d(masks.float().flatten(0, 1).unsqueeze(1), (h, w)).reshape(B, T, h * w)
    covered = valid & (target.sum(-1) > 0)  # a sliver below one token's pooling may vanish
    target = target / target.sum(-1, keepdim=True).clamp(min=1e-6)
    cross_entropy = -(target * logits.flatten(2).log_softmax(-1)).sum(-1)
    return (cross_entropy * covered).sum()


def upsample_masks(pred_masks: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, T, N, h, w) logits → (B, T, N, H, W)."""
    B, T, N, h, w = pred_masks.shape
    if (h, w) == tuple(size):
        return pred_masks
    up = F.interpolate(pred_masks.flatten(0, 1), size=size, mode="bilinear", align_corners=False)
    return up.reshape(B, T, N, *size)


class SetCriterion:
    """Matches query tracks to the target track of each clip and computes the weighted set losses."""

    def __init__(self, weights: Mapping[str, float] | None = None):
        self.weights = LossConfig(**dict(weights or {}))

    @torch.no_grad()
    def match(self, outputs: Mapping[str, torch.Tensor], targets: Mapping[str, torch.Tensor],
              masks: torch.Tensor) -> torch.Tensor:
        """Index (B,) of the query slot matched to each clip's referred object."""
        w = self.weights
        valid = targets["valid"].float()  # (B, T)
        frames = valid.sum(1).clamp(min=1)  # (B,)
        per_frame = w.cls * focal_class_cost(outputs["pred_logits"])  # (B, T, N)
        target_masks = targets["masks"].flatten(2).float().unsqueeze(2)  # (B, T, 1, P)
        pred = masks.flatten(3)
        per_frame = per_frame + w.mask * focal_pixels(pred, target_masks.expand_as(pred))
        per_frame = per_frame + w.dice * dice_loss(pred, target_masks)
        if "pred_boxes" in outputs:
            boxes, target_boxes = outputs["pred_boxes"], targets["boxes"].unsqueeze(2)
            per_frame = per_frame + w.bbox * (boxes - target_boxes).abs().sum(-1)
            giou_loss = generalized_box_iou_loss(box_convert(boxes, "cxcywh", "xyxy"),
                                                 box_convert(target_boxes.expand_as(boxes), "cxcywh", "xyxy"))
            per_frame = per_frame + w.giou * giou_loss  # 1 - GIoU: the same argmin as DETR's -GIoU cost
        cost = (per_frame * valid.unsqueeze(-1)).sum(1) / frames.unsqueeze(-1)  # (B, N)
        slots = [linear_sum_assignment(c[:, None].cpu().numpy())[0][0] for c in cost]
        return torch.as_tensor(slots, device=cost.device, dtype=torch.long)

    def single(self, outputs: Mapping[str, torch.Tensor], targets: Mapping[str, torch.Tensor]
               ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Weighted losses of one output set (final or auxiliary), and its matched slot per clip.

        The predictions are taken in fp32 whatever the autocast dtype of the forward pass: under bf16
        (``train.precision: bf16``) the label index-put needs one dtype, and sums of focal and Dice terms
        over every pixel lose too much in bf16's 8-bit mantissa.
        """
        outputs = {k: outputs[k].float() for k in PREDICTIONS if k in outputs}
        w = self.weights
        size = tuple(targets["masks"].shape[-2:])
        masks = upsample_masks(outputs["pred_masks"], size)
        slots = self.match(outputs, targets, masks)
        B, T, N = outputs["pred_logits"].shape
        valid = targets["valid"]
        num_frames = valid.sum().clamp(min=1).float()
        batch = torch.arange(B, device=slots.device)

        labels = torch.zeros_like(outputs["pred_logits"])
        labels[batch, :, slots] = valid.float()
        cls = sigmoid_focal_loss(outputs["pred_logits"], labels, FOCAL_ALPHA, FOCAL_GAMMA, reduction="sum")
        losses = {"loss_cls": w.cls * cls / num_frames}

        matched = masks[batch, :, slots][valid].flatten(1)  # (visible frames, P)
        target = targets["masks"][valid].flatten(1).float()
        losses["loss_mask"] = w.mask * focal_pixels(matched, target).sum() / num_frames
        losses["loss_dice"] = w.dice * dice_loss(matched, target).sum() / num_frames
        if "pred_boxes" in outputs:
            boxes = outputs["pred_boxes"][batch, :, slots][valid]
            target_boxes = targets["boxes"][valid]
            losses["loss_bbox"] = w.bbox * F.l1_loss(boxes, target_boxes, reduction="sum") / num_frames
            losses["loss_giou"] = w.giou * generalized_box_iou_loss(
                box_convert(boxes, "cxcywh", "xyxy"), box_convert(target_boxes, "cxcywh", "xyxy"),
                reduction="sum") / num_frames
        if "pred_locations" in outputs and w.loc > 0:
            located = outputs["pred_locations"][batch, :, slots]  # (B, T, h, w)
            losses["loss_loc"] = w.loc * location_loss(located, targets["masks"], valid) / num_frames
        return losses, slots

    def __call__(self, outputs: Mapping, targets: Mapping[str, torch.Tensor]
                 ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Final-output losses, plus ``loss_aux`` (every auxiliary output's losses, summed and weighted).

        Returns the losses and the final output's matched slot per clip (ProxyFormer's JSC uses it).
        """
        losses, slots = self.single(outputs, targets)
        aux = outputs.get("aux_outputs") or []
        if aux and self.weights.aux > 0:
            total = sum(sum(self.single(a, targets)[0].values()) for a in aux)
            losses["loss_aux"] = self.weights.aux * total
        return losses, slots
