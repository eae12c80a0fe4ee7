"""RoBERTa-base for the rivals that use it (MTTR, ReferFormer), built without ever reaching a hub.

Both rivals call ``RobertaModel.from_pretrained('roberta-base')``. Here the network is built from
roberta-base's configuration (random weights, to be overwritten by a converted checkpoint that holds
them) or loaded from a local folder saved with ``save_pretrained``; the tokenizer likewise comes only
from a local folder. roberta-base's configuration differs from ``RobertaConfig()``'s defaults in three
places that change outputs or shapes: 514 positions (padding index 1 + 512), one token type, and
LayerNorm eps 1e-5 (official-rivals-notes.md; the hub's ``config.json`` of roberta-base).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import rvosbench  # noqa: F401  (torchvision import fix before transformers loads)
from rvosbench.core.errors import CheckpointError

ROBERTA_BASE: dict[str, Any] = {
    "vocab_size": 50265, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
    "intermediate_size": 3072, "max_position_embeddings": 514, "type_vocab_size": 1, "pad_token_id": 1,
    "bos_token_id": 0, "eos_token_id": 2, "layer_norm_eps": 1e-5, "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
}


def local_folder(path: str | Path, what: str, where: str) -> Path:
    """A local transformers folder (with ``config.json`` or tokenizer files), or one clear error."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise CheckpointError(f"{what} folder not found: {folder}", where=where,
                              hint="give a local folder saved with save_pretrained() (rvosbench never downloads)")
    return folder


def build_roberta(weights: str | Path | None = None, pooler: bool = False, **config: Any):
    """``RobertaModel``: from roberta-base's configuration (``weights`` None; ``config`` overrides it, e.g.
    ``num_hidden_layers``) or from a local folder. ``pooler`` adds the pooling layer (ReferFormer uses
    its output; MTTR removes it)."""
    from transformers import RobertaConfig, RobertaModel

    if weights is None:
        return RobertaModel(RobertaConfig(**{**ROBERTA_BASE, **config}), add_pooling_layer=pooler)
    folder = local_folder(weights, "RoBERTa weights", "model.text_encoder.weights")
    try:
        return RobertaModel.from_pretrained(str(folder), add_pooling_layer=pooler, local_files_only=True, **config)
    except OSError as error:
        raise CheckpointError(f"cannot load RoBERTa from {folder}: {str(error).splitlines()[0]}",
                              where="model.text_encoder.weights",
                              hint="the folder needs config.json and model.safetensors (or pytorch_model.bin)") from error


def load_tokenizer(path: str | Path, where: str):
    """A tokenizer from a local folder (``tokenizer.json``, or ``vocab.json`` + ``merges.txt``)."""
    from transformers import AutoTokenizer

    folder = local_folder(path, "tokenizer", where)
    try:
        return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError) as error:
        raise CheckpointError(f"cannot load a tokenizer from {folder}: {str(error).splitlines()[0]}", where=where,
                              hint="copy roberta-base's tokenizer files (vocab.json, merges.txt) into that folder") from error
