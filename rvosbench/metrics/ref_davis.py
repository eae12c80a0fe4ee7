"""``ref_davis_u4``: Ref-DAVIS17 as the ReferFormer family scores it (rivals.md §1.2, §2.1).

1. **Merge** (ReferFormer ``inference_davis.py``): for each annotator run ``anno_<a>`` every object of
   the video is predicted from its own expression; probabilities below 0.5 are zeroed, a constant 0.1
   background plane is put in front, and the argmax gives one indexed mask per frame whose id is the
   object's position (objects sorted by id) + 1. Ties go to the lower id, like ``argmax``.
2. **Score** (davis2017-evaluation, ``task='unsupervised'``): all frames, void pixels excluded; the
   number of GT objects is the largest id present in the first frame (objects that appear later are
   dropped, as the toolkit does); the number of predicted objects is the largest id anywhere (more than
   20 is an error; fewer than the GT are padded with empty masks); J and F are computed for every
   (prediction, GT) pair and ``scipy.optimize.linear_sum_assignment`` maximises the mean (J + F) / 2.
   Each GT object then gets mean/recall/decay of its matched pair's per-frame J and F.
3. **Aggregate** (``eval_davis.py``): per run, J and F are means over all objects pooled across
   videos and J&F = (J + F) / 2; the headline is the mean over the four runs (ReferFormer #30).

Sample contract (the Ref-DAVIS loader provides it; see docs/metrics.md): ``obj_ids == [k]``, the
referred object's id in ``Annotations_unsupervised``; ``meta['anno_id']`` the run 0..3 (the
ReferFormer converter's ``exp_id mod 4``); ``masks()`` that object's mask with void pixels off;
optionally ``meta['load_void_fn'](indices) -> bool (T, H, W)`` for the void (label 255) pixels.
GT objects are known through their samples; an id ≤ the first-frame maximum that no expression refers
to counts as an empty object (the toolkit would use its mask, which rvosbench cannot see).

A video is buffered (one float32 "best probability" and one uint8 id map per run) until the next video
starts, then scored and dropped.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from rvosbench.core.errors import DataError, PredictionError
from rvosbench.core.registry import PROTOCOLS
from rvosbench.core.types import Prediction, Sample
from rvosbench.metrics.common import RowEvaluator, check_prediction, mean
from rvosbench.metrics.davis import DEFAULT_BOUND_TH, db_statistics, jaccard_and_boundary
from rvosbench.metrics.per_expression import grouped_means
from rvosbench.metrics.submission import ZipSink, encode_png_labels

#: ReferFormer's constant background "probability" in the argmax merge.
BACKGROUND_SCORE = 0.1
#: The toolkit refuses more predicted ids than this in unsupervised mode.
MAX_PROPOSALS = 20
STAT_KEYS = ("J", "F", "J&F", "J-Recall", "J-Decay", "F-Recall", "F-Decay")


def sample_run(sample: Sample) -> int:
    """The annotator run of a Ref-DAVIS sample, with a clear error when the loader did not set it."""
    if "anno_id" not in sample.meta:
        raise DataError("Ref-DAVIS sample has no meta['anno_id'] (annotator run 0..3)", where=sample.uid,
                        hint="the ref_davis_u4 protocol needs a Ref-DAVIS loader that sets it")
    return int(sample.meta["anno_id"])


def sample_object(sample: Sample) -> int:
    if len(sample.obj_ids) != 1:
        raise DataError(f"Ref-DAVIS sample refers to {len(sample.obj_ids)} objects, expected exactly one",
                        where=sample.uid, hint="each Ref-DAVIS expression names one object id")
    return int(sample.obj_ids[0])


@dataclass
class _VideoBuffer:
    """Everything one video needs until it is scored."""

    video_id: str
    samples: dict[tuple[int, int], Sample] = field(default_factory=dict)   # (run, obj id) -> sample
    best: dict[int, np.ndarray] = field(default_factory=dict)               # run -> best probability
    ids: dict[int, np.ndarray] = field(default_factory=dict)                # run -> winning obj id (0 = bg)
    indexed: dict[int, np.ndarray] = field(default_factory=dict)            # run -> ready indexed masks


def merge_prediction(video: _VideoBuffer, sample: Sample, prediction: Prediction) -> None:
    """Fold one object's prediction into its run's argmax merge (step 1 above)."""
    run, obj = sample_run(sample), sample_object(sample)
    video.samples[(run, obj)] = sample
    probs = prediction.probs if prediction.probs is not None else prediction.masks
    if probs.shape != prediction.masks.shape:
        raise PredictionError(f"prediction probs have shape {probs.shape}, masks {prediction.masks.shape}",
                              where=sample.uid, hint="return probabilities at the masks' size")
    probs = np.where(probs >= 0.5, probs, 0).astype(np.float32)
    if run not in video.best:
        video.best[run] = np.full(probs.shape, BACKGROUND_SCORE, np.float32)
        video.ids[run] = np.zeros(probs.shape, np.int32)
    best, ids = video.best[run], video.ids[run]
    # argmax over planes ordered by object id: a strictly larger value wins, a tie goes to the lower id
    wins = (probs > best) | ((probs == best) & (ids > obj) & (probs >= 0.5))
    best[wins] = probs[wins]
    ids[wins] = obj


def merged_runs(video: _VideoBuffer) -> dict[int, np.ndarray]:
    """Each run's indexed masks (T, H, W): id = the object's rank among the video's objects, 0 = none."""
    objects = sorted({obj for _, obj in video.samples})
    rank_of = np.zeros(max(objects, default=0) + 1, np.int32)
    rank_of[objects] = np.arange(1, len(objects) + 1)
    return {run: video.indexed[run] if run in video.indexed else rank_of[video.ids[run]]
            for run in sorted(set(video.ids) | set(video.indexed))}


