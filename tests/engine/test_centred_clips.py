"""``eval.clips: centred``: one window per annotated frame, centred on it, as MTTR evaluates A2D/JHMDB."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from rvosbench.core.types import Prediction, Sample
from rvosbench.data.clips import centred_indices
from rvosbench.engine.evaluation import ModelPredictor
from rvosbench.engine.settings import EvalSettings
from rvosbench.core.errors import ConfigError


class WindowRecorder(nn.Module):
    """Predicts from what it sees: each frame's score is the video frame index it was given (frames are
    filled with their index) plus 1000 × its position in the window; query 1 scores 0.5 more."""

    def __init__(self):
        super().__init__()
        self.seen: list[list[int]] = []

    def predict(self, frames: torch.Tensor, text: str, orig_size: tuple[int, int]) -> Prediction:
        indices = [int(round(float(f.mean()) * 255)) for f in frames]
        self.seen.append(indices)
        scores = np.array([i + 1000 * position for position, i in enumerate(indices)], dtype=np.float32)
        masks = np.ones((len(indices), *orig_size), dtype=bool)
        return Prediction(masks=masks, probs=masks.astype(np.float32), scores=scores,
                          query_masks=np.stack([masks, ~masks]), query_scores=np.stack([scores, scores + 0.5]))


def indexed_sample(num_frames: int, annotated: list[int], size=(6, 8)) -> Sample:
    frames = np.stack([np.full((*size, 3), t, dtype=np.uint8) for t in range(num_frames)])
    return Sample("toy", "test", "v", "0", "the thing", [1], [f"{t:05d}" for t in range(num_frames)],
                  [t in annotated for t in range(num_frames)], size, {"tags": []},
                  lambda idx: frames[list(idx)], lambda idx: np.zeros((len(idx), *size), bool))


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255.0


@pytest.mark.parametrize("frame, length, window, expected", [
    (0, 7, 5, [0, 0, 0, 1, 2]),          # before the first frame: the first frame repeated
    (6, 7, 5, [4, 5, 6, 6, 6]),          # after the last: the last repeated
    (13, 40, 10, list(range(8, 18))),    # MTTR's -ws 10: 5 frames before, 4 after
    (5, 8, 4, [3, 4, 5, 6]),             # even windows: window // 2 before
    (0, 1, 3, [0, 0, 0]),
])
def test_centred_indices(frame, length, window, expected):
    indices = centred_indices(frame, length, window)
    assert indices == expected and indices[window // 2] == frame


def test_each_annotated_frame_is_predicted_from_its_own_centred_window():
    model = WindowRecorder()
    sample = indexed_sample(7, annotated=[0, 5, 6])
    prediction = ModelPredictor(model, to_tensor, 5, torch.device("cpu"), clips="centred")(sample)
    assert model.seen == [[0, 0, 0, 1, 2], [3, 4, 5, 6, 6], [4, 5, 6, 6, 6]]
    kept = 1000 * 2  # the centre position of a 5-frame window
    assert prediction.scores.tolist() == [0 + kept, 0, 0, 0, 0, 5 + kept, 6 + kept]
    assert prediction.query_scores.shape == (2, 7) and prediction.query_scores[1, 5] == 5 + kept + 0.5
    assert prediction.masks.shape == (7, 6, 8) and prediction.query_masks.shape == (2, 7, 6, 8)
    assert prediction.masks[[0, 5, 6]].all() and not prediction.masks[1:5].any()  # unannotated: empty
    assert not prediction.query_masks[1].any() and prediction.query_masks[0, [0, 5, 6]].all()


def test_consecutive_windows_stay_the_default():
    model = WindowRecorder()
    prediction = ModelPredictor(model, to_tensor, 3, torch.device("cpu"))(indexed_sample(7, annotated=[5]))
    assert model.seen == [[0, 1, 2], [3, 4, 5], [6]] and prediction.masks.all()
    assert EvalSettings.from_config({}).clips == "consecutive"


@pytest.mark.parametrize("section, message", [
    ({"clips": "centred", "window": None}, "centred needs a window"),
    ({"clips": "middle"}, "consecutive, centred"),
])
def test_bad_clip_settings_are_refused(section, message):
    with pytest.raises(ConfigError, match=message):
        EvalSettings.from_config(section)
