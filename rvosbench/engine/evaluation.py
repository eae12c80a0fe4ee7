"""The evaluation loop: predict every sample of a split and stream the predictions into its protocol.

* **Whole-video inference, windowed**: a video longer than ``eval.window`` frames is cut into
  consecutive windows, each predicted on its own and concatenated (ReferFormer feeds whole videos; on
  long Ref-YouTube-VOS/MeViS videos that does not fit in memory). Each window picks its own best proxy
  slot, so the referred object can be re-identified per window.
* **Post-processing** is the model's ``predict`` contract (logits upsampled to the original size,
  thresholded); ``eval.threshold`` re-thresholds ``probs`` when the model returns them.
* **Streaming**: each prediction goes to ``evaluator.process`` and is dropped (only the strips and an
  optional mask writer see it), so memory does not grow with the split.
* **Sharding**: under torchrun each rank predicts whole videos (:func:`shard_by_group`); rank 0 gathers
  them and feeds the evaluator in the benchmark's order, holding at most one round of predictions per
  rank plus the videos that arrive ahead of their turn. Metrics are then identical to one process.
"""
from __future__ import annotations

import contextlib
import heapq
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from rvosbench.core.types import Prediction, Sample
from rvosbench.data.clips import video_windows
from rvosbench.engine.distributed import DistContext, bar_position, shard_by_group
from rvosbench.engine.scoring import Samples, VideoScorer

Predictor = Callable[[Sample], Prediction]
# called on rank 0 with every (sample, prediction), e.g. to write masks in the benchmark's layout
PredictionSink = Callable[[Sample, Prediction], None]


def concat_predictions(parts: Sequence[Prediction]) -> Prediction:
    """Join per-window predictions along time (fields missing from any part are dropped)."""
    if len(parts) == 1:
        return parts[0]

    def join(name: str, axis: int) -> np.ndarray | None:
        values = [getattr(p, name) for p in parts]
        if any(v is None for v in values):
            return None
        if name.startswith("query_") and len({v.shape[0] for v in values}) != 1:
            return None
        return np.concatenate(values, axis=axis)

    return Prediction(masks=join("masks", 0), probs=join("probs", 0), scores=join("scores", 0),
                      query_masks=join("query_masks", 1), query_scores=join("query_scores", 1))


class ModelPredictor:
    """Runs an :class:`RVOSModel` on whole videos through the card's evaluation transform."""

    def __init__(self, model: nn.Module, transform: Callable[[np.ndarray], torch.Tensor], window: int | None,
                 device: torch.device, threshold: float = 0.5, precision: str = "fp32"):
        self.model = model
        self.transform = transform
        self.window = window
        self.device = device
        self.threshold = threshold
        self.precision = precision

    def __call__(self, sample: Sample) -> Prediction:
        self.model.eval()
        parts = []
        autocast = torch.autocast(self.device.type, dtype=torch.bfloat16) if self.precision == "bf16" \
            else contextlib.nullcontext()
        for window in video_windows(sample, self.transform, self.window):
            with torch.inference_mode(), autocast:
                parts.append(self.model.predict(window.frames.to(self.device), sample.text, tuple(sample.orig_size)))
        prediction = concat_predictions(parts)
        if self.threshold != 0.5 and prediction.probs is not None:
            prediction.masks = prediction.probs > self.threshold
        return prediction


# -- qualitative strips ------------------------------------------------------------------------
def strip_arrays(sample: Sample, prediction: Prediction, num_frames: int, max_side: int = 192) -> dict[str, Any]:
    """A few evenly spaced annotated frames with GT and predicted masks, downscaled (reports show them)."""
    annotated = [i for i, a in enumerate(sample.annotated) if a] or list(range(sample.num_frames))
    picks = sorted({annotated[round(i)] for i in np.linspace(0, len(annotated) - 1, min(num_frames, len(annotated)))})
    frames = sample.frames(picks)
    gt = sample.masks(picks)
    pred = prediction.masks[picks]
    height, width = frames.shape[1:3]
    scale = min(1.0, max_side / max(height, width))
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        frames = np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames])
        pred = np.stack([cv2.resize(m.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) for m in pred]) > 0
        if gt is not None:
            gt = np.stack([cv2.resize(m.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) for m in gt]) > 0
    if gt is None:
        gt = np.zeros_like(pred)
    return {"frames": frames.astype(np.uint8), "gt": gt.astype(bool), "pred": pred.astype(bool),
            "text": np.array(sample.text), "frame_indices": np.array(picks)}


