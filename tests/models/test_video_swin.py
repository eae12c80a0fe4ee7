"""Video Swin: 3-D windows that mix frames, shifted-window masking, per-frame outputs, weight mapping.

Equality with the authors' code is tested under ``-m official`` (tests/models/official); these tests
pin the properties at a small width so they run in a second.
"""
from __future__ import annotations

import itertools

import pytest
import torch

from rvosbench.core.errors import ConfigError
from rvosbench.models.video_swin import (VideoSwinTransformer, kinetics_state_dict, relative_position_index,
                                         shifted_window_mask)

SMALL = {"embed_dim": 16, "depths": (2, 2, 2), "num_heads": (1, 2, 2), "drop_path_rate": 0.0}


def small(**kwargs) -> VideoSwinTransformer:
    torch.manual_seed(0)
    return VideoSwinTransformer(**{**SMALL, "window_size": (2, 4, 4), **kwargs}).eval()


def test_stage_outputs_are_per_frame_at_strides_4_8_16_also_for_odd_sizes():
    net = small()
    outputs = net(torch.randn(2, 3, 3, 37, 50))
    assert net.channels == [16, 32, 64] and net.strides == [4, 8, 16]
    assert [tuple(o.shape) for o in outputs] == [(2, 16, 3, 10, 13), (2, 32, 3, 5, 7), (2, 64, 3, 3, 4)]
    assert len(net.downsamples) == 2  # nothing reads the last stage's merging: it is not built


def test_attention_windows_mix_frames_only_within_a_temporal_window():
    video = torch.randn(1, 3, 4, 32, 32)
    changed = video.clone()
    changed[:, :, 0] += 1.0
    for frames_per_window, frame1_moves in ((2, True), (1, False)):
        net = small(window_size=(frames_per_window, 4, 4))
        with torch.no_grad():
            before, after = net(video)[0], net(changed)[0]
        assert torch.equal(before[:, :, 3], after[:, :, 3])  # frames 2-3 never share a window with frame 0
        assert (not torch.equal(before[:, :, 1], after[:, :, 1])) == frame1_moves


def test_relative_position_index_gives_each_offset_one_table_row():
    window = (2, 3, 4)
    index = relative_position_index(window)
    coords = list(itertools.product(*(range(w) for w in window)))
    rows = {}
    for (i, a), (j, b) in itertools.product(enumerate(coords), repeat=2):
        offset = tuple(x - y for x, y in zip(a, b))
        assert rows.setdefault(offset, int(index[i, j])) == int(index[i, j])
    assert len(rows) == 3 * 5 * 7 and sorted(rows.values()) == list(range(3 * 5 * 7))


def test_shifted_window_mask_separates_tokens_that_wrapped_around_from_those_that_did_not():
    padded, window, shift = (4, 8, 8), (2, 4, 4), (1, 2, 2)
    mask = shifted_window_mask(padded, window, shift, torch.device("cpu"))
    grid = torch.stack(torch.meshgrid(*(torch.arange(n) for n in padded), indexing="ij"), -1)  # (D, H, W, 3)
    wrapped = (grid + torch.tensor(shift)) >= torch.tensor(padded)  # came from the other end after the roll
    D, H, W = (n // w for n, w in zip(padded, window))
    tokens = wrapped.view(D, window[0], H, window[1], W, window[2], 3).permute(0, 2, 4, 1, 3, 5, 6).reshape(-1, 32, 3)
    same = (tokens[:, :, None] == tokens[:, None, :]).all(-1)
    assert torch.equal(mask == 0, same) and set(mask.unique().tolist()) == {-100.0, 0.0}


def test_gradient_checkpointing_changes_nothing_but_memory():
    video = torch.randn(1, 3, 2, 32, 32)
    grads = []
    for use_checkpoint in (False, True):
        net = small(use_checkpoint=use_checkpoint).train()
        sum(o.square().mean() for o in net(video)).backward()
        grads.append(torch.cat([p.grad.flatten() for p in net.parameters()]))
    torch.testing.assert_close(grads[0], grads[1])


def test_kinetics_recognizer_weights_map_onto_the_per_frame_backbone():
    """The authors' Kinetics file: full 4-stage recognizer, patch (2, 4, 4), final norm, class head."""
    source = VideoSwinTransformer(**{**SMALL, "depths": (2, 2, 2, 2), "num_heads": (1, 2, 2, 4)},
                                  patch_size=(2, 4, 4), window_size=(2, 4, 4))
    recognizer = {"cls_head.fc_cls.weight": torch.zeros(400, 128), "backbone.norm.weight": torch.ones(128)}
    for key, value in source.state_dict().items():
        if key.startswith("downsamples."):
            _, stage, rest = key.split(".", 2)
            key = f"layers.{stage}.downsample.{rest}"
        recognizer[f"backbone.{key}"] = value
    target = small()
    state = kinetics_state_dict({"state_dict": recognizer}, num_stages=3)
    target.load_state_dict(state, strict=True)
    torch.testing.assert_close(target.patch_embed.proj.weight,
                               source.patch_embed.proj.weight.sum(2, keepdim=True))


def test_unknown_size_and_bad_stage_count_are_config_errors():
    with pytest.raises(ConfigError, match="unknown Video Swin size 'l'"):
        VideoSwinTransformer.from_size("l")
    with pytest.raises(ConfigError, match="num_stages must be in 1..4"):
        VideoSwinTransformer.from_size("t", num_stages=5)
