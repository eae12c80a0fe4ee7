"""ResNet with frozen BatchNorm, laid out as torchvision builds it (the DETR family's backbone).

DETR, Deformable DETR and ReferFormer take ``torchvision.models.resnet50(norm_layer=FrozenBatchNorm2d)``
and keep the outputs of ``layer1``..``layer4`` (strides 4, 8, 16, 32) through torchvision's
``IntermediateLayerGetter``. Building the same modules here means that the state-dict keys of the
authors' checkpoints (``conv1.weight``, ``layer2.0.downsample.1.running_var`` …) are ours too, and that
frozen BatchNorm computes ``x · w / sqrt(var + 1e-5) + (b − mean · scale)`` exactly as theirs.

Training follows DETR's convention: BatchNorm statistics and affine terms never change (they are buffers),
the stem and ``layer1`` get no gradients, ``layer2``..``layer4`` train unless the backbone is frozen.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

import rvosbench  # noqa: F401  (makes torchvision importable beside a CPU torch)
from rvosbench.core.errors import CheckpointError, ConfigError
from rvosbench.core.registry import BACKBONES
from rvosbench.models.freezing import FreezableModule

STAGES = ("layer1", "layer2", "layer3", "layer4")
TRAINABLE_STAGES = ("layer2", "layer3", "layer4")  # DETR: stem and layer1 stay frozen
EXPANSION = 4  # bottleneck ResNets (50, 101, 152)


@BACKBONES.register_module("resnet")
class ResNetBackbone(FreezableModule):
    """torchvision ResNet (50/101/152) with frozen BatchNorm, returning stages as NCHW maps.

    Args:
        name: ``resnet50``, ``resnet101`` or ``resnet152``.
        out_indices: stages to return, 1-based (``[1, 2, 3, 4]``: strides 4, 8, 16, 32).
        pretrained: ``null`` (random init; a checkpoint of the whole model brings the weights) or a local
            torchvision state dict (ImageNet weights, ``resnet50-*.pth``); never downloaded.
        frozen: no gradients anywhere (otherwise ``layer2``..``layer4`` train, as in DETR).
    """

    def __init__(self, name: str = "resnet50", out_indices: Sequence[int] = (1, 2, 3, 4), pretrained: str | None = None,
                 frozen: bool = False):
        super().__init__()
        import torchvision
        from torchvision.models._utils import IntermediateLayerGetter
        from torchvision.ops.misc import FrozenBatchNorm2d

        if name not in ("resnet50", "resnet101", "resnet152"):
            raise ConfigError(f"unknown ResNet '{name}'", where="model.backbone.name",
                              hint="use resnet50, resnet101 or resnet152 (bottleneck ResNets)")
        indices = list(out_indices)
        if not indices or any(i not in (1, 2, 3, 4) for i in indices) or indices != sorted(set(indices)):
            raise ConfigError(f"out_indices {indices} must be increasing stage numbers in 1..4",
                              where="model.backbone.out_indices")
        resnet = getattr(torchvision.models, name)(weights=None, norm_layer=FrozenBatchNorm2d)
        self.pretrained = pretrained
        if pretrained:
            self._load_pretrained(resnet, pretrained)
        self.body = IntermediateLayerGetter(resnet, return_layers={STAGES[i - 1]: str(k) for k, i in enumerate(indices)})
        self.channels: list[int] = [64 * EXPANSION * 2 ** (i - 1) for i in indices]
        self.strides: list[int] = [2 ** (i + 1) for i in indices]
        self.set_frozen(frozen)

    @staticmethod
    def _load_pretrained(resnet: nn.Module, pretrained: str) -> None:
        from rvosbench.models.checkpoint import load_state_dict_into

        path = Path(pretrained).expanduser()
        if not path.is_file():
            raise CheckpointError(f"ResNet weights not found: {path}", where="model.backbone.pretrained",
                                  hint="give a local torchvision state dict, or pretrained: null")
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
        load_state_dict_into(resnet, state, source=str(path))

    def set_frozen(self, frozen: bool) -> None:
        super().set_frozen(frozen)
        for name, param in self.body.named_parameters():
            if not name.startswith(TRAINABLE_STAGES):
                param.requires_grad_(False)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """``images`` (B, 3, H, W) → the requested stages, each (B, C_l, H/s_l, W/s_l)."""
        return list(self.body(images).values())
