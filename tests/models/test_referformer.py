"""ReferFormer's conventions, at tiny width (the equivalence with the authors' code is ``-m official``)."""
from __future__ import annotations

import math

import pytest
import torch
from model_helpers import as_batch

from rvosbench.models import build_model
from rvosbench.models.deformable import MSDeformAttn
from rvosbench.models.position_encoding import sine_1d, sine_2d
from rvosbench.models.referformer.model import dynamic_weight_sizes, pixel_locations
from rvosbench.models.referformer.transformer import inverse_sigmoid

TINY = {"type": "referformer", "hidden_dim": 32, "num_heads": 2, "num_queries": 3, "enc_layers": 1,
        "dec_layers": 2, "ffn_dim": 64, "mask_dim": 16, "fusion_heads": 2}


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model(TINY)


def test_outputs_are_per_frame_and_query_with_masks_at_stride_4(model, clip):
    batch, _ = as_batch(clip, repeat=2)
    model.eval()
    with torch.no_grad():
        out = model(batch)
    B, T, _, H, W = batch["frames"].shape
    assert out["pred_logits"].shape == (B, T, 3)
    assert out["pred_boxes"].shape == (B, T, 3, 4) and 0 <= out["pred_boxes"].min() <= out["pred_boxes"].max() <= 1
    assert out["pred_masks"].shape == (B, T, 3, H // 4, W // 4)
    assert out["aux_outputs"] == []
    model.train()
    assert len(model(batch)["aux_outputs"]) == 1  # one per decoder layer but the last


def test_dynamic_head_has_the_authors_2153_parameters_per_query():
    """mask_dim 256 + 2 coordinates → 8 → 8 → 1 (issue 15: 2153 per query)."""
    weights, biases = dynamic_weight_sizes(256 + 2, 8, 3)
    assert (weights, biases) == ([258 * 8, 64, 8], [8, 8, 1]) and sum(weights) + sum(biases) == 2153


def test_relative_coordinates_are_input_pixels_x_first():
    """Cell (i, j) of a stride-4 map sits at pixel (4j + 2, 4i + 2)."""
    locations = pixel_locations(2, 3, 4, torch.device("cpu"))
    assert locations.tolist() == [[2, 2], [6, 2], [10, 2], [2, 6], [6, 6], [10, 6]]


def test_sine_encodings_follow_detr_with_referformers_offset():
    pad = torch.zeros(1, 2, 3, dtype=torch.bool)
    pos = sine_2d(pad, num_feats=4)  # (1, 8, 2, 3): 4 y features then 4 x features
    y_row1 = (2 - 0.5) / (2 + 1e-6) * 2 * math.pi
    x_col0 = (1 - 0.5) / (3 + 1e-6) * 2 * math.pi
    assert pos[0, 0, 1, 0].item() == pytest.approx(math.sin(y_row1))
    assert pos[0, 3, 1, 0].item() == pytest.approx(math.cos(y_row1 / 100))  # 10000 ** (2 * 1 / 4) = 100
    assert pos[0, 4, 0, 0].item() == pytest.approx(math.sin(x_col0))
    no_offset = sine_2d(pad, num_feats=4, offset=0.0)
    assert no_offset[0, 4, 0, 0].item() == pytest.approx(math.sin(1 / (3 + 1e-6) * 2 * math.pi))
    words = sine_1d(torch.tensor([[False, False, True]]), num_feats=2)  # padding at the end
    assert words[0, 1, 0].item() == pytest.approx(math.sin(2 / (2 + 1e-6) * 2 * math.pi), abs=1e-6)


def test_box_references_scale_the_sampling_offsets():
    """Points: offsets in cells of each level; boxes: offset / points · (w, h) / 2 (Deformable DETR)."""
    attn = MSDeformAttn(d_model=8, n_levels=1, n_heads=1, n_points=1)
    value = torch.arange(16, dtype=torch.float32).view(1, 16, 1).expand(1, 16, 8).contiguous()
    with torch.no_grad():
        attn.value_proj.weight.copy_(torch.eye(8))
        attn.value_proj.bias.zero_()
        attn.output_proj.weight.copy_(torch.eye(8))
        attn.output_proj.bias.zero_()
        attn.sampling_offsets.bias.copy_(torch.tensor([1.0, 0.0]))  # one cell / one half-box to the right
    query = torch.zeros(1, 1, 8)
    centre_of_cell_5 = torch.tensor([[[[1.5 / 4, 1.5 / 4]]]])  # row 1, col 1 of a 4x4 map
    point = attn(query, centre_of_cell_5, value, [(4, 4)])
    assert point[0, 0, 0].item() == pytest.approx(6.0)  # sampled at the next cell (row 1, col 2)
    box = torch.tensor([[[[1.5 / 4, 1.5 / 4, 1.0, 1.0]]]])  # offset 1 of a box of width 1: half the width, 2 cells
    assert attn(query, box, value, [(4, 4)])[0, 0, 0].item() == pytest.approx(7.0)


def test_inverse_sigmoid_clamps_like_deformable_detr():
    x = torch.tensor([0.0, 0.5, 1.0])
    assert inverse_sigmoid(x).tolist() == pytest.approx([math.log(1e-5), 0.0, -math.log(1e-5)])
