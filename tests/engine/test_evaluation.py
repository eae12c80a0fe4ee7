"""Evaluation loop: windows, streaming into the protocol, strips, trivial baselines, the table."""
from __future__ import annotations

import numpy as np
import torch

from rvosbench.core.types import Prediction
from rvosbench.engine.baselines import biggest_moving, empty, whole_frame
from rvosbench.engine.distributed import shard_by_group
from rvosbench.engine.evaluation import ModelPredictor, concat_predictions, run_evaluation
from rvosbench.engine.table import format_table
from tests.engine.toys import ToyEvaluator, ToyModel, to_tensor, toy_samples


def oracle(sample):
    return Prediction(masks=sample.masks())


def test_windowed_prediction_equals_whole_video_for_a_framewise_model() -> None:
    torch.manual_seed(0)
    model = ToyModel()
    sample = toy_samples(1)[0]
    whole = ModelPredictor(model, to_tensor, None, torch.device("cpu"))(sample)
    pieces = ModelPredictor(model, to_tensor, 3, torch.device("cpu"))(sample)
    assert np.array_equal(whole.masks, pieces.masks) and np.allclose(whole.probs, pieces.probs)
    joined = concat_predictions([Prediction(masks=np.zeros((2, 4, 4), bool), scores=np.ones(2)),
                                 Prediction(masks=np.ones((1, 4, 4), bool))])
    assert joined.masks.shape == (3, 4, 4) and joined.scores is None  # a field missing in a part is dropped


def test_evaluation_streams_records_and_keeps_first_and_worst_strips() -> None:
    samples = toy_samples(6)
    broken = {samples[4].uid}

    def mostly_right(sample):
        masks = sample.masks()
        return Prediction(masks=~masks if sample.uid in broken else masks)

    result = run_evaluation(mostly_right, samples, ToyEvaluator(), strips=1, strip_frames=2)
    assert result.metrics["J&F"] == np.mean([0.0 if s.uid in broken else 1.0 for s in samples])
    assert [r["video_id"] for r in result.records] == [s.video_id for s in samples]
    assert all("latency_ms" in r for r in result.records)
    first, worst = f"{samples[0].video_id}__{samples[0].exp_id}", f"{samples[4].video_id}__{samples[4].exp_id}"
    assert set(result.strips) == {first, worst}
    strip = result.strips[worst]
    assert strip["frames"].shape == (2, 16, 16, 3) and strip["gt"].shape == strip["pred"].shape == (2, 16, 16)
    assert not np.logical_and(strip["gt"], strip["pred"]).any() and str(strip["text"]) == "the red square"
    assert result.timings["samples"] == 6 and result.timings["frames"] == 24


def test_sharding_keeps_videos_whole_and_covers_everything() -> None:
    keys = ["a", "a", "b", "c", "c", "c", "d"]
    shards = [shard_by_group(keys, r, 3) for r in range(3)]
    assert sorted(i for s in shards for i in s) == list(range(7))
    for shard in shards:
        for i in shard:
            assert all(j in shard for j, k in enumerate(keys) if k == keys[i])


def test_trivial_baselines() -> None:
    samples = toy_samples(3)
    scores = {fn.__name__: run_evaluation(fn, samples, ToyEvaluator()).metrics["J&F"]
              for fn in (empty, whole_frame, biggest_moving)}
    assert scores["empty"] == 0.0
    assert 0.1 < scores["whole_frame"] < 0.2  # a 6x6 square in 16x16 frames: IoU 36/256
    assert scores["biggest_moving"] > 0.5  # the square moves over a static noisy background


def test_comparison_table_mean_std_and_delta() -> None:
    def summary(variant, seed, value):
        return {"variant": variant, "seed": seed, "benchmark": "synth", "split": "test",
                "metrics": {"J&F": value, "J": value}}

    text = format_table([summary("full", 0, 0.80), summary("full", 1, 0.84), summary("no_jsc", 0, 0.70),
                         summary("no_jsc", 1, 0.74)], ["full", "no_jsc"], "full", {"synth/test": ["J&F", "J"]},
                        baselines=[summary("empty", None, 0.0)], title="jsc")
    lines = text.splitlines()
    assert lines[0] == "jsc" and lines[1].split() == ["variant", "seeds", "J&F", "J"]
    assert lines[3].split() == ["full", "(baseline)", "2", "82.0±2.8", "82.0±2.8"]
    assert lines[4].split() == ["no_jsc", "2", "72.0±2.8", "(-10.0)", "72.0±2.8", "(-10.0)"]
    assert lines[6].split() == ["empty", "(trivial)", "–", "0.0", "0.0"]
