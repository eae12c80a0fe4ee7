"""Scene recipes: each builds a video around one expression type and says what its expressions mean.

* ``appearance`` (the control): objects differ in both colour and shape, so one frame and one word suffice.
* ``distractor``: the target shares its colour with one object, its shape with another and sometimes
  colour *and* shape with a third of another size; only the full conjunction singles it out, so text
  must steer the visual features early rather than re-rank salient objects late.
* ``motion``: two or three identical objects, one still and one moving, or two moving in opposite
  directions (sometimes beside a still one); no single frame can tell them apart, only the change
  between frames.
* ``temporal_change``: identical, slowly drifting objects of which one changes colour mid-video ("turns
  green"), sometimes next to an object that has the new colour all along; the early frames are only
  resolved by later ones.
* ``relation``: two identical objects on opposite sides of a unique anchor ("above the blue star").

Everything else is random per video: background texture, sizes, filler objects that move, bounce,
turn, enter or leave the frame and pass in front of or behind the others.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rvosbench.data.synth.grammar import Query
from rvosbench.data.synth.scene import SceneObject
from rvosbench.data.synth.vocab import COLOURS, DIRECTIONS, SHAPES, SIZES


@dataclass
class Intent:
    """An expression a recipe means to ask: the query, its referents and its type tag."""

    query: Query
    targets: frozenset[int]
    kind: str
    tags: tuple[str, ...] = ()  # extra expression tags (e.g. ``opposite_direction``)


@dataclass
class Canvas:
    """Per-video drawing context: frame size, length, random stream and the allowed (colour, shape) pairs."""

    height: int
    width: int
    num_frames: int
    rng: np.random.Generator
    focus_combos: list[tuple[str, str]]
    filler_combos: list[tuple[str, str]]

    @property
    def scale(self) -> float:
        return min(self.height, self.width) / 64.0

    def diameter(self, size: str) -> float:
        return SIZES[size] * min(self.height, self.width)

    def pick(self, combos: list[tuple[str, str]], exclude: Callable[[str, str], bool] = lambda c, s: False):
        pool = [c for c in combos if not exclude(*c)]
        if not pool:
            raise LookupError("no (colour, shape) pair is left for this scene")
        return pool[int(self.rng.integers(len(pool)))]

    def size(self) -> str:
        return list(SIZES)[int(self.rng.integers(len(SIZES)))]

    def inside(self, size: str) -> np.ndarray:
        """A random centre that keeps the whole object inside the frame."""
        r = self.diameter(size) / 2 + 1
        return np.array([self.rng.uniform(r, self.width - r), self.rng.uniform(r, self.height - r)])

    def times(self) -> np.ndarray:
        return np.arange(self.num_frames, dtype=float) - (self.num_frames - 1) / 2


# -- trajectories ---------------------------------------------------------------------------------
def linear(canvas: Canvas, size: str, velocity: np.ndarray) -> np.ndarray:
    """Straight motion whose mid-video position is uniform in the frame (so no single frame gives the
    direction away by position)."""
    return canvas.inside(size) + canvas.times()[:, None] * velocity


def bounce(canvas: Canvas, size: str, velocity: np.ndarray) -> np.ndarray:
    """Straight motion that reflects off the frame borders (a change of direction)."""
    r = canvas.diameter(size) / 2
    low, high = np.array([r, r]), np.array([canvas.width - r, canvas.height - r])
    position, velocity = canvas.inside(size), velocity.copy()
    centres = []
    for _ in range(canvas.num_frames):
        centres.append(position.copy())
        position = position + velocity
        for axis in range(2):
            if position[axis] < low[axis] or position[axis] > high[axis]:
                velocity[axis] = -velocity[axis]
                position[axis] = np.clip(position[axis], low[axis], high[axis])
    return np.array(centres)


def turn(canvas: Canvas, size: str, velocity: np.ndarray) -> np.ndarray:
    """Straight motion that turns by 90 or 180 degrees once, mid-video."""
    pivot = int(canvas.rng.integers(canvas.num_frames // 3, 2 * canvas.num_frames // 3 + 1))
    angle = canvas.rng.choice([math.pi / 2, -math.pi / 2, math.pi])
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    steps = np.array([velocity if t < pivot else rotation @ velocity for t in range(canvas.num_frames - 1)])
    start = canvas.inside(size)
    return np.vstack([start, start + np.cumsum(steps, axis=0)])


def crossing(canvas: Canvas, size: str, speed: float) -> np.ndarray:
    """Enters the frame from outside, or leaves it, moving horizontally or vertically.

    The centre crosses the border (object half visible) at a random moment in the middle half of the video.
    """
    axis = int(canvas.rng.integers(2))
    extent = canvas.width if axis == 0 else canvas.height
    direction = 1.0 if canvas.rng.integers(2) else -1.0
    entering = bool(canvas.rng.integers(2))
    border = 0.0 if entering == (direction > 0) else float(extent)
    moment = canvas.rng.uniform(canvas.num_frames / 4, 3 * canvas.num_frames / 4)
    centres = np.repeat(canvas.inside(size)[None], canvas.num_frames, axis=0)
    centres[:, axis] = border + direction * speed * (np.arange(canvas.num_frames) - moment)
    return centres


def speed(canvas: Canvas, low: float = 1.2, high: float = 2.2) -> float:
    return float(canvas.rng.uniform(low, high) * canvas.scale)


def random_velocity(canvas: Canvas, magnitude: float) -> np.ndarray:
    angle = canvas.rng.uniform(0, 2 * math.pi)
    return magnitude * np.array([math.cos(angle), math.sin(angle)])


def wander(canvas: Canvas, size: str) -> tuple[np.ndarray, str]:
    """A random behaviour for objects no expression's meaning depends on."""
    kind = canvas.rng.choice(["still", "linear", "bounce", "turn", "crossing"], p=[0.2, 0.25, 0.25, 0.15, 0.15])
    if kind == "still":
        return np.repeat(canvas.inside(size)[None], canvas.num_frames, axis=0), "still"
    if kind == "crossing":
        return crossing(canvas, size, speed(canvas, 1.8, 3.0)), "crossing"
    velocity = random_velocity(canvas, speed(canvas))
    return {"linear": linear, "bounce": bounce, "turn": turn}[kind](canvas, size, velocity), str(kind)


