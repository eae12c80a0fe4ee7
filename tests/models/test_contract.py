"""Every registered model honours the RVOSModel contract: shapes, losses, gradients, predict, determinism."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from rvosbench.core.registry import MODELS
from rvosbench.core.types import Prediction
from rvosbench.models import build_model

from model_helpers import NAMES, as_batch, tiny_config

BOX_TERMS = {"loss_bbox", "loss_giou"}


def test_every_model_and_variant_is_registered():
    assert set(NAMES) <= set(MODELS.names())


@pytest.fixture(scope="module", params=NAMES)
def model(request):
    torch.manual_seed(0)
    return request.param, build_model(tiny_config(request.param))


def test_forward_shapes_and_loss_terms(model, clip):
    name, net = model
    net.train()
    batch, targets = as_batch(clip, repeat=2)
    out = net(batch)
    B, T, N = 2, clip["frames"].shape[0], 3
    assert out["pred_logits"].shape == (B, T, N)
    assert out["pred_masks"].shape == (B, T, N, 16, 16)  # stride 4 of 64 px
    if name == "mttr":
        assert "pred_boxes" not in out
    else:
        boxes = out["pred_boxes"]
        assert boxes.shape == (B, T, N, 4) and boxes.min() >= 0 and boxes.max() <= 1
    assert len(out["aux_outputs"]) == 1  # two stages / decoder layers: one auxiliary set
    losses = net.loss(out, targets)
    expected = {"loss_cls", "loss_mask", "loss_dice", "loss_aux"} | (set() if name == "mttr" else BOX_TERMS)
    if name in ("proxyformer", "proxyformer.no_propagation", "proxyformer.coupled_attention"):
        expected.add("loss_jsc")
    assert set(losses) == expected
    assert all(v.ndim == 0 and torch.isfinite(v) for v in losses.values())


def test_gradients_reach_every_trainable_parameter(model, clip):
    name, net = model
    net.train()
    net.zero_grad()
    if name == "referformer":
        # Deformable DETR's init zeroes the offset/attention-weight projections and the box heads' last
        # layers: the level embeddings and the box heads' hidden layers are reachable but get exactly zero
        # gradient at the first step. A small perturbation shows they are connected.
        generator = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for param in net.parameters():
                if param.requires_grad:
                    param.add_(1e-3 * torch.randn(param.shape, generator=generator))
    batch, targets = as_batch(clip, repeat=2)
    sum(net.loss(net(batch), targets).values()).backward()
    trainable = [(n, p) for n, p in net.named_parameters() if p.requires_grad]
    assert trainable and not any(n.startswith(("backbone.", "text_encoder.")) for n, _ in trainable)
    no_grad = [n for n, p in trainable if p.grad is None or not torch.isfinite(p.grad).all() or p.grad.abs().sum() == 0]
    assert no_grad == getattr(net, "idle_parameters", list)()  # a model names what its design leaves idle
    groups = net.param_groups()
    assert groups["backbone"] == [] and groups["text_encoder"] == [] and len(groups["rest"]) == len(trainable)


def test_bf16_autocast_training_step_gives_fp32_losses(model, clip):
    """``train.precision: bf16`` runs forward and loss under autocast (engine/trainer.py); the set
    losses must still come out in fp32 and reach every trainable parameter."""
    name, net = model
    net.train()
    net.zero_grad()
    batch, targets = as_batch(clip, repeat=2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        losses = net.loss(net(batch), targets)
    assert all(v.dtype == torch.float32 and torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)


def test_predict_returns_masks_at_original_size(model, clip):
    _, net = model
    pred = net.predict(clip["frames"], clip["text"], (50, 70))
    T = clip["frames"].shape[0]
    assert isinstance(pred, Prediction)
    assert pred.masks.shape == (T, 50, 70) and pred.masks.dtype == bool
    assert pred.probs.shape == (T, 50, 70) and np.array_equal(pred.masks, pred.probs > 0.5)
    assert pred.scores.shape == (T,) and ((pred.scores >= 0) & (pred.scores <= 1)).all()
    assert pred.query_masks.shape == (3, T, 50, 70) and pred.query_scores.shape == (3, T)
    best = pred.query_scores.mean(1).argmax()
    assert np.array_equal(pred.query_masks[best], pred.masks)  # the reported object is the best-scored slot
    assert net.predict(clip["frames"], clip["text"], (50, 70), query_masks=False).query_masks is None


@pytest.mark.parametrize("name", ["proxyformer", "referformer", "mttr"])
def test_same_seed_gives_same_model_and_outputs(name, clip):
    batch, _ = as_batch(clip)
    outputs = []
    for _ in range(2):
        torch.manual_seed(123)
        net = build_model(tiny_config(name)).eval()
        with torch.no_grad():
            outputs.append(net(batch))
    assert torch.equal(outputs[0]["pred_masks"], outputs[1]["pred_masks"])
    assert torch.equal(outputs[0]["pred_logits"], outputs[1]["pred_logits"])
    torch.manual_seed(7)
    other = build_model(tiny_config(name)).eval()
    with torch.no_grad():
        assert not torch.equal(other(batch)["pred_logits"], outputs[0]["pred_logits"])


def test_config_mistakes_are_one_line_config_errors():
    from rvosbench.core.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown model 'proxyfromer'.*did you mean 'proxyformer'"):
        build_model({"type": "proxyfromer"})
    with pytest.raises(ConfigError, match="unknown attention mode 'axial'"):
        build_model({**tiny_config("proxyformer"), "attention": "axial"})
    with pytest.raises(ConfigError, match="bad loss weights"):
        build_model({**tiny_config("proxyformer"), "loss": {"dicee": 1.0}})
    with pytest.raises(ConfigError, match="cannot build model"):
        build_model({**tiny_config("mttr"), "num_proxies": 3})
    with pytest.raises(ConfigError, match="must be a mapping"):
        build_model(["proxyformer"])
