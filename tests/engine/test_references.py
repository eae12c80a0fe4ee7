"""Reference predictors: the colour-word reader, the time-blind reader's applicability, the registry."""
from __future__ import annotations

import numpy as np
import pytest

from rvosbench.core.errors import ConfigError
from rvosbench.core.types import Sample
from rvosbench.engine.baselines import BASELINES, baseline, colour_word


def drawn_sample(text: str) -> tuple[Sample, np.ndarray]:
    """A red square and a blue disc on a grey, noisy background (4 frames of 32x40)."""
    rng = np.random.default_rng(0)
    frames = rng.integers(100, 140, size=(4, 32, 40, 3)).astype(np.uint8)
    frames[:] = frames.mean(-1, keepdims=True).astype(np.uint8)  # grey: no saturation
    red = np.zeros((4, 32, 40), dtype=bool)
    red[:, 5:15, 5:15] = True
    frames[red] = (220, 40, 40)
    yy, xx = np.mgrid[:32, :40]
    frames[:, (yy - 20) ** 2 + (xx - 28) ** 2 < 36] = (45, 90, 230)
    sample = Sample(benchmark="toy", split="test", video_id="v", exp_id="0", text=text, obj_ids=[1],
                    frame_names=[str(i) for i in range(4)], annotated=[True] * 4, orig_size=(32, 40),
                    load_frames_fn=lambda idx: frames[list(idx)])
    return sample, red


def test_colour_word_keeps_the_pixels_of_the_first_colour_word():
    sample, red = drawn_sample("the red square left of the blue circle")
    assert np.array_equal(colour_word(sample).masks, red)


def test_colour_word_without_a_colour_word_is_empty():
    sample, _ = drawn_sample("the square on the left")
    assert not colour_word(sample).masks.any()


def test_time_blind_reader_applies_only_where_the_benchmark_has_one():
    class NoReader:
        pass

    class Reader:
        def time_blind_masks(self, sample):
            return np.ones((sample.num_frames, *sample.orig_size), dtype=bool)

    sample, _ = drawn_sample("the red square")
    assert BASELINES["single_frame"].predictor(NoReader()) is None  # skipped, never scored as something else
    assert BASELINES["single_frame"].predictor(Reader())(sample).masks.all()
    assert BASELINES["colour_word"].predictor(NoReader()) is not None


def test_unknown_reference_is_a_config_error():
    with pytest.raises(ConfigError, match="single_frame"):
        baseline("single_fram")
