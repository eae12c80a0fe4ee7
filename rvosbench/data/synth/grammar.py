"""Expressions of ``synth``: a structured query, its meaning over per-frame facts, and its wording.

A :class:`Query` is judged against every object's :class:`~rvosbench.data.synth.scene.Facts` twice:

* **truthfully** (strict): the description holds for the whole video, e.g. "moving left" means every
  step goes left, "above" holds with a margin in every frame both objects are seen;
* **plausibly** (lenient): a viewer could apply it to the object at some moment, e.g. an object that
  moves left only after bouncing, or a square that is red before turning green is a "red square".

An expression is kept only when its referents are exactly the plausible matches and all of them are
truthful matches: no other object could be meant. That is the uniqueness guarantee the tests check
again from the files on disk.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from rvosbench.data.synth.scene import Facts

SEEN = 0.3  # fraction of an object's area that must be visible for a viewer to see it in a frame
PLURALS = {"cross": "crosses"}


@dataclass(frozen=True)
class Query:
    """What an expression says. ``colour`` is the colour named in the noun phrase (the starting colour
    when ``change`` is set); ``stays`` means "that stays <colour>"."""

    shape: str
    colour: str
    size: str | None = None
    motion: str | None = None
    change: str | None = None
    stays: bool = False
    relation: str | None = None
    anchor: Query | None = None
    plural: bool = False

    def as_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if v not in (None, False)}
        if self.anchor is not None:
            data["anchor"] = self.anchor.as_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Query:
        data = dict(data)
        if "anchor" in data:
            data["anchor"] = cls.from_dict(data["anchor"])
        return cls(**data)

    def without(self, **changes: Any) -> Query:
        """The same query with some clauses removed/changed (to test that a clause is necessary)."""
        return Query(**{**self.__dict__, **changes})


# -- meaning ------------------------------------------------------------------------------------
def _seen(facts: Facts) -> np.ndarray:
    return facts.visible >= SEEN


def _colour_holds(query: Query, facts: Facts, strict: bool) -> bool:
    colours = facts.colours
    seen = [c for c, s in zip(colours, _seen(facts)) if s and c is not None]
    if not seen:
        return False
    if query.change is not None:
        changes = [t for t in range(1, len(colours)) if colours[t] != colours[t - 1]]
        if strict:
            if colours[0] != query.colour or colours[-1] != query.change or len(changes) != 1:
                return False
            seen_mask = _seen(facts)
            return seen_mask[:changes[0]].sum() >= 2 and seen_mask[changes[0]:].sum() >= 2
        turned = [i for i in range(1, len(seen)) if seen[i] == query.change and seen[i - 1] != query.change]
        return bool(turned) and query.colour in seen[:turned[0]]
    if query.stays:
        return all(c == query.colour for c in (colours if strict else seen))
    if strict:
        return all(c == query.colour for c in colours)
    return query.colour in seen


def _step_direction(step: np.ndarray, strict: bool) -> set[str]:
    """Directions a displacement (dx, dy) can be called: strict = clearly that way, lenient = arguably."""
    dx, dy = float(step[0]), float(step[1])
    speed = float(np.hypot(dx, dy))
    found = set()
    if speed < (0.25 if strict else 0.5):
        found.add("still")
    if strict:
        if speed >= 0.5 and abs(dy) <= 0.5 * abs(dx):
            found.add("left" if dx < 0 else "right")
        if speed >= 0.5 and abs(dx) <= 0.5 * abs(dy):
            found.add("up" if dy < 0 else "down")
    else:
        if abs(dx) >= 0.3 and abs(dy) <= 2 * abs(dx):
            found.add("left" if dx < 0 else "right")
        if abs(dy) >= 0.3 and abs(dx) <= 2 * abs(dy):
            found.add("up" if dy < 0 else "down")
    return found


def _motion_holds(query: Query, facts: Facts, strict: bool) -> bool:
    steps = np.diff(facts.centres, axis=0)
    seen = _seen(facts)
    both = seen[1:] & seen[:-1] & ~np.isnan(steps).any(axis=1)
    if strict:
        if both.sum() < 2 or np.isnan(steps).any():
            return False
        return all(query.motion in _step_direction(s, True) for s in steps)
    return any(query.motion in _step_direction(s, False) for s in steps[both])


def _relation_gap(relation: str, target: np.ndarray, anchor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per frame (gap along the relation's axis, lateral offset); gap > 0 when the relation holds."""
    delta = anchor - target
    if relation == "above":
        return delta[:, 1], np.abs(delta[:, 0])
    if relation == "below":
        return -delta[:, 1], np.abs(delta[:, 0])
    if relation == "left of":
        return delta[:, 0], np.abs(delta[:, 1])
    return -delta[:, 0], np.abs(delta[:, 1])


