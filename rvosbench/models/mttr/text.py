"""MTTR's text encoder: a transformers model plus its tokenizer, from a config or a local folder.

``model.text_encoder`` of an MTTR card:

* ``{type: roberta, weights: null, tokenizer: FOLDER}``: the paper's RoBERTa-base, built from its
  configuration; the weights come with the (converted) MTTR checkpoint, which holds them. ``weights:
  FOLDER`` loads a local ``save_pretrained`` copy instead.
* ``{type: hf, path: minilm}``: any local transformers encoder; ``minilm`` is the packaged
  all-MiniLM-L6-v2 (tiny cards only: it is not MTTR's encoder).

``frozen`` (MTTR's ``freeze_text_encoder``, true in all its configs) removes gradients. The network
is stored as is, so its parameters sit at ``transformer.text_encoder.*`` as in the authors' model.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

import rvosbench  # noqa: F401  (torchvision import fix before transformers loads)
from rvosbench.core.errors import CheckpointError, ConfigError

# roberta-base's configuration (its config.json): 514 positions, one token type, LayerNorm eps 1e-5

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


@dataclass
class TextModel:
    """What :func:`build_text_model` returns."""

    network: nn.Module
    tokenizer: Any | None
    frozen: bool
    rebuilt: bool  # weights restored at build time from a package or folder (checkpoints may leave them out)


def build_text_model(cfg: Mapping[str, Any] | None) -> TextModel:
    """Build from ``model.text_encoder`` (default: RoBERTa-base from its configuration, frozen)."""
    cfg = dict(cfg or {"type": "roberta"})
    kind = cfg.pop("type", "roberta")
    frozen = bool(cfg.pop("frozen", True))
    if kind == "roberta":
        weights, tokenizer = cfg.pop("weights", None), cfg.pop("tokenizer", None)
        network = build_roberta(weights, pooler=False, **cfg)
        tokenizer_path = tokenizer or weights
        tokenizer = load_tokenizer(tokenizer_path, "model.text_encoder.tokenizer") if tokenizer_path else None
        return TextModel(network, tokenizer, frozen, rebuilt=frozen and weights is not None)
    if kind == "hf":
        from transformers import AutoModel
        from transformers.utils import logging as hf_logging

        from rvosbench.models.text_encoders import resolve_text_model_path

        hf_logging.disable_progress_bar()
        path = resolve_text_model_path(cfg.pop("path", "minilm"))
        if cfg:
            raise ConfigError(f"unknown key(s) {sorted(cfg)} for text_encoder type hf", where="model.text_encoder")
        return TextModel(AutoModel.from_pretrained(path, local_files_only=True),
                         load_tokenizer(path, "model.text_encoder.path"), frozen, rebuilt=frozen)
    raise ConfigError(f"unknown MTTR text encoder type '{kind}'", where="model.text_encoder.type",
                      hint="roberta (the paper's) or hf (a local transformers folder, e.g. path: minilm)")


def tokenize(tokenizer: Any | None, sentences: list[str], device: torch.device) -> dict[str, torch.Tensor]:
    """Token ids and attention mask, padded to the longest sentence (MTTR's ``padding='longest'``)."""
    if tokenizer is None:
        raise ConfigError("MTTR's RoBERTa has no tokenizer, so it cannot read sentences",
                          where="model.text_encoder.tokenizer",
                          hint="set it to a local folder with roberta-base's vocab.json and merges.txt "
                               "(or tokenizer.json)")
    tokens = tokenizer(list(sentences), padding="longest", truncation=True, return_tensors="pt")
    return {"input_ids": tokens["input_ids"].to(device), "attention_mask": tokens["attention_mask"].to(device)}
