"""Backbones and text encoders: real packaged weights, NCHW outputs, freezing, caching, clear errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.cbook import get_sample_data
from PIL import Image

from rvosbench.core.errors import CheckpointError, ConfigError
from rvosbench.core.registry import BACKBONES
from rvosbench.models.backbones import packaged_efficientnet_lite0_state_dict
from rvosbench.models.text_encoders import build_text_encoder

IMAGENET_MILITARY_UNIFORM = 652


def test_packaged_efficientnet_lite0_classifies_a_real_photo():
    import timm

    model = timm.create_model("tf_efficientnet_lite0", pretrained=False).eval()
    model.load_state_dict(packaged_efficientnet_lite0_state_dict(model))
    with Image.open(get_sample_data("grace_hopper.jpg")) as image:
        pixels = np.asarray(image.convert("RGB").resize((224, 224), Image.BICUBIC), np.float32) / 255.0
    x = torch.from_numpy((pixels - 0.5) / 0.5).permute(2, 0, 1)[None]  # timm's mean/std for this model
    with torch.no_grad():
        probs = model(x).softmax(-1)[0]
    assert int(probs.argmax()) == IMAGENET_MILITARY_UNIFORM
    assert probs.max() > 0.3


@pytest.mark.parametrize("name, indices, strides", [
    ("tf_efficientnet_lite0", (1, 2, 3, 4), [4, 8, 16, 32]),
    ("resnet18", (1, 2, 3, 4), [4, 8, 16, 32]),
    ("convnext_atto", (0, 1, 2, 3), [4, 8, 16, 32]),
    ("swin_tiny_patch4_window7_224", (0, 1, 2, 3), [4, 8, 16, 32]),  # NHWC in timm
])
def test_backbones_give_nchw_pyramids(name, indices, strides):
    extra = {"strict_img_size": False} if name.startswith("swin") else {}
    backbone = BACKBONES.build_from({"type": "timm", "name": name, "out_indices": list(indices), **extra})
    assert backbone.strides == strides
    features = backbone(torch.zeros(2, 3, 64, 96))
    for feature, channels, stride in zip(features, backbone.channels, strides):
        assert feature.shape == (2, channels, 64 // stride, 96 // stride)


def test_frozen_backbone_has_no_gradients_and_stays_in_eval_mode():
    backbone = BACKBONES.build_from({"type": "timm", "name": "tf_efficientnet_lite0", "out_indices": [1, 2],
                                     "pretrained": "package", "frozen": True})
    backbone.train()
    assert not backbone.training and not backbone.body.training
    assert not any(p.requires_grad for p in backbone.parameters())
    running = [m.running_mean.clone() for m in backbone.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    backbone(torch.randn(2, 3, 64, 64))
    after = [m.running_mean for m in backbone.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(torch.equal(a, b) for a, b in zip(running, after))


def test_backbone_errors_are_clear(tmp_path):
    with pytest.raises(ConfigError, match="unknown timm backbone 'resnet17'"):
        BACKBONES.build_from({"type": "timm", "name": "resnet17"})
    with pytest.raises(ConfigError, match="no packaged weights for 'resnet18'"):
        BACKBONES.build_from({"type": "timm", "name": "resnet18", "pretrained": "package"})
    with pytest.raises(CheckpointError, match="backbone weights not found"):
        BACKBONES.build_from({"type": "timm", "name": "resnet18", "pretrained": str(tmp_path / "r18.pth")})


def test_frozen_text_encoder_memoises_sentences(monkeypatch):
    encoder = build_text_encoder({"frozen": True})
    calls = []
    original = encoder._encode
    monkeypatch.setattr(encoder, "_encode", lambda s: calls.append(list(s)) or original(s))
    first = encoder(["the red circle", "a small blue square moving left"])
    second = encoder(["a small blue square moving left", "the red circle"])
    assert calls == [["the red circle", "a small blue square moving left"]]
    assert first.words.shape[0] == 2 and first.words.shape[2] == encoder.channels == 384
    assert torch.equal(first.sentence[0], second.sentence[1])
    assert first.pad_mask[0].sum() > 0 and not first.pad_mask[1].any()  # the short one is padded
    assert not first.words.requires_grad


def test_trainable_text_encoder_is_not_cached_and_gets_gradients():
    encoder = build_text_encoder({"frozen": False})
    out = encoder(["the red circle"])
    out.sentence.sum().backward()
    assert len(encoder._cache) == 0
    assert any(p.grad is not None for p in encoder.parameters())


def test_text_encoder_path_errors_name_the_fix(tmp_path):
    with pytest.raises(CheckpointError, match="no config.json"):
        build_text_encoder({"path": str(tmp_path)})
    with pytest.raises(CheckpointError, match="cannot load text encoder 'no-such-org/no-such-model' offline"):
        build_text_encoder({"path": "no-such-org/no-such-model"})