def _relation_holds(relation: str, facts: Facts, anchor: Facts, strict: bool) -> bool:
    both = _seen(facts) & _seen(anchor) & ~np.isnan(facts.centres).any(axis=1) & ~np.isnan(anchor.centres).any(axis=1)
    gap, lateral = _relation_gap(relation, facts.centres[both], anchor.centres[both])
    if strict:
        margin = 0.6 * (facts.radius + anchor.radius)
        return both.sum() >= 3 and bool(np.all((gap >= margin) & (lateral <= gap)))
    return bool(np.any((gap > 0) & (lateral <= 2 * gap)))


def matches(query: Query, oid: int, facts: dict[int, Facts], strict: bool) -> bool:
    """Whether ``query`` describes object ``oid`` (strictly, or plausibly)."""
    own = facts[oid]
    if own.shape != query.shape or (query.size is not None and own.size != query.size):
        return False
    if not _colour_holds(query, own, strict):
        return False
    if query.motion is not None and not _motion_holds(query, own, strict):
        return False
    if query.relation is not None:
        strict_anchors, loose_anchors = referents(query.anchor, {k: v for k, v in facts.items() if k != oid})
        if strict:
            if len(loose_anchors) != 1 or strict_anchors != loose_anchors:
                return False
            return _relation_holds(query.relation, own, facts[next(iter(strict_anchors))], True)
        return any(_relation_holds(query.relation, own, facts[a], False) for a in loose_anchors)
    return True


def referents(query: Query, facts: dict[int, Facts]) -> tuple[set[int], set[int]]:
    """(objects the query truthfully describes, objects it could plausibly mean)."""
    strict = {oid for oid in facts if matches(query, oid, facts, True)}
    loose = {oid for oid in facts if matches(query, oid, facts, False)}
    return strict, loose


def refers_exactly(query: Query, targets: set[int], facts: dict[int, Facts], min_seen: float = 0.55) -> bool:
    """The query means exactly ``targets``: all truthful, nothing else plausible, and each referent seen in
    at least ``min_seen`` of the frames and on average ``min_seen`` visible (so masks are learnable)."""
    if query.plural != (len(targets) > 1):
        return False
    strict, loose = referents(query, facts)
    if loose != targets or not targets <= strict:
        return False
    return all(_seen(facts[t]).mean() >= min_seen and facts[t].visible.mean() >= min_seen for t in targets)


# -- wording --------------------------------------------------------------------------------------
def noun_phrase(query: Query) -> str:
    words = [w for w in (query.size, query.colour, query.shape) if w]
    return "the " + " ".join(words)


def _plural_phrase(query: Query, count: int, rng: np.random.Generator) -> str:
    shapes = PLURALS.get(query.shape, query.shape + "s")
    words = " ".join(w for w in (query.size, query.colour, shapes) if w)
    number = {2: "two", 3: "three", 4: "four"}.get(count, str(count))
    return _choose(rng, [f"the {number} {words}", f"all {words}"] + ([f"both {words}"] if count == 2 else []))


def _choose(rng: np.random.Generator, options: list[str]) -> str:
    return options[int(rng.integers(len(options)))]


def wording(query: Query, rng: np.random.Generator, count: int = 1) -> str:
    """One of a few natural phrasings of the query (the variety keeps the text encoder honest)."""
    head = _plural_phrase(query, count, rng) if query.plural else noun_phrase(query)
    if query.motion == "still":
        return _choose(rng, [f"{head} that is not moving", f"{head} standing still", f"{head} that stays in place"])
    if query.motion is not None:
        d = query.motion
        return _choose(rng, [f"{head} moving {d}", f"{head} that moves {d}", f"{head} going {d}"])
    if query.change is not None:
        c = query.change
        return _choose(rng, [f"{head} that turns {c}", f"{head} that becomes {c}", f"{head} changing to {c}"])
    if query.stays:
        c = query.colour
        return _choose(rng, [f"{head} that stays {c}", f"{head} that remains {c}", f"{head} that never changes colour"])
    if query.relation is not None:
        anchor = noun_phrase(query.anchor)
        options = {"above": ["above", "over"], "below": ["below", "under"],
                   "left of": ["left of", "to the left of"], "right of": ["right of", "to the right of"]}
        return f"{head} {_choose(rng, options[query.relation])} {anchor}"
    return head
