"""``a2d`` (A2D-Sentences and JHMDB-Sentences): precision@K, overall/mean IoU and COCO mask mAP.

MTTR ``metrics.py``/``trainer.py`` and ReferFormer ``engine.py`` (rivals.md §2.3):

* A scored unit is one annotated frame of one referring expression (a COCO "image" with exactly one
  GT annotation, category 1).
* **P@K, oIoU, mIoU** use the top-scoring mask per unit: per-unit IoU = (I + 1e-6) / (U + 1e-6) (so
  empty vs empty is 1); P@K = fraction of units with IoU **>** K for K in 0.5 … 0.9; oIoU = ΣI / ΣU;
  mIoU = mean per-unit IoU.
* **mAP** is ``pycocotools`` ``COCOeval(gt, dt, 'segm')`` with ``params.useCats = 0`` and the default
  max detections, reporting ``stats[0:3]`` as mAP@0.5:0.95, AP50 and AP75. The published convention
  (``mAP``) hands COCOeval *every* query's mask with its own score; ``mAP_top1`` hands it only the
  top-scoring mask, the number ReferFormer #39 shows to be lower (55.0 → 51.9 for VSwin-B).

In the streaming protocol a frame's detections are every query's mask (``query_masks``/``query_scores``)
when the model returns them, else its selected mask ``Prediction.masks`` with score ``Prediction.scores``
(1.0 when absent). P@K and IoU take the highest-scoring detection, the last one on ties, exactly as the
official code picks it from the results JSON; that is also what :class:`A2DResultsWriter` writes, so
``rvosbench eval`` re-scores a run's saved predictions to the same numbers.
"""
from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from rvosbench.core.registry import PROTOCOLS
from rvosbench.core.types import Prediction, Sample
from rvosbench.metrics.common import RowEvaluator, annotated_indices, check_prediction, mean
from rvosbench.metrics.submission import StagedSink

PRECISION_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)
IOU_EPS = 1e-6
A2D_KEYS = tuple(f"P@{k}" for k in PRECISION_THRESHOLDS) + ("oIoU", "mIoU", "mAP", "AP50", "AP75", "mAP_top1")


def encode(mask: np.ndarray) -> dict[str, Any]:
    """COCO RLE of a (H, W) mask, as MTTR writes it (Fortran-ordered uint8)."""
    return mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))


def top_detection(scores: Sequence[float]) -> int:
    """Index of the detection that P@K and IoU score: the highest score, the *last* one on ties.

    MTTR's ``calculate_precision_at_k_and_iou_metrics`` (which ReferFormer and SOC reuse) takes
    ``sorted(predictions, key=score)[-1]``; the sort is stable, so among equal scores the detection listed
    last wins (rivals.md §2.3).
    """
    best = 0
    for index, score in enumerate(scores):
        if score >= scores[best]:
            best = index
    return best


def frame_detections(prediction: Prediction, frame: int) -> list[tuple[np.ndarray, float]]:
    """One frame's detections as (mask, score): every query's when the model gives them, else its selection."""
    if prediction.query_masks is not None and prediction.query_scores is not None:
        return [(mask, float(score)) for mask, score in zip(prediction.query_masks[:, frame],
                                                            prediction.query_scores[:, frame])]
    score = float(prediction.scores[frame]) if prediction.scores is not None else 1.0
    return [(prediction.masks[frame], score)]


def image_id(sample: Sample, frame: int) -> str:
    """The COCO ``image_id`` of an annotated frame: the dataset's own id (``meta['image_ids']``, MTTR-style
    ``v_<video>_f_<frame>_i_<instance>``) when the loader gives one, else ``<video>/<exp_id>/<frame>``."""
    name = sample.frame_names[frame]
    return str((sample.meta.get("image_ids") or {}).get(name, f"{sample.uid}/{name}"))


def intersection_union(gt: np.ndarray, pred: np.ndarray) -> tuple[int, int]:
    return int(np.count_nonzero(gt & pred)), int(np.count_nonzero(gt | pred))


def unit_iou(intersection: int, union: int) -> float:
    return (intersection + IOU_EPS) / (union + IOU_EPS)


