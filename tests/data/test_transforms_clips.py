"""Transforms (resize, normalise, flip with left/right swap) and training clips / eval windows."""
import numpy as np
import pytest
import torch

from rvosbench.core.errors import ConfigError, DataError
from rvosbench.core.types import Sample
from rvosbench.data.clips import TrainClips, collate, sample_frame_indices, video_windows
from rvosbench.data.transforms import (InputSpec, eval_transform, masks_to_boxes, resized_size, swap_left_right,
                                       train_transform)


def make_sample(num_frames=10, size=(30, 40), empty_from=None, video="v", exp="0", text="the dog on the left"):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (num_frames, *size, 3), dtype=np.uint8)
    masks = np.zeros((num_frames, *size), dtype=bool)
    masks[:, 5:15, 2:12] = True  # the object sits on the left
    if empty_from is not None:
        masks[empty_from:] = False
    return Sample("toy", "train", video, exp, text, [1], [f"{i:05d}" for i in range(num_frames)],
                  [True] * num_frames, size, {"tags": []}, lambda idx: frames[list(idx)],
                  lambda idx: masks[list(idx)])


@pytest.mark.parametrize("hw, short, max_size, expected", [
    ((480, 854), 360, 640, (360, 640)),   # long side hits the cap exactly
    ((720, 1280), 360, 640, (360, 640)),
    ((1080, 1920), 360, 600, (338, 600)),  # capped: short side round(600 * 1080 / 1920)
    ((64, 80), 64, 128, (64, 80)),        # already at size
    ((240, 320), 120, None, (120, 160)),
    ((320, 240), 120, 1000, (160, 120)),  # portrait
])
def test_resized_size(hw, short, max_size, expected):
    assert resized_size(*hw, short, max_size) == expected


def test_swap_left_right_whole_words_only():
    assert swap_left_right("the left dog right of the leftover cat") == "the right dog left of the leftover cat"


def test_input_spec_from_card_and_errors():
    card = {"card": {"input": {"num_frames": 4, "short_side": 64, "max_size": 128, "mean": [123.7, 116.3, 103.5],
                               "std": [58.4, 57.1, 57.4]}}}
    spec = InputSpec.from_config(card)
    mean, std = spec.scaled_mean_std()
    assert torch.allclose(mean.flatten(), torch.tensor([0.485, 0.456, 0.406]), atol=1e-3)
    with pytest.raises(ConfigError, match="unknown input key"):
        InputSpec.from_config({"short": 3})
    with pytest.raises(ConfigError, match="3 values"):
        InputSpec.from_config({"mean": [0.5]})


def test_eval_transform_resizes_and_normalises():
    spec = {"short_side": 15, "max_size": 100, "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}
    frames = np.full((3, 30, 40, 3), 255, dtype=np.uint8)
    out = eval_transform(spec)(frames)
    assert out.shape == (3, 3, 15, 20) and torch.allclose(out, torch.ones_like(out))


def test_flip_keeps_masks_aligned_and_swaps_words():
    transform = train_transform({"short_side": 30, "max_size": 100}, flip=1.0, brightness=0, contrast=0)
    sample = make_sample()
    frames, masks, text = transform(sample.frames([0, 1]), sample.masks([0, 1]), sample.text, np.random.default_rng(0))
    assert text == "the dog on the right"
    assert masks[:, 5:15, -12:-2].all() and not masks[:, :, :20].any()
    # the flipped frame pixels under the flipped mask are the original object pixels
    original = torch.as_tensor(sample.frames([0])[0, 5:15, 2:12]).float()
    flipped_back = frames[0].flip(-1)
    mean, std = transform.spec.scaled_mean_std()
    restored = (flipped_back * std + mean)[:, 5:15, 2:12].permute(1, 2, 0) * 255
    assert torch.allclose(restored, original, atol=1.0)


def test_boxes_from_masks():
    masks = torch.zeros(2, 10, 20, dtype=torch.bool)
    masks[0, 2:6, 4:8] = True
    boxes, valid = masks_to_boxes(masks)
    assert valid.tolist() == [True, False]
    assert torch.allclose(boxes[0], torch.tensor([6 / 20, 4 / 10, 4 / 20, 4 / 10]))
    assert boxes[1].abs().sum() == 0


@pytest.mark.parametrize("length, num_frames", [(20, 5), (3, 5), (1, 4), (12, 1), (6, 6)])
def test_clip_indices_local_and_global(length, num_frames):
    rng = np.random.default_rng(1)
    for anchor in range(length):
        indices = sample_frame_indices(length, num_frames, anchor, rng)
        assert len(indices) == num_frames and indices == sorted(indices)
        assert all(0 <= i < length for i in indices) and anchor in indices
        if num_frames > 1 and length > 3:
            assert any(0 < abs(i - anchor) <= 3 for i in indices)


def test_train_clips_items_and_collate():
    samples = [make_sample(video="a"), make_sample(num_frames=7, video="b", size=(20, 30))]
    clips = TrainClips(samples, 4, train_transform({"short_side": 20, "max_size": 100}), seed=3)
    assert len(clips) == 3 + 2  # anchors every 4 frames
    item = clips[0]
    assert item["frames"].shape == (4, 3, 20, 26) and item["masks"].dtype == torch.bool
    assert item["valid"].all() and item["boxes"].shape == (4, 4) and item["uid"] == "a/0"
    again = clips[0]
    assert torch.equal(item["frames"], again["frames"]) and item["text"] == again["text"]
    batch, targets = collate([clips[0], clips[4]])
    assert batch["frames"].shape == (2, 4, 3, 20, 30) and batch["text"][0] in ("the dog on the left",
                                                                               "the dog on the right")
    assert batch["padding"][0, :, 26:].all() and not batch["padding"][1].any()
    assert targets["masks"].shape == (2, 4, 20, 30) and targets["valid"].shape == (2, 4)
    assert targets["boxes"].shape == (2, 4, 4)


def test_train_clips_redraw_clips_without_the_object():
    samples = [make_sample(num_frames=8, empty_from=0, video="gone"), make_sample(num_frames=8, video="here")]
    clips = TrainClips(samples, 2, train_transform({"short_side": 30, "max_size": 100}, flip=0))
    assert all(clips[i]["uid"] == "here/0" for i in range(4))


def test_train_clips_need_ground_truth():
    sample = make_sample()
    sample.load_masks_fn = None
    with pytest.raises(DataError, match="no samples with ground-truth"):
        TrainClips([sample], 4, train_transform(None))


def test_video_windows_cover_the_video_once():
    sample = make_sample(num_frames=11)
    windows = list(video_windows(sample, eval_transform({"short_side": 15, "max_size": 100}), window=4))
    assert [w.indices for w in windows] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10]]
    assert windows[-1].frames.shape == (3, 3, 15, 20)
    assert len(list(video_windows(sample, eval_transform(None)))) == 1
