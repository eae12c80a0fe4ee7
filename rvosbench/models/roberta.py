"""RoBERTa-base as ReferFormer and MTTR use it, built from a config: weights never come from a hub.

The authors call ``RobertaModel.from_pretrained('roberta-base')``; their release checkpoints then carry
every RoBERTa tensor (``text_encoder.*``). Here the model is built from roberta-base's published shape
(:data:`ROBERTA_BASE`; ``layer_norm_eps`` 1e-5, 514 positions, one token type, padding id 1, so position
ids start at 2) with random weights, and the weights arrive with the checkpoint. ``path`` may instead
name a local ``save_pretrained`` folder (weights and config).

The tokenizer holds no weights, but the ids it gives are what the weights were trained on: it is read
from a local folder (``vocab.json`` + ``merges.txt``, or ``tokenizer.json``) or from the local Hugging
Face cache (``roberta-base``, where the authors' code put it), only when the first sentence arrives, so a
model can be built, converted and counted without one.

Features follow ReferFormer: word features are the last hidden state, the padding mask is
``attention_mask == 0`` (its ``attention_mask.ne(1)``), and the sentence feature is the **pooler output**
(``tanh(W · h_<s>)``); MTTR builds it without the pooler (``pooler: false``).
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

import rvosbench  # noqa: F401  (torchvision import fix before transformers loads)
from rvosbench.core.errors import CheckpointError, ConfigError
from rvosbench.core.registry import TEXT_ENCODERS
from rvosbench.models.freezing import FreezableModule
from rvosbench.models.text_encoders import TextFeatures

#: roberta-base's config.json (hub model card), the fields that shape the network
ROBERTA_BASE: dict[str, Any] = {
    "vocab_size": 50265, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
    "intermediate_size": 3072, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 514, "type_vocab_size": 1,
    "initializer_range": 0.02, "layer_norm_eps": 1e-5, "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2,
}


@TEXT_ENCODERS.register_module("roberta")
class RobertaTextEncoder(FreezableModule):
    """RoBERTa built from a config; words, padding mask and the pooler output as sentence feature.

    Args:
        path: ``null`` (build roberta-base's shape, weights from the model's checkpoint) or a local
            ``save_pretrained`` folder with weights.
        tokenizer: local tokenizer folder, or a name in the local Hugging Face cache (default
            ``roberta-base``; ``path`` when that folder holds a tokenizer).
        frozen: no gradients (ReferFormer's ``--freeze_text_encoder``, MTTR's frozen RoBERTa).
        pooler: build the pooler (ReferFormer's sentence feature); without it ``sentence`` is the
            ``<s>`` token's hidden state.
        config: overrides of :data:`ROBERTA_BASE` (small widths for tests).
    """

    def __init__(self, path: str | None = None, tokenizer: str | None = None, frozen: bool = True,
                 pooler: bool = True, config: Mapping[str, Any] | None = None):
        super().__init__()
        from transformers import RobertaConfig, RobertaModel
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        unknown = set(config or {}) - set(ROBERTA_BASE)
        if unknown:
            raise ConfigError(f"unknown RoBERTa config key(s) {sorted(unknown)}", where="model.text_encoder.config",
                              hint=f"known: {', '.join(sorted(ROBERTA_BASE))}")
        if path is not None:
            folder = Path(path).expanduser()
            if not (folder / "config.json").is_file():
                raise CheckpointError(f"'{folder}' is not a RoBERTa save_pretrained folder (no config.json)",
                                      where="model.text_encoder.path",
                                      hint="give a local folder saved with save_pretrained(), or path: null to take "
                                           "the weights from the model's checkpoint")
            self.body = RobertaModel.from_pretrained(str(folder), add_pooling_layer=pooler, local_files_only=True)
            has_tokenizer = any((folder / name).is_file() for name in ("tokenizer.json", "vocab.json"))
            tokenizer = tokenizer or (str(folder) if has_tokenizer else None)
        else:
            self.body = RobertaModel(RobertaConfig(**{**ROBERTA_BASE, **(config or {})}), add_pooling_layer=pooler)
        self.tokenizer_source = tokenizer or "roberta-base"
        self._tokenizer = None
        self.channels: int = int(self.body.config.hidden_size)
        #: the weights come from a folder at build time (a checkpoint need not carry them)
        self.pretrained = path is not None
        self.set_frozen(frozen)

    @property
    def tokenizer(self):
        """The tokenizer, loaded on first use from a local folder or the local Hugging Face cache."""
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            source = self.tokenizer_source
            local = Path(source).expanduser()
            try:
                self._tokenizer = AutoTokenizer.from_pretrained(str(local) if local.exists() else source,
                                                                local_files_only=True)
            except (OSError, ValueError) as error:
                raise CheckpointError(f"RoBERTa tokenizer '{source}' is neither a local folder nor in the local "
                                      "Hugging Face cache", where="model.text_encoder.tokenizer",
                                      hint="set it to a folder holding roberta-base's vocab.json and merges.txt "
                                           "(or tokenizer.json)") from error
        return self._tokenizer

    def forward(self, sentences: list[str]) -> TextFeatures:
        device = next(self.body.parameters()).device
        # ReferFormer pads to the longest sentence and does not truncate
        tokens = self.tokenizer(list(sentences), padding="longest", return_tensors="pt").to(device)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            encoded = self.body(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"])
        words = encoded.last_hidden_state
        sentence = encoded.pooler_output if encoded.pooler_output is not None else words[:, 0]
        return TextFeatures(words=words, pad_mask=tokens["attention_mask"].ne(1), sentence=sentence)


class FeatureResizer(nn.Module):
    """Linear + LayerNorm (eps 1e-12, BERT's) + dropout: RoBERTa's 768-d features to a model's width, as
    ReferFormer and MTTR both project them (attribute names ``fc``, ``layer_norm`` as theirs)."""

    def __init__(self, input_feat_size: int, output_feat_size: int, dropout: float = 0.1):
        super().__init__()
        self.fc = nn.Linear(input_feat_size, output_feat_size)
        self.layer_norm = nn.LayerNorm(output_feat_size, eps=1e-12)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.layer_norm(self.fc(x)))