class SceneBuilder:
    """Collects objects with increasing ids and random depth order."""

    def __init__(self, canvas: Canvas):
        self.canvas = canvas
        self.objects: list[SceneObject] = []

    def add(self, shape: str, colour: str | list[str], size: str, centres: np.ndarray, behaviour: str) -> int:
        colours = colour if isinstance(colour, list) else [colour] * self.canvas.num_frames
        obj_id = len(self.objects) + 1
        depth = int(self.canvas.rng.integers(1000))
        self.objects.append(SceneObject(obj_id, shape, size, colours, centres, depth, behaviour))
        return obj_id

    def add_wandering(self, shape: str, colour: str, size: str | None = None) -> int:
        size = size or self.canvas.size()
        centres, behaviour = wander(self.canvas, size)
        return self.add(shape, colour, size, centres, behaviour)

    def add_fillers(self, count: int, avoid: Callable[[str, str], bool]) -> None:
        """Objects whose colour and shape both differ from everything ``avoid`` rejects."""
        for _ in range(count):
            colour, shape = self.canvas.pick(self.canvas.filler_combos, avoid)
            self.add_wandering(shape, colour)


def _different(colour: str, shape: str) -> Callable[[str, str], bool]:
    """Reject pairs that share the colour or the shape."""
    return lambda c, s: c == colour or s == shape


# -- recipes ----------------------------------------------------------------------------------------
def appearance(canvas: Canvas) -> tuple[list[SceneObject], list[Intent]]:
    builder = SceneBuilder(canvas)
    count = int(canvas.rng.integers(3, 5))
    used_colours: set[str] = set()
    used_shapes: set[str] = set()
    intents = []
    for index in range(count):
        combos = canvas.focus_combos if index == 0 else canvas.filler_combos
        colour, shape = canvas.pick(combos, lambda c, s: c in used_colours or s in used_shapes)
        used_colours.add(colour)
        used_shapes.add(shape)
        oid = builder.add_wandering(shape, colour)
        if index == 0 or canvas.rng.random() < 0.3:
            intents.append(Intent(Query(shape, colour), frozenset({oid}), "appearance"))
    return builder.objects, intents


def distractor(canvas: Canvas) -> tuple[list[SceneObject], list[Intent]]:
    builder = SceneBuilder(canvas)
    colour, shape = canvas.pick(canvas.focus_combos)
    size = canvas.size()
    target = builder.add_wandering(shape, colour, size)
    other_shape = canvas.pick(canvas.filler_combos, lambda c, s: c != colour or s == shape)[1]
    builder.add_wandering(other_shape, colour)
    other_colour = canvas.pick(canvas.filler_combos, lambda c, s: s != shape or c == colour)[0]
    builder.add_wandering(shape, other_colour)
    intents = []
    if canvas.rng.random() < 0.45:
        other_size = "small" if size == "large" else "large"
        twin = builder.add_wandering(shape, colour, other_size)
        intents.append(Intent(Query(shape, colour, size=size), frozenset({target}), "distractor"))
        intents.append(Intent(Query(shape, colour, size=other_size), frozenset({twin}), "distractor"))
    else:
        intents.append(Intent(Query(shape, colour), frozenset({target}), "distractor"))
    if canvas.rng.random() < 0.5:
        builder.add_fillers(1, lambda c, s: c == colour or s == shape)
    return builder.objects, intents