@dataclass
class StripKeeper:
    """Keeps the first ``count`` samples and the worst ``count`` by ``metric`` (lowest first)."""

    count: int
    num_frames: int
    metric: str
    first: dict[str, dict[str, Any]] = field(default_factory=dict)
    worst: list[tuple[float, int, str, dict[str, Any]]] = field(default_factory=list)  # max-heap by -score
    _seen: int = 0

    def offer(self, sample: Sample, prediction: Prediction, record: dict[str, Any] | None) -> None:
        if self.count <= 0:
            return
        self._seen += 1
        name = f"{sample.video_id}__{sample.exp_id}"
        if len(self.first) < self.count:
            self.first[name] = strip_arrays(sample, prediction, self.num_frames)
            return
        score = record.get(self.metric) if record else None
        if score is None:
            return
        entry = (-float(score), self._seen, name)
        if len(self.worst) < self.count:
            heapq.heappush(self.worst, (*entry, strip_arrays(sample, prediction, self.num_frames)))
        elif entry[0] > self.worst[0][0]:
            heapq.heapreplace(self.worst, (*entry, strip_arrays(sample, prediction, self.num_frames)))

    def strips(self) -> dict[str, dict[str, Any]]:
        return {**self.first, **{name: arrays for _, _, name, arrays in self.worst}}


# -- the loop ----------------------------------------------------------------------------------
@dataclass
class EvalResult:
    metrics: dict[str, float]
    records: list[dict[str, Any]]
    tables: dict[str, Any]
    timings: dict[str, float]
    strips: dict[str, dict[str, Any]]


def _pack(prediction: Prediction) -> dict[str, Any]:
    """Bit-pack boolean arrays before they travel between processes (8× smaller)."""
    packed: dict[str, Any] = {}
    for name in ("masks", "probs", "scores", "query_masks", "query_scores"):
        value = getattr(prediction, name)
        if value is not None and value.dtype == bool:
            packed[name] = ("bits", value.shape, np.packbits(value, axis=None))
        else:
            packed[name] = value
    return packed


def _unpack(packed: dict[str, Any]) -> Prediction:
    values = {}
    for name, value in packed.items():
        if isinstance(value, tuple) and value and value[0] == "bits":
            _, shape, bits = value
            value = np.unpackbits(bits, count=int(np.prod(shape))).reshape(shape).astype(bool)
        values[name] = value
    return Prediction(**values)


def _predictions(predictor: Predictor, samples: Sequence[Sample], ctx: DistContext, desc: str,
                 timings: dict[str, float]) -> Iterable[tuple[int, Prediction]]:
    """Yield ``(index, prediction)`` on rank 0 in sample order; other ranks only predict their shard."""
    mine = shard_by_group([s.video_id for s in samples], ctx.rank, ctx.world_size)
    counts = ctx.gather(len(mine))
    rounds = ctx.broadcast(max(counts) if counts else 0)
    bar = tqdm(total=len(samples), desc=desc, unit="sample", dynamic_ncols=True, disable=not ctx.is_main,
               mininterval=1.0, leave=False, position=bar_position())
    pending: dict[int, Any] = {}
    next_index = 0
    try:
        for round_index in range(rounds):
            item = None
            if round_index < len(mine):
                index = mine[round_index]
                start = time.perf_counter()
                prediction = predictor(samples[index])
                item = (index, time.perf_counter() - start, _pack(prediction) if ctx.enabled else prediction)
            gathered = ctx.gather(item)
            if not ctx.is_main:
                continue
            for got in gathered or []:
                if got is not None:
                    index, seconds, value = got
                    timings[samples[index].uid] = seconds
                    pending[index] = _unpack(value) if ctx.enabled else value
            while next_index in pending:
                yield next_index, pending.pop(next_index)
                next_index += 1
                bar.update(1)
    finally:
        bar.close()


