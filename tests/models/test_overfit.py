"""The CPU cards (ProxyFormer, its variants, the rivals) fit one synth clip: the whole pipeline learns.

Bounded: at most 150 Adam steps on a 4-frame 64x80 clip (seconds per model on one core).
"""
from __future__ import annotations

import pytest
import torch
from model_helpers import as_batch, jaccard

from rvosbench.core.plan import load_card
from rvosbench.core.registry import deep_merge
from rvosbench.models import build_model

MAX_STEPS = 150
CHECK_EVERY = 25
CASES = {  # test id: (card, model overrides)
    "proxyformer": ("proxyformer_tiny", {}),
    "proxyformer.no_propagation": ("proxyformer_tiny", {"type": "proxyformer.no_propagation"}),
    "proxyformer.coupled_attention": ("proxyformer_tiny", {"type": "proxyformer.coupled_attention"}),
    "proxyformer.no_jsc": ("proxyformer_tiny", {"type": "proxyformer.no_jsc"}),
    "referformer": ("referformer_tiny", {}),
    "mttr": ("mttr_tiny", {}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_card_overfits_one_synth_clip(case, synth_clip):
    card, overrides = CASES[case]
    torch.manual_seed(0)
    model = build_model(deep_merge(load_card(card, None)["model"], overrides))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    batch, targets = as_batch(synth_clip)
    gt = synth_clip["masks"].numpy()
    score = 0.0
    for step in range(1, MAX_STEPS + 1):
        model.train()
        loss = sum(model.loss(model(batch), targets).values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % CHECK_EVERY == 0:
            prediction = model.predict(synth_clip["frames"], synth_clip["text"], tuple(gt.shape[1:]), query_masks=False)
            score = jaccard(prediction.masks, gt)
            if score > 0.9:
                break
    assert score > 0.9, f"{case} ({card}): J = {score:.3f} after {step} steps"
