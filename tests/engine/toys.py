"""Small stand-ins shared by the engine tests: a toy model, dataset and evaluator.

They implement the contracts of docs/architecture.md with a few parameters, so the engine's loops can
be tested in milliseconds without the real models, benchmarks or protocols.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from rvosbench.core.types import Prediction, Sample
from tests.engine.toy_plugin import ToyModel  # noqa: F401  (shared with the plug-in runs)


def toy_video(seed: int, frames: int = 4, size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Frames with a red square (the object) on a noisy grey background, and its masks."""
    rng = np.random.default_rng(seed)
    video = rng.integers(90, 130, size=(frames, size, size, 3)).astype(np.uint8)
    masks = np.zeros((frames, size, size), dtype=bool)
    for t in range(frames):
        y, x = rng.integers(0, size - 6, size=2)
        video[t, y:y + 6, x:x + 6] = (220, 30, 30)
        masks[t, y:y + 6, x:x + 6] = True
    return video, masks


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255.0


class ToyClips(Dataset):
    """Training clips of toy videos; draws a random horizontal flip (to exercise item seeding)."""

    def __init__(self, count: int = 8):
        self.videos = [toy_video(i) for i in range(count)]

    def __len__(self) -> int:
        return len(self.videos)

    def __getitem__(self, index: int) -> dict[str, Any]:
        frames, masks = self.videos[index]
        frames, masks = to_tensor(frames), torch.from_numpy(masks)
        if torch.rand(()) < 0.5:
            frames, masks = frames.flip(-1), masks.flip(-1)
        return {"frames": frames, "masks": masks, "text": "the red square"}


def toy_samples(count: int = 6, videos: int | None = None) -> list[Sample]:
    """Samples over ``videos`` toy videos (two expressions per video when fewer videos than samples)."""
    videos = videos or count
    samples = []
    for i in range(count):
        v = i % videos
        frames, masks = toy_video(100 + v)
        samples.append(Sample(benchmark="toy", split="test", video_id=f"v{v}", exp_id=str(i // videos),
                              text="the red square", obj_ids=[1], frame_names=[f"{t:05d}" for t in range(len(frames))],
                              annotated=[True] * len(frames), orig_size=frames.shape[1:3], meta={"tags": ["toy"]},
                              load_frames_fn=lambda idx, f=frames: f[list(idx)],
                              load_masks_fn=lambda idx, m=masks: m[list(idx)]))
    samples.sort(key=lambda s: (s.video_id, s.exp_id))
    return samples


class ToyEvaluator:
    """Mean IoU per expression (a stand-in for the metrics package's protocols)."""

    metric_version = "toy-1"

    def reset(self) -> None:
        self.records: list[dict[str, Any]] = []

    def process(self, sample: Sample, prediction: Prediction) -> dict[str, Any]:
        gt = sample.masks()
        inter = np.logical_and(gt, prediction.masks).sum((1, 2))
        union = np.logical_or(gt, prediction.masks).sum((1, 2))
        iou = float(np.mean(np.where(union > 0, inter / np.maximum(union, 1), 1.0)))
        record = {**sample.record_fields(), "J&F": iou, "J": iou, "F": iou}
        self.records.append(record)
        return record

    def evaluate(self) -> dict[str, Any]:
        mean = float(np.mean([r["J&F"] for r in self.records])) if self.records else 0.0
        return {"metrics": {"J&F": mean, "J": mean, "F": mean}, "records": list(self.records), "tables": {}}
