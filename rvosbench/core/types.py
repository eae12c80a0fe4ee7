"""Shared vocabulary of every part: a benchmark :class:`Sample` and a model :class:`Prediction`.

They live in core so that data, models and metrics (which must not import each other) agree on them.
Frames and masks are not held in memory: a sample keeps paths (or a loader callable) and decodes on
demand with PIL/OpenCV (``torchvision.io`` cannot decode next to the CPU torch; see core.compat).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Sample:
    """One (video, expression) pair of a benchmark split.

    Attributes:
        benchmark: registered benchmark name (``synth``, ``ref_youtube_vos`` …).
        split: split name.
        video_id: the dataset's video id.
        exp_id: the expression id, unique within the video (dataset's own id as a string).
        text: the normalised expression (lower-case, whitespace collapsed), as the rivals feed it.
        obj_ids: referred object id(s); several for MeViS-style expressions, empty when unknown.
        frame_names: ordered frame names (file stems as the dataset names them).
        annotated: per frame, whether ground truth exists for it (A2D/JHMDB annotate a few frames;
            server-only splits none). Metrics only score annotated frames.
        orig_size: (H, W) of the original frames.
        meta: category, expression ``tags`` (e.g. ``motion``), annotator, … (JSON-serialisable).
        load_frames_fn: ``(indices) -> uint8 array (len(indices), H, W, 3)``.
        load_masks_fn: ``(indices) -> bool array (len(indices), H, W)`` (union over ``obj_ids``);
            ``None`` when the split has no ground truth.
    """

    benchmark: str
    split: str
    video_id: str
    exp_id: str
    text: str
    obj_ids: list[int]
    frame_names: list[str]
    annotated: list[bool]
    orig_size: tuple[int, int]
    meta: dict[str, Any] = field(default_factory=dict)
    load_frames_fn: Callable[[Sequence[int]], np.ndarray] | None = field(default=None, repr=False)
    load_masks_fn: Callable[[Sequence[int]], np.ndarray] | None = field(default=None, repr=False)

    @property
    def uid(self) -> str:
        """Identifier used in per-sample records: ``<video_id>/<exp_id>``."""
        return f"{self.video_id}/{self.exp_id}"

    @property
    def num_frames(self) -> int:
        return len(self.frame_names)

    def frames(self, indices: Sequence[int] | None = None) -> np.ndarray:
        """Decode frames (all when ``indices`` is None) as uint8 (T, H, W, 3)."""
        if self.load_frames_fn is None:
            raise RuntimeError(f"{self.uid}: this sample has no frame loader")
        return self.load_frames_fn(range(self.num_frames) if indices is None else indices)

    def masks(self, indices: Sequence[int] | None = None) -> np.ndarray | None:
        """Decode ground-truth masks as bool (T, H, W); None when the split has none."""
        if self.load_masks_fn is None:
            return None
        return self.load_masks_fn(range(self.num_frames) if indices is None else indices)

    def record_fields(self) -> dict[str, Any]:
        """The identifying fields every per-sample record starts with."""
        return {
            "video_id": self.video_id,
            "exp_id": self.exp_id,
            "text": self.text,
            "num_frames": self.num_frames,
            "tags": list(self.meta.get("tags", [])),
            "category": self.meta.get("category"),
            "type": self.meta.get("type"),  # the expression type where the benchmark has them (synth)
        }


@dataclass
class Prediction:
    """Per-frame output for one expression.

    Attributes:
        masks: bool (T, H, W): the selected object's mask per frame (threshold 0.5 on ``probs``).
        probs: float32 (T, H, W) or None: the selected object's mask probability; Ref-DAVIS merges
            objects by argmax over these.
        scores: float (T,) or None: the selected query's referring score per frame.
        query_masks: bool (Q, T, H, W) or None: every query's mask (the A2D/JHMDB mAP convention
            scores all of them with their scores).
        query_scores: float (Q, T) or None: every query's referring score per frame.
    """

    masks: np.ndarray
    probs: np.ndarray | None = None
    scores: np.ndarray | None = None
    query_masks: np.ndarray | None = None
    query_scores: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.masks.ndim != 3:
            raise ValueError(f"Prediction.masks must be (T, H, W), got shape {self.masks.shape}")
        self.masks = self.masks.astype(bool, copy=False)
