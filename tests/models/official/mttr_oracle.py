"""Build the authors' MTTR (mttr2021/MTTR) on CPU from a checkout, for equivalence tests.

The paper's configuration (``configs/refer_youtube_vos.yaml``, model part) with random weights plus
seeded noise; RoBERTa is built from roberta-base's configuration instead of ``from_pretrained`` (which
would reach the hub) and its tokenizer is a local test tokenizer (the ids are all that matter here).
Nothing of the authors' code is copied: it is imported from the checkout with
:func:`official_helpers.import_official`.
"""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import torch
from official_helpers import add_noise_, import_official

# roberta-base's config.json (official-rivals-notes.md), written out here independently of rvosbench's copy
ROBERTA_BASE = {"vocab_size": 50265, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
                "intermediate_size": 3072, "max_position_embeddings": 514, "type_vocab_size": 1,
                "pad_token_id": 1, "layer_norm_eps": 1e-5}
# configs/refer_youtube_vos.yaml, model part
PAPER = {"backbone_name": "swin-t", "backbone_pretrained": False, "backbone_pretrained_path": None,
         "train_backbone": True, "running_mode": "eval", "num_encoder_layers": 3, "num_decoder_layers": 3,
         "dim_feedforward": 2048, "d_model": 256, "dropout": 0.1, "nheads": 8, "num_queries": 50,
         "mask_kernels_dim": 8, "freeze_text_encoder": True, "text_encoder_type": "roberta-base", "aux_loss": True}


def build_official_mttr(root: Path, tokenizer_folder: str | Path, seed: int) -> SimpleNamespace:
    """The authors' MTTR in eval mode (random init under ``torch.manual_seed(0)``, then noise of ``seed``),
    with their ``misc`` and ``models.postprocessing`` modules."""
    mttr, multimodal, misc, postprocessing = import_official(
        root, "models.mttr", "models.multimodal_transformer", "misc", "models.postprocessing")
    from transformers import AutoTokenizer, RobertaConfig, RobertaModel

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_folder), local_files_only=True)
    stub_tokenizer = SimpleNamespace(batch_encode_plus=lambda texts, **kwargs: tokenizer(texts, **kwargs))
    multimodal.RobertaModel = SimpleNamespace(from_pretrained=lambda name: RobertaModel(RobertaConfig(**ROBERTA_BASE)))
    multimodal.RobertaTokenizerFast = SimpleNamespace(from_pretrained=lambda name: stub_tokenizer)
    torch.manual_seed(0)
    model = mttr.MTTR(**PAPER).eval()
    add_noise_(model, seed=seed)
    return SimpleNamespace(model=model, misc=misc, postprocessing=postprocessing)
