"""``rvosbench eval`` on every fixture benchmark: the ground truth written as a prediction in the
benchmark's native layout scores perfectly, and empty predictions score the value derived by hand
from the ground truth (J = F = 1 exactly on the frames where the object is absent, 0 elsewhere)."""
import json
import warnings

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from rvosbench.core.registry import BENCHMARKS
from rvosbench.data.fixtures import WRITERS, write_fixture
from rvosbench.engine.catalog import load_catalog
from rvosbench.engine.offline_eval import benchmark_config, build, run_offline_eval

load_catalog(entry_points=False)
pytestmark = pytest.mark.filterwarnings("ignore::rvosbench.data.base.DatasetCountWarning")


def scored_splits():
    for fmt in WRITERS:                    # fixture formats are named after their benchmarks
        cls = BENCHMARKS.get(fmt)
        for split in cls.splits:
            if cls.has_ground_truth.get(split, True):
                yield fmt, split


def save_png(path, array, palette=False):
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(array.astype(np.uint8), mode="P" if palette else "L")
    if palette:
        image.putpalette(list(range(256)) * 3)
    image.save(path)


PER_EXPRESSION_LAYOUT = ("per_expression", "mevis_v2", "revos")


def write_native(protocol, samples, folder, empty=False):
    """Predictions in the benchmark's native layout from the ground truth (or all empty)."""
    if protocol in PER_EXPRESSION_LAYOUT:
        for s in samples:
            for frame, mask in zip(s.frame_names, s.masks()):
                save_png(folder / s.video_id / s.exp_id / f"{frame}.png", (mask & (not empty)) * 255)
        return folder
    if protocol == "ref_davis_u4":
        runs = {}
        for s in samples:
            key = (s.meta["anno_id"], s.video_id)
            runs.setdefault(key, []).append(s)
        for (run, video), group in runs.items():
            ids = np.zeros((group[0].num_frames, *group[0].orig_size), np.uint8)
            for rank, s in enumerate(sorted(group, key=lambda s: s.obj_ids[0]), start=1):
                if not empty:
                    ids[s.masks()] = rank
            for frame, labels in zip(group[0].frame_names, ids):
                save_png(folder / f"anno_{run}" / video / f"{frame}.png", labels, palette=True)
        return folder
    detections = []
    for s in samples:
        indices = [i for i, a in enumerate(s.annotated) if a]
        for i, mask in zip(indices, s.masks(indices)):
            rle = mask_utils.encode(np.asfortranarray((mask & (not empty)).astype(np.uint8)))
            detections.append({"image_id": f"{s.uid}/{s.frame_names[i]}", "category_id": 1, "score": 0.9,
                               "segmentation": {"size": rle["size"], "counts": rle["counts"].decode("ascii")}})
    path = folder.with_suffix(".json")
    path.write_text(json.dumps(detections))
    return path


def empty_prediction_value(protocol, samples):
    """The score of all-empty predictions, derived from the GT alone."""
    if protocol in PER_EXPRESSION_LAYOUT:
        fractions = [np.mean([not m.any() for m in s.masks([i for i, a in enumerate(s.annotated) if a])])
                     for s in samples]
        if protocol != "revos":
            return {"J": np.mean(fractions), "F": np.mean(fractions)}
        # ReVOS: per-expression percentages rounded to 2 decimals, referring and reasoning averaged
        groups = [[round(100 * np.float64(x), 2) for x, s in zip(fractions, samples) if s.meta["type_id"] == t]
                  for t in (0, 1)]
        value = np.mean([np.mean(g) for g in groups]) / 100
        return {"J": value, "F": value}
    if protocol == "ref_davis_u4":
        per_run = {}
        for s in samples:
            masks = s.masks()
            first_max = max(o.obj_ids[0] for o in samples if o.video_id == s.video_id and o.masks([0]).any())
            if s.obj_ids[0] <= first_max:  # the toolkit drops objects absent from frame 0 with higher ids
                per_run.setdefault(s.meta["anno_id"], []).append(np.mean([not m.any() for m in masks]))
        return {"J": np.mean([np.mean(v) for v in per_run.values()])}
    return {"P@0.5": 0.0, "oIoU": 0.0, "mAP": 0.0}


@pytest.mark.parametrize("fmt,split", list(scored_splits()))
def test_fixture_oracle_is_perfect_and_empty_scores_the_hand_value(tmp_path, fmt, split):
    fixture = write_fixture(fmt, tmp_path / "data")
    spec = tmp_path / "bench.yaml"
    spec.write_text(f"type: {fixture.benchmark}\nroot: {fixture.root}\nsplit: {split}\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bench = build(benchmark_config(str(spec)))
        samples = bench.sample_list()
    assert samples, f"{fmt}/{split} fixture has no samples"
    protocol = bench.protocol

    oracle = run_offline_eval(str(spec), write_native(protocol, samples, tmp_path / "oracle"), workers=1)
    if protocol == "a2d":
        assert oracle.metrics["P@0.9"] == 1.0 and oracle.metrics["oIoU"] == 1.0
        assert oracle.metrics["mAP"] == pytest.approx(1.0) and oracle.metrics["mAP_top1"] == pytest.approx(1.0)
    else:
        assert oracle.metrics["J&F"] == 1.0, oracle.metrics

    damaged = run_offline_eval(str(spec), write_native(protocol, samples, tmp_path / "empty", empty=True), workers=1)
    for key, value in empty_prediction_value(protocol, samples).items():
        assert damaged.metrics[key] == pytest.approx(value, abs=1e-9), key
