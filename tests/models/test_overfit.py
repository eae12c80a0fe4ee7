"""Every model (ProxyFormer, its variants, the rivals) can fit one clip: the whole pipeline learns.

Bounded: a few dozen Adam steps on a 4-frame, 64 px clip (a couple of seconds per model on one core).
"""
from __future__ import annotations

import pytest
import torch
from model_helpers import as_batch, jaccard
from test_contract import NAMES, tiny_config

from rvosbench.models import build_model

MAX_STEPS = 120
CHECK_EVERY = 20


@pytest.mark.parametrize("name", NAMES)
def test_overfits_one_clip(name, clip):
    torch.manual_seed(0)
    model = build_model(tiny_config(name))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    batch, targets = as_batch(clip)
    gt = clip["masks"].numpy()
    best = 0.0
    for step in range(1, MAX_STEPS + 1):
        model.train()
        loss = sum(model.loss(model(batch), targets).values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % CHECK_EVERY == 0:
            prediction = model.predict(clip["frames"], clip["text"], tuple(gt.shape[1:]), query_masks=False)
            best = jaccard(prediction.masks, gt)
            if best > 0.9:
                break
    assert best > 0.9, f"{name}: J = {best:.3f} after {step} steps"
