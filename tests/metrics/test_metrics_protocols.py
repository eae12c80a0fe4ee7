"""The three protocols on hand-made samples with hand-computed values."""
import numpy as np
import pytest

import rvosbench.metrics  # noqa: F401  (registers the protocols)
from rvosbench.core.errors import DataError, PredictionError
from rvosbench.core.registry import PROTOCOLS
from rvosbench.core.types import Prediction, Sample
from rvosbench.metrics import a2d_scores


def make_sample(gt, video="v", exp="0", obj_ids=(1,), annotated=None, meta=None):
    gt = np.asarray(gt, bool)
    return Sample(benchmark="test", split="val", video_id=video, exp_id=exp, text=f"object {exp}",
                  obj_ids=list(obj_ids), frame_names=[f"{i:05d}" for i in range(len(gt))],
                  annotated=list(annotated if annotated is not None else [True] * len(gt)),
                  orig_size=gt.shape[1:], meta=dict(meta or {}),
                  load_masks_fn=lambda idx: gt[list(idx)])


def box(frames, height, width, y0, y1, x0, x1, present=None):
    masks = np.zeros((frames, height, width), bool)
    for t in range(frames):
        if present is None or present[t]:
            masks[t, y0:y1, x0:x1] = True
    return masks


# ------------------------------------------------------------------------------ per_expression
def test_per_expression_oracle_and_hand_computed_damage():
    evaluator = PROTOCOLS.build_from({"type": "per_expression"})
    evaluator.reset()
    gt_a = box(2, 20, 20, 5, 10, 5, 10, present=[True, False])
    gt_b = box(2, 20, 20, 2, 6, 2, 6)
    record = evaluator.process(make_sample(gt_a, exp="0"), Prediction(gt_a.copy()))
    assert record["J"] == record["F"] == record["J&F"] == 1.0          # empty on empty frame scores 1
    damaged = gt_b.copy()
    damaged[1] = False                                                # object missed in frame 1
    record = evaluator.process(make_sample(gt_b, exp="1"), Prediction(damaged))
    assert record["J"] == pytest.approx(0.5) and record["F"] == pytest.approx(0.5)
    output = evaluator.evaluate()
    assert output["metrics"] == pytest.approx({"J&F": 0.75, "J": 0.75, "F": 0.75})
    assert [r["exp_id"] for r in output["records"]] == ["0", "1"]
    assert output["records"][0]["video_id"] == "v" and "text" in output["records"][0]
    assert output["tables"]["per_video"][0]["count"] == 2


def test_per_expression_false_positive_on_empty_frame_scores_zero_and_only_annotated_frames_count():
    evaluator = PROTOCOLS.build_from({"type": "per_expression"})
    gt = box(3, 10, 10, 2, 5, 2, 5, present=[True, False, True])
    pred = gt.copy()
    pred[1, 0:2, 0:2] = True                                          # false positive on the empty frame
    assert evaluator.process(make_sample(gt), Prediction(pred))["J"] == pytest.approx(2 / 3)
    evaluator.reset()
    record = evaluator.process(make_sample(gt, annotated=[True, False, True]), Prediction(pred))
    assert record["J"] == 1.0 and record["scored_frames"] == 2


def test_per_expression_rejects_mis_shaped_predictions():
    evaluator = PROTOCOLS.build_from({"type": "per_expression"})
    gt = box(2, 10, 10, 2, 5, 2, 5)
    with pytest.raises(PredictionError, match="v/0.*expected \\(2, 10, 10\\)"):
        evaluator.process(make_sample(gt), Prediction(np.zeros((2, 10, 11), bool)))


def test_per_expression_shards_merge_to_the_same_result():
    gts = [box(2, 12, 12, i, i + 4, 1, 6) for i in range(4)]
    preds = [np.roll(g, i, axis=2) for i, g in enumerate(gts)]
    whole = PROTOCOLS.build_from({"type": "per_expression"})
    for i, (g, p) in enumerate(zip(gts, preds)):
        whole.process(make_sample(g, video=f"v{i}"), Prediction(p))
    parts = []
    for chunk in ([0, 1], [2, 3]):
        shard = PROTOCOLS.build_from({"type": "per_expression"})
        for i in chunk:
            shard.process(make_sample(gts[i], video=f"v{i}"), Prediction(preds[i]))
        parts.append(shard.state())
    merged = PROTOCOLS.build_from({"type": "per_expression"})
    merged.merge(parts)
    assert merged.evaluate()["metrics"] == whole.evaluate()["metrics"]


