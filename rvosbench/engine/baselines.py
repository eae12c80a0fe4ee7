"""Reference predictors: what a model must clearly beat, and what each expression type is worth to a
predictor that ignores what the type tests.

They are predictors (sample → Prediction) scored by the same evaluation loop and protocol as the
trained models, and stored beside every study like its cells, with per-sample records (and their
expression-type tags), so reports can draw them in every breakdown:

* ``empty``: no object in any frame;
* ``whole_frame``: every pixel is the object;
* ``biggest_moving``: per frame, the largest connected region that differs from the video's
  temporal-median background (a static camera's moving-object detector; the median of the frames is
  the background where objects move, and the difference above ``threshold`` grey levels is motion).
  It ignores the sentence;
* ``colour_word``: the pixels nearest the first colour word of the sentence (``synth``'s palette),
  in every frame. It ignores every word but one, and time: what "segment every object of the named
  colour" scores;
* ``single_frame``: the time-blind reader of ``synth`` (:mod:`rvosbench.data.synth.reading`): each
  frame on its own, read perfectly from the ground truth, every object the sentence could mean there.
  It ignores time only. Benchmarks without that reader (the real ones) skip it.

A reference that does not apply to a benchmark gives no predictor for it and is left out, never
scored as something else.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from rvosbench.core.errors import ConfigError, did_you_mean
from rvosbench.core.types import Prediction, Sample
from rvosbench.data.synth.vocab import COLOURS

Predictor = Callable[[Sample], Prediction]


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


COLOUR_WORD = re.compile(r"\b(" + "|".join(COLOURS) + r")\b")
MIN_SATURATION = 60.0  # max - min over RGB: synth's backgrounds stay below ~40, its object colours above 130
MAX_DISTANCE = 100.0  # RGB distance to the named colour (JPEG and shading stay within it on synth)


def colour_word(sample: Sample) -> Prediction:
    """Pixels whose nearest palette colour is the sentence's first colour word, saturated and close to it
    (IoU 0.93 with the object on synth's appearance expressions)."""
    frames = sample.frames().astype(np.float32)
    match = COLOUR_WORD.search(sample.text)
    if match is None:
        return empty(sample)
    names = list(COLOURS)
    palette = np.array([COLOURS[n] for n in names], dtype=np.float32)
    nearest = np.argmin(((frames[..., None, :] - palette) ** 2).sum(-1), axis=-1)
    saturated = frames.max(-1) - frames.min(-1) >= MIN_SATURATION
    index = names.index(match.group(1))
    close = np.sqrt(((frames - palette[index]) ** 2).sum(-1)) < MAX_DISTANCE
    return Prediction(masks=(nearest == index) & saturated & close)


def single_frame(bench: Any) -> Predictor | None:
    """The benchmark's time-blind reader, if it has one (``synth``)."""
    reader = getattr(bench, "time_blind_masks", None)
    if reader is None:
        return None
    return lambda sample: Prediction(masks=reader(sample))


@dataclass(frozen=True)
class Reference:
    """A reference predictor: ``predictor(bench)`` gives its predictor for a benchmark, or None when it
    does not apply there; ``ignores`` says what it leaves out (for tables and docs)."""

    name: str
    ignores: str
    build: Callable[[Any], Predictor | None]

    def predictor(self, bench: Any) -> Predictor | None:
        return self.build(bench)


def _always(predict: Predictor) -> Callable[[Any], Predictor]:
    return lambda _bench: predict


BASELINES: dict[str, Reference] = {ref.name: ref for ref in (
    Reference("empty", "everything", _always(empty)),
    Reference("whole_frame", "everything", _always(whole_frame)),
    Reference("biggest_moving", "the sentence", _always(biggest_moving)),
    Reference("colour_word", "every word but the first colour word, and time", _always(colour_word)),
    Reference("single_frame", "time (reads each frame alone, from the ground truth)", single_frame),
)}


def baseline(name: str) -> Reference:
    if name not in BASELINES:
        raise ConfigError(f"unknown reference predictor '{name}'", where="--baselines",
                          hint=did_you_mean(name, BASELINES))
    return BASELINES[name]