def motion(canvas: Canvas) -> tuple[list[SceneObject], list[Intent]]:
    """Look-alikes (same colour, shape and size) that only their motion tells apart.

    In 40 % of the scenes one stands still and one moves: moving versus still. In the others two move
    in opposite directions along one axis, sometimes beside a still one: then only the direction tells
    the two movers apart, and their expressions carry the tag ``opposite_direction``. Movers go at
    1.6–2.6 px per frame at 64 px, so a 5-frame training clip sees them move by one or more stride-8
    tokens (at 1.2–2.2 px, version 2, no configuration learnt direction in the CPU budget).
    """
    builder = SceneBuilder(canvas)
    colour, shape = canvas.pick(canvas.focus_combos)
    size = canvas.size()
    axis = (("left", "right"), ("up", "down"))[int(canvas.rng.integers(2))]
    if canvas.rng.random() < 0.4:
        motions = ["still", axis[int(canvas.rng.integers(2))]]
    else:
        motions = [*axis, *(["still"] if canvas.rng.random() < 0.4 else [])]
    opposed = set(axis) <= set(motions)
    intents = []
    for move in motions:
        if move == "still":
            centres = np.repeat(canvas.inside(size)[None], canvas.num_frames, axis=0)
        else:
            centres = linear(canvas, size, speed(canvas, 1.6, 2.6) * np.asarray(DIRECTIONS[move]))
        oid = builder.add(shape, colour, size, centres, f"moving {move}")
        tags = ("opposite_direction",) if opposed and move != "still" else ()
        intents.append(Intent(Query(shape, colour, motion=move), frozenset({oid}), "motion", tags))
    builder.add_fillers(int(canvas.rng.integers(0, 3)), _different(colour, shape))
    return builder.objects, intents


def temporal_change(canvas: Canvas) -> tuple[list[SceneObject], list[Intent]]:
    """Look-alikes that only their history tells apart: one changes colour mid-video, one keeps it.

    They drift slowly (at most 0.5 px per frame), so an object is where it was a few frames before:
    what happened to it earlier can be found at its place (at up to 1.2 px per frame, version 2,
    "changes to" stayed at the colour-only score in the CPU budget).
    """
    builder = SceneBuilder(canvas)
    start, shape = canvas.pick(canvas.focus_combos)
    combos = set(canvas.focus_combos) | set(canvas.filler_combos)
    new = canvas.pick(sorted((c, s) for c, s in combos if s == shape and c != start))[0]
    size = canvas.size()
    pivot = int(canvas.rng.integers(max(2, canvas.num_frames // 3), 2 * canvas.num_frames // 3 + 1))
    colours = [start if t < pivot else new for t in range(canvas.num_frames)]
    slow = speed(canvas, 0.0, 0.5)
    changer = builder.add(shape, colours, size, bounce(canvas, size, random_velocity(canvas, slow)), "changes colour")
    stayer = builder.add(shape, start, size, bounce(canvas, size, random_velocity(canvas, slow)), "keeps its colour")
    intents = [Intent(Query(shape, start, change=new), frozenset({changer}), "temporal_change"),
               Intent(Query(shape, start, stays=True), frozenset({stayer}), "temporal_change")]
    if canvas.rng.random() < 0.4:
        builder.add(shape, new, size, bounce(canvas, size, random_velocity(canvas, slow)), "keeps its colour")
    builder.add_fillers(int(canvas.rng.integers(0, 2)), lambda c, s: s == shape or c in (start, new))
    return builder.objects, intents


def relation(canvas: Canvas) -> tuple[list[SceneObject], list[Intent]]:
    builder = SceneBuilder(canvas)
    colour, shape = canvas.pick(canvas.focus_combos)
    anchor_colour, anchor_shape = canvas.pick(canvas.filler_combos, _different(colour, shape))
    size, anchor_size = canvas.size(), canvas.size()
    drift = random_velocity(canvas, speed(canvas, 0.0, 0.5)) if canvas.rng.random() < 0.5 else np.zeros(2)
    middle = np.array([canvas.width / 2, canvas.height / 2]) + canvas.rng.uniform(-0.12, 0.12, 2) * [canvas.width,
                                                                                                       canvas.height]
    anchor_path = middle + canvas.times()[:, None] * drift
    anchor = builder.add(anchor_shape, anchor_colour, anchor_size, anchor_path, "anchor")
    pair = ("above", "below") if canvas.rng.random() < 0.5 else ("left of", "right of")
    gap = (canvas.diameter(size) + canvas.diameter(anchor_size)) / 2 * canvas.rng.uniform(1.25, 1.5)
    intents = []
    for rel in pair:
        axis = 1 if rel in ("above", "below") else 0
        sign = -1.0 if rel in ("above", "left of") else 1.0
        offset = np.zeros(2)
        offset[axis] = sign * gap
        offset[1 - axis] = canvas.rng.uniform(-0.25, 0.25) * gap
        oid = builder.add(shape, colour, size, anchor_path + offset, rel)
        intents.append(Intent(Query(shape, colour, relation=rel, anchor=Query(anchor_shape, anchor_colour)),
                              frozenset({oid}), "relation"))
    del anchor
    builder.add_fillers(int(canvas.rng.integers(0, 2)),
                        lambda c, s: (c == colour and s == shape) or (c == anchor_colour and s == anchor_shape))
    return builder.objects, intents


RECIPES: dict[str, Callable[[Canvas], tuple[list[SceneObject], list[Intent]]]] = {
    "appearance": appearance,
    "motion": motion,
    "relation": relation,
    "temporal_change": temporal_change,
    "distractor": distractor,
}

__all__ = ["RECIPES", "Intent", "Canvas", "COLOURS", "SHAPES"]