def iou_scores(units: Sequence[tuple[int, int]]) -> dict[str, float]:
    """P@K, oIoU and mIoU from per-unit (intersection, union) pairs of the top-scoring masks."""
    ious = np.array([unit_iou(i, u) for i, u in units], np.float64)
    out = {f"P@{k}": float(np.mean(ious > k)) if ious.size else float("nan") for k in PRECISION_THRESHOLDS}
    total_union = sum(u for _, u in units)
    out["oIoU"] = sum(i for i, _ in units) / total_union if total_union else float("nan")
    out["mIoU"] = float(ious.mean()) if ious.size else float("nan")
    return out


def coco_map(gt: Sequence[tuple[Any, dict[str, Any]]], detections: Iterable[tuple[Any, dict[str, Any], float]]) -> dict[str, float]:
    """mAP@0.5:0.95, AP50, AP75 with COCOeval('segm', useCats=0) from RLEs.

    ``gt``: (unit id, RLE) — one annotation per image, as MTTR's GT JSON; ``detections``:
    (unit id, RLE, score). Unit ids may be any hashable; they are mapped to ints for pycocotools.
    """
    image_ids = {unit: index for index, (unit, _) in enumerate(gt, start=1)}
    if not image_ids:
        return {"mAP": float("nan"), "AP50": float("nan"), "AP75": float("nan")}
    images, annotations = [], []
    for unit, rle in gt:
        height, width = rle["size"]
        images.append({"id": image_ids[unit], "height": height, "width": width})
        annotations.append({"id": len(annotations) + 1, "image_id": image_ids[unit], "category_id": 1,
                            "segmentation": rle, "area": float(mask_utils.area(rle)),
                            "bbox": [float(v) for v in mask_utils.toBbox(rle)], "iscrowd": 0})
    results = [{"image_id": image_ids[unit], "category_id": 1, "segmentation": rle, "score": float(score)}
               for unit, rle, score in detections if unit in image_ids]
    if not results:
        return {"mAP": 0.0, "AP50": 0.0, "AP75": 0.0}
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress and the summary table
        coco_gt = COCO()
        coco_gt.dataset = {"images": images, "annotations": annotations,
                           "categories": [{"id": 1, "name": "dummy_class"}]}
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(results)
        evaluator = COCOeval(coco_gt, coco_dt, iouType="segm")
        evaluator.params.useCats = 0
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return {"mAP": float(evaluator.stats[0]), "AP50": float(evaluator.stats[1]), "AP75": float(evaluator.stats[2])}


def _scores_from_units(gt_rles: list[tuple[Any, dict]], top: list[tuple[Any, dict, float]],
                       every: list[tuple[Any, dict, float]], units: list[tuple[int, int]]) -> dict[str, float]:
    scores = iou_scores(units)
    scores.update(coco_map(gt_rles, every))
    scores["mAP_top1"] = coco_map(gt_rles, top)["mAP"]
    return scores


def a2d_scores(gt: Sequence[tuple[Any, np.ndarray]], preds: Sequence[tuple[Any, np.ndarray, float]]) -> dict[str, float]:
    """All A2D/JHMDB metrics from in-memory masks.

    ``gt``: ``(sample_id, mask)`` per scored unit; ``preds``: ``(sample_id, mask, score)``, any number
    per unit (every query's mask). The top-scoring prediction of a unit (last one on ties) gives P@K,
    oIoU, mIoU and ``mAP_top1``; all of them give ``mAP``, ``AP50``, ``AP75``. A unit without any
    prediction counts as an empty predicted mask. Returns fractions in [0, 1] under the keys
    ``P@0.5`` … ``P@0.9``, ``oIoU``, ``mIoU``, ``mAP``, ``AP50``, ``AP75``, ``mAP_top1``.
    """
    best: dict[Any, tuple[np.ndarray, float]] = {}
    for unit, mask, score in preds:
        if unit not in best or score >= best[unit][1]:  # last on ties: see top_detection
            best[unit] = (np.asarray(mask, bool), float(score))
    units, gt_rles, top = [], [], []
    for unit, mask in gt:
        mask = np.asarray(mask, bool)
        pred, score = best.get(unit, (np.zeros_like(mask), 0.0))
        units.append(intersection_union(mask, pred))
        gt_rles.append((unit, encode(mask)))
        if unit in best:
            top.append((unit, encode(pred), score))
    every = [(unit, encode(np.asarray(mask, bool)), float(score)) for unit, mask, score in preds]
    return _scores_from_units(gt_rles, top, every, units)


