"""``revos``: ReVOS scored exactly as cilinyan/VISA ``tools/eval_revos.py`` does (``tools/metrics.py``).

Per expression (``eval_queue``), over all its frames:

* ground truth = the uint8 **sum** of the decoded masks of its ``anno_id``s (2 where two overlap);
  prediction = the PNG read with ``cv2.imread(..., IMREAD_GRAYSCALE)``, values as they are;
* J, F = frame means of the DAVIS ``db_eval_iou`` / ``db_eval_boundary`` (both masks cast to bool);
* A = frame mean of ``mean(gt == pred)`` (``get_r2vos_accuracy``) on the raw values — so a 0/255 PNG
  never equals a GT of 1 and only background agreement counts; that is what the official number is;
* R = frame mean of ``max(1 − neg / (pos + 1e-6), 0)`` (``get_r2vos_robustness``) with ``neg`` the
  sum of ``(1 − gt) · pred`` in uint8 arithmetic (wrapping as numpy does) and ``pos`` the number of
  foreground pixels of the video's ``mask_dict_foreground.json`` frame.

Aggregation (``__main__``): each expression's J, F, A, R are rounded to two decimals of a percent
(``round(100 * x, 2)``); the referring numbers are the means over ``type_id == 0``, the reasoning ones
over ``type_id == 1``; ``type_id == 2`` is left out of everything; J&F of a group is (J + F) / 2 of its
means, and overall = the mean of the referring and the reasoning numbers. rvosbench reports these
divided by 100 (fractions, like every protocol), unrounded records in ``samples.jsonl``.

Predictions made inside ``rvosbench run`` are boolean; they are scored with the values rvosbench's
PNG writers give them (255 = object), so a run and ``rvosbench eval`` of its saved predictions agree.
Differences from the script, on purpose: a missing prediction file is refused (PredictionError) rather
than scored 0, and the frame size comes from the data, not from the first PNG.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from rvosbench.core.registry import PROTOCOLS
from rvosbench.core.types import Prediction, Sample
from rvosbench.metrics.common import RowEvaluator, check_prediction
from rvosbench.metrics.davis import jaccard_and_boundary
from rvosbench.metrics.per_expression import grouped_means

#: value of an object pixel in the PNGs rvosbench writes (metrics.submission.encode_png)
WRITTEN_OBJECT_VALUE = 255
GROUPS = {"referring": 0, "reasoning": 1}
MEASURES = ("J", "F", "A", "R")


def expression_scores(gt_sum: np.ndarray, pred: np.ndarray, foreground: np.ndarray) -> dict[str, float]:
    """One expression's J, F, A, R (unrounded fractions) from uint8 (T, H, W) stacks, as ``eval_queue``."""
    j, f = jaccard_and_boundary(gt_sum, pred)
    accuracy = (gt_sum == pred).mean(axis=(1, 2))
    false_positive = ((1 - gt_sum) * pred).sum(axis=(1, 2))  # uint8 products, wrapping like the script
    positive = foreground.sum(axis=(1, 2), dtype=np.uint64)
    robustness = np.maximum(1 - false_positive / (positive + 1e-6), 0.0)
    return {"J": float(j.mean()), "F": float(f.mean()), "A": float(accuracy.mean()), "R": float(robustness.mean())}


def percent(value: float) -> float:
    """The script's per-expression rounding, ``round(100 * x, 2)`` on a numpy float."""
    return float(round(100 * np.float64(value), 2))


@PROTOCOLS.register_module(name="revos")
class ReVOSProtocol(RowEvaluator):
    """J, F, J&F, A, R per referring / reasoning group and overall (their mean), type_id 2 left out."""

    metric_version = "1"
    metrics = ("J&F", "J", "F", "A", "R")
    #: offline scoring hands the PNGs' grayscale values to :meth:`process_values` (engine.offline_eval)
    raw_prediction_values = True

    def process(self, sample: Sample, prediction: Prediction) -> dict[str, Any]:
        check_prediction(sample, prediction)
        return self.process_values(sample, prediction.masks.astype(np.uint8) * np.uint8(WRITTEN_OBJECT_VALUE))

    def process_values(self, sample: Sample, values: np.ndarray) -> dict[str, Any]:
        """Score the prediction's pixel values (uint8 (T, H, W), as the PNGs hold them)."""
        check_prediction(sample, Prediction(values))
        indices = range(sample.num_frames)
        scores = expression_scores(sample.meta["load_label_sum_fn"](indices), values.astype(np.uint8, copy=False),
                                   sample.meta["load_foreground_fn"](indices))
        record = {**sample.record_fields(), **scores, "J&F": (scores["J"] + scores["F"]) / 2,
                  "type_id": sample.meta["type_id"]}
        self._rows.append(record)
        return record

    def evaluate(self) -> dict[str, Any]:
        rows = self._rows
        metrics: dict[str, float] = {}
        with warnings.catch_warnings():  # an empty group averages to NaN, as in the script (which hides the warning)
            warnings.simplefilter("ignore", RuntimeWarning)
            for group, type_id in GROUPS.items():
                members = [r for r in rows if r["type_id"] == type_id]
                for measure in MEASURES:
                    metrics[f"{measure}_{group}"] = np.array([percent(r[measure]) for r in members]).mean() / 100
                metrics[f"J&F_{group}"] = (metrics[f"J_{group}"] + metrics[f"F_{group}"]) / 2
            for measure in ("J&F", *MEASURES):
                metrics[measure] = (metrics[f"{measure}_referring"] + metrics[f"{measure}_reasoning"]) / 2
        ordered = {k: float(metrics[k]) for k in (*self.metrics, *sorted(set(metrics) - set(self.metrics)))}
        scored = [r for r in rows if r["type_id"] in GROUPS.values()]
        return {"metrics": ordered, "records": [dict(r) for r in rows],
                "tables": {"per_video": grouped_means(scored, "video_id", ("J&F", *MEASURES)),
                           "per_tag": grouped_means(rows, "tags", ("J&F", *MEASURES))}}

