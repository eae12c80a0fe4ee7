"""ReVOS (VISA, ECCV 2024): referring and reasoning expressions over one folder of videos.

Layout (cilinyan/VISA ``utils/dataset_config.py``, ``tools/eval_revos.py``)::

    <root>/JPEGImages/<vid>/<frame>.jpg
    <root>/mask_dict.json                   {str(anno_id): [COCO RLE or null per frame]}   (both splits)
    <root>/mask_dict_foreground.json        {vid: {"masks_rle": [RLE per frame], ...}}
    <root>/meta_expressions_train_.json     {"videos": {vid: {"expressions": {id: {"exp", "obj_id",
    <root>/meta_expressions_valid_.json                   "anno_id", "type_id"}}, "frames", ...}}}

Both splits have ground truth. ``type_id`` is 0 for a referring expression, 1 for a reasoning one and 2
for the kind the official scorer leaves out of every number (``is_nan`` in ``eval_revos.py``); samples
are tagged ``referring``, ``reasoning`` or ``excluded``. The ground truth of an expression is the
union of its ``anno_id`` masks; besides ``masks()``, samples carry ``meta['load_label_sum_fn']`` (the
uint8 *sum* of those masks, which the official accuracy compares as it is) and
``meta['load_foreground_fn']`` (the video's foreground: every annotated object, used by the
robustness R). The release's counts are not in the sources at hand, so none are checked.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from rvosbench.core.errors import DataError
from rvosbench.core.registry import BENCHMARKS
from rvosbench.core.types import Sample
from rvosbench.data.io import require_file
from rvosbench.data.mevis import MaskDict, MeViS, RLEUnionMasks

REVOS_HINT = "restore it from the ReVOS release (see docs/benchmarks.md)"
TYPE_TAGS = ("referring", "reasoning", "excluded")


class ForegroundDict(MaskDict):
    """``mask_dict_foreground.json``: per video, one RLE per frame under ``masks_rle``."""

    content = "video ids to {'masks_rle': [RLE per frame]}"

    def _lookup(self, data: dict[str, Any], key: str) -> Any:
        return data[key]["masks_rle"]


@BENCHMARKS.register_module("revos")
class ReVOS(MeViS):
    """ReVOS: referring / reasoning expressions, J, F, J&F, A and R as VISA's tools/eval_revos.py computes them."""

    name = "revos"
    splits = ("train", "valid")
    has_ground_truth = {"train": True, "valid": True}
    gt_keys = ("obj_id", "anno_id", "type_id")
    protocol = "revos"
    metrics = ("J&F", "J", "F", "A", "R")
    release_hint = REVOS_HINT

    @property
    def split_dir(self) -> Path:
        return self.root  # one folder for both splits

    @property
    def meta_path(self) -> Path:
        return self.root / f"meta_expressions_{self.split}_.json"

    @property
    def foreground_path(self) -> Path:
        return self.root / "mask_dict_foreground.json"

    def validate(self) -> None:
        require_file(self.root / "mask_dict.json", "masks", REVOS_HINT)
        require_file(self.foreground_path, "foreground masks (robustness R)", REVOS_HINT)
        super().validate()
        self._mask_dict = MaskDict(self.root / "mask_dict.json", REVOS_HINT)
        self._foreground = ForegroundDict(self.foreground_path, REVOS_HINT)

    def _select_videos(self, videos: dict[str, Any]) -> dict[str, Any]:
        return videos

    def _expression_meta(self, exp: dict[str, Any]) -> dict[str, Any]:
        meta = super()._expression_meta(exp)
        type_id = exp.get("type_id")
        if type_id not in (0, 1, 2):
            raise DataError(f"type_id {type_id!r} is not 0 (referring), 1 (reasoning) or 2", where=str(self.meta_path),
                            hint=REVOS_HINT)
        meta["type_id"] = type_id
        meta["tags"] = [*meta["tags"], TYPE_TAGS[type_id]]
        return meta

    def _build_samples(self) -> list[Sample]:
        samples = super()._build_samples()
        for sample in samples:
            anno_ids = sample.meta["anno_id"]
            sample.meta["load_label_sum_fn"] = RLEUnionMasks(self._mask_dict, anno_ids, sample.orig_size, summed=True)
            sample.meta["load_foreground_fn"] = RLEUnionMasks(self._foreground, [sample.video_id], sample.orig_size)
        return samples

    def annotation_files(self) -> list[Path]:
        return [self.meta_path, self.root / "mask_dict.json", self.foreground_path]

