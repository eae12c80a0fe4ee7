"""Checkpoints: slim round trip; a checkpoint that does not fit fails with one clear line."""
from __future__ import annotations

import pytest
import torch
from model_helpers import TINY, as_batch

from rvosbench.core.errors import CheckpointError
from rvosbench.models import build_model, load_checkpoint, model_state_dict, save_checkpoint


def build(**overrides):
    return build_model({"type": "proxyformer", **TINY, **overrides}).eval()


def test_round_trip_leaves_out_rebuilt_encoders(tmp_path, clip):
    torch.manual_seed(0)
    trained = build()
    path = save_checkpoint(trained, tmp_path / "ckpt" / "last.pt", step=12)
    slim = model_state_dict(trained)
    assert not any(k.startswith(("backbone.", "text_encoder.")) for k in slim)
    torch.manual_seed(1)
    fresh = build()
    assert load_checkpoint(fresh, path) == {"rebuilt_prefixes": ["backbone.", "text_encoder."], "step": 12}
    batch, _ = as_batch(clip)
    with torch.no_grad():
        assert torch.equal(trained(batch)["pred_masks"], fresh(batch)["pred_masks"])


def test_a_checkpoint_of_another_config_fails_clearly(tmp_path):
    path = save_checkpoint(build(hidden_dim=48), tmp_path / "other.pt")
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(build(), path)
    message = str(error.value)
    assert message.startswith(f"{path}: checkpoint does not fit the model")
    assert "shape mismatches (" in message and "checkpoint (48" in message and "\n" not in message


def test_missing_and_unexpected_keys_are_listed(tmp_path):
    model = build()
    state = model_state_dict(model)
    state.pop("slot_embed.weight")
    state["extra.head.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "bare.pt")
    with pytest.raises(CheckpointError, match=r"1 missing keys \(slot_embed.weight\); 1 unexpected keys"):
        load_checkpoint(model, tmp_path / "bare.pt")


def test_missing_file_and_unsafe_pickles_are_refused(tmp_path):
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        load_checkpoint(build(), tmp_path / "nope.pt")
    torch.save({"model": {}, "payload": object()}, tmp_path / "pickle.pt")
    with pytest.raises(CheckpointError, match="refused: the checkpoint holds pickled objects or code"):
        load_checkpoint(build(), tmp_path / "pickle.pt")