@PROTOCOLS.register_module(name="a2d")
class A2DProtocol(RowEvaluator):
    """A2D/JHMDB-Sentences: P@0.5…0.9, oIoU, mIoU on the top mask; COCO mAP over all queries and top-1."""

    metric_version = "2"  # 2: the top mask is the highest-scoring query's, as the official code picks it
    metrics = A2D_KEYS

    def reset(self) -> None:
        super().reset()
        self._gt: list[tuple[str, dict]] = []
        self._top: list[tuple[str, dict, float]] = []
        self._every: list[tuple[str, dict, float]] = []

    def process(self, sample: Sample, prediction: Prediction) -> dict[str, Any] | None:
        check_prediction(sample, prediction)
        indices = annotated_indices(sample)
        gt = sample.masks(indices) if indices else None
        if gt is None:
            return None
        record = None
        for position, frame in enumerate(indices):
            detections = frame_detections(prediction, frame)
            every = [(encode(mask), score) for mask, score in detections]
            top = top_detection([score for _, score in detections])
            record = self.add_unit(sample, frame, gt[position], detections[top][0], every, top)
        return record

    def add_unit(self, sample: Sample, frame: int, gt: np.ndarray, top_mask: np.ndarray,
                 every: list[tuple[dict[str, Any], float]], top: int) -> dict[str, Any]:
        """Score one annotated frame given every detection as (RLE, score) and the top one's index and mask."""
        unit = f"{sample.uid}/{sample.frame_names[frame]}"
        intersection, union = intersection_union(gt, top_mask)
        top_rle, top_score = every[top]
        self._gt.append((unit, encode(gt)))
        self._top.append((unit, top_rle, top_score))
        self._every.extend((unit, rle, score) for rle, score in every)
        record = {**sample.record_fields(), "frame": sample.frame_names[frame], "I": intersection,
                  "U": union, "IoU": unit_iou(intersection, union), "score": top_score}
        self._rows.append(record)
        return record

    def state(self) -> Any:
        return {"rows": list(self._rows), "gt": list(self._gt), "top": list(self._top), "every": list(self._every)}

    def merge(self, states: Iterable[Any]) -> None:
        for state in states:
            self._rows.extend(state["rows"])
            self._gt.extend(state["gt"])
            self._top.extend(state["top"])
            self._every.extend(state["every"])

    def evaluate(self) -> dict[str, Any]:
        units = [(r["I"], r["U"]) for r in self._rows]
        metrics = _scores_from_units(self._gt, self._top, self._every, units)
        return {"metrics": {key: metrics[key] for key in A2D_KEYS}, "records": [dict(r) for r in self._rows],
                "tables": {"per_threshold": [{"K": k, "precision": metrics[f"P@{k}"]} for k in PRECISION_THRESHOLDS],
                           "summary": [{"units": len(units), "mean_score": mean(r["score"] for r in self._rows)}]}}


class A2DResultsWriter(StagedSink):
    """Streams a run's A2D/JHMDB predictions into a COCO results JSON, the file ``rvosbench eval`` reads.

    One entry per detection of every annotated frame, ``{"image_id", "category_id": 1, "segmentation":
    RLE with ASCII counts, "score"}`` (the list MTTR hands to ``loadRes``), in the protocol's order, so
    the re-scored top mask and mAP are the run's own.
    """

    def open_partial(self, partial: Path) -> None:
        self._file = partial.open("w", encoding="utf-8")
        self._file.write("[")
        self._count = 0

    def close_partial(self) -> None:
        self._file.write("\n]\n")
        self._file.close()

    def __call__(self, sample: Sample, prediction: Prediction) -> None:
        check_prediction(sample, prediction)
        for frame in annotated_indices(sample):
            for mask, score in frame_detections(prediction, frame):
                rle = encode(mask)
                entry = {"image_id": image_id(sample, frame), "category_id": 1,
                         "segmentation": {"size": list(rle["size"]), "counts": rle["counts"].decode("ascii")},
                         "score": score}
                self._file.write(("," if self._count else "") + "\n" + json.dumps(entry))
                self._count += 1
