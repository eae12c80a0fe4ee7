"""The registered ``synth`` benchmark: generate on first use, then read the cache like Ref-YouTube-VOS."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, NonNegativeInt, model_validator

from rvosbench.core.errors import ConfigError
from rvosbench.core.registry import BENCHMARKS
from rvosbench.core.schema import BenchmarkConfig, RuleViolation, Seed
from rvosbench.core.types import Sample
from rvosbench.data.io import read_label_map
from rvosbench.data.synth.generate import SPLITS, SynthConfig, default_cache_root, ensure_dataset
from rvosbench.data.synth.reading import time_blind_masks
from rvosbench.data.synth.vocab import EXPRESSION_TYPES
from rvosbench.data.ytvos import YouTubeVOSLayout


class SynthRules(BenchmarkConfig):
    """synth's keys at plan time: :class:`SynthConfig`'s fields (typed by its annotations; the expression
    types and splits named), then its own checks (frame size, frame range, families, splits)."""

    options_from = SynthConfig
    field_types = {"families": Annotated[list[Literal[EXPRESSION_TYPES]], Field(min_length=1)],
                   "videos": dict[Literal[SPLITS], NonNegativeInt], "seed": Seed}

    @model_validator(mode="after")
    def _generator_accepts(self) -> SynthRules:
        try:
            SynthConfig(**{f.name: getattr(self, f.name) for f in dataclasses.fields(SynthConfig)})
        except ConfigError as error:
            raise RuleViolation(error.what, (error.where or "").split("/"), error.hint) from None
        return self


@BENCHMARKS.register_module("synth")
class SynthBenchmark(YouTubeVOSLayout):
    """Embedded diagnostic benchmark: moving shapes with typed, unambiguous expressions (generated, cached).

    ``root`` is the cache folder (default ``<checkout>/.cache/synth``); the dataset itself lives in
    ``<root>/<hash of the generator parameters>``. Every other option is a :class:`SynthConfig` field.
    Each sample's ``meta`` has ``type`` (one of the five expression types), ``tags`` (the type, plus
    ``multi_object``, ``occlusion``, ``out_of_view`` where they apply) and the structured ``query``.
    """

    name = "synth"
    splits = SPLITS
    config_rules = SynthRules
    has_ground_truth = {split: True for split in SPLITS}

    def __init__(self, root: str | Path | None = None, split: str = "test", decoder: str = "cv2",
                 progress: bool = True, **generator: Any):
        self.config = SynthConfig(**generator)
        if split in SPLITS and not self.config.video_count(split):
            raise ConfigError(f"synth split '{split}' has no videos in this config", where="videos",
                              hint=f"set videos: {{{split}: <count>, ...}}")
        self.cache_root = Path(root).expanduser() if root else default_cache_root()
        self.progress = progress
        self._objects: dict[str, dict[str, Any]] | None = None  # meta.json objects, read on first use
        super().__init__(self.cache_root / self.config.key(), split, decoder=decoder)

    def validate(self) -> None:
        ensure_dataset(self.config, self.cache_root, progress=self.progress)
        super().validate()

    def time_blind_masks(self, sample: Sample) -> np.ndarray:
        """The masks of the time-blind reference reader (:mod:`~rvosbench.data.synth.reading`) for one sample:
        every object the expression could mean in each frame on its own, read from the ground truth."""
        if self._objects is None:
            self._objects = self._object_meta()
        labels = np.stack([read_label_map(self.split_dir / "Annotations" / sample.video_id / f"{name}.png")
                           for name in sample.frame_names])
        return time_blind_masks(labels, sample.frames(), self._objects[sample.video_id], sample.meta["query"])

    def _expression_meta(self, exp: dict[str, Any]) -> dict[str, Any]:
        query = exp.get("query") or {}
        return {"tags": [*exp.get("tags", []), *clause_tags(query)], "type": exp.get("type"), "query": query}


def clause_tags(query: dict[str, Any]) -> list[str]:
    """Tags for the clause that makes an expression hard, read from its structured query.

    They split an expression type where models behave differently: a size word ("the large red
    circle") vs none, a direction vs "not moving", "changing to green" vs "that remains blue". A model
    that segments every object of the named colour scores about 0.4 on ``size_word`` and ``changes``
    and about 0.77 on ``stays`` (docs/models.md), which the type alone would average away.
    """
    tags = []
    if query.get("size"):
        tags.append("size_word")
    if query.get("motion"):
        tags.append("still" if query["motion"] == "still" else "direction")
    if query.get("change"):
        tags.append("changes")
    if query.get("stays"):
        tags.append("stays")
    return tags