# ------------------------------------------------------------------------------ ref_davis_u4
def _davis_video(frames=3, size=(16, 20)):
    """Two objects; object 3 appears only from frame 1 on, so the toolkit drops it."""
    one = box(frames, *size, 2, 7, 2, 8)
    two = box(frames, *size, 9, 14, 10, 18)
    late = box(frames, *size, 0, 2, 15, 19, present=[False] + [True] * (frames - 1))
    return {1: one, 2: two, 3: late}


def _run_u4(objects, prediction_for):
    evaluator = PROTOCOLS.build_from({"type": "ref_davis_u4"})
    for obj, gt in objects.items():
        for run in range(4):
            sample = make_sample(gt, exp=str(4 * (obj - 1) + run), obj_ids=[obj], meta={"anno_id": run})
            evaluator.process(sample, prediction_for(run, obj, gt))
    return evaluator.evaluate()


def test_ref_davis_u4_oracle_is_perfect_and_late_objects_are_dropped():
    objects = _davis_video()
    output = _run_u4(objects, lambda run, obj, gt: Prediction(gt.copy(), probs=gt.astype(np.float32)))
    assert output["metrics"]["J&F"] == 1.0 and output["metrics"]["J"] == 1.0
    assert [row["objects"] for row in output["tables"]["per_run"]] == [2, 2, 2, 2]
    assert {r["obj_id"] for r in output["records"]} == {1, 2}        # object 3 is not in frame 0


def test_ref_davis_u4_hungarian_matching_undoes_swapped_ids():
    objects = _davis_video()
    swap = {1: 2, 2: 1, 3: 3}
    output = _run_u4(objects, lambda run, obj, gt: Prediction(objects[swap[obj]].copy()))
    assert output["metrics"]["J&F"] == 1.0
    assert {(r["obj_id"], r["matched_pred_id"]) for r in output["records"]} == {(1, 2), (2, 1)}


def test_ref_davis_u4_hand_computed_missing_object_in_one_run():
    objects = _davis_video()

    def predict(run, obj, gt):
        if run == 1 and obj == 2:
            return Prediction(np.zeros_like(gt))                      # object 2 missed in run 1
        return Prediction(gt.copy())

    output = _run_u4(objects, predict)
    per_run = {row["anno_id"]: row for row in output["tables"]["per_run"]}
    assert per_run[1]["J"] == pytest.approx(0.5) and per_run[1]["F"] == pytest.approx(0.5)
    assert per_run[0]["J&F"] == 1.0
    assert output["metrics"]["J"] == pytest.approx((1 + 0.5 + 1 + 1) / 4)
    assert output["metrics"]["J&F"] == pytest.approx(0.875)


def test_ref_davis_u4_argmax_merge_gives_overlaps_to_the_most_confident_object():
    objects = {1: box(2, 10, 10, 0, 6, 0, 6), 2: box(2, 10, 10, 4, 10, 4, 10)}
    evaluator = PROTOCOLS.build_from({"type": "ref_davis_u4"})
    probs_1 = objects[1] * np.float32(0.6)
    probs_2 = objects[2] * np.float32(0.9)
    for obj, probs in ((2, probs_2), (1, probs_1)):                    # arrival order must not matter
        evaluator.process(make_sample(objects[obj], exp=str(obj), obj_ids=[obj], meta={"anno_id": 0}),
                          Prediction(probs >= 0.5, probs=probs))
    records = {r["obj_id"]: r for r in evaluator.evaluate()["records"]}
    # object 2 owns the 2x2 overlap, so object 1's prediction lost 4 of its 36 pixels: J = 32/36
    assert records[2]["J"] == 1.0
    assert records[1]["J"] == pytest.approx(32 / 36)


def test_ref_davis_u4_void_pixels_are_excluded():
    objects = {1: box(2, 12, 12, 2, 6, 2, 6)}
    void = np.zeros((2, 12, 12), bool)
    void[:, 8:, 8:] = True
    pred = objects[1].copy()
    pred[:, 8:, 8:] = True                                            # false positive only on void
    evaluator = PROTOCOLS.build_from({"type": "ref_davis_u4"})
    meta = {"anno_id": 0, "load_void_fn": lambda idx: void[list(idx)]}
    evaluator.process(make_sample(objects[1], obj_ids=[1], meta=meta), Prediction(pred))
    assert evaluator.evaluate()["metrics"]["J&F"] == 1.0


