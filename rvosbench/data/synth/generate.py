"""Generate the ``synth`` dataset from a seed and cache it on disk in the Ref-YouTube-VOS layout.

Every video has its own random stream ``(seed, split, index)``, so the same parameters always give the
same bytes and changing one split's size leaves the other splits untouched. The recipe of video ``i``
cycles through the five expression types, so each split has them in equal shares. A video is redrawn
(same stream, next draw) until its intended expressions pass the uniqueness check of
:mod:`~rvosbench.data.synth.grammar` and every clause that defines its type is necessary (e.g. without
"moving left" the expression would be ambiguous).

The cache folder is ``<cache root>/<hash of the parameters and generator version>``; it is written to a
temporary folder and renamed, under a file lock, so parallel test workers or runs never see half a dataset.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock
from tqdm import tqdm

from rvosbench.core.errors import ConfigError
from rvosbench.core.hashing import stable_hash
from rvosbench.core.locate import REPO_ROOT
from rvosbench.data.io import write_jpeg, write_label_png
from rvosbench.data.synth.grammar import Query, refers_exactly, referents, wording
from rvosbench.data.synth.recipes import RECIPES, Canvas, Intent
from rvosbench.data.synth.scene import Facts, SceneObject, render, scene_facts, shape_mask
from rvosbench.data.synth.vocab import COLOURS, EXPRESSION_TYPES, SHAPES, held_out_combos

GENERATOR_VERSION = 3  # 3: motion and temporal-change scenes learnable in the CPU budget (docs/benchmarks.md)
SPLITS = ("train", "val", "test", "compositional")
MAX_ATTEMPTS = 200


@dataclass(frozen=True)
class SynthConfig:
    """Generator parameters; their hash names the cache folder.

    Defaults are sized for the CPU budget of ``make run``: 64x80 frames, 8-16 frames per video, 240
    training videos (about 700 expressions).
    """

    seed: int = 0
    height: int = 64
    width: int = 80
    min_frames: int = 8
    max_frames: int = 16
    videos: dict[str, int] = field(default_factory=lambda: {"train": 240, "val": 30, "test": 60,
                                                            "compositional": 40})
    multi_object: bool = False
    max_expressions: int = 4
    jpeg_quality: int = 95
    # scene recipes cycled over a split's videos; a subset makes a synth variant that trains or tests
    # some expression types alone (e.g. [motion, temporal_change]); extra expressions of other types can
    # still appear for a scene's other objects
    families: tuple[str, ...] = EXPRESSION_TYPES

    def __post_init__(self) -> None:
        if min(self.height, self.width) < 48 or max(self.height, self.width) > 512:
            raise ConfigError(f"synth frame size {self.height}x{self.width} is outside 48..512 px",
                              where="height/width", hint="use 64..128 px (objects must stay >= 12 px)")
        if not 2 <= self.min_frames <= self.max_frames:
            raise ConfigError(f"synth frames must satisfy 2 <= min_frames <= max_frames, got "
                              f"{self.min_frames}..{self.max_frames}", where="min_frames/max_frames")
        object.__setattr__(self, "families", tuple(self.families))
        if not self.families or set(self.families) - set(EXPRESSION_TYPES):
            raise ConfigError(f"synth families must be a non-empty subset of {', '.join(EXPRESSION_TYPES)}, got "
                              f"{list(self.families)}", where="families")
        unknown = set(self.videos) - set(SPLITS)
        if unknown:
            raise ConfigError(f"unknown synth split(s) {sorted(unknown)} in 'videos'", where="videos",
                              hint=f"splits are {', '.join(SPLITS)}")

    def video_count(self, split: str) -> int:
        return int(self.videos.get(split, 0))

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "videos": {s: self.video_count(s) for s in SPLITS}, "families": list(self.families)}

    def key(self) -> str:
        return stable_hash({"generator_version": GENERATOR_VERSION, **self.as_dict()})


@dataclass
class SynthVideo:
    video_id: str
    frames: np.ndarray
    labels: np.ndarray
    objects: list[SceneObject]
    expressions: list[dict[str, Any]]


def default_cache_root() -> Path:
    """``<checkout>/.cache/synth`` (git-ignored), or ``~/.cache/rvosbench/synth`` for installed copies;
    ``RVOSBENCH_CACHE`` overrides the ``.cache`` part."""
    if os.environ.get("RVOSBENCH_CACHE"):
        return Path(os.environ["RVOSBENCH_CACHE"]).expanduser() / "synth"
    if (REPO_ROOT / "pyproject.toml").is_file() and os.access(REPO_ROOT, os.W_OK):
        return REPO_ROOT / ".cache" / "synth"
    return Path.home() / ".cache" / "rvosbench" / "synth"


# -- one video ------------------------------------------------------------------------------------
def _mentions(query: Query, combos: frozenset[tuple[str, str]]) -> bool:
    pairs = {(query.colour, query.shape), (query.change, query.shape)}
    if query.anchor is not None:
        pairs.add((query.anchor.colour, query.anchor.shape))
    return bool(pairs & combos)


def _necessary(intent: Intent, facts: dict[int, Facts]) -> bool:
    """The clause that gives the expression its type cannot be dropped without ambiguity."""
    query, targets = intent.query, set(intent.targets)
    if intent.kind == "motion":
        return referents(query.without(motion=None), facts)[1] != targets
    if intent.kind == "temporal_change":
        return referents(query.without(change=None, stays=False), facts)[1] != targets
    if intent.kind == "relation":
        return referents(query.without(relation=None, anchor=None), facts)[1] != targets
    if intent.kind == "distractor":
        (target,) = targets
        others = [facts[o] for o in facts if o != target]
        return (any(f.shape == query.shape for f in others)
                and any(query.colour in f.colours for f in others))
    return True


def _situation_tags(objects: list[SceneObject], labels: np.ndarray, targets: frozenset[int]) -> list[str]:
    """``occlusion`` when another object covers >= 15% of a referent, ``out_of_view`` when a referent is
    partly or wholly outside the frame in some frame."""
    height, width = labels.shape[1:]
    tags = set()
    for obj in objects:
        if obj.obj_id not in targets:
            continue
        diameter = obj.diameter(height, width)
        padded = int(diameter * 1.5) + 4
        full = shape_mask(obj.shape, padded / 2, padded / 2, diameter, padded, padded).sum()
        for t in range(len(labels)):
            drawn = shape_mask(obj.shape, *obj.centres[t], diameter, height, width)
            if drawn.sum() < 0.85 * full:
                tags.add("out_of_view")
            if drawn.sum() and (drawn & (labels[t] != obj.obj_id)).sum() >= 0.15 * full:
                tags.add("occlusion")
    return sorted(tags)


def _extra_intents(objects: list[SceneObject], facts: dict[int, Facts], taken: set[int],
                   multi_object: bool) -> list[Intent]:
    """Appearance/distractor expressions for objects no intent refers to, and MeViS-style sets."""
    extras = []
    for obj in objects:
        if obj.obj_id in taken or len(set(obj.colours)) > 1:
            continue
        colour = obj.colours[0]
        for query in (Query(obj.shape, colour), Query(obj.shape, colour, size=obj.size)):
            if refers_exactly(query, {obj.obj_id}, facts):
                others = [f for oid, f in facts.items() if oid != obj.obj_id]
                shared = any(f.shape == obj.shape for f in others) or any(colour in f.colours for f in others)
                extras.append(Intent(query, frozenset({obj.obj_id}), "distractor" if shared else "appearance"))
                break
    if multi_object:
        groups: dict[tuple[str, str], set[int]] = {}
        for obj in objects:
            if len(set(obj.colours)) == 1:
                groups.setdefault((obj.colours[0], obj.shape), set()).add(obj.obj_id)
        for (colour, shape), members in sorted(groups.items()):
            query = Query(shape, colour, plural=True)
            if len(members) > 1 and refers_exactly(query, members, facts):
                extras.insert(0, Intent(query, frozenset(members), "appearance"))
    return extras


def generate_video(config: SynthConfig, split: str, index: int) -> SynthVideo:
    """Draw video ``index`` of ``split`` (deterministic in the config's seed)."""
    split_index = SPLITS.index(split)
    rng = np.random.default_rng([config.seed, split_index, index])
    kind = config.families[(index + split_index) % len(config.families)]
    held = held_out_combos(config.seed)
    every = [(c, s) for c in COLOURS for s in SHAPES]
    allowed = [combo for combo in every if combo not in held]
    compositional = split == "compositional"
    focus, fillers = (sorted(held), every) if compositional else (allowed, allowed)
    for _ in range(MAX_ATTEMPTS):
        num_frames = int(rng.integers(config.min_frames, config.max_frames + 1))
        canvas = Canvas(config.height, config.width, num_frames, rng, focus, fillers)
        try:
            objects, intents = RECIPES[kind](canvas)
        except LookupError:
            continue
        if not compositional and any(o.combos & held for o in objects):
            continue
        frames, labels = render(objects, config.height, config.width, num_frames, rng)
        facts = scene_facts(objects, labels)
        kept = [i for i in intents if refers_exactly(i.query, set(i.targets), facts) and _necessary(i, facts)
                and (not compositional or _mentions(i.query, held))]
        if not kept:
            continue
        taken = {t for i in intents for t in i.targets}
        extras = [i for i in _extra_intents(objects, facts, taken, config.multi_object)
                  if not compositional or _mentions(i.query, held)]
        chosen = (kept + extras[: 1 + int(config.multi_object)])[: config.max_expressions]
        expressions = []
        for intent in chosen:
            targets = sorted(intent.targets)
            tags = [intent.kind, *intent.tags, *(["multi_object"] if len(targets) > 1 else []),
                    *_situation_tags(objects, labels, intent.targets)]
            expressions.append({
                "exp": wording(intent.query, rng, count=len(targets)),
                "obj_id": str(targets[0]) if len(targets) == 1 else targets,
                "type": intent.kind, "tags": tags, "query": intent.query.as_dict(),
            })
        return SynthVideo(f"{split}{index:04d}", frames, labels, objects, expressions)
    raise RuntimeError(f"synth: no valid '{kind}' scene for {split} video {index} in {MAX_ATTEMPTS} draws "
                       f"(frame size {config.height}x{config.width} may be too small)")


# -- writing --------------------------------------------------------------------------------------
def frame_names(count: int) -> list[str]:
    return [f"{t:05d}" for t in range(count)]


def write_split(root: Path, config: SynthConfig, split: str, progress: bool = True) -> dict[str, int]:
    """Generate and write one split in the Ref-YouTube-VOS layout; returns its counts."""
    expressions_meta: dict[str, Any] = {}
    objects_meta: dict[str, Any] = {}
    count = config.video_count(split)
    for index in tqdm(range(count), desc=f"synth {split}", unit="video", disable=not progress or None):
        video = generate_video(config, split, index)
        names = frame_names(len(video.frames))
        for t, name in enumerate(names):
            write_jpeg(root / split / "JPEGImages" / video.video_id / f"{name}.jpg", video.frames[t],
                       config.jpeg_quality)
            write_label_png(root / split / "Annotations" / video.video_id / f"{name}.png", video.labels[t])
        expressions_meta[video.video_id] = {
            "expressions": {str(i): e for i, e in enumerate(video.expressions)}, "frames": names}
        objects_meta[video.video_id] = {"objects": {
            str(o.obj_id): {
                "category": o.shape, "size": o.size, "colours": sorted(set(o.colours), key=o.colours.index),
                "behaviour": o.behaviour,
                "frames": [n for t, n in enumerate(names) if (video.labels[t] == o.obj_id).any()],
            } for o in video.objects}}
    _write_json(root / "meta_expressions" / split / "meta_expressions.json", {"videos": expressions_meta})
    _write_json(root / split / "meta.json", {"videos": objects_meta})
    return {"videos": count, "expressions": sum(len(v["expressions"]) for v in expressions_meta.values())}


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


def ensure_dataset(config: SynthConfig, cache_root: Path | None = None, progress: bool = True) -> Path:
    """The cache folder of ``config``, generating it first when it does not exist yet."""
    cache_root = Path(cache_root) if cache_root is not None else default_cache_root()
    key = config.key()
    target = cache_root / key
    if (target / "synth.json").is_file():
        return target
    cache_root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(cache_root / f".{key}.lock")):
        if (target / "synth.json").is_file():
            return target
        scratch = cache_root / f".{key}.tmp-{os.getpid()}"
        shutil.rmtree(scratch, ignore_errors=True)
        started = time.perf_counter()
        counts = {split: write_split(scratch, config, split, progress) for split in SPLITS if config.video_count(split)}
        info = {"generator_version": GENERATOR_VERSION, "config": config.as_dict(), "counts": counts,
                "held_out_combos": sorted(map(list, held_out_combos(config.seed))),
                "seconds": round(time.perf_counter() - started, 2)}
        _write_json(scratch / "synth.json", info)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(scratch, target)
    return target
