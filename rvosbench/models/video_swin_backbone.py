"""Video Swin as a registered backbone (``type: video_swin``): whole clips in, per-frame maps out.

Image backbones see frames one by one; Video Swin mixes time inside its 3-D windows, so it takes the
clip. A backbone with ``video = True`` receives ``(B, T, 3, H, W)`` and returns, like any backbone, a
list of ``(B·T, C_l, h_l, w_l)`` maps (frame-major within each video), so the rest of a model does not
know which kind it runs on. The network itself is :class:`rvosbench.models.video_swin.VideoSwinTransformer`
(the rivals' per-frame layout: patch (1, 4, 4), stage outputs before patch merging, no final norm).
"""
from __future__ import annotations

from pathlib import Path

import torch

from rvosbench.core.errors import CheckpointError
from rvosbench.core.registry import BACKBONES
from rvosbench.models.freezing import FreezableModule
from rvosbench.models.video_swin import VideoSwinTransformer, kinetics_state_dict


@BACKBONES.register_module("video_swin")
class VideoSwinBackbone(FreezableModule):
    """Video Swin T/S/B on whole clips, one feature map per frame and stage.

    Args:
        size: ``t``, ``s`` or ``b``.
        num_stages: stages kept (ReferFormer 4, MTTR 3).
        pretrained: ``null`` (weights from the model's checkpoint) or a local Kinetics-400 release of the
            Video Swin authors (``swin_base_patch244_window877_kinetics600_22k.pth`` …), converted on load.
        frozen: no gradients.
        drop_path_rate: stochastic depth (ReferFormer 0.2, MTTR 0.1). use_checkpoint: activation
            checkpointing in training.
        kwargs: other :class:`VideoSwinTransformer` arguments (``window_size``; ``embed_dim``, ``depths``,
            ``num_heads`` override the size, e.g. for small test widths).
    """

    video = True

    def __init__(self, size: str = "b", num_stages: int = 4, pretrained: str | None = None, frozen: bool = False,
                 drop_path_rate: float = 0.2, use_checkpoint: bool = False, **kwargs):
        super().__init__()
        self.body = VideoSwinTransformer.from_size(size, num_stages=num_stages, drop_path_rate=drop_path_rate,
                                                   use_checkpoint=use_checkpoint, **kwargs)
        self.channels: list[int] = list(self.body.channels)
        self.strides: list[int] = list(self.body.strides)
        self.pretrained = pretrained
        if pretrained:
            from rvosbench.models.checkpoint import load_state_dict_into

            path = Path(pretrained).expanduser()
            if not path.is_file():
                raise CheckpointError(f"Video Swin weights not found: {path}", where="model.backbone.pretrained",
                                      hint="give a local Kinetics release of Video Swin, or pretrained: null")
            state = torch.load(path, map_location="cpu", weights_only=True)
            load_state_dict_into(self.body, kinetics_state_dict(state, num_stages), source=str(path))
        self.set_frozen(frozen)

    def forward(self, frames: torch.Tensor) -> list[torch.Tensor]:
        """(B, T, 3, H, W) → per stage (B·T, C_l, H/s_l, W/s_l)."""
        b, t = frames.shape[:2]
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            maps = self.body(frames.permute(0, 2, 1, 3, 4))
        return [m.permute(0, 2, 1, 3, 4).reshape(b * t, *m.shape[1:2], *m.shape[3:]) for m in maps]
