"""``input.resample``: the default float resize is unchanged, ``pil_bilinear`` gives torchvision's PIL tensors.

The ReferFormer and MTTR authors evaluate with ``torchvision.transforms`` on PIL images (``Resize`` →
``ToTensor`` → ``Normalize``); ``pil_bilinear`` must give exactly those tensors. The comparison with the
authors' own code (their DETR-style ``RandomResize`` with ``max_size``) is in
``tests/models/official/test_inputs_official.py``.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from rvosbench.core.errors import ConfigError
from rvosbench.data.transforms import IMAGENET_MEAN, IMAGENET_STD, InputSpec, eval_transform, train_transform

import rvosbench  # noqa: F401  (makes torchvision importable beside the CPU torch)
import torchvision.transforms as T  # noqa: E402

PIL_CARD = {"short_side": 36, "max_size": None, "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD),
            "resample": "pil_bilinear"}


def textured_frames(count: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """uint8 (T, H, W, 3) frames with edges and gradients (random noise alone hides filter differences)."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width]
    frames = []
    for _ in range(count):
        base = 127 + 100 * np.sin(xs[..., None] / rng.uniform(2, 9) + ys[..., None] / rng.uniform(3, 11) + np.arange(3))
        frames.append(np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8))
    return np.stack(frames)


@pytest.mark.parametrize("height, width", [(57, 83), (83, 57), (36, 51), (151, 97)])
def test_pil_bilinear_gives_torchvisions_pil_tensors(height, width):
    """inference_ytvos.py's transform (``T.Resize(short) → T.ToTensor() → T.Normalize``) on PIL images."""
    frames = textured_frames(2, height, width)
    reference = T.Compose([T.Resize(PIL_CARD["short_side"]), T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    expected = torch.stack([reference(Image.fromarray(frame)) for frame in frames])
    got = eval_transform(PIL_CARD)(frames)
    assert got.shape == expected.shape and torch.equal(got, expected)


def test_the_default_resample_is_the_float_antialiased_interpolation():
    """Cards without ``resample`` keep the float path bit for bit (their stored results stay valid)."""
    card = {k: v for k, v in PIL_CARD.items() if k != "resample"}
    assert InputSpec.from_config(card).resample == "torch_antialias"
    frames = textured_frames(2, 57, 83)
    floats = torch.as_tensor(frames).permute(0, 3, 1, 2).float().div(255.0)
    resized = F.interpolate(floats, size=(36, 52), mode="bilinear", align_corners=False, antialias=True)
    mean, std = torch.tensor(IMAGENET_MEAN).view(3, 1, 1), torch.tensor(IMAGENET_STD).view(3, 1, 1)
    assert torch.equal(eval_transform(card)(frames), (resized - mean) / std)


def test_the_two_resamplers_differ_by_at_most_about_one_grey_level():
    frames = textured_frames(3, 151, 97)
    card = {k: v for k, v in PIL_CARD.items() if k != "resample"}
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    grey_levels = (eval_transform(card)(frames) - eval_transform(PIL_CARD)(frames)).abs() * std * 255
    assert 0.1 < float(grey_levels.max()) < 1.1  # they do differ: PIL rounds to 8 bits after each pass


def test_training_resamples_like_evaluation_and_keeps_masks_aligned():
    frames = textured_frames(2, 57, 83)
    masks = np.zeros((2, 57, 83), dtype=bool)
    masks[:, 10:30, 20:50] = True
    transform = train_transform(PIL_CARD, flip=0.0, brightness=0.0, contrast=0.0)
    got, got_masks, _ = transform(frames, masks, "a dog", np.random.default_rng(0))
    assert torch.equal(got, eval_transform(PIL_CARD)(frames))
    assert got_masks.shape == (2, 36, 52) and got_masks[:, 7:18, 13:31].all()
    assert not got_masks[:, :5].any() and not got_masks[:, :, 33:].any()


def test_an_unknown_resample_is_refused_with_the_choices():
    with pytest.raises(ConfigError, match="unknown input.resample 'bicubic'") as error:
        InputSpec.from_config({**PIL_CARD, "resample": "bicubic"})
    assert "pil_bilinear" in str(error.value.hint)
