"""Training clips and whole-video windows: what the engine feeds the models.

Training follows ReferFormer's Ref-YouTube-VOS sampler (read for facts only): an epoch visits every
expression once per ``num_frames`` frames of its video (anchors 0, T, 2T, …). Around each anchor it takes
one frame before and one after at a random distance of 1..``max_skip`` (local frames), then fills the
clip with random frames from the rest of the video (global frames), sorted in time. Short videos repeat
frames. A clip in which the referred object is absent from every frame is redrawn from a random item,
as ReferFormer does, so every clip teaches something.

Randomness is drawn from ``(seed, epoch, index)``, so a clip is reproducible in any worker process.
"""
from __future__ import annotations

import typing

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from rvosbench.core.errors import DataError
from rvosbench.core.schema import EvalSettings
from rvosbench.core.types import Sample
from rvosbench.data.base import Benchmark
from rvosbench.data.transforms import EvalTransform, TrainTransform, masks_to_boxes


def sample_frame_indices(length: int, num_frames: int, anchor: int, rng: np.random.Generator,
                         max_skip: int = 3) -> list[int]:
    """Sorted frame indices of one clip: the anchor, two local neighbours, then global frames."""
    if num_frames == 1:
        return [anchor]
    before = anchor - int(rng.integers(1, max_skip + 1))
    after = anchor + int(rng.integers(1, max_skip + 1))
    local = [max(0, before), min(length - 1, after)]
    chosen = [anchor, *local][:num_frames]
    missing = num_frames - len(chosen)
    if missing > 0:
        outside = [i for i in range(length) if i < min(local) or i > max(local)]
        if len(outside) >= missing:
            chosen += rng.choice(outside, size=missing, replace=False).tolist()
        elif length >= missing:
            chosen += rng.choice(length, size=missing, replace=False).tolist()
        else:
            chosen += list(range(length)) + rng.choice(length, size=missing - length).tolist()
    return sorted(int(i) for i in chosen)


class TrainClips(Dataset):
    """Clips of ``num_frames`` frames with aligned masks, boxes and the (possibly flipped) expression.

    Items are ``{'frames': float (T, 3, H, W), 'masks': bool (T, H, W), 'valid': bool (T,),
    'boxes': float (T, 4) cxcywh in [0, 1], 'text': str, 'uid': str}``.
    """

    def __init__(self, benchmark: Benchmark | Sequence[Sample], num_frames: int, transform: TrainTransform,
                 max_skip: int = 3, seed: int = 0, redraws: int = 10):
        samples = list(benchmark.samples()) if isinstance(benchmark, Benchmark) else list(benchmark)
        samples = [s for s in samples if s.load_masks_fn is not None]
        if not samples:
            name = getattr(benchmark, "name", "the given samples")
            raise DataError(f"{name}: no samples with ground-truth masks to train on",
                            where=getattr(benchmark, "split", None), hint="train on a split that has masks")
        if num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {num_frames}")
        self.samples = samples
        self.num_frames = num_frames
        self.transform = transform
        self.max_skip = max_skip
        self.seed = seed
        self.redraws = redraws
        self.epoch = 0
        self.items = [(k, anchor) for k, s in enumerate(samples) for anchor in range(0, s.num_frames, num_frames)]

    def set_epoch(self, epoch: int) -> None:
        """Change the random draws (call once per epoch, as with a DistributedSampler)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, Any]:
        rng = np.random.default_rng([self.seed, self.epoch, index])
        item = index
        for _ in range(self.redraws + 1):
            sample_index, anchor = self.items[item]
            sample = self.samples[sample_index]
            frames_at = sample_frame_indices(sample.num_frames, self.num_frames, anchor, rng, self.max_skip)
            frames, masks, text = self.transform(sample.frames(frames_at), sample.masks(frames_at), sample.text, rng)
            boxes, valid = masks_to_boxes(masks)
            if valid.any():
                break
            item = int(rng.integers(len(self.items)))
        return {"frames": frames, "masks": masks, "valid": valid, "boxes": boxes, "text": text, "uid": sample.uid}


def collate(items: Sequence[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Stack clips into ``(batch, targets)``; clips of different sizes are zero-padded bottom/right.

    ``batch = {'frames': (B, T, 3, H, W), 'text': [str], 'uid': [str], 'padding': bool (B, H, W)}``
    (``padding`` is True on padded pixels); ``targets = {'masks': bool (B, T, H, W), 'valid': bool (B, T),
    'boxes': float (B, T, 4)}``. Boxes stay normalised by each clip's unpadded size.
    """
    height = max(item["frames"].shape[-2] for item in items)
    width = max(item["frames"].shape[-1] for item in items)
    frames, masks, padding = [], [], []
    for item in items:
        h, w = item["frames"].shape[-2:]
        pad = (0, width - w, 0, height - h)
        frames.append(F.pad(item["frames"], pad))
        masks.append(F.pad(item["masks"], pad))
        region = torch.ones(height, width, dtype=torch.bool)
        region[:h, :w] = False
        padding.append(region)
    batch = {"frames": torch.stack(frames), "text": [item["text"] for item in items],
             "uid": [item["uid"] for item in items], "padding": torch.stack(padding)}
    targets = {"masks": torch.stack(masks), "valid": torch.stack([item["valid"] for item in items]),
               "boxes": torch.stack([item["boxes"] for item in items])}
    return batch, targets


