"""MeViS (ICCV 2023): motion expressions, some referring to several objects (rivals.md §1.5).

Layout::

    <root>/<split>/JPEGImages/<vid>/<frame>.jpg          split: train, valid_u, valid
    <root>/<split>/meta_expressions.json                 {"videos": {vid: {"expressions": {id: {"exp", "obj_id": [..], "anno_id": [..]}}, "frames": [...]}}}
    <root>/<split>/mask_dict.json                        {str(anno_id): [COCO RLE {"size", "counts"} or null per frame]}

The ground truth of an expression is the union of the masks of all its ``anno_id``s; a null entry is an
empty frame. ``valid`` has no masks (server only). Both released versions are recognised by their counts.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rvosbench.core.errors import DataError
from rvosbench.core.rle import RLEError, decode_rle
from rvosbench.core.registry import BENCHMARKS
from rvosbench.data.base import check_count
from rvosbench.data.io import load_json, require_file
from rvosbench.data.ytvos import YouTubeVOSLayout, parse_obj_ids

MEVIS_HINT = "restore it from the MeViS release (see docs/benchmarks.md)"
# rivals.md §1.5: v1 (videos, expressions) per split; v2 (Codabench) expression counts.
V1_COUNTS = {"train": (1662, 23051), "valid_u": (50, 793), "valid": (140, 2236)}
V2_EXPRESSIONS = {"train": 27502, "valid_u": 907, "valid": 2523}


class MaskDict:
    """``mask_dict.json`` read once, on the first mask request, and shared by all samples of a split."""

    #: what the file maps its keys to, for error messages
    content = "anno_id to a list of RLEs"

    def __init__(self, path: Path, hint: str = MEVIS_HINT):
        self.path = path
        self.hint = hint
        self._data: dict[str, Any] | None = None

    def _lookup(self, data: dict[str, Any], key: str) -> Any:
        return data[key]

    def entries(self, key: int | str) -> list[Any]:
        """The per-frame RLE list of ``key`` (an anno_id here)."""
        if self._data is None:
            data = load_json(self.path, "masks", self.hint)
            if not isinstance(data, dict):
                raise DataError(f"{self.path.name} must map {self.content}", where=str(self.path), hint=self.hint)
            self._data = data
        try:
            return self._lookup(self._data, str(key))
        except (KeyError, TypeError) as error:
            raise DataError(f"'{key}' has no masks", where=f"{self.path} (key '{key}')", hint=self.hint) from error

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_data": None}  # workers re-read rather than pickle a huge dict


class RLEUnionMasks:
    """``indices -> (T, H, W)``: union (bool) or, with ``summed``, the uint8 sum of the RLE masks of
    ``keys``; null entries are empty frames."""

    def __init__(self, masks: MaskDict, keys: Sequence[int | str], size: tuple[int, int], summed: bool = False):
        self.masks = masks
        self.keys = list(keys)
        self.size = size
        self.summed = summed

    def __call__(self, indices: Sequence[int]) -> np.ndarray:
        out = np.zeros((len(indices), *self.size), dtype=np.uint8 if self.summed else bool)
        for key in self.keys:
            entries = self.masks.entries(key)
            for row, i in enumerate(indices):
                where = f"{self.masks.path} (key '{key}', frame {i})"
                if i >= len(entries):
                    raise DataError(f"'{key}' has {len(entries)} mask entries, the video has more frames",
                                    where=where, hint=self.masks.hint)
                rle = entries[i]
                if rle is None:
                    continue
                try:
                    decoded = decode_rle(rle)
                except RLEError as error:
                    raise DataError(f"malformed RLE: {error}", where=where, hint=self.masks.hint) from error
                if decoded.shape != tuple(self.size):
                    raise DataError(f"RLE size {list(decoded.shape)} differs from the frames {list(self.size)}",
                                    where=where, hint=self.masks.hint)
                if self.summed:
                    out[row] += decoded
                else:
                    out[row] |= decoded
        return out


@BENCHMARKS.register_module("mevis")
class MeViS(YouTubeVOSLayout):
    """MeViS (ICCV 2023): motion expressions, multi-object GT as the union of RLE masks; valid_u scored locally."""

    name = "mevis"
    splits = ("train", "valid_u", "valid")
    has_ground_truth = {"train": True, "valid_u": True, "valid": False}
    gt_keys = ("obj_id", "anno_id")
    palette_masks = False
    release_hint = MEVIS_HINT

    @property
    def meta_path(self) -> Path:
        return self.split_dir / "meta_expressions.json"

    def validate(self) -> None:
        if self.ground_truth:
            require_file(self.split_dir / "mask_dict.json", "masks", MEVIS_HINT)
        super().validate()
        self._mask_dict = MaskDict(self.split_dir / "mask_dict.json")

    def _select_videos(self, videos: dict[str, Any]) -> dict[str, Any]:
        where = str(self.meta_path)
        expressions = sum(len(v.get("expressions", {})) for v in videos.values() if isinstance(v, dict))
        v1_videos, v1_expressions = V1_COUNTS[self.split]
        if check_count("expressions", expressions, (v1_expressions, V2_EXPRESSIONS[self.split]), where) \
                and expressions == v1_expressions:
            check_count("videos", len(videos), v1_videos, where)
        return videos

    def _expression_meta(self, exp: dict[str, Any]) -> dict[str, Any]:
        obj_ids = exp.get("obj_id", [])
        tags = ["multi_object"] if isinstance(obj_ids, list) and len(obj_ids) > 1 else []
        meta: dict[str, Any] = {"tags": tags}
        if "anno_id" in exp:
            meta["anno_id"] = parse_obj_ids(exp["anno_id"], f"{self.meta_path} (key anno_id)")
        return meta

    def _mask_loader(self, vid: str, frames: list[str], exp: dict[str, Any], obj_ids: list[int],
                     size: tuple[int, int]) -> RLEUnionMasks:
        anno_ids = parse_obj_ids(exp["anno_id"], f"{self.meta_path} (key videos.{vid} anno_id)")
        return RLEUnionMasks(self._mask_dict, anno_ids, size)

    def annotation_files(self) -> list[Path]:
        files = [self.meta_path]
        if self.ground_truth:
            files.append(self.split_dir / "mask_dict.json")
        return files
