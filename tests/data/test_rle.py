"""COCO RLE decoding with numpy: equal to pycocotools on random masks, clear errors, no warnings."""
import warnings

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from rvosbench.core.rle import RLEError, decode_rle, rle_counts


def _encode(mask: np.ndarray) -> dict:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": rle["size"], "counts": rle["counts"].decode("ascii")}


def test_decode_equals_pycocotools_on_random_masks():
    rng = np.random.default_rng(0)
    for trial in range(200):
        height, width = (int(v) for v in rng.integers(1, 120, size=2))
        mask = rng.random((height, width)) < rng.random()
        if trial % 4 == 0:                                   # long runs: many 5-bit groups, deltas < 0
            mask[:] = False
            mask[rng.integers(0, height):, rng.integers(0, width):] = True
        rle = _encode(mask)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # pycocotools' own decoder warns on numpy 2
            expected = mask_utils.decode({"size": rle["size"], "counts": rle["counts"].encode()}).astype(bool)
        with warnings.catch_warnings():
            warnings.simplefilter("error")                   # ours must not warn at all
            decoded = decode_rle(rle)
        assert decoded.dtype == bool and decoded.shape == (height, width)
        np.testing.assert_array_equal(decoded, expected)
    big = np.zeros((720, 1280), bool)
    big[100:600, 7:1100] = True
    np.testing.assert_array_equal(decode_rle(_encode(big)), big)
    assert decode_rle({"size": [2, 3], "counts": [1, 4, 1]}).tolist() == [[False, True, True], [True, True, False]]


def test_malformed_rles_are_refused():
    good = _encode(np.eye(4, dtype=bool))
    with pytest.raises(RLEError, match="cover"):
        decode_rle({**good, "size": [4, 5]})
    with pytest.raises(RLEError, match="alphabet"):
        rle_counts("ab c")
    with pytest.raises(RLEError, match="inside a run"):
        rle_counts("P")                                       # continuation bit set on the last char
    with pytest.raises(RLEError, match="size"):
        decode_rle({"counts": "0"})
