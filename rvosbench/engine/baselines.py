"""Trivial baselines that ignore the sentence: what a model must clearly beat to show it learned.

They are predictors (sample → Prediction) scored by the same evaluation loop and protocol as the
trained models, so their numbers are comparable:

* ``empty``: no object in any frame;
* ``whole_frame``: every pixel is the object;
* ``biggest_moving``: per frame, the largest connected region that differs from the video's
  temporal-median background (a static camera's moving-object detector; the median of the frames is
  the background where objects move, and the difference above ``threshold`` grey levels is motion).
  On ``synth`` the referred object moves among other moving shapes, so this is the strongest guess
  without the sentence.
"""
from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from rvosbench.core.errors import ConfigError, did_you_mean
from rvosbench.core.types import Prediction, Sample


def empty(sample: Sample) -> Prediction:
    height, width = sample.orig_size
    return Prediction(masks=np.zeros((sample.num_frames, height, width), dtype=bool))


def whole_frame(sample: Sample) -> Prediction:
    height, width = sample.orig_size
    return Prediction(masks=np.ones((sample.num_frames, height, width), dtype=bool))


def biggest_moving(sample: Sample, threshold: float = 30.0) -> Prediction:
    frames = sample.frames().astype(np.float32)
    background = np.median(frames, axis=0)
    moving = (np.abs(frames - background).max(axis=-1) > threshold).astype(np.uint8)
    kernel = np.ones((3, 3), np.uint8)
    masks = np.zeros(moving.shape, dtype=bool)
    for t, frame in enumerate(moving):
        frame = cv2.morphologyEx(frame, cv2.MORPH_OPEN, kernel)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(frame, connectivity=8)
        if count > 1:
            largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
            masks[t] = labels == largest
    return Prediction(masks=masks)


BASELINES: dict[str, Callable[[Sample], Prediction]] = {
    "empty": empty,
    "whole_frame": whole_frame,
    "biggest_moving": biggest_moving,
}


def baseline(name: str) -> Callable[[Sample], Prediction]:
    if name not in BASELINES:
        raise ConfigError(f"unknown trivial baseline '{name}'", where="--baselines",
                          hint=did_you_mean(name, BASELINES))
    return BASELINES[name]
