"""Helpers of the model tests: small configs and a drawn clip to overfit.

The clip is drawn here (two coloured shapes, one moving) rather than taken from ``synth`` so these
tests depend on nothing but the models package.
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

TINY = {"hidden_dim": 32, "num_heads": 2, "num_stages": 2, "num_proxies": 3}
TINY_RIVAL = {"hidden_dim": 32, "num_heads": 2, "num_queries": 3}
NAMES = ["proxyformer", "proxyformer.no_propagation", "proxyformer.coupled_attention", "proxyformer.no_jsc",
         "referformer", "mttr"]
RIVAL_SIZES = {"referformer": {"enc_layers": 1, "dec_layers": 2, "ffn_dim": 64},
               "mttr": {"hidden_dim": 64, "enc_layers": 1, "dec_layers": 2, "ffn_dim": 64,
                        "backbone": {"type": "timm", "name": "tf_efficientnet_lite0", "out_indices": [1, 2, 3],
                                     "pretrained": "package", "frozen": True},
                        "text_encoder": {"type": "hf", "path": "minilm"}}}


def tiny_config(name: str) -> dict:
    """A small config of a registered model (N = 3 queries, two stages / decoder layers)."""
    if name.startswith("proxyformer"):
        return {"type": name, **TINY}
    return {"type": name, **TINY_RIVAL, **RIVAL_SIZES[name]}


def drawn_clip(T: int = 4, size: int = 64) -> dict:
    """A red square moving right past a still blue disc; the expression refers to the square."""
    rng = np.random.default_rng(0)
    frames = np.full((T, size, size, 3), 110, np.float32) + rng.normal(0, 6, (T, size, size, 3))
    masks = np.zeros((T, size, size), bool)
    yy, xx = np.mgrid[:size, :size]
    for t in range(T):
        disc = (yy - 40) ** 2 + (xx - 44) ** 2 < 8 ** 2
        frames[t][disc] = (45, 90, 230)
        x0 = 8 + 6 * t
        masks[t, 14:30, x0: x0 + 16] = True
        frames[t][masks[t]] = (220, 40, 40)
    frames = torch.from_numpy((frames / 255.0 - 0.5) / 0.5).permute(0, 3, 1, 2).float()
    target = torch.from_numpy(masks)
    boxes = []
    for m in masks:
        ys, xs = np.nonzero(m)
        x1, x2, y1, y2 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
        boxes.append([(x1 + x2) / 2 / size, (y1 + y2) / 2 / size, (x2 - x1) / size, (y2 - y1) / size])
    return {"frames": frames, "masks": target, "boxes": torch.tensor(boxes, dtype=torch.float32),
            "text": "the red square moving right"}


def as_batch(clip: dict, repeat: int = 1) -> tuple[dict, dict]:
    """The clip as a model batch and targets (batch size ``repeat``)."""
    batch = {"frames": clip["frames"].unsqueeze(0).repeat(repeat, 1, 1, 1, 1), "text": [clip["text"]] * repeat}
    targets = {"masks": clip["masks"].unsqueeze(0).repeat(repeat, 1, 1, 1),
               "valid": torch.ones(repeat, clip["masks"].shape[0], dtype=torch.bool),
               "boxes": clip["boxes"].unsqueeze(0).repeat(repeat, 1, 1)}
    return batch, targets


def jaccard(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean per-frame IoU (region similarity J)."""
    inter = (pred & gt).sum((1, 2))
    union = (pred | gt).sum((1, 2))
    return float(np.mean(np.where(union > 0, inter / np.maximum(union, 1), 1.0)))


def write_byte_level_tokenizer(folder, words: Iterable[str] = ()) -> str:
    """A RoBERTa-style byte-level BPE tokenizer in ``folder``: one token per byte, except ``words``.

    roberta-base's own tokenizer files cannot be fetched here; this one gives valid ids (< 50265) with
    RoBERTa's special tokens (<s> 0, <pad> 1, </s> 2), so models that read text through RoBERTa can run.
    Each of ``words`` gets merges that make it one token, alone and after a space (``Ġword``), as
    roberta-base gives for common English words: sentences of those words then have roberta-base's
    length. Ids mean nothing else: compare models with each other on them, never with released weights.
    """
    import json
    from pathlib import Path

    visible = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    hidden = [b for b in range(256) if b not in visible]
    byte_char = dict(zip(visible + hidden, [chr(b) for b in visible] + [chr(256 + i) for i in range(len(hidden))]))
    tokens = ["<s>", "<pad>", "</s>", "<unk>", *byte_char.values()]  # GPT-2's byte map: visible bytes first
    merges = []
    for word in dict.fromkeys(words):
        piece = word[0]
        for char in word[1:]:  # the word letter by letter, then the word after a space
            merges.append(f"{piece} {char}")
            piece += char
            tokens.append(piece)
        merges.append(f"{byte_char[ord(' ')]} {word}")
        tokens.append(byte_char[ord(" ")] + word)
    vocab = {token: i for i, token in enumerate(dict.fromkeys([*tokens, "<mask>"]))}
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("".join(f"{line}\n" for line in ["#version: 0.2", *merges]), encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "RobertaTokenizer"}), encoding="utf-8")
    return str(folder)
