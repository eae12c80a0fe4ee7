"""Frozen encoders that stay frozen.

Freezing a pretrained encoder means two things: no gradients, and no drift of BatchNorm running
statistics or dropout noise. ``requires_grad_(False)`` alone does the first; ``model.train()`` would
silently undo the second every epoch. :class:`FreezableModule` keeps a frozen module in eval mode
whatever mode its parent is switched to.
"""
from __future__ import annotations

from torch import nn


class FreezableModule(nn.Module):
    """A module that can be frozen: parameters without gradients and always in eval mode."""

    frozen: bool = False

    def set_frozen(self, frozen: bool) -> None:
        self.frozen = bool(frozen)
        for param in self.parameters():
            param.requires_grad_(not self.frozen)
        if self.frozen:
            super().train(False)

    def train(self, mode: bool = True) -> FreezableModule:
        return super().train(mode and not self.frozen)
