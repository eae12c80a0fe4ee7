"""Authors' release checkpoints: safe reading, unwrapping, key mapping, one line per problem, convert, predict.

A tiny ReferFormer (RoBERTa built from a small config, random backbone) stands in for the real sizes;
its state dict is written in the authors' layout (``backbone.0.body.*``, ``text_encoder.*`` with the
``position_ids`` buffer old transformers saved, a ``thop`` counter) inside ReferFormer's release dict
``{'model', 'optimizer', 'lr_scheduler', 'epoch', 'args': Namespace}``. The same with the authors' own
code at real size is ``tests/models/official/test_referformer_official.py``.
"""
from __future__ import annotations

import argparse
import pickle
from pathlib import Path

import pytest
import torch
import yaml
from model_helpers import write_byte_level_tokenizer

from rvosbench.cli.main import main as cli
from rvosbench.core.errors import CheckpointError
from rvosbench.models import build_model, load_checkpoint, save_checkpoint
from rvosbench.models.official import unwrap_state_dict

WORDS = "the red square moving right".split()


@pytest.fixture(scope="module")
def tiny_card(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("card")
    tokenizer = write_byte_level_tokenizer(root / "tokenizer", WORDS)
    model = {"type": "referformer", "hidden_dim": 32, "num_heads": 2, "num_queries": 2, "enc_layers": 1,
             "dec_layers": 2, "ffn_dim": 32, "mask_dim": 8, "fusion_heads": 2,
             "backbone": {"type": "timm", "name": "tf_efficientnet_lite0", "out_indices": [1, 2, 3, 4],
                          "pretrained": None, "frozen": False},
             "text_encoder": {"type": "roberta", "tokenizer": str(tokenizer),
                              "config": {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                                         "intermediate_size": 64}}}
    card = {"name": "referformer_test", "description": "tiny ReferFormer for conversion tests",
            "input": {"num_frames": 3, "short_side": 64, "max_size": 96, "mean": [0.5] * 3, "std": [0.5] * 3},
            "checkpoint": {"path": None, "sha256": None}, "published": []}
    path = root / "referformer_test.yaml"
    path.write_text(yaml.safe_dump({"card": card, "model": model}))
    return path


def authors_layout(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our keys as the authors' code names them (the inverse of the card's mapping), plus their extras."""
    out = {}
    for key, value in state.items():
        if key.startswith("backbone.body."):
            key = "backbone.0.body." + key.removeprefix("backbone.body.")
        elif key.startswith("text_encoder.body."):
            key = "text_encoder." + key.removeprefix("text_encoder.body.")
        out[key] = value.clone()
    out["text_encoder.embeddings.position_ids"] = torch.arange(514)[None]
    out["transformer.total_ops"] = torch.zeros(1, dtype=torch.float64)
    return out


def release_file(path: Path, model: torch.nn.Module, state: dict[str, torch.Tensor]) -> Path:
    """ReferFormer's main.py checkpoint: model, AdamW + MultiStepLR states, epoch and the argparse args."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4, weight_decay=5e-4)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, [3, 5])
    args = argparse.Namespace(backbone="resnet50", with_box_refine=True, binary=True, lr_drop=[3, 5], masks=True)
    torch.save({"model": state, "optimizer": optimizer.state_dict(), "lr_scheduler": scheduler.state_dict(),
                "epoch": 5, "args": args}, path)
    return path


@pytest.fixture(scope="module")
def release(tiny_card, tmp_path_factory):
    """(model with perturbed weights, path of its release-layout file)."""
    torch.manual_seed(0)
    model = build_model(yaml.safe_load(tiny_card.read_text())["model"]).eval()
    with torch.no_grad():
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.add_(0.02 * torch.randn(tensor.shape))
    path = release_file(tmp_path_factory.mktemp("release") / "referformer_release.pth", model,
                        authors_layout(model.state_dict()))
    return model, path


def fresh_model(card: Path) -> torch.nn.Module:
    torch.manual_seed(1)
    return build_model(yaml.safe_load(card.read_text())["model"]).eval()


def test_a_release_file_loads_through_load_checkpoint(tiny_card, release):
    model, path = release
    other = fresh_model(tiny_card)
    extras = load_checkpoint(other, path)
    assert extras["epoch"] == 5 and isinstance(extras["args"], argparse.Namespace)
    for key, value in model.state_dict().items():
        assert torch.equal(other.state_dict()[key], value), key


def test_convert_reports_no_problem_and_its_output_drives_predict(tiny_card, release, tmp_path, capsys, clip):
    _, path = release
    out = tmp_path / "converted.pt"
    assert cli(["convert", str(tiny_card), str(path), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "missing keys: none" in printed and "unexpected keys: none" in printed
    assert "shape mismatches: none" in printed
    data = torch.load(out, weights_only=True)  # plain types only: no allow-list needed any more
    assert data["converted_from"]["epoch"] == 5 and data["converted_from"]["args"]["backbone"] == "resnet50"
    assert data["converted_from"]["file"] == path.name and len(data["converted_from"]["sha256"]) == 64

    frames = tmp_path / "frames"
    frames.mkdir()
    from PIL import Image
    for i, frame in enumerate(((clip["frames"].permute(0, 2, 3, 1) * 0.5 + 0.5) * 255).byte().numpy()):
        Image.fromarray(frame).save(frames / f"{i:05d}.jpg")
    assert cli(["predict", str(tiny_card), "--checkpoint", str(out), "--video", str(frames),
                "--text", "the red square moving right", "--out", str(tmp_path / "pred")]) == 0
    assert len(list((tmp_path / "pred" / "masks").glob("*.png"))) == clip["frames"].shape[0]
    # the release file itself works the same way (converted on load)
    assert cli(["predict", str(tiny_card), "--checkpoint", str(path), "--video", str(frames),
                "--text", "the red square moving right", "--out", str(tmp_path / "pred2")]) == 0


def test_convert_names_each_kind_of_problem_on_its_own_line(tiny_card, release, tmp_path, capsys):
    model, _ = release
    state = authors_layout(model.state_dict())
    del state["query_embed.weight"]
    state["controller.layers.2.bias"] = torch.zeros(3)
    state["extra_head.weight"] = torch.zeros(1)
    path = release_file(tmp_path / "broken.pth", model, state)
    assert cli(["convert", str(tiny_card), str(path), "--out", str(tmp_path / "x.pt")]) == 2
    captured = capsys.readouterr()
    assert "missing keys: 1 (query_embed.weight)" in captured.out
    assert "unexpected keys: 1 (extra_head.weight)" in captured.out
    assert "shape mismatches: 1 (controller.layers.2.bias: checkpoint (3,)" in captured.out
    assert "does not fit referformer_test: 1 missing keys, 1 unexpected keys, 1 shape mismatches" in captured.err
    assert not (tmp_path / "x.pt").exists()


class Payload:
    """An arbitrary pickled object: what weights_only loading must refuse."""

    def __reduce__(self):
        return (print, ("this would run on load",))


def test_a_file_with_pickled_code_is_refused(tiny_card, release, tmp_path):
    model, _ = release
    path = tmp_path / "evil.pth"
    torch.save({"model": authors_layout(model.state_dict()), "hook": Payload()}, path, pickle_protocol=2)
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(fresh_model(tiny_card), path)
    assert cli(["convert", str(tiny_card), str(path), "--out", str(tmp_path / "x.pt")]) == 2
    assert pickle.loads(pickle.dumps(1)) == 1  # (pickle itself untouched)


def test_wrappers_of_other_releases_unwrap():
    state = {"a.weight": torch.ones(1)}
    assert unwrap_state_dict({"model_state_dict": state, "epoch": 3}, "mttr.pth") == (state, {"epoch": 3})
    assert unwrap_state_dict(state, "bare.pth") == (state, {})
    with pytest.raises(CheckpointError, match="no tensor state dict"):
        unwrap_state_dict({"epoch": 3}, "empty.pth")


def test_rvosbench_checkpoints_still_load_as_they_are(tiny_card, release, tmp_path):
    model, _ = release
    path = save_checkpoint(model, tmp_path / "ours.pt")
    other = fresh_model(tiny_card)
    load_checkpoint(other, path)
    assert all(torch.equal(other.state_dict()[k], v) for k, v in model.state_dict().items())
