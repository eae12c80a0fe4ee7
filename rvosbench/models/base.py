"""The model contract every RVOS model (built-in, rival or plug-in) implements."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from rvosbench.core.types import Prediction


class RVOSModel(nn.Module):
    """Base class of registered RVOS models.

    Built from a config (``MODELS.build_from({'type': ..., **kwargs})``). Models never read files:
    the engine hands them tensors and strings, and loads checkpoints for them.

    * ``forward(batch)`` takes ``{'frames': float (B, T, 3, H, W) normalised, 'text': list[str]}`` and
      returns at least ``pred_masks`` (B, T, N, h, w) mask logits and ``pred_logits`` (B, T, N)
      referring logits (plus ``pred_boxes`` (B, T, N, 4) cxcywh in [0, 1] where the model has boxes).
    * ``loss(outputs, targets)`` takes targets ``{'masks': bool (B, T, H, W), 'valid': bool (B, T),
      'boxes': float (B, T, 4)}`` and returns named, already weighted loss terms (the trainer sums them).
    * ``predict(frames, text, orig_size)`` takes one video's frames (T, 3, H, W) and returns a
      :class:`Prediction` at ``orig_size``.

    ``trainable = False`` marks inference-only models (e.g. plug-ins wrapping external code): studies
    evaluate them without a training cell.
    """

    trainable: bool = True

    def param_group(self, name: str) -> str:
        """The learning-rate group of parameter ``name``: its top-level module when that is ``backbone`` or
        ``text_encoder``, else ``rest`` (a model that keeps an encoder elsewhere overrides this)."""
        group = name.split(".", 1)[0]
        return group if group in ("backbone", "text_encoder") else "rest"

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """Trainable parameters by learning-rate group: ``backbone``, ``text_encoder`` and ``rest``."""
        groups: dict[str, list[nn.Parameter]] = {"backbone": [], "text_encoder": [], "rest": []}
        for name, param in self.named_parameters():
            if param.requires_grad:
                groups[self.param_group(name)].append(param)
        return groups

    def loss(self, outputs: dict[str, Any], targets: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        raise NotImplementedError(f"{type(self).__name__} is inference-only (trainable = False)")

    @torch.no_grad()
    def predict(self, frames: torch.Tensor, text: str, orig_size: tuple[int, int]) -> Prediction:
        raise NotImplementedError

    def eval_forward(self, frames: torch.Tensor, text: str) -> dict[str, Any]:
        """``forward`` on one video (T, 3, H, W) and its expression in eval mode (the mode is restored after):
        the first step of every ``predict``."""
        was_training = self.training
        self.eval()
        try:
            return self({"frames": frames.unsqueeze(0), "text": [text]})
        finally:
            self.train(was_training)
