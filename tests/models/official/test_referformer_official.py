"""rvosbench's ReferFormer equals the authors' (wjn922/ReferFormer), and their release files drive it.

Run with a checkout (never committed):
``RVOSBENCH_OFFICIAL_REFERFORMER=/path/to/ReferFormer pytest -m official tests/models/official -s``.
Each test builds the authors' model with the release flags and random weights, adds seeded noise to
every float tensor (random init hides differences), converts its state dict with rvosbench's machinery
and runs both on the same clip and sentences, fp32 on CPU: ``pred_logits``, ``pred_boxes`` and
``pred_masks`` must agree to 1e-4, and the binary masks of ``inference_ytvos.py``'s selection must be
identical. Real sizes: ResNet-50 / Video-Swin-B + RoBERTa-base (about 20-60 s and 4 GB per test).
"""
from __future__ import annotations

import pytest
import torch
from official_helpers import add_noise_, checkout, max_abs_diff
from referformer_oracle import build_official_referformer, official_video_prediction
from model_helpers import write_byte_level_tokenizer

from rvosbench.cli.main import main as cli
from rvosbench.core.plan import load_card
from rvosbench.models import build_model
from rvosbench.models.official import conversion_report, convert_official_state_dict

pytestmark = pytest.mark.official

TOLERANCE = 1e-4
SENTENCES = ["the red circle moving left", "a small blue square below the big star on the left"]
CASES = {  # card: (authors' --backbone, clips (B, T, H, W))
    "referformer_r50": ("resnet50", (2, 3, 150, 230)),
    "referformer_video_swin_b": ("video_swin_b_p4w7", (1, 3, 130, 200)),
}


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return write_byte_level_tokenizer(tmp_path_factory.mktemp("tokenizer"), " ".join(SENTENCES).split())


def ours_for(card: str, tokenizer) -> torch.nn.Module:
    config = load_card(card, None)["model"]
    config["text_encoder"] = {**config["text_encoder"], "tokenizer": str(tokenizer)}
    return build_model(config).eval()


@pytest.fixture(scope="module", params=list(CASES))
def pair(request, tokenizer):
    """(card, the authors' model with noised weights and its args, ours with their weights converted)."""
    root = checkout("RVOSBENCH_OFFICIAL_REFERFORMER")
    torch.manual_seed(0)  # the authors' random init (then the noise) is the same on every run
    theirs, args = build_official_referformer(root, CASES[request.param][0], tokenizer)
    add_noise_(theirs, seed=0)
    ours = ours_for(request.param, tokenizer)
    converted = convert_official_state_dict(ours, theirs.state_dict(), "authors' model")
    assert conversion_report(ours, converted) == {"missing keys": [], "unexpected keys": [], "shape mismatches": []}
    ours.load_state_dict(converted)
    return request.param, theirs, ours, args


def test_outputs_equal_the_authors(pair):
    card, theirs, ours, _ = pair
    B, T, H, W = CASES[card][1]
    frames = torch.randn(B, T, 3, H, W, generator=torch.Generator().manual_seed(1))
    texts = SENTENCES[:B]
    with torch.no_grad():
        expected = theirs(list(frames), texts, [{"size": torch.as_tensor([H, W])} for _ in range(B)])
        got = ours({"frames": frames, "text": texts})
    diffs = {"pred_logits": max_abs_diff(got["pred_logits"], expected["pred_logits"][..., 0]),
             "pred_boxes": max_abs_diff(got["pred_boxes"], expected["pred_boxes"]),
             "pred_masks": max_abs_diff(got["pred_masks"], expected["pred_masks"])}
    print(f"\n{card}: B={B} T={T} {H}x{W}, max |ours - authors'|: "
          + ", ".join(f"{k} {v:.2e}" for k, v in diffs.items())
          + f" (|pred_masks| up to {expected['pred_masks'].abs().max():.1f})")
    assert all(d <= TOLERANCE for d in diffs.values()), diffs
    assert expected["pred_masks"].std() > 0.1 and expected["pred_boxes"].std() > 0.01  # the noise made them vary


def test_final_masks_are_identical_to_inference_ytvos(pair):
    card, theirs, ours, _ = pair
    _, T, H, W = CASES[card][1]
    frames = torch.randn(T, 3, H, W, generator=torch.Generator().manual_seed(2))
    orig_size = (H * 2 + 1, W * 2 - 3)  # the original frames before the 360-px resize
    with torch.no_grad():
        expected = official_video_prediction(theirs([frames], SENTENCES[:1], [{"size": torch.as_tensor([H, W])}]),
                                             orig_size)
    got = ours.predict(frames, SENTENCES[0], orig_size, query_masks=False)
    changed = int((torch.from_numpy(got.masks) != expected).sum())
    print(f"\n{card}: {expected.sum().item()} of {expected.numel()} pixels in the authors' masks, {changed} differ")
    assert 0 < expected.sum() < expected.numel() and changed == 0


def test_a_release_file_written_by_the_authors_code_converts_and_predicts(pair, tokenizer, tmp_path, capsys):
    """The authors' main.py checkpoint dict, saved by torch.save from their model and optimizer."""
    card, theirs, _, args = pair
    heads = [p for n, p in theirs.named_parameters() if n.startswith("class_embed")]
    optimizer = torch.optim.AdamW([{"params": heads, "lr": 1e-4}], lr=1e-4, weight_decay=5e-4)
    for p in heads:
        p.grad = torch.zeros_like(p)
    optimizer.step()  # so that the optimizer state holds tensors, as in a release
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, [3, 5])
    release = tmp_path / f"{card}_release.pth"
    torch.save({"model": theirs.state_dict(), "optimizer": optimizer.state_dict(),
                "lr_scheduler": scheduler.state_dict(), "epoch": 5, "args": args}, release)
    for p in heads:
        p.grad = None

    converted = tmp_path / f"{card}.pt"
    tokenizer_set = f"text_encoder.tokenizer={tokenizer}"
    assert cli(["convert", card, str(release), "--out", str(converted), "--set", tokenizer_set]) == 0
    printed = capsys.readouterr().out
    assert "missing keys: none" in printed and "unexpected keys: none" in printed
    assert "shape mismatches: none" in printed

    frames = tmp_path / "frames"
    frames.mkdir()
    from PIL import Image
    rng = torch.Generator().manual_seed(3)
    for i in range(3):
        Image.fromarray(torch.randint(0, 255, (120, 180, 3), generator=rng, dtype=torch.uint8).numpy()).save(
            frames / f"{i:05d}.jpg")
    assert cli(["predict", card, "--checkpoint", str(converted), "--video", str(frames), "--text", SENTENCES[0],
                "--out", str(tmp_path / "pred"), "--set", tokenizer_set]) == 0
    assert len(list((tmp_path / "pred" / "masks").glob("*.png"))) == 3
