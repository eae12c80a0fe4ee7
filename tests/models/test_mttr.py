"""MTTR's conventions, at a small width: layout, text path, position encoding, post-processing, weights.

Equality with the authors' code at the paper's size is tested under ``-m official``
(tests/models/official/test_mttr_official.py).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from rvosbench.core.errors import CheckpointError, ConfigError
from rvosbench.models import build_model
from rvosbench.models.mttr import MTTR
from rvosbench.models.mttr.postprocessing import postprocess

from model_helpers import write_byte_level_tokenizer

SMALL_SWIN = {"type": "video_swin", "num_stages": 3, "embed_dim": 16, "depths": [2, 2, 2], "num_heads": [1, 2, 2],
              "window_size": [2, 4, 4], "drop_path_rate": 0.0}
SMALL = {"type": "mttr", "backbone": SMALL_SWIN, "hidden_dim": 64, "num_heads": 2, "num_queries": 3,
         "enc_layers": 1, "dec_layers": 2, "ffn_dim": 64, "dropout": 0.0}
SMALL_ROBERTA = {"type": "roberta", "pooler": False,
                 "config": {"num_hidden_layers": 1, "hidden_size": 32, "num_attention_heads": 2, "intermediate_size": 64}}


@pytest.fixture(scope="module")
def tokenizer_folder(tmp_path_factory):
    return write_byte_level_tokenizer(tmp_path_factory.mktemp("roberta-tokenizer"))


@pytest.fixture(scope="module")
def model(tokenizer_folder):
    torch.manual_seed(0)
    return build_model({**SMALL, "text_encoder": {**SMALL_ROBERTA, "tokenizer": tokenizer_folder}}).eval()


def test_outputs_are_batch_first_and_the_score_is_softmax_channel_0(model):
    frames = torch.randn(2, 3, 3, 32, 48)
    with torch.no_grad():
        out = model({"frames": frames, "text": ["the red square", "a dog"]})
    assert out["pred_is_referred"].shape == (2, 3, 3, 2) and out["pred_masks"].shape == (2, 3, 3, 8, 12)
    torch.testing.assert_close(out["pred_logits"].sigmoid(), out["pred_is_referred"].softmax(-1)[..., 0])
    changed = frames.clone()
    changed[1] += 1.0  # another clip of the batch: clips never mix (time-first internally, t·B + b columns)
    with torch.no_grad():
        again = model({"frames": changed, "text": ["the red square", "a dog"]})
    assert torch.equal(again["pred_masks"][0], out["pred_masks"][0])
    assert not torch.allclose(again["pred_masks"][1], out["pred_masks"][1])


def test_padding_is_masked_out_of_the_transformer_not_of_the_backbone(model):
    """As the authors': padded clips are zero-padded frames plus a mask the transformer honours."""
    frames = torch.randn(1, 2, 3, 32, 32)
    pad = torch.zeros(1, 2, 32, 32, dtype=torch.bool)
    pad[..., 16:] = True
    with torch.no_grad():
        plain = model({"frames": frames, "text": ["a cat"]})
        masked = model({"frames": frames, "text": ["a cat"], "pad_mask": pad})
    assert not torch.allclose(plain["pred_is_referred"], masked["pred_is_referred"])


def test_postprocessing_follows_mttr_choose_then_upsample_crop_and_nearest_resize():
    T, N = 3, 2
    is_referred = torch.zeros(T, N, 2)
    is_referred[:, 0, 0] = torch.tensor([4.0, -4.0, -4.0])  # query 0 wins frame 0 only
    is_referred[:, 1, 0] = torch.tensor([1.0, 1.0, 1.0])  # query 1 wins on average over time
    masks = torch.full((T, N, 2, 2), -5.0)
    masks[:, 1, 0, :] = 5.0  # query 1: the top half of the padded 8x8 input
    # bilinear to 8x8: rows 0-3 positive; crop to the 6x4 unpadded part; nearest to 12x8: rows 0-7
    prediction = postprocess(is_referred, masks, padded_size=(8, 8), resized_size=(6, 4), orig_size=(12, 8))
    expected = np.zeros((12, 8), bool)
    expected[:8] = True
    assert all(np.array_equal(m, expected) for m in prediction.masks)
    assert np.array_equal(prediction.masks, prediction.probs > 0.5)
    np.testing.assert_allclose(prediction.scores, torch.sigmoid(torch.tensor(1.0)).repeat(T).numpy(), rtol=1e-6)
    assert prediction.query_masks.shape == (N, T, 12, 8) and not prediction.query_masks[0].any()


def test_predict_runs_the_post_processing_on_its_own_forward(model):
    frames = torch.randn(4, 3, 32, 40)
    with torch.no_grad():
        out = model({"frames": frames[None], "text": ["the cat"]})
    prediction = model.predict(frames, "the cat", (50, 60))
    reference = postprocess(out["pred_is_referred"][0], out["pred_masks"][0], (32, 40), (32, 40), (50, 60))
    assert np.array_equal(prediction.masks, reference.masks) and prediction.masks.shape == (4, 50, 60)


def test_official_state_dict_converts_by_dropping_stale_roberta_buffers_only(model):
    state = model.state_dict()
    authors = {key.replace(".body.", ".", 1) if key.startswith(("backbone.body.", "transformer.text_encoder.body."))
               else key: value for key, value in state.items()}
    authors["transformer.text_encoder.embeddings.position_ids"] = torch.arange(514)[None]  # transformers 4.x
    converted = MTTR.from_official_state_dict(authors)
    assert converted.keys() == state.keys() and all(converted[k] is state[k] for k in state)
    assert "backbone.body.downsamples.0.reduction.weight" in state  # the authors' Video Swin layout below body
    assert "transformer.text_encoder.body.pooler.dense.weight" not in state  # MTTR drops RoBERTa's pooler


def test_text_encoder_groups_and_rebuilt_weights(tokenizer_folder):
    trainable = build_model({**SMALL, "text_encoder": {**SMALL_ROBERTA, "tokenizer": tokenizer_folder,
                                                       "frozen": False}})
    groups = trainable.param_groups()
    names = {id(p): n for n, p in trainable.named_parameters()}
    assert groups["text_encoder"] and all(names[id(p)].startswith("transformer.text_encoder.")
                                          for p in groups["text_encoder"])
    assert all(names[id(p)].startswith("backbone.") for p in groups["backbone"]) and groups["backbone"]
    assert trainable.rebuilt_prefixes() == []  # RoBERTa from its config: the checkpoint holds its weights
    tiny = build_model({**SMALL, "text_encoder": {"type": "hf", "path": "minilm"},
                        "backbone": {"type": "timm", "name": "tf_efficientnet_lite0", "out_indices": [1, 2, 3],
                                     "pretrained": "package", "frozen": True}})
    assert tiny.rebuilt_prefixes() == ["backbone.", "transformer.text_encoder."]


def test_text_and_size_mistakes_are_one_line_errors():
    model = build_model({**SMALL, "text_encoder": {**SMALL_ROBERTA, "tokenizer": "/nonexistent/roberta-base"}})
    with pytest.raises(CheckpointError, match="tokenizer"):
        model({"frames": torch.randn(1, 2, 3, 32, 32), "text": ["a cat"]})
    with pytest.raises(ConfigError, match="'bert'"):
        build_model({**SMALL, "text_encoder": {"type": "bert"}})
    with pytest.raises(ConfigError, match="multiple of 64"):
        build_model({**SMALL, "hidden_dim": 48, "text_encoder": SMALL_ROBERTA})
