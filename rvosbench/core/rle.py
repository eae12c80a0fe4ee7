"""COCO run-length-encoded masks (``{"size": [h, w], "counts": str | bytes | [int, ...]}``) decoded with numpy.

Why not ``pycocotools.mask.decode``: up to pycocotools 2.0.11 (the latest release) its Cython decoder
hands numpy an object whose ``__array__`` has no ``copy`` keyword, so numpy ≥ 2 emits a
DeprecationWarning for every mask decoded — thousands of lines when a MeViS split is checked or
scored. Encoding has no such problem and stays with pycocotools.

The compressed ``counts`` string is the COCO API's (``maskApi.c``, ``rleFrString``): each run length
is written in 5-bit groups, least significant first, as characters ``48 + group`` with bit ``0x20``
set on every group but the last; bit ``0x10`` of the last group is the sign; from the fourth run on,
each value is the difference to the run two places back. Runs alternate background / foreground,
background first, over the mask in column-major order.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


class RLEError(ValueError):
    """A malformed RLE (what is wrong in one line; callers add where)."""


def rle_counts(counts: str | bytes) -> np.ndarray:
    """Run lengths (int64) of a compressed COCO ``counts`` string."""
    chars = np.frombuffer(counts.encode("ascii") if isinstance(counts, str) else bytes(counts), np.uint8)
    if chars.size == 0:
        return np.zeros(0, np.int64)
    groups = chars.astype(np.int64) - 48
    if groups.min() < 0 or groups.max() > 63:
        raise RLEError("counts has characters outside the RLE alphabet")
    ends = (groups & 0x20) == 0
    if not ends[-1]:
        raise RLEError("counts ends inside a run length")
    run = np.concatenate(([0], np.cumsum(ends)[:-1]))  # which run each character belongs to
    starts = np.flatnonzero(np.concatenate(([True], ends[:-1])))
    position = np.arange(chars.size) - starts[run]  # index of the 5-bit group within its run
    if position.max() > 11:
        raise RLEError("a run length has more than 12 groups")
    values = np.bincount(run, weights=(groups & 0x1F) << (5 * position), minlength=len(starts)).astype(np.int64)
    negative = (groups[ends] & 0x10) != 0
    values[negative] -= np.left_shift(1, 5 * (position[ends][negative] + 1))
    if values.size > 2:  # delta coding: run m (m > 2) adds run m − 2
        values[1::2] = np.cumsum(values[1::2])
        values[2::2] = np.cumsum(values[2::2])
    return values


def decode_rle(rle: Mapping[str, Any]) -> np.ndarray:
    """A COCO RLE as a bool (h, w) mask; raises :class:`RLEError` when it is malformed."""
    try:
        height, width = (int(v) for v in rle["size"])
        counts = rle["counts"]
    except (KeyError, TypeError, ValueError) as error:
        raise RLEError(f"an RLE needs 'size': [h, w] and 'counts' ({error})") from error
    runs = np.asarray(counts, np.int64) if isinstance(counts, list) else rle_counts(counts)
    if runs.size and runs.min() < 0:
        raise RLEError("counts decodes to a negative run length")
    if int(runs.sum()) != height * width:
        raise RLEError(f"counts cover {int(runs.sum())} pixels, size {height}x{width} has {height * width}")
    values = np.arange(runs.size) % 2 == 1
    return np.repeat(values, runs).reshape(width, height).T
