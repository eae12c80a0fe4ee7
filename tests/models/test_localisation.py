"""Token-chosen box centres (``token_centres``), their cross-entropy, and the narrow fine level (``fine_dim``)."""
from __future__ import annotations

import math

import torch
from model_helpers import TINY, as_batch

from rvosbench.models import build_model
from rvosbench.models.criterion import location_loss
from rvosbench.models.heads import MaskDecoder, TokenLocator, normalized_grid


def build(**overrides):
    torch.manual_seed(0)
    return build_model({"type": "proxyformer", **TINY, **overrides})


def test_centres_are_the_softmax_weighted_token_positions():
    locator = TokenLocator(8)
    queries, tokens = torch.randn(1, 2, 3, 8), torch.randn(1, 2, 4 * 5, 8)
    centres, logits = locator(queries, tokens, (4, 5))
    assert centres.shape == (1, 2, 3, 2) and logits.shape == (1, 2, 3, 4, 5)
    grid = normalized_grid(4, 5, tokens)  # (2, 20): x then y of each token centre
    expected = (logits.flatten(-2).softmax(-1).unsqueeze(-2) * grid).sum(-1)
    assert torch.allclose(centres, expected, atol=1e-6)
    peaked = torch.full((1, 1, 1, 20), -1e4)
    peaked[..., 7] = 0  # row 1, column 2 of a 4x5 grid
    assert torch.allclose(peaked.softmax(-1) @ grid.T, torch.tensor([(2 + 0.5) / 5, (1 + 0.5) / 4]))


def test_location_loss_is_the_cross_entropy_against_the_pooled_mask():
    masks = torch.zeros(1, 2, 8, 8, dtype=torch.bool)
    masks[0, 0, :4, :4] = True  # frame 0: the top-left token of a 2x2 grid
    valid = torch.tensor([[True, False]])  # frame 1: object not visible, no term
    uniform = torch.zeros(1, 2, 2, 2)
    assert math.isclose(float(location_loss(uniform, masks, valid)), math.log(4), rel_tol=1e-6)
    confident = torch.full((1, 2, 2, 2), -20.0)
    confident[0, 0, 0, 0] = 20.0
    assert float(location_loss(confident, masks, valid)) < 1e-6
    masks[0, 0, :4, :8] = True  # now both top tokens, equally
    half = torch.zeros(1, 2, 2, 2)
    half[0, 0, 0] = 20.0
    assert math.isclose(float(location_loss(half, masks, valid)), math.log(2), rel_tol=1e-4)


def test_token_centres_drive_boxes_and_masks_and_add_the_loss(clip):
    model = build(token_centres=True)
    model.train()
    batch, targets = as_batch(clip, repeat=2)
    out = model(batch)
    B, T, N = 2, clip["frames"].shape[0], TINY["num_proxies"]
    assert out["pred_locations"].shape == (B, T, N, 8, 8)  # the stride-8 tokens of 64-px frames
    grid = normalized_grid(8, 8, out["pred_locations"])
    centres = out["pred_locations"].flatten(-2).softmax(-1) @ grid.T
    assert torch.allclose(out["pred_boxes"][..., :2], centres, atol=1e-6)
    assert all("pred_locations" in aux for aux in out["aux_outputs"])
    losses = model.loss(out, targets)
    assert "loss_loc" in losses and float(losses["loss_loc"].detach()) > 0
    sum(losses.values()).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.locator.parameters())
    plain = build()
    assert plain.locator is None and "pred_locations" not in plain(batch)
    assert "loss_loc" not in plain.loss(plain(batch), targets)


def test_narrow_fine_level_keeps_the_output_and_costs_less():
    maps = [torch.randn(2, 32, 8, 8), torch.randn(2, 32, 4, 4)]
    fine = torch.randn(2, 16, 32, 32)
    wide, narrow = MaskDecoder(32, 16, 8, 2), MaskDecoder(32, 16, 8, 2, fine_dim=8)
    assert wide(maps, fine).shape == narrow(maps, fine).shape == (2, 8, 32, 32)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(narrow) < count(wide)
    assert isinstance(wide.reduce, torch.nn.Identity) and narrow.reduce.out_channels == 8
