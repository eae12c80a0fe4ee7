"""Each ProxyFormer ablation switch changes exactly the computation it names.

Two kinds of proof, for every variant: which parameters exist (names, shapes and initial values
against ProxyFormer's), and which inputs reach which tensors (gradients from the input tokens F^0 to
every stage's F^k and Q^k and to the outputs, :mod:`rvosbench.models.reach`; plus a pixel perturbation
end to end).
"""
from __future__ import annotations

import math

import pytest
import torch
from model_helpers import TINY, as_batch

from rvosbench.core.registry import MODELS
from rvosbench.models import build_model
from rvosbench.models.proxyformer import Geometry, JointSemanticConsistency, ProxyConditionedVideoEncoding
from rvosbench.models.reach import full_span_in_one_stage, output_paths, stage_paths, trace

STAGES = 3  # paths are checked at every stage: with three, stage 2 and 3 must agree on what propagates
VARIANTS = {
    "proxyformer.no_propagation": {"propagate_proxies": False},
    "proxyformer.no_proxy_temporal": {"proxy_temporal": False},
    "proxyformer.frame_local": {"proxy_temporal": False, "video_temporal": False},
    "proxyformer.coupled_attention": {"attention": "coupled"},
    "proxyformer.coupled_pair": {"attention": "coupled_pair"},
    "proxyformer.no_jsc": {"loss": {"jsc_weight": 0}},
}


def build(type_: str = "proxyformer", **overrides):
    torch.manual_seed(0)
    return build_model({"type": type_, **TINY, **overrides}).eval()


def parameters(model) -> dict[str, torch.Tensor]:
    return {name: p.detach() for name, p in model.named_parameters()}


def test_variants_are_registered_as_overrides():
    for name, overrides in VARIANTS.items():
        assert MODELS.resolve(name)[1] == overrides
    assert set(VARIANTS) <= {name for name, _ in MODELS.list("proxyformer*")}


# -- which parameters exist ---------------------------------------------------------------------------
COUPLED_REMOVES = ("video_block.self_temporal.attn.", "video_block.p2v_temporal.attn.",
                   "proxy_block.v2p_temporal.attn.", "proxy_block.v2p_temporal.pool.")


@pytest.mark.parametrize("variant", VARIANTS)
def test_each_switch_keeps_or_removes_exactly_its_parameters(variant):
    reference = parameters(build())
    params = parameters(build(variant))
    if variant == "proxyformer.no_jsc":
        removed = {n for n in reference if n.startswith("jsc.")}
    elif variant == "proxyformer.coupled_attention":
        removed = {n for n in reference if any(part in n for part in COUPLED_REMOVES)}
        assert len(removed) == 4 * 4 * TINY["num_stages"]  # 4 attentions × (in/out weight, bias) per stage
        kept_norms = {n for n in params if n.endswith(("self_temporal.norm.weight", "p2v_temporal.norm.weight",
                                                       "v2p_temporal.norm.weight"))}
        assert len(kept_norms) == 3 * TINY["num_stages"]  # every pair keeps both residual branches' norms
    else:
        removed = set()  # same modules, same parameters
    assert set(params) == set(reference) - removed
    for name, value in params.items():
        assert value.shape == reference[name].shape, name
        if variant != "proxyformer.coupled_attention":  # same modules built in the same order: same values
            assert torch.equal(value, reference[name]), name


def test_no_propagation_has_exactly_proxyformers_parameters():
    a, b = build(), build("proxyformer.no_propagation")
    assert sum(p.numel() for p in a.parameters()) == sum(p.numel() for p in b.parameters())
    assert a.state_dict().keys() == b.state_dict().keys()


# -- which inputs reach which tensors ----------------------------------------------------------------
# Per variant, at stages 1..3: do other frames reach the proxies Q^k / the video F^k; does Q^{k-1}
# reach Q^k (stages chained); do other frames reach the output masks; does one stage's attention let
# a token see another frame at another position.
T_, F_ = True, False
EXPECTED = {
    "proxyformer": dict(proxies=[T_, T_, T_], video=[T_, T_, T_], chained=T_, masks=T_, span=F_),
    "proxyformer.no_jsc": dict(proxies=[T_, T_, T_], video=[T_, T_, T_], chained=T_, masks=T_, span=F_),
    "proxyformer.no_propagation": dict(proxies=[T_, T_, T_], video=[T_, T_, T_], chained=F_, masks=T_, span=F_),
    # Q^1 is frame-local; later stages see other frames only through the video's temporal attention ...
    "proxyformer.no_proxy_temporal": dict(proxies=[F_, T_, T_], video=[T_, T_, T_], chained=T_, masks=T_, span=F_),
    # ... which frame_local also keeps in the frame: then nothing crosses frames anywhere
    "proxyformer.frame_local": dict(proxies=[F_, F_, F_], video=[F_, F_, F_], chained=T_, masks=F_, span=F_),
    "video_temporal_off": dict(proxies=[T_, T_, T_], video=[F_, T_, T_], chained=T_, masks=T_, span=F_),
    "no_propagation+no_proxy_temporal": dict(proxies=[F_, T_, T_], video=[T_, T_, T_], chained=F_, masks=T_,
                                             span=F_),
    "proxyformer.coupled_attention": dict(proxies=[T_, T_, T_], video=[T_, T_, T_], chained=T_, masks=T_, span=T_),
    "proxyformer.coupled_pair": dict(proxies=[T_, T_, T_], video=[T_, T_, T_], chained=T_, masks=T_, span=T_),
    "coupled+no_proxy_temporal": dict(proxies=[F_, T_, T_], video=[T_, T_, T_], chained=T_, masks=T_, span=T_),
    "coupled+frame_local": dict(proxies=[F_, F_, F_], video=[F_, F_, F_], chained=T_, masks=F_, span=F_),
    "coupled_pair+frame_local": dict(proxies=[F_, F_, F_], video=[F_, F_, F_], chained=T_, masks=F_, span=F_),
}
COMBINATIONS = {
    "video_temporal_off": {"video_temporal": False},
    "no_propagation+no_proxy_temporal": {"propagate_proxies": False, "proxy_temporal": False},
    "coupled+no_proxy_temporal": {"attention": "coupled", "proxy_temporal": False},
    "coupled+frame_local": {"attention": "coupled", "proxy_temporal": False, "video_temporal": False},
    "coupled_pair+frame_local": {"attention": "coupled_pair", "proxy_temporal": False, "video_temporal": False},
}


