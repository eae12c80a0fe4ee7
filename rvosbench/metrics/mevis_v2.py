"""``mevis_v2``: MeViS v2 scored by the official per-expression protocol, plus existence and target counts.

**J, F, J&F** are those of henghuiding/MeViS ``tools/eval_mevis.py`` (function ``eval_queue``): every
expression of the split is scored, its ground truth is the sum of the decoded masks of its
``anno_id``s — for a no-target expression (``anno_id == []``) an all-zero stack — and J, F are the
frame means of the DAVIS functions in ``tools/metrics.py``. With an empty ground truth those functions
give, frame by frame: ``db_eval_iou`` J = 1 when the union is empty (``j[np.isclose(union, 0)] = 1``)
and 0 for any false positive; ``f_measure`` F = 1 when both boundaries are empty (``n_fg == 0 and
n_gt == 0``) and 0 when only the prediction has one. So a no-target expression scores 1 where the
model predicts nothing and 0 where it predicts anything, as :mod:`rvosbench.metrics.davis` already does.

**N-acc / T-acc (unofficial).** The MeViS v2 paper reports an existence measure, and the PVUW 2026
MeViS-Text track ranks by a "Final" score beside J&F (0.909 vs 0.790 for the winner, arXiv 2604.00404),
but neither definition could be retrieved: two rounds of searches (2026-11-29, the docs, pages, code
and issues corpora) found only the opening of arXiv 2512.10945's HTML, a v1-era
``tools/eval_mevis.py`` and README in henghuiding/MeViS (no v2 scorer; the v2 server is Codabench
competition 11420, whose scoring program is not public), and challenge reports that name the Final
score without a formula. rvosbench therefore uses the definition of GRES/gRefCOCO (Liu, Ding et al.,
CVPR 2023; the same group; henghuiding/ReLA ``gres_model/evaluation/refer_evaluation.py``: N_acc =
TP / (TP + FN) over no-target samples, T_acc = TN / (TN + FP) over samples with targets), applied to
whole expressions: an expression is predicted "no target" when its prediction is empty in every
scored frame. GRES reports both as 0 when a split has no no-target sample; rvosbench reports NaN
(there is nothing to measure). Labelled unofficial in docs/metrics.md until the paper's own
definition is checked.

**Breakdown** by the number of referred objects: ``0``, ``1`` and ``many`` (records carry ``targets``
and ``target_group``; table ``by_targets``; metrics ``J&F_0``, ``J&F_1``, ``J&F_many``).
"""
from __future__ import annotations

from typing import Any

from rvosbench.core.registry import PROTOCOLS
from rvosbench.core.types import Prediction, Sample
from rvosbench.metrics.common import annotated_indices, mean
from rvosbench.metrics.per_expression import PerExpression, grouped_means

GROUPS = ("0", "1", "many")


def target_group(count: int) -> str:
    """``'0'``, ``'1'`` or ``'many'``."""
    return "many" if count > 1 else str(count)


@PROTOCOLS.register_module(name="mevis_v2")
class MeViSv2Protocol(PerExpression):
    """Per-expression J&F over all expressions (no-target ones included), N-acc, T-acc, per target count."""

    metric_version = "1"
    metrics = ("J&F", "J", "F", "N-acc", "T-acc")

    def process(self, sample: Sample, prediction: Prediction) -> dict[str, Any] | None:
        record = super().process(sample, prediction)
        if record is not None:
            record["targets"] = len(sample.obj_ids)
            record["target_group"] = target_group(len(sample.obj_ids))
            record["predicted_empty"] = not bool(prediction.masks[annotated_indices(sample)].any())
        return record

    def evaluate(self) -> dict[str, Any]:
        output = super().evaluate()
        rows = self._rows
        no_target = [r for r in rows if r["targets"] == 0]
        with_target = [r for r in rows if r["targets"] > 0]
        metrics = output["metrics"]
        metrics["N-acc"] = mean(float(r["predicted_empty"]) for r in no_target)
        metrics["T-acc"] = mean(float(not r["predicted_empty"]) for r in with_target)
        by_targets = {row["target_group"]: row for row in grouped_means(rows, "target_group", self.metrics[:3])}
        table = []
        for group in GROUPS:
            row = by_targets.get(group, {"target_group": group, "count": 0, "J&F": float("nan"),
                                         "J": float("nan"), "F": float("nan")})
            members = [r for r in rows if r["target_group"] == group]
            existence = "N-acc" if group == "0" else "T-acc"
            row[existence] = mean(float(r["predicted_empty"] == (group == "0")) for r in members)
            metrics[f"J&F_{group}"] = row["J&F"]
            table.append(row)
        output["tables"]["by_targets"] = table
        return output
