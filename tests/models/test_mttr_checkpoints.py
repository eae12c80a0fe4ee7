"""MTTR release files: the authors' layout converts with nothing missing or unexpected and drives predict.

A small MTTR (Video Swin and RoBERTa at test widths) stands in for the real size; its state dict is
written in the authors' key layout (no ``body`` level, the ``position_ids`` buffer transformers 4.x
saved) both as their trainer saves it (``{'model_state_dict', 'optimizer_state_dict', 'epoch', ...}``)
and bare. The same with the authors' own code at the paper's size is
``tests/models/official/test_mttr_official.py``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from model_helpers import write_byte_level_tokenizer

from rvosbench.cli.main import main as cli
from rvosbench.models import build_model, load_checkpoint
from rvosbench.models.mttr.model import ENCODER_PREFIXES

TEXT = "the red square moving right"


@pytest.fixture(scope="module")
def card(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("card")
    model = {"type": "mttr", "hidden_dim": 64, "num_heads": 2, "num_queries": 3, "enc_layers": 1, "dec_layers": 2,
             "ffn_dim": 64, "dropout": 0.0,
             "backbone": {"type": "video_swin", "num_stages": 3, "embed_dim": 16, "depths": [2, 2, 2],
                          "num_heads": [1, 2, 2], "window_size": [2, 4, 4]},
             "text_encoder": {"type": "roberta", "pooler": False,
                              "tokenizer": write_byte_level_tokenizer(root / "tokenizer", TEXT.split()),
                              "config": {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                                         "intermediate_size": 64}}}
    card = {"name": "mttr_test", "description": "small MTTR for conversion tests",
            "input": {"num_frames": 3, "short_side": 64, "max_size": 96, "mean": [0.5] * 3, "std": [0.5] * 3},
            "checkpoint": {"path": None, "sha256": None}, "published": []}
    path = root / "mttr_test.yaml"
    path.write_text(yaml.safe_dump({"card": card, "model": model}))
    return path


def built(card: Path, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model(yaml.safe_load(card.read_text())["model"]).eval()


def authors_layout(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our keys as the authors' code names them, with the buffer transformers 4.x saved."""
    out = {}
    for key, value in state.items():
        for theirs, ours in ENCODER_PREFIXES.items():
            if key.startswith(ours):
                key = theirs + key.removeprefix(ours)
        out[key] = value.clone()
    out["transformer.text_encoder.embeddings.position_ids"] = torch.arange(514)[None]
    return out


@pytest.fixture(scope="module")
def release(card, tmp_path_factory):
    """(model with perturbed weights, its trainer-format release file, its bare release file)."""
    model = built(card, seed=0)
    with torch.no_grad():
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.add_(0.02 * torch.randn(tensor.shape))
    state = authors_layout(model.state_dict())
    folder = tmp_path_factory.mktemp("release")
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    trainer = folder / "refer-youtube-vos_window-12.pth.tar"
    torch.save({"epoch": 29, "total_epochs": 30, "model_state_dict": state,
                "optimizer_state_dict": optimizer.state_dict(), "best_loss": 1.5}, trainer)
    bare = folder / "bare.pth.tar"
    torch.save(state, bare)
    return model, trainer, bare


@pytest.fixture(scope="module")
def frames_folder(tmp_path_factory, clip) -> Path:
    folder = tmp_path_factory.mktemp("frames")
    for i, frame in enumerate(((clip["frames"].permute(0, 2, 3, 1) * 0.5 + 0.5) * 255).byte().numpy()):
        Image.fromarray(frame).save(folder / f"{i:05d}.png")
    return folder


def test_both_release_layouts_load_through_load_checkpoint(card, release):
    model, trainer, bare = release
    for path in (trainer, bare):
        other = built(card, seed=1)
        load_checkpoint(other, path)
        for key, value in model.state_dict().items():
            assert torch.equal(other.state_dict()[key], value), key


def test_convert_reports_no_problem_and_its_output_drives_predict(card, release, frames_folder, tmp_path, capsys):
    model, trainer, _ = release
    out = tmp_path / "mttr.pt"
    assert cli(["convert", str(card), str(trainer), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert all(f"{kind}: none" in printed for kind in ("missing keys", "unexpected keys", "shape mismatches"))
    assert torch.load(out, weights_only=True)["converted_from"]["epoch"] == 29
    runs = {}
    for name, checkpoint in (("converted", out), ("release", trainer)):  # a release file converts on load
        assert cli(["predict", str(card), "--checkpoint", str(checkpoint), "--video", str(frames_folder),
                    "--text", TEXT, "--out", str(tmp_path / name)]) == 0
        runs[name] = [np.asarray(Image.open(p)) for p in sorted((tmp_path / name / "masks").glob("*.png"))]
    assert len(runs["converted"]) == 4 and all(np.array_equal(a, b) for a, b in zip(*runs.values()))
