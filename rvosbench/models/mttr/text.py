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
from typing import Any

import torch
from torch import nn

from rvosbench.core.errors import ConfigError
from rvosbench.models.roberta import build_roberta, load_tokenizer


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
