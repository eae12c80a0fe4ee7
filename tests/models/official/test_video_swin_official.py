"""Video Swin against the authors' code: the same weights give the same stage outputs.

Run: ``RVOSBENCH_OFFICIAL_MTTR=/path/to/MTTR RVOSBENCH_OFFICIAL_REFERFORMER=/path/to/ReferFormer
pytest -m official tests/models/official -s`` (the authors' code also needs ``einops``; see docs/models.md).
"""
from __future__ import annotations

import pytest
import torch

from rvosbench.models.video_swin import VIDEO_SWIN_SIZES, VideoSwinTransformer, kinetics_state_dict

from official_helpers import add_noise_, checkout, import_official, max_abs_diff

pytestmark = pytest.mark.official
TOLERANCE = 1e-4


def authors_stage_outputs(net, video: torch.Tensor) -> list[torch.Tensor]:
    """The authors' ``SwinTransformer3D`` run stage by stage, each output taken before its merging (as both
    rivals' wrappers do)."""
    x = net.pos_drop(net.patch_embed(video))
    outputs = []
    for layer in net.layers:
        merge, layer.downsample = layer.downsample, None
        try:
            x = layer(x.contiguous())
        finally:
            layer.downsample = merge
        outputs.append(x)
        if merge is not None:
            x = merge(x.permute(0, 2, 3, 4, 1)).permute(0, 4, 1, 2, 3)
    return outputs


@pytest.mark.parametrize("size", sorted(VIDEO_SWIN_SIZES))
def test_every_size_matches_the_authors_swin_transformer_3d(size):
    """T, S and B with the rivals' per-frame patches; odd sizes exercise padding and shrunk windows."""
    swin = import_official(checkout("RVOSBENCH_OFFICIAL_MTTR"), "models.swin_transformer")
    torch.manual_seed(0)
    theirs = swin.SwinTransformer3D(patch_size=(1, 4, 4), window_size=(8, 7, 7), patch_norm=True,
                                    **VIDEO_SWIN_SIZES[size])
    theirs.eval()  # its train() override returns None
    add_noise_(theirs, seed=1)
    ours = VideoSwinTransformer.from_size(size).eval()
    ours.load_state_dict(kinetics_state_dict({f"backbone.{k}": v for k, v in theirs.state_dict().items()}, 4))
    video = torch.randn(2, 3, 9, 70, 90, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        mine, reference = ours(video), authors_stage_outputs(theirs, video)
    diffs = [max_abs_diff(a, b) for a, b in zip(mine, reference)]
    print(f"\nVideo-Swin-{size.upper()} vs SwinTransformer3D, max |diff| per stage: "
          + ", ".join(f"{d:.1e}" for d in diffs))
    assert len(mine) == 4 and max(diffs) < TOLERANCE


def test_mttr_wrapper_state_dict_loads_as_is_and_matches():
    """MTTR's backbone wrapper (T, stage 4 dropped): its state dict loads strictly, its outputs agree."""
    root = checkout("RVOSBENCH_OFFICIAL_MTTR")
    backbone, misc = import_official(root, "models.backbone", "misc")
    torch.manual_seed(0)
    theirs = backbone.VideoSwinTransformerBackbone(backbone_pretrained=False, backbone_pretrained_path=None,
                                                   train_backbone=True, running_mode="eval").eval()
    add_noise_(theirs, seed=3)
    ours = VideoSwinTransformer.from_size("t", num_stages=3, drop_path_rate=0.1).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    video = torch.randn(6, 1, 3, 64, 96, generator=torch.Generator().manual_seed(4))  # [T, B, 3, H, W]
    pad = torch.zeros(6, 1, 64, 96, dtype=torch.bool)
    with torch.no_grad():
        reference = [o.tensors for o in theirs(misc.NestedTensor(video, pad))]  # each [T, B, C, h, w]
        mine = [o.permute(2, 0, 1, 3, 4) for o in ours(video.permute(1, 2, 0, 3, 4))]
    diffs = [max_abs_diff(a, b) for a, b in zip(mine, reference)]
    print(f"\nMTTR Video-Swin-T wrapper, max |diff| per stage: " + ", ".join(f"{d:.1e}" for d in diffs))
    assert len(mine) == 3 and max(diffs) < TOLERANCE


def test_kinetics_release_loads_as_the_authors_load_it(tmp_path):
    """The Kinetics-400 recognizer file both rivals start from (patch (2, 4, 4), a classification head):
    mapped by :func:`kinetics_state_dict`, the model equals MTTR's wrapper loading the same file."""
    root = checkout("RVOSBENCH_OFFICIAL_MTTR")
    swin = import_official(root, "models.swin_transformer")
    torch.manual_seed(0)
    recognizer = swin.SwinTransformer3D(patch_size=(2, 4, 4), window_size=(8, 7, 7), patch_norm=True,
                                        **VIDEO_SWIN_SIZES["t"])
    add_noise_(recognizer, seed=5)
    state = {f"backbone.{k}": v for k, v in recognizer.state_dict().items()}
    state["cls_head.fc_cls.weight"] = torch.randn(400, 768)
    path = tmp_path / "swin_tiny_patch244_window877_kinetics400_1k.pth"
    torch.save({"state_dict": state}, path)
    backbone, misc = import_official(root, "models.backbone", "misc")
    theirs = backbone.VideoSwinTransformerBackbone(backbone_pretrained=True, backbone_pretrained_path=str(path),
                                                   train_backbone=True, running_mode="train").eval()
    ours = VideoSwinTransformer.from_size("t", num_stages=3).eval()
    ours.load_state_dict(kinetics_state_dict(torch.load(path, weights_only=True), num_stages=3), strict=True)
    video = torch.randn(4, 1, 3, 56, 56, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        reference = [o.tensors for o in theirs(misc.NestedTensor(video, torch.zeros(4, 1, 56, 56, dtype=torch.bool)))]
        mine = [o.permute(2, 0, 1, 3, 4) for o in ours(video.permute(1, 2, 0, 3, 4))]
    assert max(max_abs_diff(a, b) for a, b in zip(mine, reference)) < TOLERANCE


def test_referformer_wrapper_state_dict_loads_as_is_and_matches():
    """ReferFormer's Video-Swin-B wrapper (four stages): strict load and equal outputs, frames batch-major."""
    vst = import_official(checkout("RVOSBENCH_OFFICIAL_REFERFORMER"), "models.video_swin_transformer")
    torch.manual_seed(0)
    theirs = vst.VideoSwinTransformerBackbone(False, None, True, **vst.configs["video_swin_b_p4w7"]).eval()
    add_noise_(theirs, seed=7)
    ours = VideoSwinTransformer.from_size("b").eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    B, T = 1, 5
    frames = torch.randn(B * T, 3, 64, 80, generator=torch.Generator().manual_seed(8))  # [(b t), 3, H, W]
    with torch.no_grad():
        reference = list(theirs(frames, num_frames=T).values())  # each [(b t), C, h, w]
        mine = ours(frames.view(B, T, 3, 64, 80).transpose(1, 2))
        mine = [o.transpose(1, 2).flatten(0, 1) for o in mine]
    diffs = [max_abs_diff(a, b) for a, b in zip(mine, reference)]
    print(f"\nReferFormer Video-Swin-B wrapper, max |diff| per stage: " + ", ".join(f"{d:.1e}" for d in diffs))
    assert len(mine) == 4 and max(diffs) < TOLERANCE