@dataclass
class VideoWindow:
    """Frames of one video, transformed for a model: ``frames`` float (t, 3, h, w) of video frames ``indices``.

    ``target``: the position in the window of the one frame the window is predicted for (centred
    windows), or None when every frame's prediction is kept.
    """

    indices: list[int]
    frames: torch.Tensor
    target: int | None = None


#: how evaluation cuts a video into model inputs (``eval.clips``): :func:`video_windows` or :func:`centred_windows`
EVAL_CLIPS: tuple[str, ...] = typing.get_args(EvalSettings.model_fields["clips"].annotation)  # the schema's values


def video_windows(sample: Sample, transform: EvalTransform, window: int | None = None) -> Iterator[VideoWindow]:
    """Yield the whole video as consecutive windows of at most ``window`` frames (None or 0: one window).

    Frames are decoded window by window, so memory stays bounded on long videos; the engine predicts each
    window and concatenates the per-frame masks. (ReferFormer's ``inference_ytvos.py`` and MTTR's Ref-YouTube-VOS
    evaluation feed each video whole, ``window=None``; ReferFormer's ``inference_davis.py`` cuts windows of 36.)
    """
    size = window if window and window > 0 else sample.num_frames
    for start in range(0, sample.num_frames, size):
        indices = list(range(start, min(start + size, sample.num_frames)))
        yield VideoWindow(indices, transform(sample.frames(indices)))


def centred_indices(frame: int, length: int, window: int) -> list[int]:
    """Video frames of the window centred on ``frame``: ``frame - window // 2`` up to ``frame + (window + 1) // 2``
    (exclusive), indices before the first or after the last frame replaced by that frame."""
    return [min(max(i, 0), length - 1) for i in range(frame - window // 2, frame + (window + 1) // 2)]


def centred_windows(sample: Sample, transform: EvalTransform, window: int) -> Iterator[VideoWindow]:
    """One window of ``window`` frames per annotated frame, centred on it (``target = window // 2``).

    MTTR's A2D-Sentences and JHMDB-Sentences evaluation (read for facts only: ``datasets/a2d_sentences/
    a2d_sentences_dataset.py`` and ``datasets/jhmdb_sentences/jhmdb_sentences_dataset.py``, ``-ws 10``):
    each annotated frame is predicted from the frames around it, the frame itself at position
    ``window // 2``, missing neighbours at the video's ends repeated from its first or last frame.
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    for frame, annotated in enumerate(sample.annotated):
        if annotated:
            indices = centred_indices(frame, sample.num_frames, window)
            yield VideoWindow(indices, transform(sample.frames(indices)), target=window // 2)