def test_ref_davis_u4_needs_the_annotator_run():
    evaluator = PROTOCOLS.build_from({"type": "ref_davis_u4"})
    gt = box(2, 8, 8, 1, 4, 1, 4)
    with pytest.raises(DataError, match="anno_id"):
        evaluator.process(make_sample(gt), Prediction(gt))


# ------------------------------------------------------------------------------ a2d
def test_a2d_scores_hand_computed():
    a = np.zeros((8, 8), bool)
    a[0:4, 0:4] = True                                                # 16 px
    b = np.zeros((8, 8), bool)
    b[4:8, 4:8] = True
    half_b = np.zeros((8, 8), bool)
    half_b[4:8, 4:6] = True                                           # IoU 8/16 with b
    wrong = np.zeros((8, 8), bool)
    wrong[0:2, 6:8] = True
    gt = [("A", a), ("B", b)]
    preds = [("A", a, 0.6), ("B", b, 0.9), ("B", wrong, 0.7)]
    scores = a2d_scores(gt, preds)
    assert scores["P@0.9"] == 1.0 and scores["oIoU"] == 1.0 and scores["mIoU"] == pytest.approx(1.0)
    assert scores["mAP_top1"] == pytest.approx(1.0)
    # all queries, by score: B hit (0.9), B miss (0.7), A hit (0.6): precision 1 up to recall 0.5, then
    # 2/3; COCO averages the interpolated precision at 101 recall points: (51 + 50 * 2/3) / 101
    expected = (51 + 50 * 2 / 3) / 101
    assert scores["mAP"] == pytest.approx(expected) and scores["AP50"] == pytest.approx(expected)
    assert scores["AP75"] == pytest.approx(expected)

    scores = a2d_scores(gt, [("A", a, 0.6), ("B", half_b, 0.9)])
    assert scores["oIoU"] == pytest.approx((16 + 8) / (16 + 16))
    assert scores["mIoU"] == pytest.approx((1 + (8 + 1e-6) / (16 + 1e-6)) / 2)
    # IoU exactly 0.5 is pushed just above 0.5 by the epsilon, as in MTTR: counts for P@0.5 only
    assert scores["P@0.5"] == 1.0 and scores["P@0.6"] == 0.5
    assert scores["AP50"] == pytest.approx(1.0)
    assert scores["mAP"] < scores["AP50"]


def test_a2d_protocol_streams_frames_and_scores_the_top_query_as_the_official_code():
    gt = box(3, 8, 8, 0, 4, 0, 4)
    sample = make_sample(gt, annotated=[True, False, True])
    wrong = np.zeros_like(gt)
    wrong[:, 6:8, 6:8] = True
    queries = np.stack([gt, wrong])                                   # query 0 right, query 1 wrong
    query_scores = np.array([[0.6, 0.6, 0.6], [0.9, 0.9, 0.9]])       # ... but the wrong one scores higher
    evaluator = PROTOCOLS.build_from({"type": "a2d"})
    evaluator.process(sample, Prediction(gt.copy(), scores=np.full(3, 0.6),
                                         query_masks=queries, query_scores=query_scores))
    output = evaluator.evaluate()
    assert [r["frame"] for r in output["records"]] == ["00000", "00002"]
    # MTTR's P@K/IoU take the highest-scoring detection of the frame, not the model's own selection
    assert output["records"][0]["IoU"] == pytest.approx(1e-6 / (20 + 1e-6)) and output["records"][0]["score"] == 0.9
    metrics = output["metrics"]
    assert metrics["mAP_top1"] == 0.0 and metrics["P@0.5"] == 0.0
    # two wrong detections outrank both hits: precision 1/3 at recall 0.5, 2/4 at recall 1
    assert metrics["mAP"] == pytest.approx(0.5)


def test_a2d_top_detection_is_the_last_of_equal_scores():
    """sorted(preds, key=score)[-1] in MTTR's metric code: a stable sort, so the last tied entry wins."""
    from rvosbench.metrics.a2d import top_detection

    assert top_detection([0.2, 0.9, 0.9, 0.1]) == 2
    assert top_detection([1.0]) == 0 and top_detection([0.5, 0.4]) == 0
    gt = box(1, 8, 8, 0, 4, 0, 4)
    wrong = np.zeros_like(gt)
    wrong[:, 6:8, 6:8] = True
    evaluator = PROTOCOLS.build_from({"type": "a2d"})
    evaluator.process(make_sample(gt), Prediction(gt.copy(), query_masks=np.stack([gt, wrong]),
                                                   query_scores=np.array([[0.7], [0.7]])))
    assert evaluator.evaluate()["metrics"]["P@0.5"] == 0.0