class RefDavisWriter(ZipSink):
    """Streams Ref-DAVIS predictions into ``anno_<run>/<video>/<frame>.png`` indexed PNGs in a zip.

    The objects of a video are merged exactly as :class:`RefDavisU4` merges them, one video at a time
    (samples of a video arrive together, as the protocol requires), so ``rvosbench eval --predictions``
    on the zip gives the scores of the run that wrote it.
    """

    def __init__(self, path: str | Path):
        super().__init__(path)
        self._video: _VideoBuffer | None = None

    def __call__(self, sample: Sample, prediction: Prediction) -> None:
        check_prediction(sample, prediction)
        if self._video is None or self._video.video_id != sample.video_id:
            self.finish()
            self._video = _VideoBuffer(sample.video_id)
        merge_prediction(self._video, sample, prediction)

    def finish(self) -> None:
        video, self._video = self._video, None
        if video is None:
            return
        frames = next(iter(video.samples.values())).frame_names
        for run, indexed in merged_runs(video).items():
            for frame, labels in zip(frames, indexed):
                self._zip.writestr(f"anno_{run}/{video.video_id}/{frame}.png", encode_png_labels(labels))


@PROTOCOLS.register_module(name="ref_davis_u4")
class RefDavisU4(RowEvaluator):
    """Ref-DAVIS17, ReferFormer protocol: argmax merge, unsupervised toolkit with Hungarian matching, 4 runs."""

    metric_version = "1"
    metrics = ("J&F", "J", "F")

    def __init__(self, bound_th: float = DEFAULT_BOUND_TH, max_proposals: int = MAX_PROPOSALS):
        self.bound_th = bound_th
        self.max_proposals = max_proposals
        super().__init__()

    def reset(self) -> None:
        super().reset()
        self._video: _VideoBuffer | None = None

    # -- input ---------------------------------------------------------------------------------
    def _buffer_for(self, sample: Sample) -> _VideoBuffer:
        if self._video is None or self._video.video_id != sample.video_id:
            self._finish_video()
            self._video = _VideoBuffer(sample.video_id)
        return self._video

    def process(self, sample: Sample, prediction: Prediction) -> dict[str, Any] | None:
        """Merge one object's prediction into its run's indexed masks; scoring waits for the video's end."""
        check_prediction(sample, prediction)
        merge_prediction(self._buffer_for(sample), sample, prediction)
        return None

    def process_indexed(self, run: int, samples: list[Sample], indexed: np.ndarray) -> None:
        """Add an already merged run: ``indexed`` (T, H, W) ints, 0 = background (``anno_<run>`` PNGs)."""
        for sample in samples:
            video = self._buffer_for(sample)
            video.samples[(run, sample_object(sample))] = sample
        self._video.indexed[run] = indexed

    # -- scoring -------------------------------------------------------------------------------
    def _finish_video(self) -> None:
        video, self._video = self._video, None
        if video is None:
            return
        gt_masks: dict[int, np.ndarray] = {}
        void = None
        for (run, obj), sample in sorted(video.samples.items()):
            if obj not in gt_masks:
                gt_masks[obj] = sample.masks()
                if void is None and callable(sample.meta.get("load_void_fn")):
                    void = sample.meta["load_void_fn"](range(sample.num_frames))
        for run, indexed in merged_runs(video).items():
            self._score_run(video, run, gt_masks, indexed, void)

    def _score_run(self, video: _VideoBuffer, run: int, gt_masks: dict[int, np.ndarray],
                   indexed: np.ndarray, void: np.ndarray | None) -> None:
        shape = next(iter(gt_masks.values())).shape
        if indexed.shape != shape:
            raise PredictionError(f"anno_{run} masks have shape {indexed.shape}, expected {shape}",
                                  where=video.video_id, hint="write one indexed PNG per frame at the original size")
        present_first = [obj for obj, mask in gt_masks.items() if mask[0].any()]
        num_gt = max(present_first, default=0)
        num_pred = int(indexed.max(initial=0))
        if num_pred > self.max_proposals:
            raise PredictionError(f"anno_{run} has object id {num_pred}, more than the {self.max_proposals} allowed",
                                  where=video.video_id, hint="write at most one id per object")
        if num_gt == 0:
            return  # the toolkit counts no object in this video
        empty = np.zeros(shape, bool)
        gts = [gt_masks.get(obj, empty) for obj in range(1, num_gt + 1)]
        preds = [indexed == k for k in range(1, max(num_pred, num_gt) + 1)]
        j = np.empty((len(preds), num_gt, shape[0]))
        f = np.empty_like(j)
        for g, gt in enumerate(gts):
            for p, pred in enumerate(preds):
                j[p, g], f[p, g] = jaccard_and_boundary(gt, pred, void, self.bound_th)
        rows, cols = linear_sum_assignment(-(j.mean(axis=2) + f.mean(axis=2)) / 2)
        for p, g in zip(rows, cols):
            obj = g + 1
            j_mean, j_recall, j_decay = db_statistics(j[p, g])
            f_mean, f_recall, f_decay = db_statistics(f[p, g])
            sample = video.samples.get((run, obj))
            fields = sample.record_fields() if sample is not None else {
                "video_id": video.video_id, "exp_id": None, "text": "", "num_frames": shape[0],
                "tags": [], "category": None}
            self._rows.append({**fields, "anno_id": run, "obj_id": obj, "matched_pred_id": int(p + 1),
                               "J": j_mean, "F": f_mean, "J&F": (j_mean + f_mean) / 2,
                               "J-Recall": j_recall, "J-Decay": j_decay, "F-Recall": f_recall, "F-Decay": f_decay})

    # -- output --------------------------------------------------------------------------------
    def state(self) -> Any:
        self._finish_video()
        return super().state()

    def evaluate(self) -> dict[str, Any]:
        self._finish_video()
        by_run: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for row in self._rows:
            by_run[row["anno_id"]].append(row)
        per_run = []
        for run, rows in sorted(by_run.items()):
            stats = {key: mean(r[key] for r in rows) for key in STAT_KEYS if key != "J&F"}
            per_run.append({"anno_id": run, "objects": len(rows), "J&F": (stats["J"] + stats["F"]) / 2, **stats})
        metrics = {key: mean(r[key] for r in per_run) for key in STAT_KEYS}
        per_object = grouped_means([{**r, "object": f"{r['video_id']}_{r['obj_id']}"} for r in self._rows],
                                   "object", STAT_KEYS)
        return {"metrics": metrics, "records": [dict(r) for r in self._rows],
                "tables": {"per_run": per_run, "per_object": per_object}}
