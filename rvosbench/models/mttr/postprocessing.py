"""MTTR's inference post-processing (the authors' ``models/postprocessing.py``), for one video.

* Referring score of a query in a frame: softmax over its two is-referred logits, channel 0.
* The answer is one instance sequence for the whole video: the query with the highest score averaged
  over the frames (``ReferYoutubeVOSPostProcess``).
* Masks: logits upsampled bilinearly (align_corners False) to the padded input size, sigmoid > 0.5,
  the padding cropped, then nearest-neighbour resized to the original frame size. Every query's masks
  go through the same steps for A2D/JHMDB mAP (``A2DSentencesPostProcess``), each with its per-frame score.

``probs`` are the sigmoid probabilities taken through the same crop and nearest resize, so that
``probs > 0.5`` is exactly MTTR's binary mask (thresholding commutes with nearest resizing).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from rvosbench.core.types import Prediction


def referring_scores(is_referred: torch.Tensor) -> torch.Tensor:
    """(..., 2) is-referred logits → (...) probability of "referred"."""
    return is_referred.softmax(-1)[..., 0]


def mask_probs(logits: torch.Tensor, padded_size: tuple[int, int], resized_size: tuple[int, int],
               orig_size: tuple[int, int]) -> torch.Tensor:
    """(T, h, w) mask logits of one query → (T, H, W) probabilities at ``orig_size``."""
    probs = F.interpolate(logits[:, None].float(), size=tuple(padded_size), mode="bilinear", align_corners=False).sigmoid()
    probs = probs[..., : resized_size[0], : resized_size[1]]
    return F.interpolate(probs, size=tuple(orig_size), mode="nearest")[:, 0]


def postprocess(is_referred: torch.Tensor, masks: torch.Tensor, padded_size: tuple[int, int],
                resized_size: tuple[int, int], orig_size: tuple[int, int], query_masks: bool = True) -> Prediction:
    """One video's outputs, is_referred (T, N, 2) and mask logits (T, N, h, w) → :class:`Prediction`."""
    scores = referring_scores(is_referred.float())  # (T, N)
    best = int(scores.mean(0).argmax())
    probs = mask_probs(masks[:, best], padded_size, resized_size, orig_size)
    per_query = None
    if query_masks:
        per_query = np.stack([(mask_probs(masks[:, n], padded_size, resized_size, orig_size) > 0.5).cpu().numpy()
                              for n in range(masks.shape[1])])
    return Prediction(masks=(probs > 0.5).cpu().numpy(), probs=probs.cpu().numpy(),
                      scores=scores[:, best].cpu().numpy(), query_masks=per_query,
                      query_scores=scores.T.cpu().numpy())
