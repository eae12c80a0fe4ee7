"""What a reader of single frames can tell: the time-blind reference of ``synth``.

A reference predictor that ignores time must show what each expression type is worth without it
(issue 16). This one reads every frame on its own, perfectly: the ground-truth instance labels of
that frame, each object's shape and size (``meta.json``), its colour in that frame (the median pixel
colour under its mask, named by the nearest palette colour), its centre and how much of it is visible.
It then keeps every object that the expression could mean *in that frame*:

* the clauses one frame can check must hold: shape, size, colour and a spatial relation to an anchor
  (judged leniently, as a viewer would, :func:`~rvosbench.data.synth.grammar.referents`);
* the clauses that need time are dropped: "moving left", "standing still", "that turns green" (a
  single frame shows a red or a green square, never the turning), "that stays blue".

Its mask in a frame is the union of those candidates. On appearance and relation expressions it is
near-perfect; on motion and temporal change it scores what telling look-alikes apart needs time for.
It uses the ground truth, so it is a reference, never a model to compare with as an equal.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from rvosbench.data.synth.grammar import Query, referents
from rvosbench.data.synth.scene import Facts, full_area
from rvosbench.data.synth.vocab import SIZES, nearest_colour


def frame_facts(labels: np.ndarray, frame: np.ndarray, objects: dict[str, dict[str, Any]]) -> dict[int, Facts]:
    """Facts of every object visible in one frame: labels (H, W), frame uint8 (H, W, 3), ``meta.json``
    objects of the video → {obj_id: one-frame :class:`Facts`}."""
    height, width = labels.shape
    facts = {}
    for oid in np.unique(labels):
        if oid == 0 or str(int(oid)) not in objects:
            continue
        info = objects[str(int(oid))]
        mask = labels == oid
        ys, xs = np.nonzero(mask)
        diameter = SIZES[info["size"]] * min(height, width)
        colour = nearest_colour(np.median(frame[mask], axis=0))
        visible = min(1.0, mask.sum() / full_area(info["category"], diameter))
        centre = np.array([[xs.mean() + 0.5, ys.mean() + 0.5]])
        facts[int(oid)] = Facts(info["category"], info["size"], [colour], centre, np.array([visible]), diameter / 2)
    return facts


def time_blind_candidates(query: Query, facts: dict[int, Facts]) -> set[int]:
    """Objects of one frame that ``query`` could mean when its time clauses are dropped."""
    timeless = query.without(motion=None, change=None, stays=False)
    colours = [query.colour] + ([query.change] if query.change else [])
    found: set[int] = set()
    for colour in colours:  # "the red square that turns green": red or green in this frame
        found |= referents(timeless.without(colour=colour), facts)[1]
    return found


def time_blind_masks(labels: np.ndarray, frames: np.ndarray, objects: dict[str, dict[str, Any]],
                     query: dict[str, Any]) -> np.ndarray:
    """Per frame, the union of the time-blind candidates: labels (T, H, W), frames (T, H, W, 3) → bool (T, H, W)."""
    parsed = Query.from_dict(query)
    masks = np.zeros(labels.shape, dtype=bool)
    for t in range(len(labels)):
        candidates = time_blind_candidates(parsed, frame_facts(labels[t], frames[t], objects))
        masks[t] = np.isin(labels[t], sorted(candidates))
    return masks
