"""The closed world of ``synth``: shapes, colours, sizes, directions and spatial relations.

Colours are saturated and far apart in RGB so they survive JPEG at 64 px; backgrounds are kept
low-saturation so no background ever reads as an object colour. Sizes are fractions of the short side
of the frame: at the default 64 px a small object is 13 px across and a large one 21 px, large enough
for a stride-8 feature map to see (the task must be learnable in minutes on a CPU).
"""
from __future__ import annotations

import numpy as np

SHAPES = ("circle", "square", "triangle", "star", "cross")
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 175, 65),
    "blue": (45, 90, 230),
    "yellow": (240, 210, 30),
    "purple": (160, 60, 205),
}
SIZES: dict[str, float] = {"small": 0.20, "large": 0.33}
DIRECTIONS: dict[str, tuple[float, float]] = {"left": (-1.0, 0.0), "right": (1.0, 0.0), "up": (0.0, -1.0),
                                              "down": (0.0, 1.0)}
RELATIONS = ("above", "below", "left of", "right of")
EXPRESSION_TYPES = ("appearance", "motion", "relation", "temporal_change", "distractor")


def held_out_combos(seed: int) -> frozenset[tuple[str, str]]:
    """One (colour, shape) pair per colour, each shape once, never shown in train/val/test.

    The compositional split refers only to these pairs, so every colour and every shape is familiar
    but their combination is new. The pairing is a permutation drawn from the seed.
    """
    order = np.random.default_rng([seed, 7919]).permutation(len(SHAPES))
    return frozenset((colour, SHAPES[j]) for colour, j in zip(COLOURS, order))


def nearest_colour(rgb: np.ndarray) -> str:
    """Name of the palette colour closest to an RGB triple (used to read colours back from frames)."""
    names = list(COLOURS)
    table = np.array([COLOURS[n] for n in names], dtype=float)
    return names[int(np.argmin(((table - np.asarray(rgb, dtype=float)) ** 2).sum(axis=1)))]
