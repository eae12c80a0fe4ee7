"""MTTR against the authors' code (mttr2021/MTTR), at the paper's size (Video-Swin-T, RoBERTa-base).

The authors' model is built with random weights (RoBERTa from roberta-base's configuration, in place of
``from_pretrained``, which would reach the hub), perturbed with seeded noise, saved as their release
files are, converted, and run beside ours on the same two clips (of different sizes, so padding is
exercised) and the same sentences, tokenized for both by one test tokenizer (roberta-base's cannot be
fetched; the ids are all that matter here).

Run: ``RVOSBENCH_OFFICIAL_MTTR=/path/to/MTTR pytest -m official tests/models/official/test_mttr_official.py -s``.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from rvosbench.models import build_model
from rvosbench.models.checkpoint import load_state_dict_into
from rvosbench.models.mttr import MTTR
from rvosbench.models.mttr.postprocessing import postprocess

from official_helpers import add_noise_, checkout, import_official, max_abs_diff
from model_helpers import write_byte_level_tokenizer

pytestmark = [pytest.mark.official, pytest.mark.filterwarnings("ignore::DeprecationWarning")]  # the authors' numpy calls
TOLERANCE = 1e-4
# roberta-base's config.json (official-rivals-notes.md), written out here independently of rvosbench's copy
ROBERTA_BASE = {"vocab_size": 50265, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
                "intermediate_size": 3072, "max_position_embeddings": 514, "type_vocab_size": 1,
                "pad_token_id": 1, "layer_norm_eps": 1e-5}
# configs/refer_youtube_vos.yaml, model part
PAPER = {"backbone_name": "swin-t", "backbone_pretrained": False, "backbone_pretrained_path": None,
         "train_backbone": True, "running_mode": "eval", "num_encoder_layers": 3, "num_decoder_layers": 3,
         "dim_feedforward": 2048, "d_model": 256, "dropout": 0.1, "nheads": 8, "num_queries": 50,
         "mask_kernels_dim": 8, "freeze_text_encoder": True, "text_encoder_type": "roberta-base", "aux_loss": True}
CARD_MODEL = {"type": "mttr", "backbone": {"type": "video_swin", "size": "t", "num_stages": 3, "drop_path_rate": 0.1},
              "text_encoder": {"type": "roberta", "pooler": False}}
SENTENCES = ["the dog on the right", "a white cat"]  # padded to the longest: the attention mask matters
SIZES = [(96, 128), (80, 112)]  # the second clip is padded to the first's size
T = 6


@pytest.fixture(scope="module")
def tokenizer_folder(tmp_path_factory) -> str:
    words = sorted({word for sentence in SENTENCES for word in sentence.split()})
    return write_byte_level_tokenizer(tmp_path_factory.mktemp("tokenizer"), words)


@pytest.fixture(scope="module")
def authors(tokenizer_folder):
    """The authors' MTTR (random + noise) and their modules."""
    root = checkout("RVOSBENCH_OFFICIAL_MTTR")
    mttr, multimodal, misc, postprocessing = import_official(
        root, "models.mttr", "models.multimodal_transformer", "misc", "models.postprocessing")
    from transformers import AutoTokenizer, RobertaConfig, RobertaModel

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_folder, local_files_only=True)
    stub_tokenizer = SimpleNamespace(batch_encode_plus=lambda texts, **kwargs: tokenizer(texts, **kwargs))
    multimodal.RobertaModel = SimpleNamespace(from_pretrained=lambda name: RobertaModel(RobertaConfig(**ROBERTA_BASE)))
    multimodal.RobertaTokenizerFast = SimpleNamespace(from_pretrained=lambda name: stub_tokenizer)
    torch.manual_seed(0)
    model = mttr.MTTR(**PAPER).eval()
    add_noise_(model, seed=11)
    return SimpleNamespace(model=model, misc=misc, postprocessing=postprocessing)


@pytest.fixture(scope="module")
def clips():
    generator = torch.Generator().manual_seed(12)
    videos = [torch.randn(T, 3, h, w, generator=generator) for h, w in SIZES]
    return videos


def converted(authors_model, tmp_path, wrapped: bool) -> dict[str, torch.Tensor]:
    """Their state dict saved as a release file (bare, or as their trainer writes it), read back, converted."""
    path = tmp_path / "mttr_release.pth.tar"
    state = authors_model.state_dict()
    torch.save({"epoch": 69, "model_state_dict": state} if wrapped else state, path)
    data = torch.load(path, map_location="cpu", weights_only=True)
    return MTTR.from_official_state_dict(data.get("model_state_dict", data))


@pytest.fixture(scope="module")
def ours(authors, tmp_path_factory, tokenizer_folder):
    model = build_model({**CARD_MODEL, "text_encoder": {**CARD_MODEL["text_encoder"], "tokenizer": tokenizer_folder}})
    model.eval()
    state = converted(authors.model, tmp_path_factory.mktemp("release"), wrapped=True)
    load_state_dict_into(model, state, source="authors' MTTR")  # raises on any missing/unexpected key or shape
    return model


