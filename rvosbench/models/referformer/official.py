"""The authors' ReferFormer state-dict keys → rvosbench's (wjn922/ReferFormer release checkpoints).

The model mirrors the authors' module tree, so the mapping is nearly the identity:

* ``backbone.0.body.*`` → ``backbone.body.*``: their ``Joiner`` holds the backbone at index 0 (the
  position encoding, without weights, at 1); ours is the backbone module itself;
* ``text_encoder.*`` → ``text_encoder.body.*``: their ``RobertaModel`` is the attribute itself, ours is
  wrapped by the text-encoder module (which adds the tokenizer and the feature conventions);
* dropped: ``text_encoder.embeddings.position_ids`` (a constant ``arange`` buffer that transformers < 4.31
  saved; it is rebuilt) and ``*.total_ops`` / ``*.total_params`` (profiling counters that ``thop`` leaves
  in some files; the authors' loader drops them too).

Everything else (``transformer.*``, ``input_proj.*``, ``class_embed.*``, ``bbox_embed.*``, the box heads
also shared as ``transformer.decoder.bbox_embed.*``, ``pixel_decoder.*``, ``controller.*``, ``resizer.*``,
``fusion_module.*``, ``query_embed.*``) keeps its name.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch

RENAMED = (("backbone.0.body.", "backbone.body."), ("text_encoder.", "text_encoder.body."))
DROPPED_SUFFIXES = (".total_ops", ".total_params")
DROPPED_KEYS = ("text_encoder.embeddings.position_ids",)


def referformer_keys(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map an authors' ReferFormer state dict (any backbone) to rvosbench's keys."""
    converted = {}
    for key, value in state.items():
        if key in DROPPED_KEYS or key.endswith(DROPPED_SUFFIXES) or key in ("total_ops", "total_params"):
            continue
        for old, new in RENAMED:
            if key.startswith(old):
                key = new + key[len(old):]
                break
        converted[key] = value
    return converted