def _score_predictions(evaluator: Any, samples: Samples, uids: list[str], packed: list[dict[str, Any]]) -> list[Any]:
    """A scoring task (:mod:`rvosbench.engine.scoring`): one video's bit-packed predictions, in sample order."""
    return [evaluator.process(samples.by_uid[uid], _unpack(value)) for uid, value in zip(uids, packed)]


class _VideoHandOff:
    """Hands each finished video's predictions to a :class:`VideoScorer` and merges what comes back in order.

    Strips are offered in sample order once a video's records are back (from the bit-packed copy kept
    meanwhile), so the kept strips are those of a single-process run too.
    """

    def __init__(self, scorer: VideoScorer, evaluator: Any, keeper: StripKeeper):
        self.scorer, self.evaluator, self.keeper = scorer, evaluator, keeper
        self._video: list[tuple[Sample, dict[str, Any]]] = []
        self._handed: deque[list[tuple[Sample, dict[str, Any]]]] = deque()

    def add(self, sample: Sample, prediction: Prediction) -> None:
        if self._video and self._video[-1][0].video_id != sample.video_id:
            self.flush()
        self._video.append((sample, _pack(prediction)))

    def flush(self) -> None:
        if self._video:
            self.scorer.submit(_score_predictions, [s.uid for s, _ in self._video], [p for _, p in self._video])
            self._handed.append(self._video)
            self._video = []
        self.collect()

    def collect(self, wait: bool = False) -> None:
        for records, state in self.scorer.results(wait):
            self.evaluator.merge([state])
            for (sample, packed), record in zip(self._handed.popleft(), records):
                self.keeper.offer(sample, _unpack(packed), record)


def run_evaluation(predictor: Predictor, samples: Sequence[Sample], evaluator: Any, ctx: DistContext | None = None,
                   *, desc: str = "eval", strips: int = 0, strip_frames: int = 6, strip_metric: str = "J&F",
                   sink: PredictionSink | None = None, scorer: VideoScorer | None = None) -> EvalResult | None:
    """Predict ``samples`` and score them with ``evaluator``; the result on rank 0, None elsewhere.

    With a ``scorer`` of more than one worker, each finished video is scored by it (in worker processes
    while the next video is predicted) and merged back in order; the result is the same.
    """
    ctx = ctx or DistContext()
    evaluator.reset()
    keeper = StripKeeper(strips, strip_frames, strip_metric)
    hand_off = _VideoHandOff(scorer, evaluator, keeper) if scorer is not None and scorer.workers > 1 else None
    latency: dict[str, float] = {}
    started = time.perf_counter()
    for index, prediction in _predictions(predictor, samples, ctx, desc, latency):
        sample = samples[index]
        if hand_off is not None:
            hand_off.add(sample, prediction)
        else:
            keeper.offer(sample, prediction, evaluator.process(sample, prediction))
        if sink is not None:
            sink(sample, prediction)
    if hand_off is not None:
        hand_off.flush()
        hand_off.collect(wait=True)
    if not ctx.is_main:
        return None
    wall = time.perf_counter() - started
    output = evaluator.evaluate()
    records = [dict(r) for r in output.get("records", [])]
    for record in records:
        seconds = latency.get(f"{record.get('video_id')}/{record.get('exp_id')}")
        if seconds is not None:
            record.setdefault("latency_ms", round(seconds * 1000, 3))
    frames = sum(s.num_frames for s in samples)
    predict_s = sum(latency.values())
    timings = {"eval_s": round(wall, 3), "predict_s": round(predict_s, 3), "samples": len(samples),
               "frames": frames, "ms_per_frame": round(1000 * predict_s / max(1, frames), 3),
               "processes": ctx.world_size}
    return EvalResult(metrics={k: float(v) for k, v in output.get("metrics", {}).items()}, records=records,
                      tables=output.get("tables", {}), timings=timings, strips=keeper.strips())