def test_release_state_dict_converts_with_no_missing_or_unexpected_key(authors, tmp_path):
    expected = set(build_model(CARD_MODEL).state_dict())
    for wrapped in (False, True):
        state = converted(authors.model, tmp_path, wrapped)
        assert set(state) == expected
    old_transformers = {**authors.model.state_dict(),  # releases saved by transformers 4.x carry this buffer
                        "transformer.text_encoder.embeddings.position_ids": torch.arange(514)[None]}
    assert set(MTTR.from_official_state_dict(old_transformers)) == expected


def test_outputs_and_final_masks_equal_the_authors(authors, ours, clips):
    padded = authors.misc.nested_tensor_from_videos_list(clips)  # tensors [T, B, 3, H, W], mask [T, B, H, W]
    with torch.no_grad():
        theirs = authors.model(padded, torch.arange(T), SENTENCES)
        mine = ours({"frames": padded.tensors.transpose(0, 1), "pad_mask": padded.mask.transpose(0, 1),
                     "text": SENTENCES})
    referred = max_abs_diff(mine["pred_is_referred"].transpose(0, 1), theirs["pred_is_referred"])
    masks = max_abs_diff(mine["pred_masks"].transpose(0, 1), theirs["pred_masks"])
    print(f"\nMTTR (Video-Swin-T, RoBERTa-base), 2 clips x {T} frames: max |diff| pred_is_referred {referred:.1e}, "
          f"pred_masks {masks:.1e} (|pred_masks| up to {theirs['pred_masks'].abs().max():.1f})")
    assert referred < TOLERANCE and masks < TOLERANCE
    scores = theirs["pred_is_referred"].softmax(-1)[..., 0]
    assert max_abs_diff(mine["pred_logits"].sigmoid().transpose(0, 1), scores) < TOLERANCE

    # Ref-YouTube-VOS post-processing: chosen instance sequence, padded-size upsampling, crop, nearest resize
    padded_size = tuple(padded.tensors.shape[-2:])
    originals = [(180, 240), (150, 210)]
    metadata = [{"resized_frame_size": size, "original_frame_size": orig} for size, orig in zip(SIZES, originals)]
    reference = authors.postprocessing.ReferYoutubeVOSPostProcess()(theirs, metadata, padded_size)
    a2d = authors.postprocessing.A2DSentencesPostProcess()
    for b, (size, orig) in enumerate(zip(SIZES, originals)):
        prediction = postprocess(mine["pred_is_referred"][b], mine["pred_masks"][b], padded_size, size, orig)
        authors_masks = reference[b]["pred_masks"][:, 0].numpy().astype(bool)
        assert authors_masks.any() and not authors_masks.all()
        assert np.array_equal(prediction.masks, authors_masks)
        # A2D/JHMDB: every query's mask and score, frame by frame
        frames = a2d({"pred_is_referred": theirs["pred_is_referred"][:, b], "pred_masks": theirs["pred_masks"][:, b]},
                     padded_size, [size] * T, [orig] * T)
        assert np.array_equal(prediction.query_masks,
                              np.stack([f["masks"][:, 0].numpy().astype(bool) for f in frames], axis=1))
        assert max_abs_diff(torch.from_numpy(prediction.query_scores),
                            torch.stack([f["scores"] for f in frames], dim=1)) < TOLERANCE


def test_an_authors_release_file_converts_and_drives_predict(authors, tokenizer_folder, tmp_path, capsys):
    """The authors' model saved as their trainer saves it, through ``rvosbench convert`` and ``predict``
    of the real card (its RoBERTa tokenizer pointed at the test one)."""
    from PIL import Image

    from rvosbench.cli.main import main as cli

    release = tmp_path / "refer-youtube-vos_window-12.pth.tar"
    torch.save({"epoch": 29, "total_epochs": 30, "model_state_dict": authors.model.state_dict()}, release)
    tokenizer = f"text_encoder.tokenizer={tokenizer_folder}"
    out = tmp_path / "mttr_video_swin_t.pt"
    assert cli(["convert", "mttr_video_swin_t", str(release), "--out", str(out), "--set", tokenizer]) == 0
    printed = capsys.readouterr().out
    print(printed)
    assert all(f"{kind}: none" in printed for kind in ("missing keys", "unexpected keys", "shape mismatches"))
    frames = tmp_path / "frames"
    frames.mkdir()
    generator = torch.Generator().manual_seed(13)
    for i in range(2):
        Image.fromarray(torch.randint(0, 256, (72, 96, 3), generator=generator, dtype=torch.uint8).numpy()).save(
            frames / f"{i:05d}.png")
    assert cli(["predict", "mttr_video_swin_t", "--checkpoint", str(out), "--video", str(frames), "--text",
                SENTENCES[0], "--out", str(tmp_path / "pred"), "--set", tokenizer]) == 0
    masks = sorted((tmp_path / "pred" / "masks").glob("*.png"))
    assert len(masks) == 2 and Image.open(masks[0]).size == (96, 72)
