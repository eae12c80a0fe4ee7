"""Each ProxyFormer ablation switch changes exactly the computation it names."""
from __future__ import annotations

import math

import pytest
import torch
from model_helpers import TINY, as_batch

from rvosbench.core.registry import MODELS
from rvosbench.models import build_model
from rvosbench.models.proxyformer import Geometry, JointSemanticConsistency, ProxyConditionedVideoEncoding


def build(**overrides):
    torch.manual_seed(0)
    return build_model({"type": "proxyformer", **TINY, **overrides}).eval()


def stage_outputs(model, batch) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(video, proxies) after every CMIE stage."""
    captured = []
    hooks = [stage.register_forward_hook(lambda _m, _i, out: captured.append(out)) for stage in model.stages]
    with torch.no_grad():
        model(batch)
    for hook in hooks:
        hook.remove()
    return captured


def test_variants_are_registered_as_overrides():
    assert MODELS.resolve("proxyformer.no_propagation")[1] == {"propagate_proxies": False}
    assert MODELS.resolve("proxyformer.coupled_attention")[1] == {"attention": "coupled"}
    assert MODELS.resolve("proxyformer.no_jsc")[1] == {"loss": {"jsc_weight": 0}}
    assert {"proxyformer.no_propagation", "proxyformer.coupled_attention", "proxyformer.no_jsc"} <= {
        name for name, _ in MODELS.list("proxyformer*")}


@pytest.mark.parametrize("propagate", [True, False])
def test_stage_input_depends_on_previous_stage_only_with_propagation(propagate, clip):
    model = build(propagate_proxies=propagate)
    batch, _ = as_batch(clip)
    with torch.no_grad():
        before = model(batch)["stage_inputs"]
        model.stages[0].proxy_block.linear_proxy.weight.add_(0.5)  # change what stage 1 computes
        after = model(batch)["stage_inputs"]
    assert torch.equal(before[0], after[0])  # Q^0 itself is untouched
    assert torch.equal(before[1], after[1]) != propagate
    if not propagate:
        assert torch.equal(after[1], after[0])  # every stage restarts from Q^0


@pytest.mark.parametrize("attention", ["decoupled", "coupled"])
@pytest.mark.parametrize("propagate", [True, False])
def test_proxies_get_a_cross_frame_path_only_with_propagation(attention, propagate, clip):
    model = build(propagate_proxies=propagate, attention=attention)
    batch, _ = as_batch(clip)
    reference = stage_outputs(model, batch)[0][1]  # Q^1: reads the frame-local backbone features F^0
    batch["frames"] = batch["frames"].clone()
    batch["frames"][:, 0] = -batch["frames"][:, 0]  # change frame 0 only
    changed = stage_outputs(model, batch)[0][1]
    assert not torch.allclose(changed[:, 0], reference[:, 0])
    other_frames_moved = not torch.allclose(changed[:, 1:], reference[:, 1:], atol=1e-6)
    assert other_frames_moved == propagate


@pytest.mark.parametrize("attention", ["decoupled", "coupled"])
def test_coupled_self_attention_mixes_other_frames_and_positions_in_one_softmax(attention):
    torch.manual_seed(0)
    block = ProxyConditionedVideoEncoding(16, 2, attention, proxy_temporal=True, ffn_dim=0, dropout=0.0)
    g = Geometry(B=1, T=3, N=2, spatial=torch.randn(4, 16))
    x = torch.randn(1, 3, 4, 16, requires_grad=True)
    (block.self_attention(x, g)[0, 0, 0] * torch.randn(16)).sum().backward()  # LayerNorm: a plain sum is constant
    grad = x.grad[0].abs().sum(-1)  # (T, L): influence of every token on token (frame 0, position 0)
    assert grad[0, 3] > 0 and grad[1, 0] > 0  # same frame / same position: both designs
    assert (grad[1, 2] > 0) == (attention == "coupled")  # another frame at another position


@pytest.mark.parametrize("attention", ["decoupled", "coupled"])
def test_attention_sequence_lengths(attention, clip):
    """A decoupled softmax never spans more than one frame's tokens; a coupled one spans all T·L."""
    model = build(attention=attention)
    batch, _ = as_batch(clip)
    keys = []
    hooks = [m.register_forward_hook(lambda _m, inputs, _o: keys.append(inputs[1].shape[1]))
             for m in model.stages.modules() if isinstance(m, torch.nn.MultiheadAttention)]
    with torch.no_grad():
        model(batch)
    for hook in hooks:
        hook.remove()
    T, L = clip["frames"].shape[0], 8 * 8 + 4 * 4 + 2 * 2  # stride 8/16/32 tokens of 64 px
    assert max(keys) == (T * L if attention == "coupled" else L)


def test_no_jsc_removes_the_term_and_its_parameters(clip):
    batch, targets = as_batch(clip, repeat=2)
    with_jsc = build().train()
    without = build_model({"type": "proxyformer.no_jsc", **TINY}).train()
    assert "loss_jsc" in with_jsc.loss(with_jsc(batch), targets)
    assert "loss_jsc" not in without.loss(without(batch), targets)
    assert without.jsc is None and not any(n.startswith("jsc.") for n, _ in without.named_parameters())


def test_jsc_shapes_the_proxies(clip):
    model = build().train()
    batch, targets = as_batch(clip, repeat=2)
    model.loss(model(batch), targets)["loss_jsc"].backward()
    assert model.stages[-1].proxy_block.linear_proxy.weight.grad.abs().sum() > 0
    assert model.slot_embed.weight.grad.abs().sum() > 0


def test_jsc_is_symmetric_infonce_with_unmatched_proxies_as_negatives():
    torch.manual_seed(0)
    jsc = JointSemanticConsistency(8, temperature=0.07)
    B, T, N = 2, 3, 4
    masks = torch.zeros(B, T, 16, 16, dtype=torch.bool)
    masks[..., 4:10, 4:10] = True
    valid = torch.ones(B, T, dtype=torch.bool)
    slots = torch.tensor([1, 2])
    same = torch.ones(B, T, N, 8)  # every track identical, every clip identical: all logits tie
    loss = jsc(same, torch.ones(B, T, 8, 4, 4), torch.ones(B, 8), masks, valid, slots)
    assert loss.item() == pytest.approx(0.5 * (math.log(B) + math.log(B * N)), rel=1e-5)
    single = jsc(same[:1], torch.ones(1, T, 8, 4, 4), torch.ones(1, 8), masks[:1], valid[:1], slots[:1])
    assert single.item() == pytest.approx(0.5 * math.log(N), rel=1e-5)  # batch of one: only slot negatives
    proxies = torch.randn(1, T, N, 8, requires_grad=True)
    jsc(proxies, torch.randn(1, T, 8, 4, 4), torch.randn(1, 8), masks[:1], valid[:1], slots[:1]).backward()
    unmatched = [n for n in range(N) if n != 1]
    assert proxies.grad[0, :, unmatched].abs().sum() > 0


def test_switches_combine(clip):
    model = build_model({"type": "proxyformer", **TINY, "propagate_proxies": False, "attention": "coupled",
                         "loss": {"jsc_weight": 0}}).train()
    batch, targets = as_batch(clip)
    losses = model.loss(model(batch), targets)
    assert "loss_jsc" not in losses
    sum(losses.values()).backward()
