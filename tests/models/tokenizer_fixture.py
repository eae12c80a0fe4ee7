"""A RoBERTa-style (byte-level BPE) tokenizer written from scratch for tests.

roberta-base's own vocabulary cannot be downloaded here. This one has the byte alphabet, the special
tokens at RoBERTa's ids (<s> 0, <pad> 1, </s> 2, <unk> 3) and, optionally, whole-word merges for the
given words, so that a sentence of those words gets one token per word, as roberta-base gives for common
English words (same sequence length, hence the same cost). Ids mean nothing else: models fed by it must
be compared with each other on the same ids, never with released weights.
"""
from __future__ import annotations

import json
from pathlib import Path


def byte_alphabet() -> list[str]:
    """GPT-2's printable stand-ins for the 256 byte values (byte-level BPE's base alphabet)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), 256))
    chars, extra = [], 0
    for byte in range(256):
        if byte in printable:
            chars.append(chr(byte))
        else:
            chars.append(chr(256 + extra))
            extra += 1
    return chars


def write_test_tokenizer(folder: Path, words: list[str] = ()) -> Path:
    """Write vocab.json + merges.txt (and a minimal config) into ``folder``; returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for char in byte_alphabet():
        vocab.setdefault(char, len(vocab))
    merges = []
    space = byte_alphabet()[ord(" ")]
    for word in dict.fromkeys(words):
        current = word[0]
        for char in word[1:]:  # the word, letter by letter, then the word after a space
            merges.append(f"{current} {char}")
            current += char
            vocab.setdefault(current, len(vocab))
        merges.append(f"{space} {word}")
        vocab.setdefault(space + word, len(vocab))
    vocab["<mask>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (folder / "merges.txt").write_text("".join(line + "\n" for line in ["#version: 0.2", *merges]), encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "RobertaTokenizer"}))
    return folder