@pytest.mark.parametrize("variant", EXPECTED)
def test_paths_at_every_stage_and_at_the_outputs(variant, clip):
    overrides = {"num_stages": STAGES, **COMBINATIONS.get(variant, {})}
    model = build("proxyformer" if variant in COMBINATIONS else variant, **overrides)
    batch, _ = as_batch(clip)
    t = trace(model, batch)
    stages = stage_paths(t)
    expected = EXPECTED[variant]
    assert [row["proxies see other frames"] for row in stages] == expected["proxies"]
    assert [row["video sees other frames"] for row in stages] == expected["video"]
    assert [row["reads previous proxies"] for row in stages[1:]] == [expected["chained"]] * (STAGES - 1)
    assert output_paths(t) == {"pred_masks": expected["masks"], "pred_logits": expected["masks"]}
    assert full_span_in_one_stage(t) == expected["span"]
    if not expected["chained"]:
        assert all(torch.equal(q, t.stage_inputs[0]) for q in t.stage_inputs)  # every stage restarts from Q^0


@pytest.mark.parametrize("variant", ["proxyformer", "proxyformer.frame_local", "proxyformer.no_proxy_temporal"])
def test_changing_one_frames_pixels_moves_other_frames_outputs_unless_frame_local(variant, clip):
    """End to end, backbone included: perturb frame 0's pixels and look at frames 1.. of the outputs."""
    model = build(variant)
    batch, _ = as_batch(clip)
    with torch.no_grad():
        reference = model(batch)
        batch["frames"] = batch["frames"].clone()
        batch["frames"][:, 0] = -batch["frames"][:, 0]
        changed = model(batch)
    for key in ("pred_masks", "pred_logits"):
        assert not torch.equal(changed[key][:, 0], reference[key][:, 0])
        assert torch.equal(changed[key][:, 1:], reference[key][:, 1:]) == (variant == "proxyformer.frame_local")


@pytest.mark.parametrize("attention", ["decoupled", "coupled", "coupled_pair"])
def test_self_attention_mixes_other_frames_and_positions_only_when_coupled(attention):
    torch.manual_seed(0)
    block = ProxyConditionedVideoEncoding(16, 2, attention, proxy_temporal=True, video_temporal=True, ffn_dim=0,
                                          dropout=0.0)
    g = Geometry(B=1, T=3, N=2, spatial=torch.randn(4, 16))
    x = torch.randn(1, 3, 4, 16, requires_grad=True)
    (block.self_attention(x, g)[0, 0, 0] * torch.randn(16)).sum().backward()  # LayerNorm: a plain sum is constant
    grad = x.grad[0].abs().sum(-1)  # (T, L): influence of every token on token (frame 0, position 0)
    assert grad[0, 3] > 0 and grad[1, 0] > 0  # same frame / same position: every design
    assert (grad[1, 2] > 0) == (attention != "decoupled")  # another frame at another position


def test_coupled_pair_shares_one_attention_between_both_residual_branches():
    """``Norm_s(x + A) + Norm_t(x + A)``: one attention, both residuals and norms of the pair kept."""
    torch.manual_seed(0)
    block = ProxyConditionedVideoEncoding(16, 2, "coupled", proxy_temporal=True, video_temporal=True, ffn_dim=0,
                                          dropout=0.0)
    g = Geometry(B=1, T=3, N=2, spatial=torch.randn(4, 16))
    x = torch.randn(1, 3, 4, 16)
    with torch.no_grad():
        torch.nn.init.normal_(block.self_temporal.norm.weight)  # make the two norms differ
        flat = x.reshape(1, 12, 16)
        update = block.self_spatial.attend(flat, pos_q=g.spatio_temporal, pos_k=g.spatio_temporal)
        expected = block.self_spatial.norm(flat + update) + block.self_temporal.norm(flat + update)
        assert torch.allclose(block.self_attention(x, g).reshape(1, 12, 16), expected, atol=1e-6)
    assert block.self_temporal.attn is None and block.p2v_temporal.attn is None


@pytest.mark.parametrize("attention", ["decoupled", "coupled", "coupled_pair"])
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
    assert max(keys) == (L if attention == "decoupled" else T * L)


def test_no_jsc_removes_the_term_and_its_parameters(clip):
    batch, targets = as_batch(clip, repeat=2)
    with_jsc = build().train()
    without = build("proxyformer.no_jsc").train()
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


@pytest.mark.parametrize("overrides", [
    {"propagate_proxies": False, "proxy_temporal": False, "attention": "coupled", "loss": {"jsc_weight": 0}},
    {"video_temporal": False, "attention": "coupled_pair"},
])
def test_switches_combine(overrides, clip):
    model = build(**overrides).train()
    batch, targets = as_batch(clip)
    losses = model.loss(model(batch), targets)
    assert ("loss_jsc" in losses) == ("loss" not in overrides)
    sum(losses.values()).backward()
