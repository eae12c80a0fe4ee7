"""Colours and figure helpers shared by every plot of a report.

One colour per model across every plot: a name's colour comes from a hash of the name (so the same
variant or model keeps its colour from one report to the next), moved to the next free colour only
when two names of one report would share it. The palette is Okabe–Ito without its yellow (readable with
colour-vision deficiencies and on white). Reference predictors (models that ignore the sentence or the
video) are drawn in black and grey with their own line styles, never in a model's colour.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#882255"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]  # a second cue, so overlapping lines stay apart
REFERENCE_STYLES = [("#000000", "--"), ("#666666", ":"), ("#444444", "-."), ("#999999", (0, (5, 1, 1, 1)))]
DPI = 130


class Palette:
    """A stable name → colour mapping; names added in order claim their hashed colour or the next free."""

    def __init__(self, names: Iterable[str] = ()):
        self._colours: dict[str, str] = {}
        for name in names:
            self[name]

    def __getitem__(self, name: str) -> str:
        if name not in self._colours:
            start = int(hashlib.sha1(name.encode("utf-8")).hexdigest()[:8], 16) % len(COLOURS)
            taken = set(self._colours.values())
            order = [COLOURS[(start + i) % len(COLOURS)] for i in range(len(COLOURS))]
            self._colours[name] = next((c for c in order if c not in taken), order[0])
        return self._colours[name]

    def marker(self, name: str) -> str:
        return MARKERS[list(self._colours).index(name) % len(MARKERS)] if name in self._colours else "o"


def reference_style(index: int) -> tuple[str, object]:
    """``(colour, linestyle)`` of the ``index``-th reference predictor."""
    return REFERENCE_STYLES[index % len(REFERENCE_STYLES)]


def save(fig: plt.Figure, path: Path) -> Path:
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path
