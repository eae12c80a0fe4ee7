"""MTTR's FPN-like spatial decoder (``FPNSpatialDecoder``), with the authors' layer names.

From the encoded video tokens (stride 16 for Video-Swin-T without stage 4) up through the backbone's
finer stages (strides 8 and 4): two 3x3 conv + GroupNorm(8) + ReLU blocks at the coarsest level, then per
finer level a 1x1 adapter added to the nearest-upsampled map and one more such block, channels halving
at every block (C, C/2, C/4, ...), and a 3x3 conv to the ``mask_dim`` channels of the instance kernels.
Convolutions start from Kaiming-uniform (a = 1) weights and zero biases, as there.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from rvosbench.core.errors import ConfigError

GROUPS = 8


class FPNSpatialDecoder(nn.Module):
    """``forward(x, finer)``: x (N, C, h, w) encoded video; finer: backbone maps, coarsest first.

    Args:
        context_dim: C, the transformer width. fpn_dims: channels of the finer maps, coarsest first
            (MTTR: 1 to 3 of them). mask_kernels_dim: output channels (MTTR: 8).
    """

    def __init__(self, context_dim: int, fpn_dims: Sequence[int], mask_kernels_dim: int = 8):
        super().__init__()
        dims = [context_dim // 2 ** i for i in range(len(fpn_dims) + 2)]
        if not 1 <= len(fpn_dims) <= 3 or any(d % GROUPS for d in dims) or dims[-1] * 2 ** (len(dims) - 1) != context_dim:
            raise ConfigError(f"the spatial decoder halves hidden_dim={context_dim} {len(dims) - 1} times into "
                              f"GroupNorm({GROUPS}) layers: it needs a multiple of {GROUPS * 2 ** (len(dims) - 1)} "
                              f"and 1-3 finer backbone levels (got {len(fpn_dims)})", where="model.hidden_dim")
        self.context_dim = context_dim
        self.lay1, self.gn1 = nn.Conv2d(context_dim, dims[0], 3, padding=1), nn.GroupNorm(GROUPS, dims[0])
        self.lay2, self.gn2 = nn.Conv2d(dims[0], dims[1], 3, padding=1), nn.GroupNorm(GROUPS, dims[1])
        for i, fpn_dim in enumerate(fpn_dims, start=1):
            setattr(self, f"adapter{i}", nn.Conv2d(fpn_dim, dims[i], 1))
            setattr(self, f"lay{i + 2}", nn.Conv2d(dims[i], dims[i + 1], 3, padding=1))
            setattr(self, f"gn{i + 2}", nn.GroupNorm(GROUPS, dims[i + 1]))
        self.levels = len(fpn_dims)
        self.out_lay = nn.Conv2d(dims[-1], mask_kernels_dim, 3, padding=1)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_uniform_(module.weight, a=1)
                nn.init.zeros_(module.bias)

    def block(self, index: int, x: torch.Tensor) -> torch.Tensor:
        return F.relu(getattr(self, f"gn{index}")(getattr(self, f"lay{index}")(x)))

    def forward(self, x: torch.Tensor, finer: Sequence[torch.Tensor]) -> torch.Tensor:
        if len(finer) != self.levels:
            raise ValueError(f"expected {self.levels} finer maps, got {len(finer)}")
        x = self.block(2, self.block(1, x))
        for i, features in enumerate(finer, start=1):
            lateral = getattr(self, f"adapter{i}")(features)
            x = self.block(i + 2, lateral + F.interpolate(x, size=lateral.shape[-2:], mode="nearest"))
        return self.out_lay(x)
