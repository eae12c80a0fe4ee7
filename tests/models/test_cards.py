"""Every model card is complete, cites its published numbers, and builds a model that trains on CPU."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rvosbench.core.locate import REPO_ROOT
from rvosbench.core.plan import load_card
from rvosbench.models import build_model

from model_helpers import write_byte_level_tokenizer

CARDS = sorted(p.stem for p in (REPO_ROOT / "models").glob("*.yaml"))
REQUIRED = ["proxyformer_tiny", "proxyformer_r50", "proxyformer_video_swin_b", "referformer_tiny",
            "referformer_r50", "referformer_video_swin_b", "mttr_tiny", "mttr_video_swin_t"]


def test_the_required_cards_exist():
    assert set(REQUIRED) <= set(CARDS)


@pytest.mark.parametrize("name", CARDS)
def test_card_is_complete(name):
    card = load_card(name, None)["card"]
    assert card["name"] == name == Path(card["file"]).stem
    assert card["description"]
    assert set(card["input"]) == {"num_frames", "short_side", "max_size", "mean", "std"}
    assert set(card["checkpoint"]) == {"path", "sha256"}
    for entry in card["published"]:
        assert {"benchmark", "split", "backbone", "metrics", "source"} <= set(entry)
        assert all(0 < value <= 100 for value in entry["metrics"].values())
    if name.startswith("proxyformer"):
        assert card["published"] == [] and "not available" in " ".join(card["notes"].split())


@pytest.mark.parametrize("name", CARDS)
def test_card_builds_and_trains_a_step(name, tmp_path):
    loaded = load_card(name, None)
    text = loaded["model"].get("text_encoder") or {}
    if text.get("type") == "roberta":
        text["tokenizer"] = write_byte_level_tokenizer(tmp_path)  # stands in for the user's roberta-base tokenizer
    torch.manual_seed(0)
    model = build_model(loaded["model"]).train()
    frames = torch.randn(1, 2, 3, 64, 64)
    masks = torch.zeros(1, 2, 64, 64, dtype=torch.bool)
    masks[..., 20:40, 24:44] = True
    targets = {"masks": masks, "valid": torch.ones(1, 2, dtype=torch.bool),
               "boxes": torch.tensor([[0.53, 0.47, 0.31, 0.31]]).repeat(1, 2, 1)}
    losses = model.loss(model({"frames": frames, "text": ["the red square on the left"]}), targets)
    sum(losses.values()).backward()
    assert all(torch.isfinite(v) for v in losses.values())
