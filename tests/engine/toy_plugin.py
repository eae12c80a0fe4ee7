"""A tiny trainable RVOS model for the engine's end-to-end tests, loaded as a plug-in file.

Per-pixel logistic regression on colour (it ignores the sentence), so a study of it trains in seconds.
Loaded by path (``plugins:`` in the test studies) so subprocess and torchrun runs register it too.
``ENGINE_TOY_KILL_AFTER=N`` makes the process SIGKILL itself at the N-th training forward pass of the
process: a real ``kill -9`` in the middle of a training, for the resume test. ``ENGINE_TOY_SLOW=DIR``
makes each training forward pass sleep a second and leaves ``DIR/<pid>`` behind, so a test can find a
training process and kill what started it.
"""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rvosbench.core.registry import MODELS
from rvosbench.core.types import Prediction
from rvosbench.models.base import RVOSModel

_training_calls = 0


class ToyModel(RVOSModel):
    """Per-pixel logistic regression on the frame colour; BCE on the masks."""

    def __init__(self, hidden: int = 4, fail_at_call: int | None = None):
        super().__init__()
        self.backbone = nn.Conv2d(3, hidden, 1)
        self.rest = nn.Conv2d(hidden, 1, 1)
        self.calls = 0
        self.fail_at_call = fail_at_call

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        global _training_calls
        frames = batch["frames"]  # (B, T, 3, H, W)
        b, t = frames.shape[:2]
        logits = self.rest(torch.relu(self.backbone(frames.flatten(0, 1)))).view(b, t, *frames.shape[-2:])
        if self.training:
            self.calls += 1
            _training_calls += 1
            if _training_calls == int(os.environ.get("ENGINE_TOY_KILL_AFTER", "0")):
                os.kill(os.getpid(), signal.SIGKILL)
            if os.environ.get("ENGINE_TOY_SLOW"):
                (Path(os.environ["ENGINE_TOY_SLOW"]) / str(os.getpid())).touch()
                time.sleep(1.0)
            if self.fail_at_call is not None and self.calls >= self.fail_at_call:
                logits = logits * float("nan")
        return {"pred_masks": logits}

    def loss(self, outputs: dict[str, torch.Tensor], targets: dict[str, Any]) -> dict[str, torch.Tensor]:
        bce = nn.functional.binary_cross_entropy_with_logits(outputs["pred_masks"], targets["masks"].float())
        return {"loss_mask": bce}

    @torch.no_grad()
    def predict(self, frames: torch.Tensor, text: str, orig_size: tuple[int, int]) -> Prediction:
        logits = self.forward({"frames": frames[None]})["pred_masks"][0]
        probs = torch.sigmoid(nn.functional.interpolate(logits[:, None], size=tuple(orig_size), mode="bilinear"))[:, 0]
        return Prediction(masks=(probs > 0.5).numpy(), probs=probs.numpy())


if "engine_toy" not in MODELS:
    MODELS.register_module(name="engine_toy", module=ToyModel)
