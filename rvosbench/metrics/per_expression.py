"""``per_expression``: the MeViS ``valid_u`` / Ref-YouTube-VOS / Ref-DAVIS "PE" protocol.

henghuiding/MeViS ``tools/eval_mevis.py`` (rivals.md §2.2): for each (video, expression) the ground
truth is the union of the referred objects' masks; J and F are computed per frame with the DAVIS
functions and averaged over the expression's frames; the reported J and F are the means over
expressions and J&F = (J + F) / 2. Empty prediction on empty GT scores J = F = 1, a false positive on
an empty frame J = F = 0 (the DAVIS rules). Only annotated frames are scored (all of them on these
benchmarks). There is no recall or decay in this protocol.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any

from rvosbench.core.registry import PROTOCOLS
from rvosbench.core.types import Prediction, Sample
from rvosbench.metrics.common import RowEvaluator, annotated_indices, check_prediction, mean
from rvosbench.metrics.davis import DEFAULT_BOUND_TH, jaccard_and_boundary


def grouped_means(rows: list[dict[str, Any]], key: str, metrics: tuple[str, ...]) -> list[dict[str, Any]]:
    """``[{key: value, 'count': n, metric: mean, ...}]`` over rows grouped by ``rows[key]`` (lists fan out)."""
    groups: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        values = row.get(key)
        for value in values if isinstance(values, list) else [values]:
            groups[value].append(row)
    return [{key: value, "count": len(members), **{m: mean(r[m] for r in members) for m in metrics}}
            for value, members in sorted(groups.items(), key=lambda item: str(item[0]))]


@PROTOCOLS.register_module(name="per_expression")
class PerExpression(RowEvaluator):
    """Per expression: mean J and F over its annotated frames; then the mean over expressions."""

    metric_version = "1"
    metrics = ("J&F", "J", "F")

    def __init__(self, bound_th: float = DEFAULT_BOUND_TH):
        self.bound_th = bound_th
        super().__init__()

    def process(self, sample: Sample, prediction: Prediction) -> dict[str, Any] | None:
        check_prediction(sample, prediction)
        indices = annotated_indices(sample)
        gt = sample.masks(indices) if indices else None
        if gt is None:
            return None  # a server-only split: nothing to score locally
        j, f = jaccard_and_boundary(gt, prediction.masks[indices], bound_th=self.bound_th)
        record = {**sample.record_fields(), "J": float(j.mean()), "F": float(f.mean()),
                  "scored_frames": len(indices)}
        record["J&F"] = (record["J"] + record["F"]) / 2
        self._rows.append(record)
        return record

    def evaluate(self) -> dict[str, Any]:
        rows = self._rows
        j, f = mean(r["J"] for r in rows), mean(r["F"] for r in rows)
        return {
            "metrics": {"J&F": (j + f) / 2, "J": j, "F": f},
            "records": [dict(r) for r in rows],
            "tables": {"per_video": grouped_means(rows, "video_id", PerExpression.metrics),
                       "per_tag": grouped_means(rows, "tags", PerExpression.metrics)},
        }
